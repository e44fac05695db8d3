//! `provision render`: the template and policy documents of one env, to stdout or a directory.

use anyhow::{Context, Result};

use crate::cli::RenderArgs;
use crate::config::Config;
use crate::output::{ExitStatus, Printer};
use crate::render::{Rendered, resolve};
use crate::settings::Settings;

pub fn run(settings: &Settings, args: &RenderArgs, printer: &Printer) -> Result<ExitStatus> {
    let target = crate::cli::EnvArgs::new(&args.env, args.instance.clone());
    let (config, rendered) = super::load_rendered(settings, &target)?;
    let rendered = if args.resolve { resolved(settings, args, &config, &rendered)? } else { rendered };
    if let Some(dir) = &args.out {
        let policies = dir.join("policies");
        std::fs::create_dir_all(&policies).with_context(|| format!("cannot create {}", policies.display()))?;
        let write = |path: std::path::PathBuf, text: &str| {
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        };
        write(dir.join("template.yaml"), &rendered.template)?;
        for (name, doc) in &rendered.policies {
            write(policies.join(name), &serde_json::to_string_pretty(doc)?)?;
        }
        if let Some(stack_policy) = &rendered.stack_policy {
            write(dir.join("stack-policy.json"), stack_policy)?;
        }
        let resolved = if args.resolve { ", resolved" } else { "" };
        printer.log(format!("wrote {} ({} policy documents{resolved})", dir.display(), rendered.policies.len()));
    }
    if printer.json() {
        printer.json_doc(&serde_json::json!({
            "env": config.env,
            "stack": config.stack_name(),
            "template": rendered.template_value,
            "policies": rendered.policies,
        }));
    } else if args.out.is_none() {
        printer.data(rendered.template.trim_end());
    }
    Ok(ExitStatus::Success)
}

/// `rendered` resolved for `--account` (else the env file's `account:`) and `--region` (else the env file's).
fn resolved(settings: &Settings, args: &RenderArgs, config: &Config, rendered: &Rendered) -> Result<Rendered> {
    let Some(account) = args.account.clone().or_else(|| config.account.clone()) else {
        anyhow::bail!(
            "--resolve needs the account to resolve for: give --account ID, or set `account:` in the env file of {}",
            config.env
        );
    };
    let region = settings.region().unwrap_or(&config.region).to_string();
    let target = resolve::Target::new(&account, &region, &config.stack_name());
    resolve::resolve(rendered, &target)
        .with_context(|| format!("cannot resolve {} for account {} in {}", config.env, target.account, target.region))
}
