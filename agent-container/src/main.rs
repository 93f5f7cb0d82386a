use std::process::ExitCode;
use std::sync::Arc;

use clawless_agent::config::AgentConfig;
use clawless_agent::reply_sink::SqsReplySink;
use clawless_agent::{AppState, StartupError, init_logging, serve};
use clawless_shared::aws::load_sdk_config;
use clawless_shared::queue::FifoQueue;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(event = "startup_failed", error = %e, "clawless-agent stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), StartupError> {
    let config = AgentConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let queue = FifoQueue::new(aws_sdk_sqs::Client::new(&sdk), config.reply_queue_url.clone());
    let state = AppState::new(config.provider.build(), Arc::new(SqsReplySink::new(queue)));
    let listener = TcpListener::bind(("0.0.0.0", config.port))
        .await
        .map_err(|source| StartupError::Bind { port: config.port, source })?;
    tracing::info!(event = "agent_started", port = config.port, provider = %config.provider, "clawless-agent starting");
    serve(listener, state).await.map_err(StartupError::Serve)
}
