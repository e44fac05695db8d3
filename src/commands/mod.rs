//! One file per command; [`run`] dispatches and turns errors into exit codes.

mod adopt;
mod deploy;
mod drift;
mod init;
mod list;
mod plan;
mod render;
mod schema;
mod smoke;
mod teardown;
mod validate;

use anyhow::Result;

use crate::cli::{Cli, Command, EnvArgs};
use crate::config::Config;
use crate::output::{ExitStatus, Printer, format_error, status_of};
use crate::render::Rendered;
use crate::settings::Settings;

/// Runs the command line and returns how the process should exit. Errors are printed here, once.
pub fn run(cli: Cli, printer: &Printer) -> ExitStatus {
    let (command, env) = describe(&cli);
    let settings = &Settings::resolve(&cli);
    let deadline = settings.deadline;
    let on_time = |future| block_on(deadline, command, printer, future);
    let result = match cli.command {
        Some(Command::Validate(args)) => validate::run(settings, &args, printer),
        Some(Command::Render(args)) => render::run(settings, &args, printer),
        Some(Command::Schema) => schema::run(printer),
        Some(Command::Deploy(args)) => on_time(Box::pin(deploy::run(settings, &args, printer))),
        Some(Command::Plan(args)) => on_time(Box::pin(plan::run(settings, &args, printer))),
        Some(Command::Drift(args)) => on_time(Box::pin(drift::run(settings, &args, printer))),
        Some(Command::Teardown(args)) => on_time(Box::pin(teardown::run(settings, &args, printer))),
        Some(Command::List(args)) => on_time(Box::pin(list::run(settings, &args, printer))),
        Some(Command::Smoke(args)) => on_time(Box::pin(smoke::run(settings, &args, printer))),
        Some(Command::Adopt(args)) => on_time(Box::pin(adopt::run(settings, &args, printer))),
        Some(Command::Init(args)) => on_time(Box::pin(init::run(settings, &args, printer))),
        // `Cli::parse_from_args` refuses a command line without a command or an env (a usage error, exit 64).
        None => on_time(Box::pin(deploy::run(settings, &cli.deploy, printer))),
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
    let env = match &cli.command {
        Some(Command::Validate(args)) => args.envs.first().cloned(),
        Some(Command::Render(args)) => Some(args.env.clone()),
        Some(Command::Schema) => None,
        Some(Command::Deploy(args)) => args.env.name.clone(),
        Some(Command::Plan(args)) => args.env.name.clone(),
        Some(Command::Drift(args)) => args.envs.first().cloned(),
        Some(Command::Teardown(args)) => args.env.name.clone(),
        Some(Command::List(args)) => args.env.clone(),
        Some(Command::Smoke(args)) => args.env.name.clone(),
        Some(Command::Adopt(args)) => args.env.name.clone(),
        Some(Command::Init(args)) => Some(args.env.clone()),
        None => cli.deploy.env.name.clone(),
    };
    (cli.command_name(), env)
}

/// A command's work, as the runtime runs it: boxed, so that one closure takes every command's future.
type Work<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<ExitStatus>> + 'a>>;

/// Runs a command's future to its end, or until its deadline (saying meanwhile what it waits for).
fn block_on(
    deadline: Option<std::time::Duration>,
    what: &str,
    printer: &Printer,
    work: Work<'_>,
) -> Result<ExitStatus> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let result = runtime.block_on(crate::deadline::with_deadline(deadline, what, printer, work));
    // Without waiting for blocking tasks: a prompt abandoned by Ctrl-C still reads stdin on its thread.
    runtime.shutdown_background();
    result
}

/// Loads, renders and least-privilege checks one env: what every AWS command starts from.
pub(crate) fn load_rendered(settings: &Settings, env: &EnvArgs) -> Result<(Config, Rendered)> {
    let config = crate::config::load(&settings.stacks_dir, env.name()?, env.instance.as_deref())?;
    let rendered = crate::render::render(&config)?;
    let violations = crate::privilege::check(&config, &rendered.template_value);
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(|v| format!("  - {v}")).collect();
        anyhow::bail!("the rendered template of {} breaks least privilege:\n{}", config.env, list.join("\n"));
    }
    Ok((config, rendered))
}
