//! Admin Lambda: the `/admin/v1/` REST API (API Gateway HTTP API, payload v2).

// One request at a time on a fraction of a vCPU: one thread.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    lambda_http::run(lambda_http::service_fn(|_request: lambda_http::Request| async {
        lambda_http::Response::builder()
            .status(503)
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(r#"{"error":"the admin API is being built"}"#))
            .map_err(lambda_http::Error::from)
    }))
    .await
}
