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
            // Library errors already name their cause (`path: cause`); a cause
            // is added only where the message lacks it.
            let mut message = e.to_string();
            for cause in e.chain().skip(1).map(|c| c.to_string()) {
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            // Errors quote file names, titles and plugin output: nothing in them
            // may drive the terminal.
            eprintln!("candor: {}", candor::printable::escape(&message));
            ExitCode::FAILURE
        }
    }
}
