//! `provision drift`: the drift check for CI, for one env or several at once, with optional revert.

use std::future::Future;
use std::time::Instant;

use anyhow::Result;
use futures::StreamExt;
use serde::Serialize;

use crate::aws::Connections;
use crate::cli::{DriftArgs, EnvArgs};
use crate::deploy::Options;
use crate::drift::{self, Report};
use crate::live::Reverted;
use crate::output::{ExitStatus, Format, Printer, format_error, refuse, status_of};
use crate::settings::Settings;

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

pub async fn run(settings: &Settings, args: &DriftArgs, printer: &Printer) -> Result<ExitStatus> {
    let envs = if args.envs.is_empty() { crate::config::list_envs(&settings.stacks_dir)? } else { args.envs.clone() };
    anyhow::ensure!(!envs.is_empty(), "no env files in {}", settings.stacks_dir.display());
    let started = Instant::now();
    let connections = Connections::default();
    let results = check_all(&envs, args.concurrency, |env| one(settings, args, env, &connections, printer)).await;
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

/// Checks every env with at most `concurrency` in flight, so N envs take about as long as the slowest of them.
/// Each env ends in its own result (errors included): one env's failure does not hide the others.
async fn check_all<'a, Check, Checked>(envs: &'a [String], concurrency: u16, check: Check) -> Vec<EnvResult>
where
    Check: Fn(&'a str) -> Checked,
    Checked: Future<Output = EnvResult>,
{
    let mut results: Vec<EnvResult> = futures::stream::iter(envs.iter().map(|env| check(env)))
        .buffer_unordered(usize::from(concurrency.max(1)))
        .collect()
        .await;
    results.sort_by(|a, b| a.env.cmp(&b.env));
    results
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

async fn one(
    settings: &Settings,
    args: &DriftArgs,
    env: &str,
    connections: &Connections,
    printer: &Printer,
) -> EnvResult {
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
    match check_env(settings, args, env, connections, printer, &mut result).await {
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
    settings: &Settings,
    args: &DriftArgs,
    env: &str,
    connections: &Connections,
    printer: &Printer,
    result: &mut EnvResult,
) -> Result<()> {
    let (config, rendered) = super::load_rendered(settings, &EnvArgs::new(env, args.instance.clone()))?;
    let (aws, account) = settings.connect_shared(connections, &config).await?;
    let mut report = drift::check(&aws, &config, &rendered, &account).await?;
    if args.revert && !report.in_sync() {
        if config.protected
            && !args.yes
            && printer.confirm_async(&format!("revert drift of protected env {env}?")).await != Some(true)
        {
            return Err(refuse(format!("{env} is protected: pass --yes to revert its drift")));
        }
        if report.pending {
            let options = Options { yes: true, ..Options::default() };
            let templates = crate::deploy::template_store::TemplateStore::new(&aws, &account).logging_to(printer);
            let for_deploy = crate::deploy::parameters::for_deploy(&aws, &config, rendered.clone()).await?;
            let deployed = crate::deploy::deploy(&aws.cfn, &templates, &config, &for_deploy, &options, printer).await?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn result(env: &str, exit_code: i32) -> EnvResult {
        EnvResult {
            env: env.to_string(),
            status: if exit_code == 0 { "in-sync" } else { "error" },
            exit_code,
            report: None,
            reverted: Vec::new(),
            deployed: None,
            error: (exit_code == 1).then(|| "stack gone".to_string()),
            elapsed_ms: 0,
        }
    }

    /// Envs named `<seconds>s`, each "checked" in that many seconds of paused (virtual) time; `1s` fails.
    async fn checked_in(concurrency: u16) -> (Duration, Vec<EnvResult>) {
        let envs: Vec<String> = ["3s", "1s", "4s", "2s"].map(String::from).into();
        let started = tokio::time::Instant::now();
        let results = check_all(&envs, concurrency, |env| async move {
            let seconds: u64 = env.trim_end_matches('s').parse().unwrap();
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            result(env, if seconds == 1 { 1 } else { 0 })
        })
        .await;
        (started.elapsed(), results)
    }

    #[tokio::test(start_paused = true)]
    async fn envs_checked_together_take_as_long_as_the_slowest() {
        let (elapsed, results) = checked_in(4).await;
        assert_eq!(elapsed, Duration::from_secs(4));
        let envs: Vec<&str> = results.iter().map(|r| r.env.as_str()).collect();
        assert_eq!(envs, ["1s", "2s", "3s", "4s"]);
        // The failed env is reported beside the others, which still finished.
        assert_eq!(results.iter().map(|r| r.exit_code).collect::<Vec<_>>(), [1, 0, 0, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_bounds_the_envs_in_flight() {
        assert_eq!(checked_in(1).await.0, Duration::from_secs(1 + 2 + 3 + 4));
        // Two in flight: 3s and 1s start; 4s starts at 1 s, 2s at 3 s; the last ends at 5 s.
        assert_eq!(checked_in(2).await.0, Duration::from_secs(5));
    }
}
