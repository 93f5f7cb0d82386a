//! Approval-timeout Lambda: fired by a one-time EventBridge Scheduler schedule when an approval
//! request's 30 minutes are up.
mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let flow = handler::build().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler::handle(&flow, event))).await
}
