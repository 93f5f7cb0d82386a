//! Human approval of tools outside a profile (seed 000 described it; this wires it, durably).
//!
//! 1. The agent puts a permission request on the reply queue (it cannot write requests itself);
//!    the reply function checks its scope token, stores a pending [`PermissionRequest`] built from
//!    what it trusts (`crate::reports`, 30 minutes), tells the tenant's approver
//!    ([`ApprovalFlow::notice`]) and creates the one-time timeout schedule.
//! 2. The approver answers in their chat with the bot: `/approve <id> [once [<hash>]|<n>h|always]`,
//!    `/reject <id> [reason]`, `/pending`, typed or by clicking a button under the notice
//!    ([`notice_buttons`]; a click arrives as a message whose text is the button's command). The
//!    notice shows the arguments in full with their hash ([`crate::approvals_notice`]); a request
//!    too long to show cannot be approved, and a hash that is not the request's refuses. The
//!    dispatcher recognises these ([`parse_command`]) and decides ([`ApprovalFlow::handle_command`])
//!    instead of invoking the agent; only the configured approver's verified identity may decide.
//! 3. A decision is one conditional write (`status = pending`, not expired), so double clicks and
//!    redeliveries decide once and a timeout that just fired wins or loses cleanly. Approve once:
//!    the request itself is the grant; the dispatcher marks it used when it hands it to the run
//!    the approval resumes ([`ApprovalStore::consume_once_grant`]), and that run may make exactly
//!    that call for exactly that requester, before the request's expiry. Temporary: a grant item
//!    (at most 24 h, TTL). Persistent: the tool joins the profile in SSM. The requester hears the
//!    outcome, and an approval resumes the run with a platform message in the conversation.
//! 4. The approval-timeout function expires a still-pending request ([`ApprovalFlow::expire`]).
//!
//! Keys: approver `TENANT#{t}`/`APPROVER`; requests `{t}#APPROVAL`/`REQ#{id}`; grants
//! `{t}#GRANT`/`TOOL#{tool}#USER#{channel}:{user}`. An agent's credentials may read its tenant's
//! grants and nothing else here: no approver, request or grant is written by an agent.

use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::approvals_notice::{SHORT_HASH_CHARS, requester, reviewable, short_hash, too_long_text};
pub use crate::approvals_notice::{notice_buttons, notice_text};
#[cfg(test)]
use crate::envelope::RunSummary;
use crate::envelope::{AgentReport, Button, ENVELOPE_VERSION, InboundEnvelope, OnceGrant, ReplyEnvelope};
use crate::ids::{BotId, ConversationId, ConversationRef, MessageId, TenantId};
use crate::model::{ChannelKind, ConversationMessage, InboundMessage, ReplyRoute, Sender, now_ms};
use crate::permissions::{DecisionRecord, PermissionRequest, RequestStatus, UserRef};
use crate::profiles::{ProfileStore, ProfileStoreError};
use crate::queue::{FifoQueue, QueueError};
use crate::scope::{ScopeError, ScopeKeySource, ScopeToken};
use crate::store::{PermissionRequestItem, Store, StoreError};

/// Message ids of the platform messages that resume an approved run end with this.
pub const RESUME_SUFFIX: &str = "-resume";

/// Longest temporary approval.
pub const MAX_TEMPORARY_HOURS: u32 = 24;

/// Most requests `/pending` shows in full (oldest first), one message each.
pub const MAX_PENDING_LISTED: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Profiles(#[from] ProfileStoreError),
    #[error("EventBridge Scheduler {operation} failed: {detail}")]
    Schedule { operation: &'static str, detail: String },
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("{0}")]
    Invalid(String),
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The tenant's approver: a user on one channel of one of the tenant's bots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproverConfig {
    pub tenant_id: TenantId,
    pub bot_id: BotId,
    pub channel: ChannelKind,
    pub user_id: String,
    pub updated_at_ms: i64,
}

impl ApproverConfig {
    pub fn user(&self) -> String {
        format!("{}:{}", self.channel, self.user_id)
    }

    /// The approver's direct chat with the bot (on these channels the private chat is keyed by
    /// the user id).
    pub fn conversation(&self) -> Result<ConversationRef, ApprovalError> {
        Ok(ConversationRef {
            tenant_id: self.tenant_id.clone(),
            bot_id: self.bot_id.clone(),
            channel: self.channel,
            conversation_id: ConversationId::parse(&self.user_id).map_err(|e| ApprovalError::Invalid(e.to_string()))?,
        })
    }

    /// Where a notice to the approver goes. Discord and Feishu need a chat id that the user id
    /// does not give, so notices there are not supported (the CLI refuses them).
    pub fn route(&self) -> Option<ReplyRoute> {
        match self.channel {
            ChannelKind::Telegram => self.user_id.parse().ok().map(|chat_id| ReplyRoute::Telegram {
                chat_id,
                message_thread_id: None,
                reply_to_message_id: None,
            }),
            ChannelKind::Slack => Some(ReplyRoute::Slack { channel_id: self.user_id.clone(), thread_ts: None }),
            ChannelKind::Whatsapp => Some(ReplyRoute::Whatsapp { to: self.user_id.clone(), reply_to_message_id: None }),
            ChannelKind::Discord | ChannelKind::Feishu => None,
        }
    }
}

/// A command the approver typed (or a button sent as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalCommand {
    /// `hash`: the start of the arguments' SHA-256 the approver saw (`/approve <id> once <hash>`);
    /// the request is approved only if its hash starts with it.
    Approve {
        request_id: String,
        scope: Scope,
        hash: Option<String>,
    },
    Reject {
        request_id: String,
        reason: Option<String>,
    },
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Once,
    Hours(u32),
    Always,
}

impl Scope {
    fn how(self) -> &'static str {
        match self {
            Scope::Once => "once",
            Scope::Hours(_) => "temporary",
            Scope::Always => "persistent",
        }
    }
}

pub const USAGE: &str = "Commands: /approve <id> [once [<hash>]|<hours>h|always], /reject <id> [reason], /pending";

/// `None` if `text` is not an approval command; `Some(Err(usage))` if it is one, malformed.
pub fn parse_command(text: &str) -> Option<Result<ApprovalCommand, String>> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    // Telegram appends the bot's name in groups: /approve@my_bot
    let verb = first.split('@').next().unwrap_or(first).to_ascii_lowercase();
    let id_ok = |id: &str| id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    match verb.as_str() {
        "/pending" => Some(Ok(ApprovalCommand::Pending)),
        "/approve" => {
            let Some(request_id) = words.next().filter(|id| id_ok(id)) else { return Some(Err(USAGE.into())) };
            let scope = match words.next().map(str::to_ascii_lowercase).as_deref() {
                None => Scope::Once,
                Some("once") => {
                    let hash = match words.next().map(str::to_ascii_lowercase) {
                        None => None,
                        Some(h)
                            if (SHORT_HASH_CHARS..=64).contains(&h.len())
                                && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
                        {
                            Some(h)
                        }
                        Some(_) => {
                            return Some(Err(format!(
                                "The hash after `once` is the {SHORT_HASH_CHARS} hex characters the notice shows. {USAGE}"
                            )));
                        }
                    };
                    return Some(Ok(ApprovalCommand::Approve {
                        request_id: request_id.to_owned(),
                        scope: Scope::Once,
                        hash,
                    }));
                }
                Some("always") => Scope::Always,
                Some(h) => match h.strip_suffix('h').and_then(|n| n.parse::<u32>().ok()) {
                    Some(hours) if (1..=MAX_TEMPORARY_HOURS).contains(&hours) => Scope::Hours(hours),
                    _ => {
                        return Some(Err(format!("A temporary approval lasts 1h to {MAX_TEMPORARY_HOURS}h. {USAGE}")));
                    }
                },
            };
            Some(Ok(ApprovalCommand::Approve { request_id: request_id.to_owned(), scope, hash: None }))
        }
        "/reject" => {
            let Some(request_id) = words.next().filter(|id| id_ok(id)) else { return Some(Err(USAGE.into())) };
            let reason: String = words.collect::<Vec<_>>().join(" ").chars().take(300).collect();
            Some(Ok(ApprovalCommand::Reject {
                request_id: request_id.to_owned(),
                reason: (!reason.is_empty()).then_some(reason),
            }))
        }
        _ => None,
    }
}

/// What the reply queue carries: an agent's report (tagged with `kind`), or a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplyQueueMessage {
    Report(AgentReport),
    Reply(ReplyEnvelope),
}

/// A grant the agent found for a call outside the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The approve-once decision the dispatcher handed this run, for exactly these arguments.
    Once { request_id: String },
    /// A temporary approval of the tool for this user.
    Temporary { request_id: String, expires_at_ms: i64 },
}

/// Whether `request` is an approve-once decision that `requester` may still use: approved once,
/// not used by another message than `message_id`, and its request not expired. The grant is
/// the requester's alone, and it lasts no longer than the request it answers.
pub fn once_grant_usable(request: &PermissionRequest, requester: &str, message_id: &str, now: i64) -> bool {
    request.status == RequestStatus::Approved
        && request.decision.as_ref().is_some_and(|d| d.how == "once")
        && request.requester_id == requester
        && now < request.expires_at_ms
        && match (&request.used_at_ms, &request.used_by) {
            (None, _) => true,
            (Some(_), Some(by)) => by == message_id,
            (Some(_), None) => false,
        }
}

#[derive(Serialize, Deserialize)]
struct ApproverItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    approver: ApproverConfig,
}

#[derive(Serialize, Deserialize)]
struct GrantItem {
    pk: String,
    sk: String,
    request_id: String,
    granted_by: String,
    expires_at_ms: i64,
    /// TTL (seconds).
    expires_at: i64,
}

/// How a decision attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// This attempt decided it.
    Now(PermissionRequest),
    /// Decided before (double click, redelivery, timeout first).
    Already(PermissionRequest),
    /// Still pending but past its expiry: refused.
    Expired(PermissionRequest),
    NotFound,
}

/// The approval items in the platform table.
#[derive(Clone)]
pub struct ApprovalStore {
    store: Store,
}

fn request_key(tenant: &TenantId, request_id: &str) -> (String, String) {
    (format!("{tenant}#APPROVAL"), format!("REQ#{request_id}"))
}

fn grant_key(tenant: &TenantId, tool: &str, user: &str) -> (String, String) {
    (format!("{tenant}#GRANT"), format!("TOOL#{tool}#USER#{user}"))
}

impl ApprovalStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn put_approver(&self, approver: &ApproverConfig) -> Result<(), ApprovalError> {
        let item = ApproverItem {
            pk: format!("TENANT#{}", approver.tenant_id),
            sk: "APPROVER".into(),
            approver: approver.clone(),
        };
        Ok(self.store.put_item(&item).await?)
    }

    pub async fn approver(&self, tenant: &TenantId) -> Result<Option<ApproverConfig>, ApprovalError> {
        let item: Option<ApproverItem> =
            self.store.get_item("approver", format!("TENANT#{tenant}"), "APPROVER".into(), false).await?;
        Ok(item.map(|a| a.approver))
    }

    pub async fn request(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Option<PermissionRequest>, ApprovalError> {
        let (pk, sk) = request_key(tenant, request_id);
        let item: Option<PermissionRequestItem> = self.store.get_item("permission request", pk, sk, true).await?;
        Ok(item.map(|r| r.request))
    }

    /// Moves a pending, unexpired request to `status` with `decision`, in one conditional write.
    /// `expired_ok` lets the timeout expire a request whose time is up.
    pub async fn decide(
        &self,
        tenant: &TenantId,
        request_id: &str,
        status: RequestStatus,
        decision: &DecisionRecord,
        expired_ok: bool,
    ) -> Result<Decided, ApprovalError> {
        let (client, table) = self.store.parts();
        let (pk, sk) = request_key(tenant, request_id);
        let decision_item = serde_dynamo::to_attribute_value(decision)
            .map_err(|e| StoreError::Corrupt { what: "decision", detail: e.to_string() })?;
        let status_av = serde_dynamo::to_attribute_value(status)
            .map_err(|e| StoreError::Corrupt { what: "status", detail: e.to_string() })?;
        let condition = if expired_ok {
            "attribute_exists(pk) AND #status = :pending"
        } else {
            "attribute_exists(pk) AND #status = :pending AND expires_at_ms > :now"
        };
        let mut update = client
            .update_item()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET #status = :status, decision = :decision")
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", status_av)
            .expression_attribute_values(":decision", decision_item)
            .expression_attribute_values(":pending", s("pending"));
        if !expired_ok {
            update = update.expression_attribute_values(":now", n(decision.at_ms));
        }
        match update.send().await {
            Ok(_) => {
                let request =
                    self.request(tenant, request_id).await?.ok_or(ApprovalError::Invalid("request vanished".into()))?;
                Ok(Decided::Now(request))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(match self.request(tenant, request_id).await? {
                    None => Decided::NotFound,
                    Some(r) if r.status == RequestStatus::Pending => Decided::Expired(r),
                    Some(r) => Decided::Already(r),
                })
            }
            Err(e) => Err(StoreError::aws("UpdateItem", &e).into()),
        }
    }

    pub async fn put_grant(
        &self,
        request: &PermissionRequest,
        granted_by: &str,
        expires_at_ms: i64,
    ) -> Result<(), ApprovalError> {
        let user = format!("{}:{}", request.conversation.channel, request.requester_id);
        let (pk, sk) = grant_key(&request.conversation.tenant_id, &request.tool, &user);
        let item = GrantItem {
            pk,
            sk,
            request_id: request.request_id.clone(),
            granted_by: granted_by.to_owned(),
            expires_at_ms,
            expires_at: expires_at_ms / 1000,
        };
        Ok(self.store.put_item(&item).await?)
    }

    /// A temporary grant of `wanted`'s tool to its requester, if one is in force (the agent's
    /// credentials may read grants; the approve-once grant reaches a run in its invocation).
    pub async fn temporary_grant(&self, wanted: &PermissionRequest, now: i64) -> Result<Option<Grant>, ApprovalError> {
        let tenant = &wanted.conversation.tenant_id;
        let user = format!("{}:{}", wanted.conversation.channel, wanted.requester_id);
        let (pk, sk) = grant_key(tenant, &wanted.tool, &user);
        let grant = self.store.get_item::<GrantItem>("grant", pk, sk, true).await?;
        // TTL deletion lags; the expiry time is what counts.
        Ok(grant
            .filter(|g| g.expires_at_ms > now)
            .map(|g| Grant::Temporary { request_id: g.request_id, expires_at_ms: g.expires_at_ms }))
    }

    /// Hands the approve-once decision of `request_id` to the run that answers `message_id` (the
    /// platform message that resumes it, on behalf of `requester` in `conversation`): marks it used
    /// by that message, in one conditional write, so it reaches one run however often the message
    /// is redelivered. `None` if there is nothing usable.
    pub async fn consume_once_grant(
        &self,
        conversation: &ConversationRef,
        request_id: &str,
        requester: &str,
        message_id: &str,
        now: i64,
    ) -> Result<Option<OnceGrant>, ApprovalError> {
        let tenant = &conversation.tenant_id;
        let Some(request) = self.request(tenant, request_id).await? else { return Ok(None) };
        if request.conversation != *conversation || !once_grant_usable(&request, requester, message_id, now) {
            return Ok(None);
        }
        let (client, table) = self.store.parts();
        let (pk, sk) = request_key(tenant, request_id);
        let used = client
            .update_item()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(
                "SET used_at_ms = if_not_exists(used_at_ms, :now), used_by = if_not_exists(used_by, :msg)",
            )
            .condition_expression("attribute_not_exists(used_at_ms) OR used_by = :msg")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":msg", s(message_id))
            .send()
            .await;
        match used {
            Ok(_) => Ok(Some(OnceGrant {
                request_id: request.request_id,
                tool: request.tool,
                arguments_hash: request.arguments_hash,
                requester_id: request.requester_id,
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(StoreError::aws("UpdateItem", &e).into()),
        }
    }

    /// Records that the approver was told (so a redelivered notice is not sent twice).
    pub async fn mark_noticed(&self, tenant: &TenantId, request_id: &str) -> Result<bool, ApprovalError> {
        let (client, table) = self.store.parts();
        let (pk, sk) = request_key(tenant, request_id);
        let result = client
            .update_item()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET noticed_at_ms = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(noticed_at_ms)")
            .expression_attribute_values(":now", n(now_ms()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::aws("UpdateItem", &e).into()),
        }
    }
}

/// The one-time schedules that expire requests (`apr-{request id}` in the platform's group).
#[derive(Clone)]
pub struct TimeoutSchedules {
    pub client: aws_sdk_scheduler::Client,
    pub group: String,
    /// The approval-timeout function, and the role Scheduler assumes to invoke it.
    pub target_arn: String,
    pub role_arn: String,
    /// Where Scheduler puts a timeout it could not deliver (`CLAWLESS_SCHEDULE_DLQ_ARN`; optional).
    pub dead_letter_arn: Option<String>,
}

impl TimeoutSchedules {
    pub fn name(request_id: &str) -> String {
        format!("apr-{request_id}")
    }

    /// Creates the schedule firing at the request's expiry; an existing one is fine (retries).
    pub async fn create(&self, request: &PermissionRequest) -> Result<(), ApprovalError> {
        use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode};
        let at = jiff::Timestamp::from_millisecond(request.expires_at_ms)
            .map_err(|e| ApprovalError::Invalid(e.to_string()))?
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string();
        let input = serde_json::json!({
            "kind": "approval_timeout",
            "tenant_id": request.conversation.tenant_id,
            "request_id": request.request_id,
        })
        .to_string();
        let build = |e: aws_sdk_scheduler::error::BuildError| ApprovalError::Schedule {
            operation: "CreateSchedule",
            detail: e.to_string(),
        };
        let target = crate::schedules::target(&self.target_arn, &self.role_arn, input, self.dead_letter_arn.as_deref())
            .map_err(build)?;
        let window = FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(build)?;
        let result = self
            .client
            .create_schedule()
            .group_name(&self.group)
            .name(Self::name(&request.request_id))
            .schedule_expression(format!("at({at})"))
            .schedule_expression_timezone("UTC")
            .action_after_completion(ActionAfterCompletion::Delete)
            .flexible_time_window(window)
            .target(target)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => Ok(()),
            Err(e) => {
                Err(ApprovalError::Schedule { operation: "CreateSchedule", detail: crate::aws::describe_sdk_error(&e) })
            }
        }
    }

    /// Deletes the schedule of a decided request; already gone is fine.
    pub async fn delete(&self, request_id: &str) -> Result<(), ApprovalError> {
        let result = self.client.delete_schedule().group_name(&self.group).name(Self::name(request_id)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(()),
            Err(e) => {
                Err(ApprovalError::Schedule { operation: "DeleteSchedule", detail: crate::aws::describe_sdk_error(&e) })
            }
        }
    }
}

/// What handling a command did, for the caller's logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    Decided { request_id: String, how: String },
    Refused(String),
    Listed(usize),
}

/// The approval flow's side effects: decisions, grants, profile changes, notices, resumption.
///
/// Its AWS clients are built on first use: the dispatcher and the reply function carry the flow
/// for the rare approval command or notice, and building four SDK clients they otherwise never
/// call would be a fifth of their cold start. The configuration is read and checked at once.
#[derive(Clone)]
pub struct ApprovalFlow {
    settings: Arc<FlowSettings>,
    clients: Arc<OnceLock<ApprovalClients>>,
}

/// What the flow's clients are built from.
struct FlowSettings {
    sdk: aws_config::SdkConfig,
    table: String,
    parameter_prefix: String,
    reply_queue_url: String,
    inbound_queue_url: Option<String>,
    /// Schedule group, approval-timeout function ARN, role Scheduler assumes to invoke it.
    timeouts: Option<(String, String, String)>,
    /// The schedules' dead-letter queue, if configured.
    schedule_dead_letter_arn: Option<String>,
    /// Every reply the flow sends carries its conversation's scope token, like an agent's.
    scope: Arc<ScopeKeySource>,
}

/// The flow's stores and queues.
#[derive(Clone)]
pub struct ApprovalClients {
    pub approvals: ApprovalStore,
    pub profiles: ProfileStore,
    pub replies: FifoQueue,
    /// Where a resumed run's platform message is enqueued (the inbound FIFO).
    pub inbound: Option<FifoQueue>,
    pub schedules: Option<TimeoutSchedules>,
}

fn fmt_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

impl ApprovalFlow {
    /// From the environment: `CLAWLESS_REPLY_QUEUE_URL` (required), `CLAWLESS_INBOUND_QUEUE_URL`
    /// (to resume approved runs), and `CLAWLESS_SCHEDULE_GROUP` + `CLAWLESS_APPROVAL_TIMEOUT_ARN` +
    /// `CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN` (the timeout schedules; all three or none), and
    /// `CLAWLESS_SCHEDULE_DLQ_ARN` (optional: where Scheduler puts a timeout it could not deliver).
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        platform: &crate::config::PlatformConfig,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::{optional, required};
        let timeouts = match (
            optional("CLAWLESS_SCHEDULE_GROUP"),
            optional("CLAWLESS_APPROVAL_TIMEOUT_ARN"),
            optional("CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN"),
        ) {
            (Some(group), Some(target_arn), Some(role_arn)) => Some((group, target_arn, role_arn)),
            (None, None, None) => None,
            _ => {
                return Err(crate::config::ConfigError::Invalid {
                    name: "CLAWLESS_APPROVAL_TIMEOUT_ARN",
                    reason: "set CLAWLESS_SCHEDULE_GROUP, CLAWLESS_APPROVAL_TIMEOUT_ARN and CLAWLESS_APPROVAL_SCHEDULER_ROLE_ARN together".into(),
                });
            }
        };
        Ok(Self {
            settings: Arc::new(FlowSettings {
                sdk: sdk.clone(),
                table: platform.table.clone(),
                parameter_prefix: platform.parameter_prefix.clone(),
                reply_queue_url: required("CLAWLESS_REPLY_QUEUE_URL")?,
                inbound_queue_url: optional("CLAWLESS_INBOUND_QUEUE_URL"),
                timeouts,
                schedule_dead_letter_arn: optional("CLAWLESS_SCHEDULE_DLQ_ARN"),
                scope: Arc::new(ScopeKeySource::from_env(sdk)?),
            }),
            clients: Arc::new(OnceLock::new()),
        })
    }

    /// The scope key the flow mints its replies' tokens with (shared with the caller's checks).
    pub fn scope_key(&self) -> Arc<ScopeKeySource> {
        Arc::clone(&self.settings.scope)
    }

    /// Puts `reply` on the reply queue with its conversation's scope token.
    async fn send(&self, mut reply: ReplyEnvelope) -> Result<(), ApprovalError> {
        reply.scope = self.settings.scope.get().await?.mint(&reply.conversation);
        self.clients().replies.send_reply(&reply).await?;
        Ok(())
    }

    /// The flow's clients, built on the first call.
    pub fn clients(&self) -> &ApprovalClients {
        self.clients.get_or_init(|| {
            let s = &*self.settings;
            let sqs = aws_sdk_sqs::Client::new(&s.sdk);
            ApprovalClients {
                approvals: ApprovalStore::new(Store::new(aws_sdk_dynamodb::Client::new(&s.sdk), &s.table)),
                profiles: ProfileStore::new(aws_sdk_ssm::Client::new(&s.sdk), &s.parameter_prefix),
                replies: FifoQueue::new(sqs.clone(), s.reply_queue_url.clone()),
                inbound: s.inbound_queue_url.clone().map(|url| FifoQueue::new(sqs, url)),
                schedules: s.timeouts.clone().map(|(group, target_arn, role_arn)| TimeoutSchedules {
                    client: aws_sdk_scheduler::Client::new(&s.sdk),
                    group,
                    target_arn,
                    role_arn,
                    dead_letter_arn: s.schedule_dead_letter_arn.clone(),
                }),
            }
        })
    }

    /// Handles `item` if it is an approval command (the dispatcher calls this first). `None`:
    /// not a command, let the agent answer it.
    pub async fn handle_command(&self, item: &ConversationMessage) -> Result<Option<CommandOutcome>, ApprovalError> {
        let Some(parsed) = parse_command(&item.message.text) else { return Ok(None) };
        let c = &item.conversation;
        let approver = self.clients().approvals.approver(&c.tenant_id).await?;
        let sender = format!("{}:{}", c.channel, item.message.sender.id);
        let is_approver = approver
            .as_ref()
            .is_some_and(|a| a.bot_id == c.bot_id && a.channel == c.channel && a.user_id == item.message.sender.id);
        if !is_approver {
            tracing::warn!(event = "approval_refused", tenant_id = %c.tenant_id, bot_id = %c.bot_id, sender = %sender, "an approval command from someone who is not the approver");
            let text = "Only this workspace's approver can decide permission requests.";
            self.answer(item, text).await?;
            return Ok(Some(CommandOutcome::Refused(text.into())));
        }
        let command = match parsed {
            Ok(c) => c,
            Err(usage) => {
                self.answer(item, &usage).await?;
                return Ok(Some(CommandOutcome::Refused(usage)));
            }
        };
        let outcome = match command {
            ApprovalCommand::Pending => {
                let pending =
                    crate::approvals_caps::pending_requests(self.clients().approvals.store(), &c.tenant_id, now_ms())
                        .await?;
                let shown = pending.len().min(MAX_PENDING_LISTED);
                let head = match pending.len() {
                    0 => "No pending permission requests.".to_owned(),
                    n if n > shown => format!(
                        "{n} pending permission requests; the {shown} oldest follow in full, one message each. Decide them to see the rest."
                    ),
                    n => format!("{n} pending permission requests; each follows in full, one message each."),
                };
                self.answer_seq(item, 1, &head, Vec::new()).await?;
                // Each one as its own reply: the channel splits a long one, and its buttons come
                // under its last piece, after the whole of its arguments.
                for (seq, r) in (2..).zip(pending.iter().take(shown)) {
                    self.answer_seq(item, seq, &notice_text(r), notice_buttons(r)).await?;
                }
                CommandOutcome::Listed(pending.len())
            }
            ApprovalCommand::Approve { request_id, scope, hash } => {
                // The arguments never change once stored, so checking them before the decision
                // write is as good as checking them in it.
                if let Some(r) = self.clients().approvals.request(&c.tenant_id, &request_id).await? {
                    let refusal = if !reviewable(&r) {
                        Some(too_long_text(&r))
                    } else if let Some(hash) = hash.as_deref().filter(|h| !r.arguments_hash.starts_with(*h)) {
                        Some(format!(
                            "Nothing was approved: {hash} is not the hash of request {}'s arguments (theirs starts {}). Read the notice again, or /pending.",
                            r.request_id,
                            short_hash(&r)
                        ))
                    } else {
                        None
                    };
                    if let Some(text) = refusal {
                        tracing::warn!(event = "approval_refused", tenant_id = %c.tenant_id, request_id = %r.request_id, sender = %sender, reason = if reviewable(&r) { "hash_mismatch" } else { "too_long_to_review" });
                        self.answer(item, &text).await?;
                        return Ok(Some(CommandOutcome::Refused(text)));
                    }
                }
                let record = DecisionRecord {
                    how: scope.how().into(),
                    by: sender.clone(),
                    at_ms: now_ms(),
                    hours: match scope {
                        Scope::Hours(h) => Some(h),
                        _ => None,
                    },
                    reason: None,
                    message_id: Some(item.message.message_id.to_string()),
                };
                self.decide(item, &request_id, RequestStatus::Approved, record, Some(scope)).await?
            }
            ApprovalCommand::Reject { request_id, reason } => {
                let record = DecisionRecord {
                    how: "rejected".into(),
                    by: sender.clone(),
                    at_ms: now_ms(),
                    hours: None,
                    reason,
                    message_id: Some(item.message.message_id.to_string()),
                };
                self.decide(item, &request_id, RequestStatus::Rejected, record, None).await?
            }
        };
        Ok(Some(outcome))
    }

    async fn decide(
        &self,
        item: &ConversationMessage,
        request_id: &str,
        status: RequestStatus,
        record: DecisionRecord,
        scope: Option<Scope>,
    ) -> Result<CommandOutcome, ApprovalError> {
        let tenant = &item.conversation.tenant_id;
        let (request, record) =
            match self.clients().approvals.decide(tenant, request_id, status, &record, false).await? {
                Decided::Now(r) => (r, record),
                // The same approver's same decision again: a retry after a failure part-way. Every
                // step below is idempotent, so redo them.
                Decided::Already(r) if r.decision.as_ref().is_some_and(|d| d.message_id == record.message_id) => {
                    let record = r.decision.clone().unwrap_or(record);
                    (r, record)
                }
                Decided::NotFound => {
                    let text = format!("There is no permission request {request_id}.");
                    self.answer(item, &text).await?;
                    return Ok(CommandOutcome::Refused(text));
                }
                Decided::Expired(r) => {
                    let text = format!(
                        "Request {} expired at {}; it can no longer be decided.",
                        r.request_id,
                        fmt_time(r.expires_at_ms)
                    );
                    self.answer(item, &text).await?;
                    return Ok(CommandOutcome::Refused(text));
                }
                Decided::Already(r) => {
                    let how = r.decision.as_ref().map(|d| d.how.as_str()).unwrap_or("decided");
                    let text = format!("Request {} was already decided ({how}); nothing changed.", r.request_id);
                    self.answer(item, &text).await?;
                    return Ok(CommandOutcome::Refused(text));
                }
            };
        tracing::info!(event = "approval_decision", tenant_id = %tenant, request_id = %request.request_id, tool = %request.tool, how = %record.how, by = %record.by, "permission request decided");
        match scope {
            Some(Scope::Hours(h)) => {
                self.clients()
                    .approvals
                    .put_grant(&request, &record.by, record.at_ms + i64::from(h) * 3_600_000)
                    .await?;
            }
            Some(Scope::Always) => {
                let user = UserRef::new(request.conversation.channel, &request.requester_id).ok();
                // The tool joins the profile that applies to the requester.
                let level = match &user {
                    Some(u) if self.clients().profiles.get(tenant, Some(u)).await?.is_some() => user.as_ref(),
                    _ => None,
                };
                let mut profile = self.clients().profiles.get(tenant, level).await?.unwrap_or_default();
                profile.grant(&request.tool).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
                profile.updated_by = Some(record.by.clone());
                profile.updated_at_ms = Some(record.at_ms);
                self.clients().profiles.put(tenant, level, &profile).await?;
            }
            _ => {}
        }
        if let Some(schedules) = &self.clients().schedules
            && let Err(e) = schedules.delete(&request.request_id).await
        {
            tracing::warn!(event = "approval_schedule_delete_failed", tenant_id = %tenant, request_id = %request.request_id, error = %e);
        }
        let (approver_text, requester_text) = match scope {
            None => (
                format!("Rejected {}: `{}` for {}.", request.request_id, request.tool, requester(&request)),
                format!(
                    "Your administrator rejected the use of `{}`{}.",
                    request.tool,
                    record.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                ),
            ),
            Some(scope) => {
                let how = match scope {
                    Scope::Once => "once".to_owned(),
                    Scope::Hours(h) => format!("for {h} hours"),
                    Scope::Always => "permanently".to_owned(),
                };
                (
                    format!("Approved {} {how}: `{}` for {}.", request.request_id, request.tool, requester(&request)),
                    format!("Your administrator approved `{}` {how}. Continuing.", request.tool),
                )
            }
        };
        self.answer(item, &approver_text).await?;
        self.tell_requester(&request, 200, &requester_text).await?;
        if status == RequestStatus::Approved {
            self.resume(&request).await?;
        }
        Ok(CommandOutcome::Decided { request_id: request.request_id, how: record.how })
    }

    /// The approval-timeout function: rejects the request if it is still pending.
    pub async fn expire(&self, tenant: &TenantId, request_id: &str) -> Result<Decided, ApprovalError> {
        let record = DecisionRecord {
            how: "expired".into(),
            by: "timeout".into(),
            at_ms: now_ms(),
            hours: None,
            reason: None,
            message_id: None,
        };
        let decided =
            self.clients().approvals.decide(tenant, request_id, RequestStatus::Expired, &record, true).await?;
        if let Decided::Now(request) = &decided {
            tracing::info!(event = "approval_expired", tenant_id = %tenant, request_id = %request_id, tool = %request.tool, "permission request expired unanswered");
            self.tell_requester(
                request,
                201,
                &format!("Nobody approved `{}` in time, so it was not used.", request.tool),
            )
            .await?;
            if let Some(approver) = self.clients().approvals.approver(tenant).await? {
                let text =
                    format!("Request {request_id} (`{}` for {}) expired unanswered.", request.tool, requester(request));
                if let Err(e) = self.tell_approver(&approver, request, 2, &text, Vec::new()).await {
                    tracing::warn!(event = "approval_notice_failed", tenant_id = %tenant, request_id = %request_id, error = %e);
                }
            }
        }
        Ok(decided)
    }

    /// The reply function, once it stored a request: tells the approver and starts the timeout.
    /// `false` if nothing was sent (no approver, already decided, already told).
    pub async fn notice(&self, tenant: &TenantId, request_id: &str) -> Result<bool, ApprovalError> {
        let Some(request) = self.clients().approvals.request(tenant, request_id).await? else {
            tracing::warn!(event = "approval_notice_dropped", tenant_id = %tenant, request_id = %request_id, reason = "no such request");
            return Ok(false);
        };
        if let Some(schedules) = &self.clients().schedules {
            schedules.create(&request).await?;
        }
        if request.status != RequestStatus::Pending {
            return Ok(false);
        }
        let Some(approver) = self.clients().approvals.approver(tenant).await? else {
            tracing::warn!(event = "approval_notice_dropped", tenant_id = %tenant, request_id = %request_id, reason = "the tenant has no approver; the request will expire");
            return Ok(false);
        };
        if !self.clients().approvals.mark_noticed(tenant, &request.request_id).await? {
            return Ok(false);
        }
        self.tell_approver(&approver, &request, 1, &notice_text(&request), notice_buttons(&request)).await?;
        Ok(true)
    }

    pub(crate) async fn tell_approver(
        &self,
        approver: &ApproverConfig,
        request: &PermissionRequest,
        seq: u32,
        text: &str,
        buttons: Vec<Button>,
    ) -> Result<(), ApprovalError> {
        let route = approver
            .route()
            .ok_or_else(|| ApprovalError::Invalid(format!("notices on {} are not supported", approver.channel)))?;
        let reply = ReplyEnvelope {
            v: ENVELOPE_VERSION,
            conversation: approver.conversation()?,
            in_reply_to: MessageId::parse(&request.request_id).map_err(|e| ApprovalError::Invalid(e.to_string()))?,
            in_reply_to_at_ms: request.created_at_ms,
            seq,
            text: text.to_owned(),
            route,
            buttons,
            scope: ScopeToken::default(),
            run: None,
        };
        self.send(reply).await
    }

    async fn tell_requester(&self, request: &PermissionRequest, seq: u32, text: &str) -> Result<(), ApprovalError> {
        let reply = ReplyEnvelope {
            v: ENVELOPE_VERSION,
            conversation: request.conversation.clone(),
            in_reply_to: request.in_reply_to.clone(),
            in_reply_to_at_ms: request.in_reply_to_at_ms,
            seq,
            text: text.to_owned(),
            route: request.route.clone(),
            buttons: Vec::new(),
            scope: ScopeToken::default(),
            run: None,
        };
        self.send(reply).await
    }

    /// Answers the approver's command in their chat.
    async fn answer(&self, item: &ConversationMessage, text: &str) -> Result<(), ApprovalError> {
        self.answer_seq(item, 1, text, Vec::new()).await
    }

    /// Answer number `seq` to the approver's command (a command answered with several messages).
    async fn answer_seq(
        &self,
        item: &ConversationMessage,
        seq: u32,
        text: &str,
        buttons: Vec<Button>,
    ) -> Result<(), ApprovalError> {
        let reply = ReplyEnvelope {
            v: ENVELOPE_VERSION,
            conversation: item.conversation.clone(),
            in_reply_to: item.message.message_id.clone(),
            in_reply_to_at_ms: item.message.sent_at_ms,
            seq,
            text: text.to_owned(),
            route: item.message.route.clone(),
            buttons,
            scope: ScopeToken::default(),
            run: None,
        };
        self.send(reply).await
    }

    /// Resumes the run that asked: a platform message in the requester's conversation, stored and
    /// queued like any message, so the agent takes it up with the conversation's history.
    async fn resume(&self, request: &PermissionRequest) -> Result<(), ApprovalError> {
        let Some(inbound) = &self.clients().inbound else { return Ok(()) };
        let message_id = MessageId::parse(&format!("{}{RESUME_SUFFIX}", request.request_id))
            .map_err(|e| ApprovalError::Invalid(e.to_string()))?;
        let item = ConversationMessage {
            conversation: request.conversation.clone(),
            message: InboundMessage {
                message_id,
                sent_at_ms: now_ms(),
                // On behalf of the requester: their profile and grants apply to the resumed run.
                sender: Sender { id: request.requester_id.clone(), name: "platform".into(), is_bot: false },
                text: format!(
                    "(platform) The administrator approved the tool `{}` for this request. Continue the task you were asked, now using the tool.",
                    request.tool
                ),
                is_direct: true,
                route: request.route.clone(),
            },
        };
        self.clients().approvals.store().store_inbound(&item).await?;
        inbound.send_inbound(&InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item }).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse_command("hello"), None);
        assert_eq!(parse_command("/pending"), Some(Ok(ApprovalCommand::Pending)));
        assert_eq!(
            parse_command("/approve pr12ab"),
            Some(Ok(ApprovalCommand::Approve { request_id: "pr12ab".into(), scope: Scope::Once, hash: None }))
        );
        assert_eq!(
            parse_command("/approve pr12ab once"),
            Some(Ok(ApprovalCommand::Approve { request_id: "pr12ab".into(), scope: Scope::Once, hash: None }))
        );
        assert_eq!(
            parse_command("/approve pr12ab once 3F2A9B0C1D2E"),
            Some(Ok(ApprovalCommand::Approve {
                request_id: "pr12ab".into(),
                scope: Scope::Once,
                hash: Some("3f2a9b0c1d2e".into())
            })),
            "the hash the notice shows, in either case"
        );
        assert!(matches!(parse_command("/approve pr12ab once 3f2a9b"), Some(Err(_))), "too short to bind");
        assert!(matches!(parse_command("/approve pr12ab once zzzzzzzzzzzz"), Some(Err(_))), "not hex");
        assert_eq!(
            parse_command("/approve@clawd_bot pr12ab 4h"),
            Some(Ok(ApprovalCommand::Approve { request_id: "pr12ab".into(), scope: Scope::Hours(4), hash: None }))
        );
        assert_eq!(
            parse_command("/APPROVE pr12ab always"),
            Some(Ok(ApprovalCommand::Approve { request_id: "pr12ab".into(), scope: Scope::Always, hash: None }))
        );
        assert!(matches!(parse_command("/approve pr12ab 25h"), Some(Err(_))), "at most 24 hours");
        assert!(matches!(parse_command("/approve pr12ab 0h"), Some(Err(_))));
        assert!(matches!(parse_command("/approve"), Some(Err(_))));
        assert!(matches!(parse_command("/approve ../x"), Some(Err(_))));
        assert_eq!(
            parse_command("/reject pr12ab not   today"),
            Some(Ok(ApprovalCommand::Reject { request_id: "pr12ab".into(), reason: Some("not today".into()) }))
        );
    }

    #[test]
    fn an_approve_once_grant_is_its_requesters_alone_and_ends_with_its_request() {
        let a = approver();
        let c = a.conversation().unwrap();
        let message = InboundMessage {
            message_id: MessageId::parse("7").unwrap(),
            sent_at_ms: 1,
            sender: Sender { id: "ada".into(), name: "Ada".into(), is_bot: false },
            text: "run it".into(),
            is_direct: false,
            route: a.route().unwrap(),
        };
        let mut r =
            PermissionRequest::new(&c, &message, "shell", &serde_json::json!({"command": "ls"}), "", 1_000, 60_000);
        let approve = |how: &str| DecisionRecord {
            how: how.into(),
            by: "telegram:4242".into(),
            at_ms: 2_000,
            hours: None,
            reason: None,
            message_id: None,
        };
        assert!(!once_grant_usable(&r, "ada", "pr-resume", 3_000), "pending is no grant");
        r.status = RequestStatus::Approved;
        r.decision = Some(approve("temporary"));
        assert!(!once_grant_usable(&r, "ada", "pr-resume", 3_000), "not an approve-once");
        r.decision = Some(approve("once"));
        assert!(once_grant_usable(&r, "ada", "pr-resume", 3_000));
        assert!(!once_grant_usable(&r, "bob", "pr-resume", 3_000), "another user in the same group");
        assert!(!once_grant_usable(&r, "ada", "pr-resume", 61_000), "the request expired");
        r.used_at_ms = Some(3_000);
        r.used_by = Some("pr-resume".into());
        assert!(once_grant_usable(&r, "ada", "pr-resume", 4_000), "a redelivery of the same message");
        assert!(!once_grant_usable(&r, "ada", "another", 4_000), "used up by another message");
        r.used_by = None;
        assert!(!once_grant_usable(&r, "ada", "pr-resume", 4_000), "used before anyone recorded by whom");
    }

    #[test]
    fn reply_queue_messages_tell_reports_from_replies() {
        let c = approver().conversation().unwrap();
        let report = AgentReport::RunReport {
            v: ENVELOPE_VERSION,
            scope: ScopeToken::new("v1.x"),
            conversation: c,
            in_reply_to: MessageId::parse("1001").unwrap(),
            run: RunSummary {
                input_tokens: 10,
                output_tokens: 2,
                answered: vec![(1, MessageId::parse("1000").unwrap())],
            },
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<ReplyQueueMessage>(&json).unwrap(), ReplyQueueMessage::Report(report));
        let reply = include_str!("../../events/reply-telegram.json");
        let event: serde_json::Value = serde_json::from_str(reply).unwrap();
        let body = event["Records"][0]["body"].as_str().unwrap();
        assert!(matches!(serde_json::from_str::<ReplyQueueMessage>(body).unwrap(), ReplyQueueMessage::Reply(_)));
    }

    /// The fixture tenant's approver: Telegram user 4242 of the fixture bot.
    fn approver() -> ApproverConfig {
        ApproverConfig {
            tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
            bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
            channel: ChannelKind::Telegram,
            user_id: "4242".into(),
            updated_at_ms: 0,
        }
    }

    #[test]
    fn approver_routes() {
        let a = approver();
        assert!(matches!(a.route(), Some(ReplyRoute::Telegram { chat_id: 4242, .. })));
        assert_eq!(a.conversation().unwrap().conversation_id.as_str(), "4242");
        let discord = ApproverConfig { channel: ChannelKind::Discord, ..a };
        assert_eq!(discord.route(), None);
    }
}
