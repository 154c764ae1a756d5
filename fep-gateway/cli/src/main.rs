//! `fep`: command-line entry point; everything lives in the library (`fep_cli::cli`).

/// mimalloc rather than the system allocator: the request path allocates small, short-lived
/// buffers on one thread and frees them on another, where glibc's malloc spent ~15 % of the
/// gateway's CPU under load (docs/performance.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fep_cli::cli::main()
}
