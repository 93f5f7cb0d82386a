//! The core's flows assembled from these adapters, as the functions build them once per cold
//! start from their environment.

use std::sync::Arc;

use aws_config::SdkConfig;
use clawless_core::approvals::wording::NoticeSummarizer;
use clawless_core::approvals::{ApprovalFlow, ApprovalPorts, NoticeWording};
use clawless_core::config::{ConfigError, PlatformConfig, optional, parsed, required};
use clawless_core::ports::{InboundQueue, ScopeKeys, TimeoutScheduler};

use crate::bedrock::BedrockSummarizer;
use crate::dynamodb::Store;
use crate::scheduler::TimeoutSchedules;
use crate::secrets_manager::ScopeKeySource;
use crate::sqs::FifoQueue;
use crate::ssm::notices::NoticeStore;
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

/// How the reply function words approver notices per tenant, from the environment:
/// `CLAWLESS_NOTICE_CACHE_SECONDS` (how long a tenant's settings are cached; default and most 60),
/// `CLAWLESS_NOTICE_SUMMARY_MODEL` (the summary's Bedrock model; empty: no summaries) and
/// `CLAWLESS_BEDROCK_ENDPOINT` (optional). `ssm` is the function's SSM client (shared).
pub fn notice_wording_from_env(
    sdk: &SdkConfig,
    platform: &PlatformConfig,
    ssm: aws_sdk_ssm::Client,
) -> Result<NoticeWording, ConfigError> {
    let cache_secs: u64 = parsed("CLAWLESS_NOTICE_CACHE_SECONDS", clawless_core::approvals::wording::MAX_CACHE_SECS)?;
    let summarizer = BedrockSummarizer::from_env(sdk).map(|s| Arc::new(s) as Arc<dyn NoticeSummarizer>);
    Ok(NoticeWording::new(
        Arc::new(NoticeStore::new(ssm, &platform.parameter_prefix)),
        summarizer,
        std::time::Duration::from_secs(cache_secs),
    ))
}

/// The admin operations over this stack's adapters: the table, the parameters, task schedules
/// (`stack` names their group), an approval flow for decisions (`flow`; the CLI has none) and the
/// user pool (`user_pool_id`; `None` where there is none).
pub fn admin_service(
    sdk: &SdkConfig,
    platform: &PlatformConfig,
    flow: Option<ApprovalFlow>,
    user_pool_id: Option<String>,
) -> clawless_core::admin::AdminService {
    use clawless_core::admin::{AdminPorts, AdminService};
    use clawless_core::tasks::{TaskManager, TaskSettings};

    let store = Arc::new(Store::new(aws_sdk_dynamodb::Client::new(sdk), &platform.table));
    let ssm = aws_sdk_ssm::Client::new(sdk);
    // One client for the process, on the roots already parsed for the SDK (building a second TLS
    // configuration would be most of the function's init).
    let http = crate::tls::reqwest_builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap_or_else(|_| clawless_core::reqwest::Client::new());
    AdminService::new(
        AdminPorts {
            repo: store.clone(),
            secrets: Arc::new(crate::ssm::secrets::SecretStore::new(ssm.clone(), &platform.parameter_prefix)),
            profiles: Arc::new(ProfileStore::new(ssm, &platform.parameter_prefix)),
            approvals: store.clone(),
            access: store.clone(),
            usage: store.clone(),
            // Operators and admins list and change tasks; only agents create them (no target here).
            tasks: TaskManager::new(
                Arc::new(crate::dynamodb::tasks::TaskStore::new(aws_sdk_dynamodb::Client::new(sdk), &platform.table)),
                Arc::new(crate::scheduler::Schedules::new(aws_sdk_scheduler::Client::new(sdk), &platform.stack)),
                TaskSettings::default(),
            ),
            flow,
            users: user_pool_id.map(|pool| {
                Arc::new(crate::cognito::UserPool::new(aws_sdk_cognitoidentityprovider::Client::new(sdk), pool))
                    as Arc<dyn clawless_core::admin::ports::UserDirectory>
            }),
        },
        http,
    )
}
