//! Approval-timeout Lambda: fired by a one-time EventBridge Scheduler schedule when an approval
//! request's 30 minutes are up.
mod handler;

// One event at a time on a fraction of a vCPU: one thread (no worker threads to start or wake).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let flow = handler::build().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler::handle(&flow, event))).await
}
