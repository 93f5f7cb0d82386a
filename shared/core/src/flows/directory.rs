//! Bot records and channel secrets, cached per container for a bounded time so a warm function
//! spends no read on them. Unknown bots are cached too, so junk traffic cannot hammer the table.

use std::sync::Arc;

use crate::cache::TtlCache;
use crate::domain::ids::BotId;
use crate::domain::model::ChannelBinding;
use crate::domain::records::BotRecord;
use crate::domain::secrets::{ChannelSecrets, SecretsError};
use crate::ports::{BotRepo, SecretSource, StoreError};

const CACHE_CAPACITY: usize = 10_000;

/// Bots and their channel secrets, cached per container for `ttl`.
pub struct BotDirectory {
    bots_repo: Arc<dyn BotRepo>,
    secrets: Option<Arc<dyn SecretSource>>,
    bots: TtlCache<BotId, Option<Arc<BotRecord>>>,
    channel_secrets: TtlCache<String, Option<Arc<ChannelSecrets>>>,
}

impl BotDirectory {
    /// `secrets`: `None` for a function that never reads channel secrets (the dispatcher).
    pub fn new(bots: Arc<dyn BotRepo>, secrets: Option<Arc<dyn SecretSource>>, ttl: std::time::Duration) -> Self {
        Self {
            bots_repo: bots,
            secrets,
            bots: TtlCache::new(ttl, CACHE_CAPACITY),
            channel_secrets: TtlCache::new(ttl, CACHE_CAPACITY),
        }
    }

    pub async fn bot(&self, bot_id: &BotId) -> Result<Option<Arc<BotRecord>>, StoreError> {
        if let Some(hit) = self.bots.get(bot_id) {
            return Ok(hit);
        }
        let loaded = self.bots_repo.load_bot(bot_id).await?.map(Arc::new);
        self.bots.insert(bot_id.clone(), loaded.clone());
        Ok(loaded)
    }

    pub async fn channel_secrets(&self, binding: &ChannelBinding) -> Result<Option<Arc<ChannelSecrets>>, SecretsError> {
        self.secret(&binding.secret_parameter).await
    }

    /// The secrets stored in the parameter `name` (a channel's keys, an MCP server's header),
    /// cached like the bots; `None` where there is none or this function reads no secrets.
    pub async fn secret(&self, name: &str) -> Result<Option<Arc<ChannelSecrets>>, SecretsError> {
        let Some(store) = &self.secrets else { return Ok(None) };
        let name = &name.to_owned();
        if let Some(hit) = self.channel_secrets.get(name) {
            return Ok(hit);
        }
        let loaded = store.get(name).await?.map(Arc::new);
        self.channel_secrets.insert(name.clone(), loaded.clone());
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests;
