//! DynamoDB adapter: one table (`pk`, `sk`, TTL on `expires_at`) holding tenants, bots, channel
//! bindings, and conversation messages.
//!
//! Keys:
//! - tenant: `TENANT#{tenant}` / `TENANT`
//! - bot: `BOT#{bot}` / `BOT`; its channels: `BOT#{bot}` / `CHANNEL#{kind}` (one query loads both)
//! - message: `{tenant}#CONV#{bot}#{channel}#{conversation}` / `MSG#{sent_at_ms:013}#{message_id}`;
//!   a reply sorts right after what it answers: `…#{message_id}#r{seq:03}`.
//!   Conversation keys start with the tenant id so IAM can scope agents with `dynamodb:LeadingKeys`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
pub use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::aws::describe_sdk_error;
use crate::envelope::ReplyEnvelope;
use crate::ids::{BotId, ConversationRef, TenantId};
use crate::model::{
    Bot, BotSettings, BotStatus, ChannelBinding, ChannelKind, ConversationMessage, HistoryEntry, Role, Tenant, now_ms,
};
use crate::permissions::PermissionRequest;
use crate::trigger::Trigger;

/// How long conversation messages (and so the delivery-id dedup records) are kept: longer than
/// any channel's retry window (WhatsApp retries for 7 days).
pub const MESSAGE_RETENTION_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed: {detail}")]
    Aws { operation: &'static str, detail: String },
    #[error("stored item is malformed ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
}

impl StoreError {
    pub(crate) fn aws<E, R>(operation: &'static str, err: &SdkError<E, R>) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        StoreError::Aws { operation, detail: describe_sdk_error(err) }
    }
}

pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt { what: "serialize", detail: e.to_string() })
}

pub(crate) fn from_item<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    item: HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

#[derive(Serialize, Deserialize)]
struct TenantItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    tenant: Tenant,
}

#[derive(Serialize, Deserialize)]
struct BotItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    bot: Bot,
}

#[derive(Serialize, Deserialize)]
struct ChannelItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    binding: ChannelBinding,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PermissionRequestItem {
    pub(crate) pk: String,
    pub(crate) sk: String,
    pub(crate) expires_at: i64,
    #[serde(flatten)]
    pub(crate) request: PermissionRequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyState {
    Sending,
    Sent,
    Failed,
}

/// A stored conversation line, inbound or outbound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub role: Role,
    pub message_id: String,
    pub sender_id: String,
    pub sender_name: String,
    pub text: String,
    pub at_ms: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at_ms: Option<i64>,
    /// Set by the agent once a run answered this (inbound) message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_state: Option<ReplyState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_message_ids: Option<Vec<String>>,
}

impl MessageItem {
    pub fn to_history(&self) -> HistoryEntry {
        HistoryEntry {
            role: self.role,
            message_id: self.message_id.clone(),
            sender_name: self.sender_name.clone(),
            text: self.text.clone(),
            at_ms: self.at_ms,
        }
    }
}

pub fn inbound_sort_key(sent_at_ms: i64, message_id: &str) -> String {
    format!("MSG#{sent_at_ms:013}#{message_id}")
}

pub fn reply_sort_key(reply: &ReplyEnvelope) -> String {
    format!("{}#r{:03}", inbound_sort_key(reply.in_reply_to_at_ms, reply.in_reply_to.as_str()), reply.seq)
}

/// How far back (from the message being dispatched) unanswered messages count as lost work.
pub const LOST_WORK_WINDOW_MS: i64 = 60 * 60 * 1000;

/// The inbound lines of `lines` (one conversation's, as [`Store::recent_messages`] returns them)
/// that sort before `until_sk`, were sent at most `window_ms` before `reference_ms` (the time of
/// the message at `until_sk`), were handed to an agent, and have neither an answered mark nor a
/// reply line (`{sk}#r{seq}`): work an agent may have lost, oldest first.
///
/// The dispatcher computes this from the lines it reads anyway and hands it to the agent, which
/// skips the messages it accepted itself (those are answered or still queued there).
pub fn unanswered_before<'a>(
    lines: &'a [MessageItem],
    until_sk: &str,
    window_ms: i64,
    reference_ms: i64,
) -> Vec<&'a MessageItem> {
    let answered_by_reply: std::collections::HashSet<&str> = lines
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .filter_map(|m| m.sk.rsplit_once("#r").map(|(k, _)| k))
        .collect();
    lines
        .iter()
        .filter(|m| {
            m.role == Role::User
                && m.sk.as_str() < until_sk
                && m.dispatched_at_ms.is_some()
                && m.answered_at_ms.is_none()
                && !answered_by_reply.contains(m.sk.as_str())
                && reference_ms - m.at_ms <= window_ms
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// Stored before; `dispatched` if the agent already has it.
    Duplicate {
        dispatched: bool,
    },
}

/// How far an earlier attempt got with a reply, read before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyClaim {
    /// No line for this reply yet: send every piece.
    New,
    /// An earlier attempt recorded some pieces and did not finish: send what it had not sent yet.
    Retry { sent_ids: Vec<String> },
    /// Already delivered (or permanently failed): do nothing.
    Done(ReplyState),
}

/// A reply's line in its conversation (`…#r{seq}`): what [`Store::reply_progress`] found, or what
/// a first attempt will write. [`Store::record_reply`] writes it whole, with the state and the
/// channel ids of the pieces sent so far.
#[derive(Debug, Clone)]
pub struct ReplyLine {
    item: MessageItem,
}

impl ReplyLine {
    /// The line a first attempt writes: the bot speaks, at the time of the attempt.
    pub fn new(reply: &ReplyEnvelope, sender_name: &str) -> Self {
        let now = now_ms();
        Self {
            item: MessageItem {
                pk: reply.conversation.partition_key(),
                sk: reply_sort_key(reply),
                role: Role::Assistant,
                message_id: reply.reply_id(),
                sender_id: reply.conversation.bot_id.to_string(),
                sender_name: sender_name.to_owned(),
                text: reply.text.clone(),
                at_ms: now,
                expires_at: now / 1000 + MESSAGE_RETENTION_SECS,
                dispatched_at_ms: None,
                answered_at_ms: None,
                reply_state: Some(ReplyState::Sending),
                channel_message_ids: None,
            },
        }
    }

    /// The item as it stands (before [`Store::record_reply`] sets the state and the ids).
    pub fn item(&self) -> &MessageItem {
        &self.item
    }
}

/// A bot with its channel bindings, as one query returns them.
#[derive(Debug, Clone)]
pub struct BotRecord {
    pub bot: Bot,
    pub channels: Vec<ChannelBinding>,
    /// The bot's trigger pattern, compiled once per load (`None` if unset or invalid).
    pub trigger: Option<Trigger>,
}

impl BotRecord {
    pub fn channel(&self, kind: ChannelKind) -> Option<&ChannelBinding> {
        self.channels.iter().find(|c| c.channel == kind)
    }
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// The month's usage counter: one more run, and its tokens.
const USAGE_ADD: &str = "ADD input_tokens :in, output_tokens :out, runs :one";

fn usage_values(input_tokens: u64, output_tokens: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":in".to_owned(), AttributeValue::N(input_tokens.to_string())),
        (":out".to_owned(), AttributeValue::N(output_tokens.to_string())),
        (":one".to_owned(), AttributeValue::N("1".into())),
    ])
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// For the other adapters of this crate that keep their items in the same table.
    pub(crate) fn parts(&self) -> (&Client, &str) {
        (&self.client, &self.table)
    }

    /// The item at `pk`/`sk`, decoded (`what` names it in errors); strongly consistent when
    /// `consistent`.
    pub(crate) async fn get_item<T: for<'de> Deserialize<'de>>(
        &self,
        what: &'static str,
        pk: String,
        sk: String,
        consistent: bool,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", &e))?;
        out.item.map(|item| from_item(what, item)).transpose()
    }

    /// Writes `item` whole, replacing what is at its key.
    pub(crate) async fn put_item<T: Serialize>(&self, item: &T) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .send()
            .await
            .map_err(|e| StoreError::aws("PutItem", &e))?;
        Ok(())
    }

    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant { tenant_id: TenantId::generate(), name: name.to_owned(), created_at_ms: now_ms() };
        let item =
            TenantItem { pk: format!("TENANT#{}", tenant.tenant_id), sk: "TENANT".into(), tenant: tenant.clone() };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) {
                    StoreError::AlreadyExists(format!("tenant {}", tenant.tenant_id))
                } else {
                    StoreError::aws("PutItem", &e)
                }
            })?;
        Ok(tenant)
    }

    pub async fn get_tenant(&self, tenant_id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let item: Option<TenantItem> =
            self.get_item("tenant", format!("TENANT#{tenant_id}"), "TENANT".into(), false).await?;
        Ok(item.map(|t| t.tenant))
    }

    /// Creates a bot under an existing tenant, atomically with a check that the tenant exists.
    pub async fn create_bot(
        &self,
        tenant_id: &TenantId,
        name: &str,
        settings: &BotSettings,
    ) -> Result<Bot, StoreError> {
        let bot = Bot {
            bot_id: BotId::generate(),
            tenant_id: tenant_id.clone(),
            name: name.to_owned(),
            status: BotStatus::Active,
            trigger: settings.trigger.clone(),
            persona: settings.persona.clone(),
            model_provider: settings.model_provider.clone(),
            model_id: settings.model_id.clone(),
            created_at_ms: now_ms(),
        };
        let item = BotItem { pk: format!("BOT#{}", bot.bot_id), sk: "BOT".into(), bot: bot.clone() };
        self.put_guarded(to_item(&item)?, format!("TENANT#{tenant_id}"), "TENANT", format!("tenant {tenant_id}"))
            .await?;
        Ok(bot)
    }

    /// Attaches (or replaces) a channel on an existing bot.
    pub async fn put_channel(&self, binding: &ChannelBinding) -> Result<(), StoreError> {
        let item = ChannelItem {
            pk: format!("BOT#{}", binding.bot_id),
            sk: format!("CHANNEL#{}", binding.channel),
            binding: binding.clone(),
        };
        let bot_pk = item.pk.clone();
        self.put_guarded(to_item(&item)?, bot_pk, "BOT", format!("bot {}", binding.bot_id)).await
    }

    /// Puts `item` only if the item (`guard_pk`, `guard_sk`) exists (one transaction).
    async fn put_guarded(
        &self,
        item: HashMap<String, AttributeValue>,
        guard_pk: String,
        guard_sk: &str,
        guard_name: String,
    ) -> Result<(), StoreError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(guard_pk))
            .key("sk", s(guard_sk))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt { what: "condition check", detail: e.to_string() })?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::Corrupt { what: "put", detail: e.to_string() })?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_transaction_canceled_exception()) {
                    StoreError::NotFound(guard_name)
                } else {
                    StoreError::aws("TransactWriteItems", &e)
                }
            })?;
        Ok(())
    }

    /// Loads a bot and its channel bindings in one query.
    pub async fn load_bot(&self, bot_id: &BotId) -> Result<Option<BotRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("BOT#{bot_id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("Query", &e))?;
        let mut bot = None;
        let mut channels = Vec::new();
        for item in out.items.unwrap_or_default() {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == "BOT" {
                bot = Some(from_item::<BotItem>("bot", item)?.bot);
            } else if sk.starts_with("CHANNEL#") {
                channels.push(from_item::<ChannelItem>("channel", item)?.binding);
            }
        }
        Ok(bot.map(|bot| {
            let trigger = bot.trigger.as_deref().and_then(|p| Trigger::compile(p).ok());
            BotRecord { bot, channels, trigger }
        }))
    }

    /// Stores an inbound message once: a redelivery of the same channel message is a `Duplicate`.
    pub async fn store_inbound(&self, item: &ConversationMessage) -> Result<StoreOutcome, StoreError> {
        let m = &item.message;
        let row = MessageItem {
            pk: item.conversation.partition_key(),
            sk: inbound_sort_key(m.sent_at_ms, m.message_id.as_str()),
            role: Role::User,
            message_id: m.message_id.to_string(),
            sender_id: m.sender.id.clone(),
            sender_name: m.sender.name.clone(),
            text: m.text.clone(),
            at_ms: m.sent_at_ms,
            expires_at: now_ms() / 1000 + MESSAGE_RETENTION_SECS,
            dispatched_at_ms: None,
            answered_at_ms: None,
            reply_state: None,
            channel_message_ids: None,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&row)?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(StoreOutcome::Stored),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    let dispatched = c.item.as_ref().is_some_and(|old| old.contains_key("dispatched_at_ms"));
                    Ok(StoreOutcome::Duplicate { dispatched })
                }
                _ => Err(StoreError::aws("PutItem", &e)),
            },
        }
    }

    /// The newest `limit` lines of a conversation up to and including the line `until_sk` (all
    /// lines when `None`), oldest first.
    pub async fn recent_messages(
        &self,
        conversation: &ConversationRef,
        until_sk: Option<&str>,
        limit: i32,
    ) -> Result<Vec<MessageItem>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(conversation.partition_key()))
            .expression_attribute_values(":msg", s("MSG#"))
            .scan_index_forward(false)
            .limit(limit.max(1))
            .consistent_read(true);
        query = match until_sk {
            Some(until) => query
                .key_condition_expression("pk = :pk AND sk BETWEEN :msg AND :until")
                .expression_attribute_values(":until", s(until)),
            None => query.key_condition_expression("pk = :pk AND begins_with(sk, :msg)"),
        };
        let out = query.send().await.map_err(|e| StoreError::aws("Query", &e))?;
        let mut items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<MessageItem>("message", item))
            .collect::<Result<Vec<_>, _>>()?;
        items.reverse();
        Ok(items)
    }

    /// Records that a message was handed to the agent. `false` if it already was.
    pub async fn mark_dispatched(&self, item: &ConversationMessage) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(item.conversation.partition_key()))
            .key("sk", s(inbound_sort_key(item.message.sent_at_ms, item.message.message_id.as_str())))
            .update_expression("SET dispatched_at_ms = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(dispatched_at_ms)")
            .expression_attribute_values(":now", AttributeValue::N(now_ms().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::aws("UpdateItem", &e)),
        }
    }

    /// Marks an inbound message answered by a run (idempotent; a missing message is ignored).
    pub async fn mark_answered(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(conversation.partition_key()))
            .key("sk", s(inbound_sort_key(sent_at_ms, message_id)))
            .update_expression("SET answered_at_ms = if_not_exists(answered_at_ms, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", AttributeValue::N(now_ms().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(StoreError::aws("UpdateItem", &e)),
        }
    }

    /// Adds a run's token use to the tenant's month (`{tenant}#USAGE` / `MONTH#{yyyy-mm}`).
    pub async fn add_token_usage(
        &self,
        tenant_id: &TenantId,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("MONTH#{month}")))
            .update_expression(USAGE_ADD)
            .set_expression_attribute_values(Some(usage_values(input_tokens, output_tokens)))
            .send()
            .await
            .map_err(|e| StoreError::aws("UpdateItem", &e))?;
        Ok(())
    }

    /// Adds one run's token use to the tenant's month, once: a marker item keyed by the run's
    /// conversation and message (`{tenant}#USAGE` / `RUN#{hash}`, kept past the month) is written
    /// in the same transaction, so a redelivered report counts nothing. `false` if it was counted
    /// before. Only trusted code calls this (the reply function, from an agent's run report).
    pub async fn add_run_usage(
        &self,
        conversation: &ConversationRef,
        in_reply_to: &str,
        month: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
        let tenant_id = &conversation.tenant_id;
        let run = crate::ids::short_digest(&[&conversation.partition_key(), in_reply_to]);
        let ttl = now_ms() / 1000 + 40 * 86_400;
        let build =
            |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt { what: "usage", detail: e.to_string() };
        let marker = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("{tenant_id}#USAGE")))
            .item("sk", s(format!("RUN#{run}")))
            .item("expires_at", AttributeValue::N(ttl.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let add = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("MONTH#{month}")))
            .update_expression(USAGE_ADD)
            .set_expression_attribute_values(Some(usage_values(input_tokens, output_tokens)))
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().update(add).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    matches!(s, aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t)
                        if t.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed"))
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::aws("TransactWriteItems", &e)),
        }
    }

    /// One stored inbound message of `conversation`, strongly consistent.
    pub async fn inbound_message(
        &self,
        conversation: &ConversationRef,
        sent_at_ms: i64,
        message_id: &str,
    ) -> Result<Option<MessageItem>, StoreError> {
        self.get_item("message", conversation.partition_key(), inbound_sort_key(sent_at_ms, message_id), true).await
    }

    /// A tenant's token use in one month: (input, output, runs).
    pub async fn token_usage(&self, tenant_id: &TenantId, month: &str) -> Result<(u64, u64, u64), StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("{tenant_id}#USAGE")))
            .key("sk", s(format!("MONTH#{month}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", &e))?;
        let n = |item: &HashMap<String, AttributeValue>, k: &str| {
            item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
        };
        Ok(out.item.map(|i| (n(&i, "input_tokens"), n(&i, "output_tokens"), n(&i, "runs"))).unwrap_or_default())
    }

    /// Stores a permission request once (`{tenant}#APPROVAL` / `REQ#{id}`); `false` if it was
    /// already stored (a redone run).
    pub async fn put_permission_request(&self, request: &PermissionRequest) -> Result<bool, StoreError> {
        let item = PermissionRequestItem {
            pk: format!("{}#APPROVAL", request.conversation.tenant_id),
            sk: format!("REQ#{}", request.request_id),
            expires_at: request.expires_at_ms / 1000 + MESSAGE_RETENTION_SECS,
            request: request.clone(),
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::aws("PutItem", &e)),
        }
    }

    /// A tenant's permission requests, newest last.
    pub async fn permission_requests(&self, tenant_id: &TenantId) -> Result<Vec<PermissionRequest>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :req)")
            .expression_attribute_values(":pk", s(format!("{tenant_id}#APPROVAL")))
            .expression_attribute_values(":req", s("REQ#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("Query", &e))?;
        let mut requests = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<PermissionRequestItem>("permission request", item).map(|i| i.request))
            .collect::<Result<Vec<_>, _>>()?;
        requests.sort_by_key(|r| r.created_at_ms);
        Ok(requests)
    }

    /// Reads how far earlier attempts got with `reply` (one strongly consistent GetItem of its
    /// line), so a redelivered reply is sent once and a partly sent one resumes after its last
    /// recorded piece.
    ///
    /// Nothing is written before sending. A claim write would protect nothing: the reply queue is
    /// FIFO with one message group per conversation, so the same reply is never being delivered
    /// twice at once, and a claim never covered the last piece anyway (a crash between sending it
    /// and recording it repeats it, claim or not). The line is written once the last piece is
    /// sent ([`Store::record_reply`]), and after each earlier piece of a split answer.
    pub async fn reply_progress(
        &self,
        reply: &ReplyEnvelope,
        sender_name: &str,
    ) -> Result<(ReplyClaim, ReplyLine), StoreError> {
        let stored: Option<MessageItem> =
            self.get_item("reply", reply.conversation.partition_key(), reply_sort_key(reply), true).await?;
        let Some(old) = stored else { return Ok((ReplyClaim::New, ReplyLine::new(reply, sender_name))) };
        let claim = match old.reply_state {
            Some(ReplyState::Sending) | None => {
                ReplyClaim::Retry { sent_ids: old.channel_message_ids.clone().unwrap_or_default() }
            }
            Some(state) => ReplyClaim::Done(state),
        };
        // The stored line (its time, sender, text) is kept; only state and ids change.
        Ok((claim, ReplyLine { item: old }))
    }

    /// Records how far sending a reply got: one PutItem of its whole line with `state` and the
    /// channel ids of the pieces sent.
    pub async fn record_reply(
        &self,
        line: &ReplyLine,
        state: ReplyState,
        channel_message_ids: &[String],
    ) -> Result<(), StoreError> {
        let item = MessageItem {
            reply_state: Some(state),
            channel_message_ids: Some(channel_message_ids.to_vec()),
            ..line.item.clone()
        };
        self.put_item(&item).await
    }

    /// Every stored line of a conversation, oldest first (for the CLI and tests).
    pub async fn conversation(&self, conversation: &ConversationRef) -> Result<Vec<MessageItem>, StoreError> {
        self.recent_messages(conversation, None, 1000).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_740_800_000;
    const MIN: i64 = 60_000;

    fn inbound(id: &str, at_ms: i64, dispatched: bool, answered: bool) -> MessageItem {
        MessageItem {
            pk: "t#CONV#b#telegram#4242".into(),
            sk: inbound_sort_key(at_ms, id),
            role: Role::User,
            message_id: id.into(),
            sender_id: "4242".into(),
            sender_name: "Ada".into(),
            text: format!("question {id}"),
            at_ms,
            expires_at: 0,
            dispatched_at_ms: dispatched.then_some(at_ms + 10),
            answered_at_ms: answered.then_some(at_ms + 20),
            reply_state: None,
            channel_message_ids: None,
        }
    }

    fn reply_to(line: &MessageItem, seq: u32, state: ReplyState) -> MessageItem {
        MessageItem {
            sk: format!("{}#r{seq:03}", line.sk),
            role: Role::Assistant,
            message_id: format!("{}#r{seq:03}", line.message_id),
            sender_name: "Clawd".into(),
            text: "an answer".into(),
            dispatched_at_ms: None,
            answered_at_ms: None,
            reply_state: Some(state),
            channel_message_ids: Some(vec!["1".into()]),
            ..line.clone()
        }
    }

    fn ids(found: Vec<&MessageItem>) -> Vec<&str> {
        found.into_iter().map(|m| m.message_id.as_str()).collect()
    }

    #[test]
    fn unanswered_are_dispatched_unmarked_unreplied_earlier_lines_within_the_window() {
        let too_old = inbound("101", NOW - 61 * MIN, true, false);
        let at_the_edge = inbound("102", NOW - 60 * MIN, true, false);
        let marked = inbound("103", NOW - 50 * MIN, true, true);
        let replied = inbound("104", NOW - 40 * MIN, true, false);
        let replied_line = reply_to(&replied, 1, ReplyState::Sent);
        let never_dispatched = inbound("105", NOW - 30 * MIN, false, false);
        let lost = inbound("106", NOW - 20 * MIN, true, false);
        // A split answer stopped after its first piece still counts as answered by its reply.
        let partly = inbound("107", NOW - 10 * MIN, true, false);
        let partly_line = reply_to(&partly, 1, ReplyState::Sending);
        let lost_too = inbound("108", NOW - MIN, true, false);
        let current = inbound("109", NOW, true, false);
        let lines = vec![
            too_old,
            at_the_edge,
            marked,
            replied,
            replied_line,
            never_dispatched,
            lost,
            partly,
            partly_line,
            lost_too,
            current.clone(),
        ];
        let found = unanswered_before(&lines, &current.sk, LOST_WORK_WINDOW_MS, NOW);
        assert_eq!(ids(found), ["102", "106", "108"]);

        // Only lines before the message being answered count (not it, nor anything after it), and
        // the window is measured from that message's time, not the clock.
        let until_lost = inbound_sort_key(NOW - 20 * MIN, "106");
        assert_eq!(ids(unanswered_before(&lines, &until_lost, LOST_WORK_WINDOW_MS, NOW - 20 * MIN)), ["101", "102"]);
        assert_eq!(ids(unanswered_before(&lines, &current.sk, 5 * MIN, NOW)), ["108"]);
        assert!(unanswered_before(&[], &current.sk, LOST_WORK_WINDOW_MS, NOW).is_empty());
    }

    #[test]
    fn a_reply_line_keeps_the_answer_item_as_it_was() {
        use crate::envelope::ENVELOPE_VERSION;
        use crate::ids::{BotId, ConversationId, MessageId};
        use crate::model::ReplyRoute;
        let reply = ReplyEnvelope {
            v: ENVELOPE_VERSION,
            conversation: ConversationRef {
                tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
                bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
                channel: ChannelKind::Telegram,
                conversation_id: ConversationId::parse("4242").unwrap(),
            },
            in_reply_to: MessageId::parse("1001").unwrap(),
            in_reply_to_at_ms: NOW,
            seq: 2,
            text: "the answer".into(),
            route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: None },
            buttons: Vec::new(),
            scope: crate::scope::ScopeToken::default(),
            run: None,
        };
        let line = ReplyLine::new(&reply, "Clawd");
        let item = line.item();
        assert_eq!(item.pk, reply.conversation.partition_key());
        assert_eq!(item.sk, format!("{}#r002", inbound_sort_key(NOW, "1001")));
        assert_eq!((item.role, item.message_id.as_str()), (Role::Assistant, "1001#r002"));
        assert_eq!((item.sender_id.as_str(), item.sender_name.as_str()), ("b0123456789abcdef0123", "Clawd"));
        assert_eq!(item.text, "the answer");
        assert_eq!(item.expires_at, item.at_ms / 1000 + MESSAGE_RETENTION_SECS);
        assert!(item.dispatched_at_ms.is_none() && item.answered_at_ms.is_none());
        // Stored as the attributes the CLI and the dispatcher's history read.
        let stored = to_item(&MessageItem {
            reply_state: Some(ReplyState::Sent),
            channel_message_ids: Some(vec!["555".into()]),
            ..item.clone()
        })
        .unwrap();
        let mut names: Vec<&str> = stored.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "at_ms",
                "channel_message_ids",
                "expires_at",
                "message_id",
                "pk",
                "reply_state",
                "role",
                "sender_id",
                "sender_name",
                "sk",
                "text"
            ]
        );
        assert_eq!(stored["reply_state"], AttributeValue::S("sent".into()));
        assert_eq!(stored["channel_message_ids"], AttributeValue::L(vec![AttributeValue::S("555".into())]));
    }
}
