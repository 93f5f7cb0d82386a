//! Dispatcher Lambda: inbound FIFO queue → AgentCore `InvokeAgentRuntime`, failures per message.
mod handler;

// One event at a time on a fraction of a vCPU: one thread (no worker threads to start or wake).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let dispatcher = handler::build().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler::handle(&dispatcher, event))).await
}
