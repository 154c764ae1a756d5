//! `fep`: command-line entry point. Parses arguments and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fep_gateway::config::{check_summary, Config};

/// Front-end processor gateway for fixed-length telegram institutions.
#[derive(Parser)]
#[command(name = "fep", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file; errors point at the offending line.
    Check {
        /// Path of the configuration file.
        #[arg(long, default_value = "fep.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { config } => match Config::load(&config) {
            Ok(c) => {
                println!("{}", check_summary(&c));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
    }
}
