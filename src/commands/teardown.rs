//! `provision teardown --env E [--instance NAME]`, and `--expired` / `--older-than D` for every matching instance.

use anyhow::{Context, Result};
use futures::StreamExt;
use time::OffsetDateTime;

use crate::aws::Aws;
use crate::cli::{EnvArgs, TeardownArgs};
use crate::config::Config;
use crate::output::{ExitStatus, Printer, refuse};
use crate::settings::Settings;
use crate::stack::discover::{self, Selection};
use crate::teardown::{self, Inspection, Options, Outcome, Plan, Report, empty};

pub async fn run(settings: &Settings, args: &TeardownArgs, printer: &Printer) -> Result<ExitStatus> {
    let (config, _) = super::load_rendered(settings, &args.env)?;
    // Before any AWS call: a protected or long-lived env is never torn down.
    if let Some(reason) = teardown::safety::env_refusal(&config) {
        return Err(refuse(reason));
    }
    let (aws, account) = settings.connect(&config).await?;
    let options = Options {
        empty: empty::Settings { in_flight: args.in_flight.into(), ..empty::Settings::default() },
        stack_timeout: args.stack_timeout,
    };
    let selection = if args.expired { Some(Selection::Expired) } else { args.older_than.map(Selection::OlderThan) };
    let work = async {
        match selection {
            None => one(&aws, &account, config, args, &options, printer).await,
            Some(selection) => many(settings, &aws, &account, &config, selection, args, &options, printer).await,
        }
    };
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(
            "interrupted: run the same teardown again to finish it (each step is idempotent; the bucket stays write-frozen meanwhile)"
        )),
    }
}

/// One instance (or the env's single stack).
async fn one(
    aws: &Aws,
    account: &str,
    config: Config,
    args: &TeardownArgs,
    options: &Options,
    printer: &Printer,
) -> Result<ExitStatus> {
    let report = match teardown::inspect(&aws.cfn, &aws.s3, &config, account).await {
        Err(error) => Report::new(&config).stopped(&error),
        Ok(Inspection::Gone { leftover_bucket: None, stack }) => match ever_existed(aws, &config, &stack).await {
            Ok(true) => gone(&config, None),
            Ok(false) => Report::new(&config).stopped(&no_such_instance(aws, &config, &stack).await),
            Err(error) => Report::new(&config).stopped(&error),
        },
        Ok(Inspection::Gone { leftover_bucket, .. }) => gone(&config, leftover_bucket),
        Ok(Inspection::Ready(plan)) => {
            let plans = [(config, plan)];
            match confirm(aws, printer, args.yes, &plans).await {
                Err(error) => Report::new(&plans[0].0).stopped(&error),
                Ok(()) => {
                    teardown::execute(&aws.cfn, &aws.s3, &plans[0].0, &plans[0].1, options, printer, printer).await
                }
            }
        }
    };
    Ok(emit(printer, &report.env.clone(), &[report]))
}

/// Whether stack `name` existed and was deleted: CloudFormation lists deleted stacks (DELETE_COMPLETE) for 90 days.
async fn ever_existed(aws: &Aws, config: &Config, name: &str) -> Result<bool> {
    use aws_sdk_cloudformation::types::StackStatus;
    let mut pages = aws.cfn.list_stacks().stack_status_filter(StackStatus::DeleteComplete).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| crate::aws::aws_error(e, "ListStacks"))
            .with_context(|| format!("cannot find out whether instance {} ever existed", instance_name(config)))?;
        if page.stack_summaries().iter().any(|s| s.stack_name() == Some(name)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `pr-42`, or the env's name when it has no instances.
fn instance_name(config: &Config) -> String {
    config.instance.clone().unwrap_or_else(|| config.env.clone())
}

/// The error for a teardown of an instance that never existed (or was deleted so long ago that CloudFormation
/// forgot it): most likely a mistyped name, so it names the instances there are.
async fn no_such_instance(aws: &Aws, config: &Config, stack: &str) -> anyhow::Error {
    let existing = match discover::managed_stacks(&aws.cfn).await {
        Ok(stacks) => {
            let names: Vec<String> = stacks
                .iter()
                .filter(|s| s.env == config.env && s.project == config.project)
                .map(|s| s.instance.clone().unwrap_or_else(|| s.stack.clone()))
                .collect();
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        }
        Err(error) => format!("unknown ({error})"),
    };
    anyhow::anyhow!(
        "no such instance: {} (env {}; stack {stack} does not exist and was not deleted in the last 90 days); \
         existing: {existing}",
        instance_name(config),
        config.env
    )
}

fn gone(config: &Config, leftover_bucket: Option<String>) -> Report {
    let mut report = Report::new(config);
    report.outcome = Outcome::AlreadyGone;
    report.leftover_bucket = leftover_bucket;
    report
}

/// Every instance of the env that `selection` takes, `--parallel` at a time; one failure does not stop the others.
#[allow(clippy::too_many_arguments)]
async fn many(
    settings: &Settings,
    aws: &Aws,
    account: &str,
    config: &Config,
    selection: Selection,
    args: &TeardownArgs,
    options: &Options,
    printer: &Printer,
) -> Result<ExitStatus> {
    let stacks = discover::managed_stacks(&aws.cfn).await?;
    let chosen = discover::select(&stacks, &config.env, &config.project, selection, OffsetDateTime::now_utc());
    let what = match selection {
        Selection::Expired => "past its expiry".to_string(),
        Selection::OlderThan(age) => format!("older than {}", discover::human(age)),
    };
    printer.log(format!("{} instance(s) of env {} {what}", chosen.len(), config.env));
    let parallel = usize::from(args.parallel);

    // Read-only checks of every candidate first, so that the confirmation lists exactly what will go.
    let checks = futures::stream::iter(chosen)
        .map(|found| async move {
            let target = EnvArgs::new(&found.env, found.instance.clone());
            let config = match super::load_rendered(settings, &target) {
                Ok((config, _)) => config,
                Err(error) => {
                    return Err((stand_in(found), error.context(format!("cannot load the config of {}", found.stack))));
                }
            };
            if config.stack_name() != found.stack {
                let reason = format!(
                    "stack {} is tagged as instance {} of env {}, whose stack is named {}",
                    found.stack,
                    found.instance.as_deref().unwrap_or("(none)"),
                    found.env,
                    config.stack_name()
                );
                return Err((stand_in(found), refuse(reason)));
            }
            match teardown::inspect(&aws.cfn, &aws.s3, &config, account).await {
                Ok(inspection) => Ok((config, inspection)),
                Err(error) => Err((Report::new(&config), error)),
            }
        })
        .buffer_unordered(parallel)
        .collect::<Vec<_>>()
        .await;
    let mut reports = Vec::new();
    let mut plans: Vec<(Config, Plan)> = Vec::new();
    for check in checks {
        match check {
            Ok((config, Inspection::Ready(plan))) => plans.push((config, plan)),
            Ok((config, Inspection::Gone { leftover_bucket, .. })) => reports.push(gone(&config, leftover_bucket)),
            Err((report, error)) => {
                let report = report.stopped(&error);
                printer.log(report.summary());
                reports.push(report);
            }
        }
    }
    if !plans.is_empty()
        && let Err(error) = confirm(aws, printer, args.yes, &plans).await
    {
        reports.extend(plans.iter().map(|(config, _)| Report::new(config).stopped(&error)));
        plans.clear();
    }
    // Several teardowns at once: plain progress lines (each names its bucket), stack events kept out of the way.
    let mut quiet = printer.clone();
    quiet.live = false;
    let quiet = &quiet;
    let done = futures::stream::iter(plans.iter())
        .map(|(config, plan)| async move {
            let (events, _, _) = Printer::capture(quiet.format);
            let report = teardown::execute(&aws.cfn, &aws.s3, config, plan, options, quiet, &events).await;
            quiet.log(report.summary());
            report
        })
        .buffer_unordered(parallel)
        .collect::<Vec<_>>()
        .await;
    reports.extend(done);
    reports.sort_by(|a, b| a.stack.cmp(&b.stack));
    Ok(emit(printer, &config.env, &reports))
}

/// A report for a discovered stack whose config could not be made.
fn stand_in(found: &discover::Managed) -> Report {
    Report {
        stack: found.stack.clone(),
        env: found.env.clone(),
        instance: found.instance.clone(),
        outcome: Outcome::Failed,
        buckets: Vec::new(),
        stack_status: Some(found.status.clone()),
        failed_resources: Vec::new(),
        leftover_bucket: None,
        error: None,
        elapsed_ms: 0,
    }
}

/// Asks on a terminal unless `--yes`; off a terminal `--yes` is required.
async fn confirm(aws: &Aws, printer: &Printer, yes: bool, plans: &[(Config, Plan)]) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !printer.interactive {
        return Err(refuse(
            "teardown deletes every object version of the bucket: pass --yes to confirm when not on a terminal",
        ));
    }
    for (_, plan) in plans {
        printer.log(format!("stack {} ({})", plan.stack.name, plan.stack.status));
        for bucket in &plan.buckets {
            let count = discover::object_count(&aws.s3, bucket)
                .await
                .map(|c| format!("{c} objects"))
                .unwrap_or_else(|| "objects".into());
            printer.log(format!("  bucket {bucket}: {count}, and every old version and delete marker"));
        }
    }
    match printer.confirm_async("delete all of it, for good?").await {
        Some(true) => Ok(()),
        Some(false) => Err(refuse("not confirmed")),
        None => Err(anyhow::anyhow!("interrupted at the prompt: nothing was changed")),
    }
}

/// Prints the reports (text lines or one JSON document) and returns the worst exit status.
fn emit(printer: &Printer, env: &str, reports: &[Report]) -> ExitStatus {
    let status = reports.iter().fold(ExitStatus::Success, |status, r| status.worst(r.exit_status()));
    for report in reports {
        if let Some(error) = &report.error {
            printer.log(error);
        }
        if let Some(bucket) = &report.leftover_bucket {
            printer.log(format!(
                "note: bucket {bucket} exists but no stack {} manages it; it was not touched",
                report.stack
            ));
        }
    }
    if printer.json() {
        printer.json_doc(&serde_json::json!({ "env": env, "teardowns": reports, "exit_code": status.code() }));
    } else {
        for report in reports {
            printer.data(report.summary());
        }
        if reports.len() > 1 {
            let count = |outcome| reports.iter().filter(|r| r.outcome == outcome).count();
            printer.data(format!(
                "{} torn down, {} already gone, {} refused, {} failed",
                count(Outcome::TornDown),
                count(Outcome::AlreadyGone) + count(Outcome::AlreadyBeingTornDown),
                count(Outcome::Refused),
                count(Outcome::Failed)
            ));
        }
    }
    status
}
