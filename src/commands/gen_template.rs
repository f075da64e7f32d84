//! `iteratr gen-template`: writes the built-in prompt template (or, with `--spec`, the interview's
//! of `iteratr spec`) out, to customise it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

pub fn run(output: Option<&Path>, force: bool, spec: bool) -> anyhow::Result<ExitCode> {
    use crate::spec::prompt::{LOCAL_TEMPLATE, SPEC_TEMPLATE};
    let (text, default, user) = if spec {
        (SPEC_TEMPLATE, LOCAL_TEMPLATE, "iteratr spec")
    } else {
        (
            crate::template::DEFAULT_TEMPLATE,
            ".iteratr.template",
            "iteratr build",
        )
    };
    let output = output.unwrap_or(Path::new(default));
    if output == Path::new("-") {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    if output.exists() && !force {
        bail!(
            "{} exists already; pass --force to overwrite it, or -o to write elsewhere",
            output.display()
        );
    }
    std::fs::write(output, text).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "wrote the built-in template to {}; {user} uses it from there (or pass -t FILE)",
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
