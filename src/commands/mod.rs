//! One file per command; [`run`] dispatches and turns errors into exit codes.

mod deploy;
mod drift;
mod list;
mod plan;
mod render;
mod schema;
mod smoke;
mod teardown;
mod validate;

use anyhow::Result;

use crate::aws::Aws;
use crate::cli::{Cli, Command, Global, Target};
use crate::config::Config;
use crate::output::{ExitStatus, Printer, format_error, status_of};
use crate::render::Rendered;

/// Runs the command line and returns how the process should exit. Errors are printed here, once.
pub fn run(cli: Cli, printer: &Printer) -> ExitStatus {
    let (command, env) = describe(&cli);
    let global = &cli.global;
    if cli.command.is_some() && (cli.deploy.target.env.is_some() || cli.deploy.target.instance.is_some()) {
        printer.log("error: --env/--instance go after the subcommand, e.g. `provision plan --env prod`");
        return ExitStatus::Failure;
    }
    let result = match cli.command {
        Some(Command::Validate(args)) => validate::run(global, &args, printer),
        Some(Command::Render(args)) => render::run(global, &args, printer),
        Some(Command::Schema) => schema::run(printer),
        Some(Command::Deploy(args)) => block_on(deploy::run(global, &args, printer)),
        Some(Command::Plan(args)) => block_on(plan::run(global, &args, printer)),
        Some(Command::Drift(args)) => block_on(drift::run(global, &args, printer)),
        Some(Command::Teardown(args)) => block_on(teardown::run(global, &args, printer)),
        Some(Command::List(args)) => block_on(list::run(global, &args, printer)),
        Some(Command::Smoke(args)) => block_on(smoke::run(global, &args, printer)),
        None if cli.deploy.target.env.is_some() => block_on(deploy::run(global, &cli.deploy, printer)),
        None => Err(anyhow::anyhow!("no command given: try `provision --env local`, or see `provision --help`")),
    };
    match result {
        Ok(status) => status,
        Err(error) => {
            printer.log(format_error(&error));
            let status = status_of(&error);
            if printer.json() {
                // A failure is a result too: tooling reads one document on stdout whatever happened.
                printer.json_doc(&serde_json::json!({
                    "command": command,
                    "env": env,
                    "ok": false,
                    "error": format!("{error:#}"),
                    "exit_code": status.code(),
                }));
            }
            status
        }
    }
}

/// The command's name and the env it was asked for, for the failure document.
fn describe(cli: &Cli) -> (&'static str, Option<String>) {
    let target_env = |t: &Target| t.env.clone();
    match &cli.command {
        Some(Command::Validate(args)) => ("validate", args.envs.first().cloned()),
        Some(Command::Render(args)) => ("render", Some(args.env.clone())),
        Some(Command::Schema) => ("schema", None),
        Some(Command::Deploy(args)) => ("deploy", target_env(&args.target)),
        Some(Command::Plan(args)) => ("plan", target_env(&args.target)),
        Some(Command::Drift(args)) => ("drift", args.envs.first().cloned()),
        Some(Command::Teardown(args)) => ("teardown", target_env(&args.target)),
        Some(Command::List(args)) => ("list", args.env.clone()),
        Some(Command::Smoke(args)) => ("smoke", target_env(&args.target)),
        None => ("deploy", target_env(&cli.deploy.target)),
    }
}

fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(future)
}

/// Loads, renders and least-privilege checks one env: what every AWS command starts from.
pub(crate) fn load_rendered(global: &Global, target: &Target) -> Result<(Config, Rendered)> {
    let config = crate::config::load(&global.stacks_dir, target.env()?, target.instance.as_deref())?;
    let rendered = crate::render::render(&config)?;
    let violations = crate::privilege::check(&config, &rendered.template_value);
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(|v| format!("  - {v}")).collect();
        anyhow::bail!("the rendered template of {} breaks least privilege:\n{}", config.env, list.join("\n"));
    }
    Ok((config, rendered))
}

/// Resolves the account of the credentials and refuses another one than the env file names.
pub(crate) async fn check_account(aws: &Aws, config: &Config) -> Result<String> {
    let account = aws.account().await?;
    deploy::check_account_matches(&account, config).await?;
    Ok(account)
}
