//! Runs each inbound message through the shared dispatcher and reports failures per message.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clawless_shared::agentcore::{AgentCoreClient, AgentRuntime};
use clawless_shared::approvals::ApprovalFlow;
use clawless_shared::config::{self, PlatformConfig};
use clawless_shared::credentials::CredentialVendor;
use clawless_shared::directory::BotDirectory;
use clawless_shared::dispatch::{AgentAccess, Dispatcher};
use clawless_shared::envelope::InboundEnvelope;
use clawless_shared::sqs_batch::run_fifo_batch;
use clawless_shared::store::{DynamoClient, Store};
use lambda_runtime::{Error, LambdaEvent};

pub async fn build() -> Result<Dispatcher, Error> {
    let platform = PlatformConfig::from_env()?;
    let runtime_arn = config::required("CLAWLESS_AGENT_RUNTIME_ARN")?;
    let history_limit: i32 = config::parsed("CLAWLESS_HISTORY_LIMIT", 20)?;
    let aws = clawless_shared::aws::load_sdk_config().await;
    // No secret store: the dispatcher never needs channel secrets, and its role cannot read them.
    let directory = BotDirectory::new(Store::new(DynamoClient::new(&aws), &platform.table), None, platform.cache_ttl);
    let approvals = ApprovalFlow::from_env(&aws, &platform)?;
    let access = AgentAccess { credentials: CredentialVendor::from_env(&aws)?, scope: approvals.scope_key() };
    Ok(Dispatcher::new(directory, AgentRuntime::new(AgentCoreClient::new(&aws), runtime_arn), history_limit, access)
        .with_approvals(approvals))
}

pub async fn handle(dispatcher: &Dispatcher, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(run_fifo_batch(event.payload, |envelope: InboundEnvelope| async move {
        dispatcher.dispatch(envelope).await.map(|_| ())
    })
    .await)
}
