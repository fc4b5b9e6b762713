//! The `candor` binary: parses the command line, runs one command, picks an exit
//! code. Everything else lives in the library; `cli` only adapts it to a terminal.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Parsing first: --help and --version never touch disk, models or network.
    let args = cli::Args::parse();
    cli::init_logging();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("candor: {e:#}");
            ExitCode::FAILURE
        }
    }
}
