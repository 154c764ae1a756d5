//! `fep`: command-line entry point; everything lives in the library (`fep_gateway::cli`).

fn main() -> std::process::ExitCode {
    fep_gateway::cli::main()
}
