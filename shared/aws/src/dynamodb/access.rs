//! A bot's access items, in the partition `{tenant}#ACCESS#{bot}`: the DM allow items
//! (`DM#{channel}:{user}`), each pending pairing code (`PAIR#CODE#{code}`) and its user's marker
//! (`PAIR#USER#{channel}:{user}`, which holds a user to one code per hour). Pending items carry
//! `expires_at` for DynamoDB's TTL, and their expiry is checked in code too: TTL deletes late
//! (moto never). The modes and the group list are on the bot item (`BOT#{bot}` / `BOT`).
//! No agent credentials reach any of these (template.yaml, TenantAccessRole).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use clawless_core::access::{AccessItems, AccessRepo, AllowedUser, BotAccess, PendingPairing};
use clawless_core::domain::permissions::UserRef;

use super::*;

fn partition(tenant: &TenantId, bot: &BotId) -> String {
    format!("{tenant}#ACCESS#{bot}")
}

#[derive(Serialize, Deserialize)]
struct AllowItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    allowed: AllowedUser,
}

#[derive(Serialize, Deserialize)]
struct PendingItem {
    pk: String,
    sk: String,
    /// DynamoDB's TTL attribute, in seconds.
    expires_at: i64,
    #[serde(flatten)]
    pending: PendingPairing,
}

impl PendingItem {
    fn new(pk: String, sk: String, pending: &PendingPairing) -> Self {
        Self { pk, sk, expires_at: pending.expires_at_ms / 1000, pending: pending.clone() }
    }
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl Store {
    async fn delete_key(&self, pk: String, sk: String) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", &e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

#[async_trait]
impl AccessRepo for Store {
    async fn dm_allowed(&self, tenant: &TenantId, bot: &BotId, user: &UserRef) -> Result<bool, StoreError> {
        let item: Option<AllowItem> =
            self.get_item("access allow item", partition(tenant, bot), format!("DM#{user}"), true).await?;
        Ok(item.is_some())
    }

    async fn allow_dm(&self, tenant: &TenantId, bot: &BotId, allowed: &AllowedUser) -> Result<(), StoreError> {
        let item =
            AllowItem { pk: partition(tenant, bot), sk: format!("DM#{}", allowed.user), allowed: allowed.clone() };
        self.put_item(&item).await
    }

    async fn revoke_dm(&self, tenant: &TenantId, bot: &BotId, user: &UserRef) -> Result<bool, StoreError> {
        let pk = partition(tenant, bot);
        let existed = self.delete_key(pk.clone(), format!("DM#{user}")).await?;
        // A code the user still holds would let them back in once approved: it goes too.
        let marker: Option<PendingItem> =
            self.get_item("pairing marker", pk.clone(), format!("PAIR#USER#{user}"), true).await?;
        if let Some(marker) = marker {
            self.delete_pairing(tenant, bot, &marker.pending).await?;
        }
        Ok(existed)
    }

    async fn claim_pairing(
        &self,
        tenant: &TenantId,
        bot: &BotId,
        pending: &PendingPairing,
        now: i64,
    ) -> Result<Option<PendingPairing>, StoreError> {
        let pk = partition(tenant, bot);
        let marker = PendingItem::new(pk.clone(), format!("PAIR#USER#{}", pending.user), pending);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&marker)?))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now")
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let claimed = match result {
            Ok(_) => pending.clone(),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    let old: Option<PendingItem> =
                        c.item.clone().map(|i| from_item("pairing marker", i)).transpose()?;
                    match old {
                        // The same DM again (a retry after a failure part-way): the same code.
                        Some(old) if old.pending.message_id == pending.message_id => old.pending,
                        _ => return Ok(None),
                    }
                }
                _ => return Err(store_error("PutItem", &e)),
            },
        };
        self.put_item(&PendingItem::new(pk, format!("PAIR#CODE#{}", claimed.code), &claimed)).await?;
        Ok(Some(claimed))
    }

    async fn pairing(&self, tenant: &TenantId, bot: &BotId, code: &str) -> Result<Option<PendingPairing>, StoreError> {
        let item: Option<PendingItem> =
            self.get_item("pairing code", partition(tenant, bot), format!("PAIR#CODE#{code}"), true).await?;
        Ok(item.map(|i| i.pending))
    }

    async fn delete_pairing(&self, tenant: &TenantId, bot: &BotId, pending: &PendingPairing) -> Result<(), StoreError> {
        let pk = partition(tenant, bot);
        self.delete_key(pk.clone(), format!("PAIR#CODE#{}", pending.code)).await?;
        // The marker only if it is this code's (a newer one stays).
        conditional(
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(format!("PAIR#USER#{}", pending.user)))
                .condition_expression("code = :code")
                .expression_attribute_values(":code", s(pending.code.clone()))
                .send()
                .await,
        )?;
        Ok(())
    }

    async fn access_items(&self, tenant: &TenantId, bot: &BotId, now: i64) -> Result<AccessItems, StoreError> {
        let mut items = AccessItems::default();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(partition(tenant, bot)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("Query", &e))?;
            for item in out.items.unwrap_or_default() {
                let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                if sk.starts_with("DM#") {
                    items.allowed.push(from_item::<AllowItem>("access allow item", item)?.allowed);
                } else if sk.starts_with("PAIR#CODE#") {
                    let pending = from_item::<PendingItem>("pairing code", item)?.pending;
                    if pending.expires_at_ms > now {
                        items.pending.push(pending);
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn set_bot_access(&self, bot: &BotId, access: &BotAccess) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("BOT#{bot}")))
            .key("sk", s("BOT"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#dm", "dm")
            .expression_attribute_names("#groups", "groups")
            .expression_attribute_names("#list", "allowed_groups")
            .expression_attribute_values(":dm", s(access.dm.as_str()))
            .expression_attribute_values(":groups", s(access.groups.as_str()));
        update = if access.allowed_groups.is_empty() {
            update.update_expression("SET #dm = :dm, #groups = :groups REMOVE #list")
        } else {
            let list = access.allowed_groups.iter().map(|g| s(g.clone())).collect();
            update
                .update_expression("SET #dm = :dm, #groups = :groups, #list = :list")
                .expression_attribute_values(":list", AttributeValue::L(list))
        };
        if !conditional(update.send().await)? {
            return Err(StoreError::NotFound(format!("bot {bot}")));
        }
        Ok(())
    }
}
