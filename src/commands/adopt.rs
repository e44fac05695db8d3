//! `provision adopt --env E`: the adoption plan of an existing bucket, then (unless `--dry-run`) the adoption.

use anyhow::Result;

use crate::adopt::{self, Consent};
use crate::cli::AdoptArgs;
use crate::deploy::template_store::TemplateStore;
use crate::output::{ExitStatus, Printer, refuse};
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &AdoptArgs, printer: &Printer) -> Result<ExitStatus> {
    let (config, rendered) = super::load_rendered(settings, &args.env)?;
    let (aws, account) = settings.connect(&config).await?;
    // The deploying principal, where the template names it (the bucket's own key, `smoke.trust_deployer`).
    let rendered = crate::deploy::parameters::for_deploy(&aws, &config, rendered).await?;
    let plan = adopt::plan(&aws, &config, &rendered, &account).await?;
    if plan.adopted || args.dry_run {
        let status = if plan.adopted { ExitStatus::Success } else { ExitStatus::Differences };
        if printer.json() {
            printer.json_doc(&serde_json::json!({ "env": config.env, "plan": plan, "exit_code": status.code() }));
        } else {
            adopt::plan_lines(&plan).into_iter().for_each(|line| printer.data(line));
        }
        return Ok(status);
    }
    // The plan goes to stderr before the question, so that stdout keeps one result.
    adopt::plan_lines(&plan).into_iter().for_each(|line| printer.log(line));
    let consent = Consent { yes: args.yes, accepted: args.accept_risk.iter().copied().collect() };
    if let Some(reason) = adopt::refusal(&config, &plan, &consent, printer).await {
        return Err(refuse(reason));
    }
    let templates = TemplateStore::new(&aws, &account).logging_to(printer);
    let report = adopt::adopt(&aws, &templates, &config, &rendered, &account, plan, printer).await?;
    if printer.json() {
        printer.json_doc(&serde_json::json!({ "env": config.env, "adopt": report, "ok": true }));
    } else {
        printer.data(format!("bucket {} adopted into stack {}", report.plan.bucket, report.plan.stack));
        for r in &report.reverted {
            printer.data(format!("  put right: {} {} ({})", r.resource, r.property, r.action));
        }
    }
    Ok(ExitStatus::Success)
}
