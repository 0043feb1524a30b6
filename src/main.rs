use clap::Parser;

/// mimalloc instead of the system allocator: +12 % notifications/s in `cargo bench --bench
/// pipeline` (BENCHMARKS.md); allocation was a fifth of Tocsin's CPU time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = tocsin::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the Tokio runtime");
    match runtime.block_on(tocsin::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tocsin: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
