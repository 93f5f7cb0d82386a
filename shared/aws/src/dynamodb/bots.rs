//! Tenants, bots and their channel bindings: `TENANT#{tenant}` / `TENANT`, `BOT#{bot}` / `BOT`,
//! and the bot's channels at `BOT#{bot}` / `CHANNEL#{kind}` (one query loads a bot whole).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use clawless_core::access::BotAccess;

use super::*;

impl Store {
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant { tenant_id: TenantId::generate(), name: name.to_owned(), created_at_ms: now_ms() };
        let item =
            TenantItem { pk: format!("TENANT#{}", tenant.tenant_id), sk: "TENANT".into(), tenant: tenant.clone() };
        let written = conditional(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&item)?))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await,
        )?;
        if !written {
            return Err(StoreError::AlreadyExists(format!("tenant {}", tenant.tenant_id)));
        }
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
            access: {
                let default = BotAccess::for_new_bot();
                BotAccess {
                    dm: settings.dm.unwrap_or(default.dm),
                    groups: settings.groups.unwrap_or(default.groups),
                    allowed_groups: Vec::new(),
                }
            },
        };
        let item = BotItem { pk: format!("BOT#{}", bot.bot_id), sk: "BOT".into(), bot: bot.clone() };
        // The tenant's bot index (`admin.rs`) in the same transaction: every bot is listed.
        let index = to_item(&serde_json::json!({
            "pk": format!("TENANT#{tenant_id}"),
            "sk": format!("BOT#{}", bot.bot_id),
            "bot_id": bot.bot_id,
            "created_at_ms": bot.created_at_ms,
        }))?;
        self.put_guarded_with(
            vec![to_item(&item)?, index],
            format!("TENANT#{tenant_id}"),
            "TENANT",
            format!("tenant {tenant_id}"),
        )
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
    pub(super) async fn put_guarded_item(
        &self,
        item: HashMap<String, AttributeValue>,
        guard_pk: String,
        guard_sk: &str,
        guard_name: String,
    ) -> Result<(), StoreError> {
        self.put_guarded(item, guard_pk, guard_sk, guard_name).await
    }

    /// Puts `item` only if the item (`guard_pk`, `guard_sk`) exists (one transaction).
    async fn put_guarded(
        &self,
        item: HashMap<String, AttributeValue>,
        guard_pk: String,
        guard_sk: &str,
        guard_name: String,
    ) -> Result<(), StoreError> {
        self.put_guarded_with(vec![item], guard_pk, guard_sk, guard_name).await
    }

    /// Puts `items` only if the item (`guard_pk`, `guard_sk`) exists (one transaction).
    async fn put_guarded_with(
        &self,
        items: Vec<HashMap<String, AttributeValue>>,
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
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build());
        for item in items {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::Corrupt { what: "put", detail: e.to_string() })?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        request.send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_transaction_canceled_exception()) {
                StoreError::NotFound(guard_name)
            } else {
                store_error("TransactWriteItems", &e)
            }
        })?;
        Ok(())
    }
}

#[async_trait]
impl BotRepo for Store {
    /// Loads a bot and its channel bindings in one query.
    async fn load_bot(&self, bot_id: &BotId) -> Result<Option<BotRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("BOT#{bot_id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("Query", &e))?;
        let mut bot = None;
        let mut channels = Vec::new();
        let mut mcp_servers = Vec::new();
        let mut provider = None;
        for item in out.items.unwrap_or_default() {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == "BOT" {
                bot = Some(from_item::<BotItem>("bot", item)?.bot);
            } else if sk.starts_with("CHANNEL#") {
                channels.push(from_item::<ChannelItem>("channel", item)?.binding);
            } else if sk.starts_with("MCP#") {
                mcp_servers.push(from_item::<super::mcp::McpItem>("mcp server", item)?.server);
            } else if sk == super::providers::PROVIDER_SK {
                provider = Some(from_item::<super::providers::ProviderItem>("provider", item)?.config);
            }
        }
        Ok(bot.map(|bot| {
            let trigger = bot.trigger.as_deref().and_then(|p| Trigger::compile(p).ok());
            BotRecord { bot, channels, trigger, mcp_servers, provider }
        }))
    }
}
