//! Scheduler Lambda: fired by EventBridge Scheduler for a scheduled task; queues the task's run
//! on the inbound queue in its conversation (see `clawless_core::tasks::firing`).
mod handler;

// One event at a time on a fraction of a vCPU: one thread (no worker threads to start or wake).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let firing = handler::build().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler::handle(&firing, event))).await
}
