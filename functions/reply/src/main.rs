//! Reply Lambda: reply FIFO queue → the channel's send API, failures per message.
mod handler;

// One event at a time on a fraction of a vCPU: one thread (no worker threads to start or wake).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let service = handler::build().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler::handle(&service, event))).await
}
