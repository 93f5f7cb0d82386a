//! Webhook Lambda: API Gateway HTTP API (payload v2) → verify, store, enqueue.
mod handler;

// One event at a time on a fraction of a vCPU: one thread (no worker threads to start or wake).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let service = handler::build().await?;
    lambda_http::run(lambda_http::service_fn(|request| handler::handle(&service, request))).await
}
