//! Runs each reply through the shared reply flow and reports failures per message.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clawless_shared::config::PlatformConfig;
use clawless_shared::directory::BotDirectory;
use clawless_shared::envelope::ReplyEnvelope;
use clawless_shared::reply::{ChannelApis, ReplyService};
use clawless_shared::secrets::{SecretStore, SsmClient};
use clawless_shared::sqs_batch::run_fifo_batch;
use clawless_shared::store::{DynamoClient, Store};
use lambda_runtime::{Error, LambdaEvent};

pub async fn build() -> Result<ReplyService, Error> {
    let platform = PlatformConfig::from_env()?;
    let aws = clawless_shared::aws::load_sdk_config().await;
    let store = Store::new(DynamoClient::new(&aws), &platform.table);
    let secrets = SecretStore::new(SsmClient::new(&aws), &platform.parameter_prefix);
    let directory = BotDirectory::new(store, Some(secrets), platform.cache_ttl);
    let http = clawless_shared::reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    Ok(ReplyService::new(directory, http, ChannelApis::from_env()))
}

pub async fn handle(service: &ReplyService, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(run_fifo_batch(event.payload, |reply: ReplyEnvelope| async move { service.deliver(reply).await.map(|_| ()) })
        .await)
}
