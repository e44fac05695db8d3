//! `provision plan`: the change set a deploy would execute, without executing it.

use anyhow::Result;

use crate::cli::PlanArgs;
use crate::output::{ExitStatus, Printer};
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &PlanArgs, printer: &Printer) -> Result<ExitStatus> {
    let (config, rendered) = super::load_rendered(settings, &args.env)?;
    let (aws, account) = settings.connect(&config).await?;
    let rendered = crate::deploy::parameters::for_deploy(&aws, &config, rendered).await?;
    if let Some(reason) = crate::deploy::preflight::verdict(&aws, &config, &rendered, &account).await? {
        let status = ExitStatus::Refused;
        if printer.json() {
            let plan = serde_json::json!({ "stack": config.stack_name(), "changes": [], "refused": reason });
            printer.json_doc(&serde_json::json!({ "env": config.env, "plan": plan, "exit_code": status.code() }));
        }
        printer.log(format!("error: refused: {reason}"));
        return Ok(status);
    }
    let templates = crate::deploy::template_store::TemplateStore::new(&aws, &account).logging_to(printer);
    let report = crate::deploy::plan(&aws.cfn, &templates, &config, &rendered, args.allow_data_loss).await?;
    let status = match (&report.refused, report.changes.is_empty()) {
        (Some(_), _) => ExitStatus::Refused,
        (None, true) => ExitStatus::Success,
        (None, false) => ExitStatus::Differences,
    };
    if printer.json() {
        printer.json_doc(&serde_json::json!({ "env": config.env, "plan": report, "exit_code": status.code() }));
        return Ok(status);
    }
    if report.changes.is_empty() {
        printer.data(format!("stack {}: no changes", report.stack));
    } else {
        let verb = if report.exists { "update" } else { "create" };
        printer.data(format!("stack {}: {verb}, {} change(s)", report.stack, report.changes.len()));
        for line in report.changes.iter().flat_map(crate::deploy::changeset::Change::lines) {
            printer.data(format!("  {line}"));
        }
    }
    if let Some(reason) = &report.refused {
        printer.log(format!("error: refused: {reason}"));
    }
    Ok(status)
}
