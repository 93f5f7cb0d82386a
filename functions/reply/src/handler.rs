//! Runs each reply through the shared reply flow and reports failures per message.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clawless_aws::dynamodb::{DynamoClient, Store};
use clawless_aws::s3::{MemoryBucket, S3Client};
use clawless_aws::sqs_batch::run_fifo_batch;
use clawless_aws::ssm::secrets::{SecretStore, SsmClient};
use clawless_aws::wiring::{approval_flow_from_env, notice_wording_from_env};
use clawless_core::approvals::ReplyQueueMessage;
use clawless_core::config;
use clawless_core::config::PlatformConfig;
use clawless_core::domain::envelope::AgentReport;
use clawless_core::flows::directory::BotDirectory;
use clawless_core::flows::reply::{ChannelApis, ReplyPorts, ReplyService};
use clawless_core::flows::reports::{ReportOutcome, ReportService};
use lambda_runtime::{Error, LambdaEvent};

/// The reply flow, and what acts on the agents' reports that share the queue.
pub struct Reply {
    pub replies: ReplyService,
    pub reports: ReportService,
}

pub async fn build() -> Result<Reply, Error> {
    let platform = PlatformConfig::from_env()?;
    let aws = clawless_aws::sdk::load_sdk_config().await;
    let store = Arc::new(Store::new(DynamoClient::new(&aws), &platform.table));
    let ssm = SsmClient::new(&aws);
    let secrets = Arc::new(SecretStore::new(ssm.clone(), &platform.parameter_prefix));
    let directory = BotDirectory::new(store.clone(), Some(secrets), platform.cache_ttl);
    // The channel APIs, trusting the same roots as the SDK client (`clawless_aws::tls`).
    let http = clawless_aws::tls::reqwest_builder().timeout(Duration::from_secs(10)).build()?;
    let approvals = approval_flow_from_env(&aws, &platform)?;
    // Each tenant's wording of its approver's notices (cached), and the optional summary model.
    let wording = Arc::new(notice_wording_from_env(&aws, &platform, ssm)?);
    let scope = approvals.scope_key();
    // Answers' files, read from the conversation's outbox in the memory bucket.
    let outboxes = MemoryBucket::from_arn(S3Client::new(&aws), &config::required("CLAWLESS_MEMORY_BUCKET_ARN")?);
    let ports = ReplyPorts {
        directory,
        conversations: store.clone(),
        usage: store.clone(),
        limits: store.clone(),
        scope: scope.clone(),
        statuses: store.clone(),
    };
    Ok(Reply {
        replies: ReplyService::new(ports, http, ChannelApis::from_env()).with_files(Arc::new(outboxes)),
        reports: ReportService::new(store.clone(), store.clone(), store, approvals, scope).with_notice_wording(wording),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error(transparent)]
    Delivery(#[from] clawless_core::flows::reply::DeliveryError),
    #[error(transparent)]
    Report(#[from] clawless_core::flows::reports::ReportError),
}

pub async fn handle(service: &Reply, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(run_fifo_batch(event.payload, |message: ReplyQueueMessage| async move {
        match message {
            ReplyQueueMessage::Reply(reply) => {
                service.replies.deliver(reply).await.map(|_| ()).map_err(ReplyError::from)
            }
            // Shown or dropped, never retried: a late typing indicator is worth nothing.
            ReplyQueueMessage::Report(AgentReport::Progress(progress)) => {
                service.replies.progress(progress).await;
                Ok(())
            }
            ReplyQueueMessage::Report(report) => {
                let ended = report.ended_run().is_some().then(|| report.clone());
                let outcome = service.reports.handle(report).await.map_err(ReplyError::from)?;
                // A run that sent no answer takes its status message and reaction down here.
                if let (ReportOutcome::Done, Some(ended)) = (outcome, ended) {
                    service.replies.end_reported_run(&ended).await;
                }
                Ok(())
            }
        }
    })
    .await)
}
