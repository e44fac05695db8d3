use std::process::ExitCode;

use provision::cli::{Cli, usage_exit};
use provision::output::Printer;

fn main() -> ExitCode {
    let cli = match Cli::parse_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(error) => return usage_exit(&error).into(),
    };
    let printer = Printer::stdio(cli.global.output);
    provision::commands::run(cli, &printer).into()
}
