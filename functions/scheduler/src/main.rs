//! Scheduler Lambda: fired by EventBridge Scheduler for a scheduled task.
mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(lambda_runtime::service_fn(handler::handle)).await
}
