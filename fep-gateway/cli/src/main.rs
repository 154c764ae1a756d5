//! `fep`: command-line entry point; everything lives in the library (`fep_cli::cli`).

fn main() -> std::process::ExitCode {
    fep_cli::cli::main()
}
