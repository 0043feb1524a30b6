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
    let result = runtime.block_on(tocsin::cli::run(cli));
    // Whatever is still running after the command returned (a consumer's poll thread waited on
    // by a blocking task) must not keep a failed process alive: the exit status is the answer.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tocsin: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
