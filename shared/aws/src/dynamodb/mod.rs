//! DynamoDB adapter: one table (`pk`, `sk`, TTL on `expires_at`) holding tenants, bots, channel
//! bindings, conversation messages, token use, approvals, tasks and access items. Every partition a tenant's
//! agent may touch starts with the tenant id, so IAM can scope agents with `dynamodb:LeadingKeys`.
//! One module per kind of item; each implements its port of the core on [`Store`].

mod access;
mod admin;
mod approvals;
mod bots;
mod conversations;
mod limits;
mod mcp;
mod providers;
mod run_status;
pub mod tasks;
mod usage;

use std::collections::HashMap;

pub use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use serde::{Deserialize, Serialize};

use clawless_core::domain::envelope::ReplyEnvelope;
use clawless_core::domain::ids::{BotId, ConversationRef, TenantId};
use clawless_core::domain::model::{Bot, BotSettings, BotStatus, ChannelBinding, ConversationMessage, Tenant, now_ms};
use clawless_core::domain::permissions::PermissionRequest;
pub use clawless_core::domain::records::MESSAGE_RETENTION_SECS;
use clawless_core::domain::records::{
    BotRecord, MessageItem, ReplyClaim, ReplyLine, ReplyState, StoreOutcome, inbound_sort_key, reply_sort_key,
};
use clawless_core::domain::trigger::Trigger;
pub use clawless_core::ports::{ApprovalRepo, BotRepo, ConversationRepo, RunStatusRepo, StoreError, UsageRepo};

pub use providers::ProviderOwner;

use crate::sdk::describe_sdk_error;

/// A failed DynamoDB call as the core's storage error.
pub(crate) fn store_error<E, R>(operation: &'static str, err: &SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Aws { operation, detail: describe_sdk_error(err) }
}

/// The error of a DynamoDB write that takes a condition, and the operation's name for
/// [`store_error`].
pub(crate) trait ConditionalWrite:
    aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static
{
    const OPERATION: &'static str;
    fn condition_failed(&self) -> bool;
}

impl ConditionalWrite for aws_sdk_dynamodb::operation::put_item::PutItemError {
    const OPERATION: &'static str = "PutItem";
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionalWrite for aws_sdk_dynamodb::operation::delete_item::DeleteItemError {
    const OPERATION: &'static str = "DeleteItem";
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionalWrite for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    const OPERATION: &'static str = "UpdateItem";
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// A conditional write's result: `true` if it was written, `false` if its condition did not
/// hold (nothing written), an error for any other failure.
pub(crate) fn conditional<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ConditionalWrite,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(ConditionalWrite::condition_failed) => Ok(false),
        Err(e) => Err(store_error(E::OPERATION, &e)),
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

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// The month's usage counter: one more run, and its tokens.
const USAGE_ADD: &str = "ADD input_tokens :in, output_tokens :out, runs :one, messages :m";

fn usage_values(input_tokens: u64, output_tokens: u64, messages: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":in".to_owned(), AttributeValue::N(input_tokens.to_string())),
        (":out".to_owned(), AttributeValue::N(output_tokens.to_string())),
        (":one".to_owned(), AttributeValue::N("1".into())),
        (":m".to_owned(), AttributeValue::N(messages.to_string())),
    ])
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
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
            .map_err(|e| store_error("GetItem", &e))?;
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
            .map_err(|e| store_error("PutItem", &e))?;
        Ok(())
    }
}
