#[tokio::main]
async fn main() -> std::process::ExitCode {
    custodian_api::cli::run().await
}
