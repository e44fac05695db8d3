//! `provision --env E` / `provision deploy`: validate, render, check the account, deploy, print the outputs.

use anyhow::Result;

use crate::aws::Aws;
use crate::cli::DeployArgs;
use crate::deploy::{self, Options};
use crate::output::{ExitStatus, Printer, refuse};
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &DeployArgs, printer: &Printer) -> Result<ExitStatus> {
    let (config, rendered) = super::load_rendered(settings, &args.env)?;
    let (aws, account) = settings.connect(&config).await?;
    let rendered = deploy::parameters::for_deploy(&aws, &config, rendered).await?;
    let options = Options {
        yes: args.yes,
        allow_data_loss: args.allow_data_loss,
        wait_timeout: args.wait_timeout,
        ttl: args.ttl,
        ..Options::default()
    };
    if let Some(reason) = deploy::preflight::verdict(&aws, &config, &rendered, &account).await? {
        return Err(refuse(reason));
    }
    let templates = deploy::template_store::TemplateStore::new(&aws, &account).logging_to(printer);
    let report = deploy::deploy(&aws.cfn, &templates, &config, &rendered, &options, printer).await?;
    let reverted = if config.self_heal || args.revert_drift {
        revert_drift(&aws, &config, &rendered, &account, &report.tags, args.yes, printer).await?
    } else {
        Vec::new()
    };
    let smoke = if args.no_smoke {
        None
    } else {
        Some(crate::smoke::verify(&aws, &config, &rendered, &account, (&report.outputs, &report.tags), printer).await?)
    };
    let status = smoke.as_ref().map_or(ExitStatus::Success, |(live, probes)| crate::smoke::exit_status(live, probes));
    if printer.json() {
        let smoke = smoke.map(|(live, probes)| crate::smoke::report::deploy_json(&live, &probes));
        printer.json_doc(&serde_json::json!({
            "env": config.env,
            "deploy": report,
            "reverted": reverted,
            "smoke": smoke,
            "ok": status == ExitStatus::Success,
        }));
    } else {
        let did = match report.action {
            "create" => "created",
            "update" => "updated",
            _ => "no changes",
        };
        printer.data(format!(
            "stack {}: {did} ({} ms)",
            report.stack,
            report.timings_ms.get("total").copied().unwrap_or(0)
        ));
        for (key, value) in &report.outputs {
            printer.data(format!("  {key:<28} {value}"));
        }
        for r in &reverted {
            printer.data(format!("reverted drift: {} {} ({})", r.resource, r.property, r.action));
        }
        if let Some((live, probes)) = &smoke {
            printer.data("");
            crate::smoke::print(printer, &config, live, probes);
        }
    }
    Ok(status)
}

/// Puts back live settings that differ from the config (self-healing envs, `--revert-drift`).
async fn revert_drift(
    aws: &Aws,
    config: &crate::config::Config,
    rendered: &crate::render::Rendered,
    account: &str,
    stack_tags: &std::collections::BTreeMap<String, String>,
    yes: bool,
    printer: &Printer,
) -> Result<Vec<crate::live::Reverted>> {
    let findings = crate::live::check(aws, rendered, account, stack_tags).await?;
    let drifted: Vec<_> = findings.iter().filter(|f| !f.ok()).collect();
    if drifted.is_empty() {
        return Ok(Vec::new());
    }
    for f in &drifted {
        printer.log(format!("drift: {f}"));
    }
    let question = format!("revert this drift of protected env {}?", config.env);
    if config.protected && !yes && printer.confirm_async(&question).await != Some(true) {
        return Err(refuse(format!("{} is protected: pass --yes to revert its drift", config.env)));
    }
    crate::live::revert(aws, &findings).await
}
