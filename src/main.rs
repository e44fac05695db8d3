use clap::Parser;

use provision::cli::Cli;
use provision::output::Printer;

fn main() {
    let cli = Cli::parse();
    let printer = Printer::stdio(cli.global.output);
    let status = provision::commands::run(cli, &printer);
    std::process::exit(status.code());
}
