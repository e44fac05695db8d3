//! `provision validate`: every env file checked, rendered and least-privilege checked, without AWS.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::ValidateArgs;
use crate::config::{self, Diagnostic, LoadError};
use crate::output::{ExitStatus, Printer};
use crate::settings::Settings;

#[derive(Serialize)]
struct EnvReport {
    env: String,
    file: String,
    ok: bool,
    stack: Option<String>,
    resources: Option<usize>,
    diagnostics: Vec<Diagnostic>,
    errors: Vec<String>,
    /// There is no such env file: nothing was checked, so text output has no result line for it, only the error.
    #[serde(skip)]
    missing: bool,
}

pub fn run(settings: &Settings, args: &ValidateArgs, printer: &Printer) -> Result<ExitStatus> {
    let envs = if args.envs.is_empty() {
        let envs = config::list_envs(&settings.stacks_dir)
            .with_context(|| format!("cannot list env files in {}", settings.stacks_dir.display()))?;
        anyhow::ensure!(!envs.is_empty(), "no env files (*.yaml) in {}", settings.stacks_dir.display());
        envs
    } else {
        args.envs.clone()
    };
    let reports: Vec<EnvReport> = envs.iter().map(|env| check_env(settings, env)).collect();
    let status = if reports.iter().all(|r| r.ok) { ExitStatus::Success } else { ExitStatus::Failure };
    if printer.json() {
        printer.json_doc(&serde_json::json!({ "ok": status == ExitStatus::Success, "envs": reports }));
        return Ok(status);
    }
    for report in &reports {
        if report.missing {
            for e in &report.errors {
                printer.log(format!("error: {e}"));
            }
            continue;
        }
        if report.ok {
            printer.data(format!(
                "ok    {}  stack {}, {} resources",
                report.file,
                report.stack.as_deref().unwrap_or_default(),
                report.resources.unwrap_or_default()
            ));
            continue;
        }
        printer.data(format!("FAIL  {}", report.file));
        for d in &report.diagnostics {
            printer.log(format!("error: {d}"));
        }
        for e in &report.errors {
            printer.log(format!("error: {e}"));
        }
    }
    Ok(status)
}

fn check_env(settings: &Settings, env: &str) -> EnvReport {
    let file = config::env_file(&settings.stacks_dir, env).display().to_string();
    let mut report = EnvReport {
        env: env.to_string(),
        file,
        ok: false,
        stack: None,
        resources: None,
        diagnostics: Vec::new(),
        errors: Vec::new(),
        missing: false,
    };
    let config = match config::load(&settings.stacks_dir, env, None) {
        Ok(config) => config,
        Err(LoadError::Invalid(errors)) => {
            report.diagnostics = errors.diagnostics;
            return report;
        }
        Err(other) => {
            report.missing = matches!(other, LoadError::UnknownEnv { .. });
            report.errors.push(crate::output::format_error(&other.into()).trim_start_matches("error: ").to_string());
            return report;
        }
    };
    report.stack = Some(config.stack_name());
    match crate::render::render(&config) {
        Ok(rendered) => {
            report.resources = rendered.template_value.get("Resources").and_then(|r| r.as_object()).map(|r| r.len());
            report.errors.extend(
                crate::privilege::check(&config, &rendered.template_value)
                    .into_iter()
                    .map(|v| format!("{}: least privilege: {v}", report.file)),
            );
        }
        Err(e) => report.errors.push(format!("{}: {e:#}", report.file)),
    }
    report.ok = report.errors.is_empty();
    report
}
