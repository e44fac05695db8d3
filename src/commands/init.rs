//! `provision init --from-bucket NAME [--env ENV]`: a new env file from an existing bucket.

use anyhow::{Context, Result};

use crate::aws::Aws;
use crate::cli::InitArgs;
use crate::output::{ExitStatus, Printer};
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &InitArgs, printer: &Printer) -> Result<ExitStatus> {
    anyhow::ensure!(
        crate::config::limits::is_env_name(&args.env),
        "`{}` is not an env name: {}",
        args.env,
        crate::config::limits::ENV_NAME_RULE
    );
    let path = crate::config::env_file(&settings.stacks_dir, &args.env);
    // Checked first and again at the write: an env file is someone's, never replaced.
    anyhow::ensure!(!path.exists(), "{} exists already: nothing was written (choose another --env)", path.display());
    let aws = Aws::connect(&settings.clients_without_env()?).await?;
    let account = aws.account().await?;
    let file = crate::init::from_bucket(&aws, &args.from_bucket, &args.env, &account).await?;
    // What is written must pass `provision validate`.
    crate::config::parse(&file.text, &path, &args.env, None).map_err(|diagnostics| {
        let list: Vec<String> = diagnostics.iter().map(|d| format!("  {d}")).collect();
        anyhow::anyhow!(
            "the env file written from {} does not validate, so it was not written:\n{}",
            args.from_bucket,
            list.join("\n")
        )
    })?;
    std::fs::create_dir_all(&settings.stacks_dir)
        .with_context(|| format!("cannot create {}", settings.stacks_dir.display()))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {} (nothing was written)", path.display()))?;
    std::io::Write::write_all(&mut out, file.text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    for warning in &file.warnings {
        printer.log(format!("warning: {warning}"));
    }
    if printer.json() {
        printer.json_doc(&serde_json::json!({
            "env": args.env, "file": path.display().to_string(), "bucket": args.from_bucket, "warnings": file.warnings,
        }));
    } else {
        printer.data(format!("wrote {} from bucket {}", path.display(), args.from_bucket));
        printer.data(format!("next: `provision adopt --env {} --dry-run`", args.env));
    }
    Ok(ExitStatus::Success)
}
