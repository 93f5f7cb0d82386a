//! Maps the API Gateway request to the shared webhook flow and its answer back to HTTP.

use std::sync::Arc;

use clawless_core::config;

use clawless_aws::dynamodb::{DynamoClient, Store};
use clawless_aws::sqs::{FifoQueue, SqsClient};
use clawless_aws::ssm::secrets::{SecretStore, SsmClient};
use clawless_core::config::PlatformConfig;
use clawless_core::flows::directory::BotDirectory;
use clawless_core::flows::webhook::{WebhookRequest, WebhookService};
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// Builds the AWS clients and the service once per cold start.
pub async fn build() -> Result<WebhookService, Error> {
    let platform = PlatformConfig::from_env()?;
    let inbound_url = config::required("CLAWLESS_INBOUND_QUEUE_URL")?;
    let aws = clawless_aws::sdk::load_sdk_config().await;
    let store = Arc::new(Store::new(DynamoClient::new(&aws), &platform.table));
    let secrets = Arc::new(SecretStore::new(SsmClient::new(&aws), &platform.parameter_prefix));
    let directory = BotDirectory::new(store.clone(), Some(secrets), platform.cache_ttl);
    Ok(WebhookService::new(directory, store, Arc::new(FifoQueue::new(SqsClient::new(&aws), inbound_url))))
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
