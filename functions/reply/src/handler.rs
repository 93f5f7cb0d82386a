//! Runs each reply through the shared reply flow and reports failures per message.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clawless_shared::approvals::{ApprovalFlow, ReplyQueueMessage};
use clawless_shared::config::PlatformConfig;
use clawless_shared::directory::BotDirectory;
use clawless_shared::reply::{ChannelApis, ReplyService};
use clawless_shared::reports::ReportService;
use clawless_shared::secrets::{SecretStore, SsmClient};
use clawless_shared::sqs_batch::run_fifo_batch;
use clawless_shared::store::{DynamoClient, Store};
use lambda_runtime::{Error, LambdaEvent};

/// The reply flow, and what acts on the agents' reports that share the queue.
pub struct Reply {
    pub replies: ReplyService,
    pub reports: ReportService,
}

pub async fn build() -> Result<Reply, Error> {
    let platform = PlatformConfig::from_env()?;
    let aws = clawless_shared::aws::load_sdk_config().await;
    let store = Store::new(DynamoClient::new(&aws), &platform.table);
    let secrets = SecretStore::new(SsmClient::new(&aws), &platform.parameter_prefix);
    let directory = BotDirectory::new(store.clone(), Some(secrets), platform.cache_ttl);
    // The channel APIs, trusting the same roots as the SDK client (`clawless_shared::tls`).
    let http = clawless_shared::tls::reqwest_builder().timeout(Duration::from_secs(10)).build()?;
    let approvals = ApprovalFlow::from_env(&aws, &platform)?;
    let scope = approvals.scope_key();
    Ok(Reply {
        replies: ReplyService::new(directory, http, ChannelApis::from_env(), scope.clone()),
        reports: ReportService::new(store, approvals, scope),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error(transparent)]
    Delivery(#[from] clawless_shared::reply::DeliveryError),
    #[error(transparent)]
    Report(#[from] clawless_shared::reports::ReportError),
}

pub async fn handle(service: &Reply, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(run_fifo_batch(event.payload, |message: ReplyQueueMessage| async move {
        match message {
            ReplyQueueMessage::Reply(reply) => {
                service.replies.deliver(reply).await.map(|_| ()).map_err(ReplyError::from)
            }
            ReplyQueueMessage::Report(report) => {
                service.reports.handle(report).await.map(|_| ()).map_err(ReplyError::from)
            }
        }
    })
    .await)
}
