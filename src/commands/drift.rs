//! `provision drift`: the drift check for CI, for one env or several at once, with optional revert.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use serde::Serialize;

use crate::aws::Aws;
use crate::cli::{DriftArgs, Global, Target};
use crate::deploy::Options;
use crate::drift::{self, Report};
use crate::live::Reverted;
use crate::output::{ExitStatus, Format, Printer, format_error, refuse, status_of};

/// The outcome of one env, as printed and as JSON.
#[derive(Serialize)]
struct EnvResult {
    env: String,
    status: &'static str,
    exit_code: i32,
    report: Option<Report>,
    reverted: Vec<Reverted>,
    deployed: Option<&'static str>,
    error: Option<String>,
    elapsed_ms: u128,
}

pub async fn run(global: &Global, args: &DriftArgs, printer: &Printer) -> Result<ExitStatus> {
    let envs = if args.envs.is_empty() { crate::config::list_envs(&global.stacks_dir)? } else { args.envs.clone() };
    anyhow::ensure!(!envs.is_empty(), "no env files in {}", global.stacks_dir.display());
    let started = Instant::now();
    let mut results: Vec<EnvResult> = futures::stream::iter(envs.iter().map(|env| one(global, args, env, printer)))
        .buffer_unordered(usize::from(args.concurrency))
        .collect()
        .await;
    results.sort_by(|a, b| a.env.cmp(&b.env));
    let worst = results.iter().map(|r| status_from_code(r.exit_code)).fold(ExitStatus::Success, ExitStatus::worst);
    if printer.json() {
        printer.json_doc(&serde_json::json!({
            "exit_code": worst.code(),
            "elapsed_ms": started.elapsed().as_millis(),
            "envs": results,
        }));
        return Ok(worst);
    }
    for r in &results {
        print_text(r, printer);
    }
    Ok(worst)
}

fn status_from_code(code: i32) -> ExitStatus {
    match code {
        0 => ExitStatus::Success,
        2 => ExitStatus::Differences,
        3 => ExitStatus::Refused,
        _ => ExitStatus::Failure,
    }
}

fn print_text(r: &EnvResult, printer: &Printer) {
    match (&r.report, &r.error) {
        (_, Some(error)) => {
            printer.data(format!("{}: error", r.env));
            printer.log(format!("{}: {error}", r.env));
            if printer.format == Format::Github {
                printer.data(format!("::error title=provision drift {}::{}", r.env, github_escape(error)));
            }
        }
        (Some(report), None) => {
            let summary = match report.findings.len() {
                0 => "in sync".to_string(),
                n => format!("{n} difference{}", if n == 1 { "" } else { "s" }),
            };
            printer.data(format!("{} (stack {}): {summary}", r.env, report.stack));
            for f in &report.findings {
                printer.data(format!("  {f}"));
                if printer.format == Format::Github {
                    printer.data(format!("::error title=drift {}::{}", r.env, github_escape(&f.to_string())));
                }
            }
            for note in &report.notes {
                printer.log(format!("  note: {note}"));
            }
            for rev in &r.reverted {
                printer.data(format!("  reverted {} {} ({})", rev.resource, rev.property, rev.action));
            }
            if let Some(action) = r.deployed {
                printer.data(format!("  pending changes deployed ({action})"));
            }
        }
        (None, None) => {}
    }
}

/// GitHub workflow commands end at a newline; encode the characters they reserve.
fn github_escape(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

async fn one(global: &Global, args: &DriftArgs, env: &str, printer: &Printer) -> EnvResult {
    let started = Instant::now();
    let mut result = EnvResult {
        env: env.to_string(),
        status: "error",
        exit_code: 1,
        report: None,
        reverted: Vec::new(),
        deployed: None,
        error: None,
        elapsed_ms: 0,
    };
    match check_env(global, args, env, printer, &mut result).await {
        Ok(()) => {}
        Err(e) => {
            result.exit_code = status_of(&e).code();
            result.error = Some(format_error(&e).trim_start_matches("error: ").to_string());
        }
    }
    result.elapsed_ms = started.elapsed().as_millis();
    result
}

async fn check_env(
    global: &Global,
    args: &DriftArgs,
    env: &str,
    printer: &Printer,
    result: &mut EnvResult,
) -> Result<()> {
    let target = Target { env: Some(env.to_string()), instance: args.instance.clone() };
    let (config, rendered) = super::load_rendered(global, &target)?;
    let aws = Aws::connect(&global.aws, &config).await?;
    let account = super::check_account(&aws, &config).await?;
    let mut report = drift::check(&aws, &config, &rendered, &account).await?;
    if args.revert && !report.in_sync() {
        if config.protected && !args.yes && !printer.confirm(&format!("revert drift of protected env {env}?")) {
            return Err(refuse(format!("{env} is protected: pass --yes to revert its drift")));
        }
        if report.pending {
            let options = Options {
                yes: true,
                allow_data_loss: false,
                wait_timeout: Duration::ZERO,
                operation_timeout: Duration::from_secs(3600),
                ttl: None,
            };
            let deployed = crate::deploy::deploy(&aws.cfn, &config, &rendered, &options, printer).await?;
            result.deployed = Some(deployed.action);
        }
        let (reverted, _) = drift::revert_live(&aws, &rendered, &account, &report).await?;
        result.reverted = reverted;
        report = drift::check(&aws, &config, &rendered, &account).await?;
    }
    let in_sync = report.in_sync();
    result.status = if in_sync { "in-sync" } else { "drift" };
    result.exit_code = if in_sync { 0 } else { 2 };
    result.report = Some(report);
    Ok(())
}
