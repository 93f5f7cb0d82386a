//! Bot records and channel secrets, cached per container for a bounded time so a warm function
//! spends no read on them. Unknown bots are cached too, so junk traffic cannot hammer the table.

use std::sync::Arc;

use crate::cache::TtlCache;
use crate::ids::BotId;
use crate::model::ChannelBinding;
use crate::secrets::{ChannelSecrets, SecretStore, SecretsError};
use crate::store::{BotRecord, Store, StoreError};

const CACHE_CAPACITY: usize = 10_000;

pub struct BotDirectory {
    store: Store,
    secrets: Option<SecretStore>,
    bots: TtlCache<BotId, Option<Arc<BotRecord>>>,
    channel_secrets: TtlCache<String, Option<Arc<ChannelSecrets>>>,
}

impl BotDirectory {
    /// `secrets` is `None` for functions that must not read channel secrets (the dispatcher).
    pub fn new(store: Store, secrets: Option<SecretStore>, ttl: std::time::Duration) -> Self {
        Self {
            store,
            secrets,
            bots: TtlCache::new(ttl, CACHE_CAPACITY),
            channel_secrets: TtlCache::new(ttl, CACHE_CAPACITY),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn bot(&self, bot_id: &BotId) -> Result<Option<Arc<BotRecord>>, StoreError> {
        if let Some(hit) = self.bots.get(bot_id) {
            return Ok(hit);
        }
        let loaded = self.store.load_bot(bot_id).await?.map(Arc::new);
        self.bots.insert(bot_id.clone(), loaded.clone());
        Ok(loaded)
    }

    pub async fn channel_secrets(&self, binding: &ChannelBinding) -> Result<Option<Arc<ChannelSecrets>>, SecretsError> {
        let Some(store) = &self.secrets else { return Ok(None) };
        let name = &binding.secret_parameter;
        if let Some(hit) = self.channel_secrets.get(name) {
            return Ok(hit);
        }
        let loaded = store.get(name).await?.map(Arc::new);
        self.channel_secrets.insert(name.clone(), loaded.clone());
        Ok(loaded)
    }
}
