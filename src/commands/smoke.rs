//! `provision smoke --env E`: prove that a deployed env's bucket works as configured: its live settings read back
//! and compared with the config, then probe objects. Also run by the main job after every deploy.

use anyhow::{Result, anyhow};

use crate::cli::SmokeArgs;
use crate::output::{ExitStatus, Printer};
use crate::settings::Settings;
use crate::smoke;

pub async fn run(settings: &Settings, args: &SmokeArgs, printer: &Printer) -> Result<ExitStatus> {
    let (config, rendered) = super::load_rendered(settings, &args.env)?;
    let (aws, account) = settings.connect(&config).await?;
    let name = config.stack_name();
    let stack = crate::stack::describe(&aws.cfn, &name).await?.ok_or_else(|| {
        let instance = config.instance.as_ref().map(|i| format!(" --instance {i}")).unwrap_or_default();
        anyhow!("stack {name} does not exist: deploy it first with `provision --env {}{instance}`", config.env)
    })?;
    // The deployed stack's parameter values (the principal that deployed it), which its settings name.
    let rendered = rendered.with_parameters(&stack.parameters);
    let (live, report) =
        smoke::verify(&aws, &config, &rendered, &account, (&stack.outputs, &stack.tags), printer).await?;
    smoke::print(printer, &config, &live, &report);
    Ok(smoke::exit_status(&live, &report))
}
