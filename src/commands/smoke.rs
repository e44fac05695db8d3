//! `provision smoke --env E`: prove that a deployed env's bucket works as configured: its live settings read back
//! and compared with the config, then probe objects. Also run by the main job after every deploy.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};

use crate::aws::Aws;
use crate::cli::{Global, SmokeArgs};
use crate::config::Config;
use crate::live::Finding;
use crate::output::{ExitStatus, Printer};
use crate::render::Rendered;
use crate::smoke::{self, Check, ProbeOptions, ProbeReport};

pub async fn run(global: &Global, args: &SmokeArgs, printer: &Printer) -> Result<ExitStatus> {
    let (config, rendered) = super::load_rendered(global, &args.target)?;
    let aws = Aws::connect(&global.aws, &config).await?;
    let account = super::check_account(&aws, &config).await?;
    let name = config.stack_name();
    let stack = crate::deploy::describe_stack(&aws.cfn, &name).await?.ok_or_else(|| {
        let instance = config.instance.as_ref().map(|i| format!(" --instance {i}")).unwrap_or_default();
        anyhow!("stack {name} does not exist: deploy it first with `provision --env {}{instance}`", config.env)
    })?;
    let (live, report) = verify(&aws, &config, &rendered, &account, (&stack.outputs, &stack.tags), printer).await?;
    smoke::print(printer, &config, &live, &report);
    Ok(smoke::exit_status(&live, &report))
}

/// The live configuration as checks (one per property), then the probes. Takes the deployed stack's outputs and
/// tags.
pub(crate) async fn verify(
    aws: &Aws,
    config: &Config,
    rendered: &Rendered,
    account: &str,
    (outputs, stack_tags): (&BTreeMap<String, String>, &BTreeMap<String, String>),
    printer: &Printer,
) -> Result<(Vec<Check>, ProbeReport)> {
    let findings = crate::live::check(aws, rendered, account, stack_tags).await?;
    let live = findings.iter().map(live_check).collect();
    let report = smoke::run_probes(aws, config, outputs, printer, &ProbeOptions::new(aws)).await?;
    Ok((live, report))
}

/// A compared property as a smoke check: `ok`, or what differs with both values.
fn live_check(finding: &Finding) -> Check {
    let observed = match (&finding.detail, finding.ok()) {
        (_, true) => "as configured".to_string(),
        (Some(detail), false) => detail.clone(),
        (None, false) if finding.actual.is_null() => "missing".to_string(),
        (None, false) => finding.actual.to_string(),
    };
    let mut check = Check::new(
        format!("live {} {}", finding.resource, finding.property),
        finding.ok(),
        finding.expected.to_string(),
        observed,
    );
    check.latency_ms = finding.latency_ms;
    check
}
