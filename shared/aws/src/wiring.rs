//! The core's flows assembled from these adapters, as the functions build them once per cold
//! start from their environment.

use std::sync::Arc;

use aws_config::SdkConfig;
use clawless_core::approvals::{ApprovalFlow, ApprovalPorts};
use clawless_core::config::{ConfigError, PlatformConfig, optional, required};
use clawless_core::ports::{InboundQueue, ScopeKeys, TimeoutScheduler};

use crate::dynamodb::Store;
use crate::scheduler::TimeoutSchedules;
use crate::secrets_manager::ScopeKeySource;
use crate::sqs::FifoQueue;
use crate::ssm::profiles::ProfileStore;

/// The approval flow from the environment: `CLAWLESS_SCOPE_KEY_SECRET` and
/// `CLAWLESS_REPLY_QUEUE_URL` (required), `CLAWLESS_INBOUND_QUEUE_URL` (to resume approved runs),
/// `CLAWLESS_SCHEDULE_GROUP` + `CLAWLESS_APPROVAL_TIMEOUT_ARN` +
/// `CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN` (the timeout schedules; all three or none), and
/// `CLAWLESS_SCHEDULE_DLQ_ARN` (optional: where Scheduler puts a timeout it could not deliver).
/// The configuration is read and checked now; the clients are built on first use.
pub fn approval_flow_from_env(sdk: &SdkConfig, platform: &PlatformConfig) -> Result<ApprovalFlow, ConfigError> {
    let timeouts = match (
        optional("CLAWLESS_SCHEDULE_GROUP"),
        optional("CLAWLESS_APPROVAL_TIMEOUT_ARN"),
        optional("CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN"),
    ) {
        (Some(group), Some(target_arn), Some(role_arn)) => Some((group, target_arn, role_arn)),
        (None, None, None) => None,
        _ => {
            return Err(ConfigError::Invalid {
                name: "CLAWLESS_APPROVAL_TIMEOUT_ARN",
                reason: "set CLAWLESS_SCHEDULE_GROUP, CLAWLESS_APPROVAL_TIMEOUT_ARN and CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN together".into(),
            });
        }
    };
    let reply_queue_url = required("CLAWLESS_REPLY_QUEUE_URL")?;
    let inbound_queue_url = optional("CLAWLESS_INBOUND_QUEUE_URL");
    let dead_letter_arn = optional("CLAWLESS_SCHEDULE_DLQ_ARN");
    let scope: Arc<dyn ScopeKeys> = Arc::new(ScopeKeySource::from_env(sdk)?);
    let (sdk, table, prefix) = (sdk.clone(), platform.table.clone(), platform.parameter_prefix.clone());
    Ok(ApprovalFlow::lazy(scope, move || {
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let store = Arc::new(Store::new(aws_sdk_dynamodb::Client::new(&sdk), &table));
        ApprovalPorts {
            approvals: store,
            profiles: Arc::new(ProfileStore::new(aws_sdk_ssm::Client::new(&sdk), &prefix)),
            replies: Arc::new(FifoQueue::new(sqs.clone(), reply_queue_url.clone())),
            inbound: inbound_queue_url.clone().map(|url| Arc::new(FifoQueue::new(sqs, url)) as Arc<dyn InboundQueue>),
            timeouts: timeouts.clone().map(|(group, target_arn, role_arn)| {
                Arc::new(TimeoutSchedules {
                    client: aws_sdk_scheduler::Client::new(&sdk),
                    group,
                    target_arn,
                    role_arn,
                    dead_letter_arn: dead_letter_arn.clone(),
                }) as Arc<dyn TimeoutScheduler>
            }),
        }
    }))
}
