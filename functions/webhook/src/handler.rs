//! Maps the API Gateway request to the shared webhook flow and its answer back to HTTP.

use clawless_shared::config::{self, PlatformConfig};
use clawless_shared::directory::BotDirectory;
use clawless_shared::queue::{FifoQueue, SqsClient};
use clawless_shared::secrets::{SecretStore, SsmClient};
use clawless_shared::store::{DynamoClient, Store};
use clawless_shared::webhook::{WebhookRequest, WebhookService};
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// Builds the AWS clients and the service once per cold start.
pub async fn build() -> Result<WebhookService, Error> {
    let platform = PlatformConfig::from_env()?;
    let inbound_url = config::required("CLAWLESS_INBOUND_QUEUE_URL")?;
    let aws = clawless_shared::aws::load_sdk_config().await;
    let store = Store::new(DynamoClient::new(&aws), &platform.table);
    let secrets = SecretStore::new(SsmClient::new(&aws), &platform.parameter_prefix);
    let directory = BotDirectory::new(store, Some(secrets), platform.cache_ttl);
    Ok(WebhookService::new(directory, FifoQueue::new(SqsClient::new(&aws), inbound_url)))
}

pub async fn handle(service: &WebhookService, request: Request) -> Result<Response<Body>, Error> {
    let params = request.path_parameters();
    let channel = params.first("channel").unwrap_or_default().to_owned();
    let bot_id = params.first("bot_id").unwrap_or_default().to_owned();
    // lambda_http has already undone `isBase64Encoded`: these are the bytes the channel sent.
    let body: &[u8] = request.body().as_ref();
    let answer = service
        .handle(WebhookRequest {
            method: request.method().as_str(),
            channel: &channel,
            bot_id: &bot_id,
            headers: request.headers(),
            query: request.uri().query().unwrap_or(""),
            body,
        })
        .await;
    Ok(Response::builder()
        .status(answer.status)
        .header("content-type", answer.content_type)
        .body(Body::from(answer.body))?)
}
