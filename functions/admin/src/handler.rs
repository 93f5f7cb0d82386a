//! Maps the API Gateway request to the admin API in the core and its answer back to HTTP.

use clawless_core::admin::api::{AdminApi, AdminRequest};
use clawless_core::admin::identity::IdTokenVerifier;
use clawless_core::config::{self, PlatformConfig};
use lambda_http::{Body, Error, Request, Response};

/// Builds the clients, the token verifier and the service once per cold start.
///
/// `CLAWLESS_COGNITO_ISSUER` and `CLAWLESS_COGNITO_CLIENT_ID` say whose tokens count;
/// `CLAWLESS_COGNITO_JWKS_URL` overrides where the keys are fetched (the local run's emulator);
/// `CLAWLESS_COGNITO_USER_POOL_ID` is where users are created.
pub async fn build() -> Result<AdminApi, Error> {
    let platform = PlatformConfig::from_env()?;
    let issuer = config::required("CLAWLESS_COGNITO_ISSUER")?;
    let client_id = config::required("CLAWLESS_COGNITO_CLIENT_ID")?;
    let pool_id = config::required("CLAWLESS_COGNITO_USER_POOL_ID")?;
    let jwks_url = config::optional("CLAWLESS_COGNITO_JWKS_URL");
    let aws = clawless_aws::sdk::load_sdk_config().await;
    let flow = clawless_aws::wiring::approval_flow_from_env(&aws, &platform)?;
    let service = clawless_aws::wiring::admin_service(&aws, &platform, Some(flow), Some(pool_id));
    let verifier = IdTokenVerifier::new(&issuer, &client_id, jwks_url, service.http().clone());
    Ok(AdminApi::new(service, verifier))
}

pub async fn handle(api: &AdminApi, request: Request) -> Result<Response<Body>, Error> {
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    let answer = api
        .handle(AdminRequest {
            method: request.method().as_str(),
            path: request.uri().path(),
            query: request.uri().query().unwrap_or(""),
            authorization,
            body: request.body().as_ref(),
        })
        .await;
    Ok(Response::builder()
        .status(answer.status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::from(answer.body.to_string()))?)
}
