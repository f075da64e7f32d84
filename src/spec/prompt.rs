//! The interview's prompt: a handlebars template like the build's (`gen-template --spec` writes
//! the built-in one out), over the title, the description, the spec being refined and extra
//! instructions.

use std::path::Path;

use handlebars::Handlebars;
use serde::Serialize;

/// The built-in interview template.
pub const SPEC_TEMPLATE: &str = include_str!("../templates/spec.hbs");
/// Where `gen-template --spec` writes it, and where `iteratr spec` finds a customised one.
pub const LOCAL_TEMPLATE: &str = ".iteratr-spec.template";
/// The variables the template may use.
pub const VARIABLES: [&str; 5] = ["title", "description", "existing", "path", "extra"];

/// What the interview's prompt is made of.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InterviewVars {
    pub title: String,
    pub description: String,
    /// The spec being refined (empty for a new one).
    pub existing: String,
    /// Where the spec will be saved.
    pub path: String,
    pub extra: String,
}

pub struct InterviewTemplate {
    registry: Handlebars<'static>,
    source_name: String,
}

impl InterviewTemplate {
    /// Compiles `text` and renders it once with sample values, so a bad template is an error
    /// before the agent starts.
    pub fn new(text: &str, source_name: &str) -> anyhow::Result<Self> {
        let mut registry = Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        registry.set_strict_mode(true);
        registry
            .register_template_string("spec", text)
            .map_err(|e| anyhow::anyhow!("the template {source_name} does not parse: {e}"))?;
        let template = InterviewTemplate {
            registry,
            source_name: source_name.to_string(),
        };
        template.render(&InterviewVars {
            title: "t".into(),
            ..InterviewVars::default()
        })?;
        Ok(template)
    }

    /// The template given, else `.iteratr-spec.template` when there is one, else the built-in.
    pub fn find(given: Option<&Path>) -> anyhow::Result<Self> {
        let local = Path::new(LOCAL_TEMPLATE);
        let path = match given {
            Some(p) => p,
            None if local.is_file() => local,
            None => return Self::new(SPEC_TEMPLATE, "built-in"),
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the template {}: {e}", path.display()))?;
        Self::new(&text, &path.display().to_string())
    }

    pub fn render(&self, vars: &InterviewVars) -> anyhow::Result<String> {
        self.registry.render("spec", vars).map_err(|e| {
            anyhow::anyhow!(
                "the template {} cannot render: {} (the variables are {})",
                self.source_name,
                e.reason(),
                VARIABLES.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_template_renders_both_kinds_of_interview() {
        let t = InterviewTemplate::new(SPEC_TEMPLATE, "built-in").unwrap();
        let new = t
            .render(&InterviewVars {
                title: "Todo CLI".into(),
                description: "Keep todos".into(),
                path: "specs/todo-cli.md".into(),
                ..InterviewVars::default()
            })
            .unwrap();
        assert!(new.contains("Title: Todo CLI\nKeep todos"), "{new}");
        assert!(!new.contains("Refine this spec"));
        let refine = t
            .render(&InterviewVars {
                title: "Todo CLI".into(),
                existing: "# Old spec".into(),
                path: "specs/todo-cli.md".into(),
                extra: "Be brief".into(),
                ..InterviewVars::default()
            })
            .unwrap();
        assert!(refine.contains("Refine this spec"), "{refine}");
        assert!(refine.contains("# Old spec"));
        assert!(refine.contains("## Extra instructions\nBe brief"));
        assert!(InterviewTemplate::new("{{nope}}", "x").is_err());
    }
}
