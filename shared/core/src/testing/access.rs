//! The access items in memory, with the table's rules: one code per user per hour, a redelivery
//! of the same DM gets the same code, a marker is deleted only with its own code.

use async_trait::async_trait;

use super::ports::{MemoryStore, lock};
use crate::access::{AccessItems, AccessRepo, AllowedUser, BotAccess, PendingPairing};
use crate::domain::ids::{BotId, TenantId};
use crate::domain::permissions::UserRef;
use crate::ports::StoreError;

#[derive(Debug, Clone)]
pub enum AccessEntry {
    Allowed(AllowedUser),
    Pending(PendingPairing),
}

fn partition(tenant: &TenantId, bot: &BotId) -> String {
    format!("{tenant}#ACCESS#{bot}")
}

impl MemoryStore {
    fn access_get(&self, pk: &str, sk: &str) -> Option<AccessEntry> {
        lock(&self.access).get(&(pk.to_owned(), sk.to_owned())).cloned()
    }

    fn access_put(&self, pk: &str, sk: String, entry: AccessEntry) {
        lock(&self.access).insert((pk.to_owned(), sk), entry);
    }

    fn access_delete(&self, pk: &str, sk: &str) -> Option<AccessEntry> {
        lock(&self.access).remove(&(pk.to_owned(), sk.to_owned()))
    }
}

#[async_trait]
impl AccessRepo for MemoryStore {
    async fn dm_allowed(&self, tenant: &TenantId, bot: &BotId, user: &UserRef) -> Result<bool, StoreError> {
        self.fail.store("dm_allowed")?;
        Ok(matches!(self.access_get(&partition(tenant, bot), &format!("DM#{user}")), Some(AccessEntry::Allowed(_))))
    }

    async fn allow_dm(&self, tenant: &TenantId, bot: &BotId, allowed: &AllowedUser) -> Result<(), StoreError> {
        self.fail.store("allow_dm")?;
        self.access_put(&partition(tenant, bot), format!("DM#{}", allowed.user), AccessEntry::Allowed(allowed.clone()));
        Ok(())
    }

    async fn revoke_dm(&self, tenant: &TenantId, bot: &BotId, user: &UserRef) -> Result<bool, StoreError> {
        self.fail.store("revoke_dm")?;
        let pk = partition(tenant, bot);
        let existed = self.access_delete(&pk, &format!("DM#{user}")).is_some();
        if let Some(AccessEntry::Pending(p)) = self.access_get(&pk, &format!("PAIR#USER#{user}")) {
            self.delete_pairing(tenant, bot, &p).await?;
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
        self.fail.store("claim_pairing")?;
        let pk = partition(tenant, bot);
        let marker = format!("PAIR#USER#{}", pending.user);
        let claimed = match self.access_get(&pk, &marker) {
            Some(AccessEntry::Pending(old)) if old.expires_at_ms > now => {
                if old.message_id != pending.message_id {
                    return Ok(None);
                }
                old
            }
            _ => {
                self.access_put(&pk, marker, AccessEntry::Pending(pending.clone()));
                pending.clone()
            }
        };
        self.access_put(&pk, format!("PAIR#CODE#{}", claimed.code), AccessEntry::Pending(claimed.clone()));
        Ok(Some(claimed))
    }

    async fn pairing(&self, tenant: &TenantId, bot: &BotId, code: &str) -> Result<Option<PendingPairing>, StoreError> {
        self.fail.store("pairing")?;
        Ok(match self.access_get(&partition(tenant, bot), &format!("PAIR#CODE#{code}")) {
            Some(AccessEntry::Pending(p)) => Some(p),
            _ => None,
        })
    }

    async fn delete_pairing(&self, tenant: &TenantId, bot: &BotId, pending: &PendingPairing) -> Result<(), StoreError> {
        self.fail.store("delete_pairing")?;
        let pk = partition(tenant, bot);
        self.access_delete(&pk, &format!("PAIR#CODE#{}", pending.code));
        let marker = format!("PAIR#USER#{}", pending.user);
        if let Some(AccessEntry::Pending(p)) = self.access_get(&pk, &marker)
            && p.code == pending.code
        {
            self.access_delete(&pk, &marker);
        }
        Ok(())
    }

    async fn access_items(&self, tenant: &TenantId, bot: &BotId, now: i64) -> Result<AccessItems, StoreError> {
        self.fail.store("access_items")?;
        let pk = partition(tenant, bot);
        let mut items = AccessItems::default();
        for ((p, sk), entry) in lock(&self.access).iter() {
            match entry {
                _ if *p != pk => {}
                AccessEntry::Allowed(a) => items.allowed.push(a.clone()),
                AccessEntry::Pending(x) if sk.starts_with("PAIR#CODE#") && x.expires_at_ms > now => {
                    items.pending.push(x.clone())
                }
                AccessEntry::Pending(_) => {}
            }
        }
        Ok(items)
    }

    async fn set_bot_access(&self, bot: &BotId, access: &BotAccess) -> Result<(), StoreError> {
        self.fail.store("set_bot_access")?;
        let mut bots = lock(&self.bots);
        let record = bots.get_mut(bot).ok_or_else(|| StoreError::NotFound(format!("bot {bot}")))?;
        record.bot.access = access.clone();
        Ok(())
    }
}
