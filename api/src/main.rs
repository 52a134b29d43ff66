// glibc's allocator showed as the top cost under load (malloc/free contention across
// the runtime's threads); mimalloc keeps per-thread heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    custodian_api::cli::run().await
}
