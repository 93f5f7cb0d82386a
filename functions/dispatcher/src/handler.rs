//! Runs each inbound message through the shared dispatcher and reports failures per message.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clawless_aws::agentcore::{AgentCoreClient, AgentRuntime};
use std::sync::Arc;

use clawless_aws::dynamodb::{DynamoClient, Store};
use clawless_aws::s3::{MemoryBucket, S3Client};
use clawless_aws::sqs_batch::run_fifo_batch;
use clawless_aws::ssm::secrets::{SecretStore, SsmClient};
use clawless_aws::sts::CredentialVendor;
use clawless_aws::wiring::approval_flow_from_env;
use clawless_core::access::AccessGate;
use clawless_core::chat_commands::ChatCommands;
use clawless_core::config;
use clawless_core::config::PlatformConfig;
use clawless_core::domain::envelope::InboundEnvelope;
use clawless_core::flows::directory::BotDirectory;
use clawless_core::flows::dispatch::{AgentAccess, DispatchPorts, Dispatcher};
use clawless_core::flows::intake::MediaIntake;
use clawless_core::flows::provider::ProviderResolver;
use clawless_core::flows::reply::ChannelApis;
use clawless_core::quota::{Quotas, RunSettings};
use lambda_runtime::{Error, LambdaEvent};

pub async fn build() -> Result<Dispatcher, Error> {
    let platform = PlatformConfig::from_env()?;
    let runtime_arn = config::required("CLAWLESS_AGENT_RUNTIME_ARN")?;
    let history_limit: i32 = config::parsed("CLAWLESS_HISTORY_LIMIT", 20)?;
    let aws = clawless_aws::sdk::load_sdk_config().await;
    let store = Arc::new(Store::new(DynamoClient::new(&aws), &platform.table));
    // Channel secrets: only to download the files messages carry, with the bot's own token.
    let secrets = Arc::new(SecretStore::new(SsmClient::new(&aws), &platform.parameter_prefix));
    let directory = BotDirectory::new(store.clone(), Some(secrets.clone()), platform.cache_ttl);
    // The tenant's own model provider and its key (bot setting from the bot record, tenant
    // setting and keys cached like it).
    let providers = ProviderResolver::new(store.clone(), secrets, platform.cache_ttl);
    let approvals = approval_flow_from_env(&aws, &platform)?;
    let access = AgentAccess { credentials: Arc::new(CredentialVendor::from_env(&aws)?), scope: approvals.scope_key() };
    // The access check reads the bot again (a group allowlist) and the access items, fresh.
    let gate = AccessGate::new(store.clone(), store.clone(), approvals.clone());
    // The tenant's limits are cached like the bot records; the month's use, the rate counters
    // and the run slots are read fresh.
    let defaults = RunSettings::default();
    let runs = RunSettings {
        slot: std::time::Duration::from_secs(config::parsed("CLAWLESS_RUN_SLOT_SECONDS", defaults.slot.as_secs())?),
        wait: std::time::Duration::from_secs(config::parsed("CLAWLESS_RUN_WAIT_SECONDS", defaults.wait.as_secs())?),
        ..defaults
    };
    let quotas = Quotas::new(store.clone(), store.clone(), approvals.clone(), platform.cache_ttl, runs);
    // `/reset` erases the conversation's memory layer in the bucket the agents' memory lives in.
    let memory = Arc::new(
        MemoryBucket::from_arn(S3Client::new(&aws), &config::required("CLAWLESS_MEMORY_BUCKET_ARN")?)
            .with_retention_tag(),
    );
    let commands = ChatCommands::new(store.clone(), approvals.clone()).with_memory(memory.clone());
    // Files in: downloaded from the channel's API (the SDK's roots, a bound on each download)
    // into the same bucket, under the conversation's prefix.
    let http = clawless_aws::tls::reqwest_builder().connect_timeout(std::time::Duration::from_secs(10)).build()?;
    let intake = MediaIntake::new(memory, store.clone(), http, ChannelApis::from_env());
    let ports = DispatchPorts {
        directory,
        conversations: store.clone(),
        grants: store,
        runtime: Arc::new(AgentRuntime::new(AgentCoreClient::new(&aws), runtime_arn)),
        access,
    };
    Ok(Dispatcher::new(ports, history_limit)
        .with_approvals(approvals)
        .with_access(gate)
        .with_commands(commands)
        .with_quotas(quotas)
        .with_media(intake)
        .with_providers(providers))
}

pub async fn handle(dispatcher: &Dispatcher, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(run_fifo_batch(event.payload, |envelope: InboundEnvelope| async move {
        dispatcher.dispatch(envelope).await.map(|_| ())
    })
    .await)
}
