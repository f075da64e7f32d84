//! `iteratr gen-template`: writes the built-in prompt template out, to customise it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

pub fn run(output: &Path, force: bool) -> anyhow::Result<ExitCode> {
    if output == Path::new("-") {
        print!("{}", crate::template::DEFAULT_TEMPLATE);
        return Ok(ExitCode::SUCCESS);
    }
    if output.exists() && !force {
        bail!(
            "{} exists already; pass --force to overwrite it, or -o to write elsewhere",
            output.display()
        );
    }
    std::fs::write(output, crate::template::DEFAULT_TEMPLATE)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "wrote the built-in template to {}; iteratr build uses it from there (or pass -t FILE)",
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
