//! Admin Lambda: the `/admin/v1/` REST API behind the console (API Gateway HTTP API, payload v2).
mod handler;

// One request at a time on a fraction of a vCPU: one thread.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let api = handler::build().await?;
    lambda_http::run(lambda_http::service_fn(|request| handler::handle(&api, request))).await
}
