//! One file per command; [`run`] dispatches and turns errors into exit codes.

mod render;
mod schema;
mod validate;

use crate::cli::{Cli, Command};
use crate::output::{ExitStatus, Printer, format_error, status_of};

/// Runs the command line and returns how the process should exit. Errors are printed here, once.
pub fn run(cli: Cli, printer: &Printer) -> ExitStatus {
    let global = &cli.global;
    let result = match cli.command {
        Some(Command::Validate(args)) => validate::run(global, &args, printer),
        Some(Command::Render(args)) => render::run(global, &args, printer),
        Some(Command::Schema) => schema::run(printer),
        None => Err(anyhow::anyhow!("no command given; see `provision --help`")),
    };
    match result {
        Ok(status) => status,
        Err(error) => {
            printer.log(format_error(&error));
            status_of(&error)
        }
    }
}
