//! What the admin API and the CLI list and change beyond the message path:
//! - the tenant's bot index `TENANT#{tenant}` / `BOT#{bot}` (written with the bot, in one
//!   transaction), and its console users `TENANT#{tenant}` / `USER#{email}`;
//! - a bot's conversations `{tenant}#CONVS#{bot}` / `{channel}#{conversation}`, noted by the
//!   dispatcher (first and last seen) so the history can list them without a scan.
//!
//! Cursors are the last sort key of a page, base64url: the partition key is always rebuilt from
//! the caller's scope, so a cursor can never point a query at another tenant's partition.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawless_core::admin::ports::{ConversationSummary, Page, TenantAdminRepo, UserEntry};
use clawless_core::domain::model::ChannelKind;

use super::*;

#[derive(Serialize, Deserialize)]
struct BotIndexItem {
    pk: String,
    sk: String,
    bot_id: BotId,
    created_at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct UserItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    user: UserEntry,
}

fn conversations_pk(tenant: &TenantId, bot: &BotId) -> String {
    format!("{tenant}#CONVS#{bot}")
}

fn encode_cursor(sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(sk.as_bytes())
}

fn decode_cursor(cursor: &str, prefix: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Corrupt { what: "cursor", detail: "not a cursor of this list".into() };
    let sk = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    if !sk.starts_with(prefix) {
        return Err(bad());
    }
    Ok(sk)
}

fn delete_op(table: &str, pk: String, sk: &str) -> Result<TransactWriteItem, StoreError> {
    let delete = Delete::builder()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s(sk))
        .build()
        .map_err(|e| StoreError::Corrupt { what: "delete", detail: e.to_string() })?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

impl Store {
    /// Notes that the bot has a conversation (first and last seen), so the console can list it.
    pub async fn note_conversation(&self, conversation: &ConversationRef, at_ms: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(conversations_pk(&conversation.tenant_id, &conversation.bot_id)))
            .key("sk", s(format!("{}#{}", conversation.channel, conversation.conversation_id)))
            .update_expression(
                "SET channel = :c, conversation_id = :id, first_seen_ms = if_not_exists(first_seen_ms, :now), last_seen_ms = :now",
            )
            .expression_attribute_values(":c", s(conversation.channel.as_str()))
            .expression_attribute_values(":id", s(conversation.conversation_id.as_str()))
            .expression_attribute_values(":now", AttributeValue::N(at_ms.to_string()))
            .send()
            .await
            .map_err(|e| store_error("UpdateItem", &e))?;
        Ok(())
    }

    /// One page of `pk`'s items whose sort key starts with `prefix`, and the next cursor.
    async fn page(
        &self,
        pk: String,
        prefix: &str,
        cursor: Option<&str>,
        limit: i32,
        newest_first: bool,
    ) -> Result<(Vec<HashMap<String, AttributeValue>>, Option<String>), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(pk.clone()))
            .scan_index_forward(!newest_first)
            .limit(limit.max(1));
        // DynamoDB refuses an empty string as a key value: no prefix, no begins_with.
        query = if prefix.is_empty() {
            query.key_condition_expression("pk = :pk")
        } else {
            query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
        };
        if let Some(cursor) = cursor {
            let sk = decode_cursor(cursor, prefix)?;
            query = query.exclusive_start_key("pk", s(pk)).exclusive_start_key("sk", s(sk));
        }
        let out = query.send().await.map_err(|e| store_error("Query", &e))?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .map(|sk| encode_cursor(sk));
        Ok((out.items.unwrap_or_default(), next))
    }

    /// Every item of `pk` whose sort key starts with `prefix` (all pages).
    async fn all(&self, pk: String, prefix: &str) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) = self.page(pk.clone(), prefix, cursor.as_deref(), 500, false).await?;
            items.extend(page);
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl TenantAdminRepo for Store {
    async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        Store::create_tenant(self, name).await
    }

    async fn get_tenant(&self, tenant_id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        Store::get_tenant(self, tenant_id).await
    }

    async fn create_bot(&self, tenant_id: &TenantId, name: &str, settings: &BotSettings) -> Result<Bot, StoreError> {
        Store::create_bot(self, tenant_id, name, settings).await
    }

    async fn list_bots(&self, tenant_id: &TenantId) -> Result<Vec<BotId>, StoreError> {
        let items = self.all(format!("TENANT#{tenant_id}"), "BOT#").await?;
        let mut index: Vec<BotIndexItem> =
            items.into_iter().map(|i| from_item("bot index", i)).collect::<Result<_, _>>()?;
        index.sort_by_key(|i| i.created_at_ms);
        Ok(index.into_iter().map(|i| i.bot_id).collect())
    }

    async fn update_bot(&self, bot: &Bot) -> Result<(), StoreError> {
        let item = BotItem { pk: format!("BOT#{}", bot.bot_id), sk: "BOT".into(), bot: bot.clone() };
        let written = conditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&item)?))
                .condition_expression("attribute_exists(pk)")
                .send()
                .await,
        )?;
        if !written {
            return Err(StoreError::NotFound(format!("bot {}", bot.bot_id)));
        }
        Ok(())
    }

    async fn delete_bot(&self, bot: &Bot) -> Result<(), StoreError> {
        let pk = format!("BOT#{}", bot.bot_id);
        // Bindings, MCP servers and the provider setting first: if this stops part-way, the bot is still there to
        // delete again.
        let mut owned = self.all(pk.clone(), "CHANNEL#").await?;
        owned.extend(self.all(pk.clone(), "MCP#").await?);
        owned.extend(self.all(pk.clone(), super::providers::PROVIDER_SK).await?);
        for item in owned {
            if let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(pk.clone()))
                    .key("sk", s(sk.clone()))
                    .send()
                    .await
                    .map_err(|e| store_error("DeleteItem", &e))?;
            }
        }
        self.client
            .transact_write_items()
            .transact_items(delete_op(&self.table, pk, "BOT")?)
            .transact_items(delete_op(
                &self.table,
                format!("TENANT#{}", bot.tenant_id),
                &format!("BOT#{}", bot.bot_id),
            )?)
            .send()
            .await
            .map_err(|e| store_error("TransactWriteItems", &e))?;
        Ok(())
    }

    async fn put_channel(&self, binding: &ChannelBinding) -> Result<(), StoreError> {
        Store::put_channel(self, binding).await
    }

    async fn delete_channel(&self, bot_id: &BotId, kind: ChannelKind) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("BOT#{bot_id}")))
            .key("sk", s(format!("CHANNEL#{kind}")))
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", &e))?;
        Ok(())
    }

    async fn conversations(
        &self,
        tenant_id: &TenantId,
        bot_id: &BotId,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ConversationSummary>, StoreError> {
        let (items, next_cursor) = self.page(conversations_pk(tenant_id, bot_id), "", cursor, limit, false).await?;
        let items = items.into_iter().map(|i| from_item("conversation index", i)).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn messages_page(
        &self,
        conversation: &ConversationRef,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<MessageItem>, StoreError> {
        let (items, next_cursor) = self.page(conversation.partition_key(), "MSG#", cursor, limit, true).await?;
        let items = items.into_iter().map(|i| from_item("message", i)).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn put_user(&self, user: &UserEntry) -> Result<(), StoreError> {
        self.put_item(&UserItem {
            pk: format!("TENANT#{}", user.tenant_id),
            sk: format!("USER#{}", user.email),
            user: user.clone(),
        })
        .await
    }

    async fn delete_user(&self, tenant_id: &TenantId, email: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("TENANT#{tenant_id}")))
            .key("sk", s(format!("USER#{email}")))
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", &e))?;
        Ok(())
    }

    async fn list_users(&self, tenant_id: &TenantId) -> Result<Vec<UserEntry>, StoreError> {
        let items = self.all(format!("TENANT#{tenant_id}"), "USER#").await?;
        items.into_iter().map(|i| from_item::<UserItem>("user", i).map(|u| u.user)).collect()
    }

    async fn user(&self, tenant_id: &TenantId, email: &str) -> Result<Option<UserEntry>, StoreError> {
        let item: Option<UserItem> =
            self.get_item("user", format!("TENANT#{tenant_id}"), format!("USER#{email}"), true).await?;
        Ok(item.map(|u| u.user))
    }
}
