//! A tenant's own model provider: `TENANT#{tenant}` / `PROVIDER` for the tenant, and
//! `BOT#{bot}` / `PROVIDER` for one bot (in the bot's partition, so [`BotRepo::load_bot`]'s one
//! query brings it with the bot). The key is never here: the item names its parameter.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use clawless_core::domain::extensions::ProviderConfig;
use clawless_core::flows::provider::ProviderSettingsRepo;

use super::*;

pub(crate) const PROVIDER_SK: &str = "PROVIDER";

#[derive(Serialize, Deserialize)]
pub(crate) struct ProviderItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    pub(crate) config: ProviderConfig,
}

/// Whose provider setting an item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOwner {
    Tenant(TenantId),
    Bot(BotId),
}

impl ProviderOwner {
    fn pk(&self) -> String {
        match self {
            ProviderOwner::Tenant(t) => format!("TENANT#{t}"),
            ProviderOwner::Bot(b) => format!("BOT#{b}"),
        }
    }

    /// The item that must exist for a setting to be stored: the tenant or the bot itself.
    fn guard(&self) -> (String, &'static str, String) {
        match self {
            ProviderOwner::Tenant(t) => (self.pk(), "TENANT", format!("tenant {t}")),
            ProviderOwner::Bot(b) => (self.pk(), "BOT", format!("bot {b}")),
        }
    }
}

impl Store {
    /// Stores `owner`'s provider setting, only if the tenant or bot exists (one transaction).
    pub async fn put_provider(&self, owner: &ProviderOwner, config: &ProviderConfig) -> Result<(), StoreError> {
        let item = ProviderItem { pk: owner.pk(), sk: PROVIDER_SK.into(), config: config.clone() };
        let (guard_pk, guard_sk, guard_name) = owner.guard();
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(guard_pk))
            .key("sk", s(guard_sk))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt { what: "condition check", detail: e.to_string() })?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
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
                    store_error("TransactWriteItems", &e)
                }
            })?;
        Ok(())
    }

    /// `owner`'s own provider setting, if any (strongly consistent: what the operator just set).
    pub async fn provider(&self, owner: &ProviderOwner) -> Result<Option<ProviderConfig>, StoreError> {
        let item: Option<ProviderItem> = self.get_item("provider", owner.pk(), PROVIDER_SK.into(), true).await?;
        Ok(item.map(|i| i.config))
    }
}

#[async_trait]
impl ProviderSettingsRepo for Store {
    async fn tenant_provider(&self, tenant: &TenantId) -> Result<Option<ProviderConfig>, StoreError> {
        self.provider(&ProviderOwner::Tenant(tenant.clone())).await
    }
}
