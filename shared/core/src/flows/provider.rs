//! Which model provider a run uses, resolved by the dispatcher (trusted code) for the run's own
//! bot and tenant: the bot's setting (on its record), else the tenant's, else none (the
//! platform's default provider, as before). The key, if the setting names one, is read from its
//! parameter and put in that one invocation; an agent never reads a key itself (its credentials
//! cannot reach the parameters, see `template.yaml`), so it can only ever hold its own tenant's.
//!
//! The tenant's setting and the keys are cached per container for the functions' cache time,
//! like bot records ([`super::directory::BotDirectory`]): a change applies within it.
//!
//! A setting that names a key whose parameter is gone (or holds no `api_key`) fails closed: the
//! run must not fall back to the platform's model, which would bill the platform for a tenant
//! who chose its own. [`ProviderError::KeyMissing`] is not retryable (the dispatcher answers the
//! user and runs nothing); [`ProviderError::Store`] and [`ProviderError::Secrets`] are (the
//! queue retries the message).

use std::sync::Arc;

use async_trait::async_trait;

use crate::cache::TtlCache;
use crate::domain::extensions::{ProviderConfig, ProviderGrant};
use crate::domain::ids::TenantId;
use crate::domain::records::BotRecord;
use crate::domain::secrets::{Secret, SecretsError};
use crate::ports::{SecretSource, StoreError};

const CACHE_CAPACITY: usize = 10_000;

/// The field of a provider key parameter (a JSON object of strings, like channel secrets).
pub const API_KEY_FIELD: &str = "api_key";

/// What a user is told when their bot's provider key cannot be found: no run, and no detail an
/// outsider could use.
pub const KEY_MISSING_ANSWER: &str = "This bot's model provider is not set up correctly (its API key is missing), so I cannot answer. \
     Please tell the bot's operator.";

/// The parameter (a SecureString `{"api_key": "…"}`) holding the key of a tenant's provider
/// (`bot` `None`) or of one bot's: under the tenant, so IAM can name these paths apart from
/// everything else of the tenant (only the dispatcher reads them).
pub fn key_parameter(prefix: &str, tenant: &TenantId, bot: Option<&crate::domain::ids::BotId>) -> String {
    let prefix = prefix.trim_end_matches('/');
    match bot {
        None => format!("{prefix}/tenants/{tenant}/provider"),
        Some(bot) => format!("{prefix}/tenants/{tenant}/bots/{bot}/provider"),
    }
}

/// Where a tenant's own provider setting is read (the bot's comes with its record).
#[async_trait]
pub trait ProviderSettingsRepo: Send + Sync {
    async fn tenant_provider(&self, tenant: &TenantId) -> Result<Option<ProviderConfig>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The setting names a key parameter that does not exist or holds no key.
    #[error("the model provider's key parameter {parameter} is missing or holds no api_key")]
    KeyMissing { parameter: String },
}

/// The dispatcher's provider resolution, with its caches.
pub struct ProviderResolver {
    settings: Arc<dyn ProviderSettingsRepo>,
    secrets: Arc<dyn SecretSource>,
    tenants: TtlCache<TenantId, Option<Arc<ProviderConfig>>>,
    keys: TtlCache<String, Option<Secret>>,
}

impl ProviderResolver {
    pub fn new(
        settings: Arc<dyn ProviderSettingsRepo>,
        secrets: Arc<dyn SecretSource>,
        ttl: std::time::Duration,
    ) -> Self {
        Self {
            settings,
            secrets,
            tenants: TtlCache::new(ttl, CACHE_CAPACITY),
            keys: TtlCache::new(ttl, CACHE_CAPACITY),
        }
    }

    /// The provider `record`'s runs use: `None` when neither the bot nor its tenant set one.
    pub async fn resolve(&self, record: &BotRecord) -> Result<Option<ProviderGrant>, ProviderError> {
        let config = match &record.provider {
            Some(own) => Arc::new(own.clone()),
            None => match self.tenant_config(&record.bot.tenant_id).await? {
                Some(tenant) => tenant,
                None => return Ok(None),
            },
        };
        let api_key = match &config.key_parameter {
            Some(parameter) => Some(self.key(parameter).await?),
            None => None,
        };
        Ok(Some(ProviderGrant {
            kind: config.kind,
            model: config.model.clone(),
            base_url: config.base_url.clone(),
            api_key,
        }))
    }

    async fn tenant_config(&self, tenant: &TenantId) -> Result<Option<Arc<ProviderConfig>>, StoreError> {
        if let Some(hit) = self.tenants.get(tenant) {
            return Ok(hit);
        }
        let loaded = self.settings.tenant_provider(tenant).await?.map(Arc::new);
        self.tenants.insert(tenant.clone(), loaded.clone());
        Ok(loaded)
    }

    async fn key(&self, parameter: &str) -> Result<Secret, ProviderError> {
        let cached = match self.keys.get(&parameter.to_owned()) {
            Some(hit) => hit,
            None => {
                let loaded = match self.secrets.get(parameter).await {
                    Ok(found) => found.and_then(|s| s.get(API_KEY_FIELD).cloned()),
                    // A parameter that is not a JSON object of strings holds no usable key.
                    Err(SecretsError::Malformed { .. }) => None,
                    Err(e) => return Err(e.into()),
                };
                self.keys.insert(parameter.to_owned(), loaded.clone());
                loaded
            }
        };
        cached.ok_or_else(|| ProviderError::KeyMissing { parameter: parameter.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::domain::extensions::ProviderType;
    use crate::testing::MemorySecrets;

    #[derive(Default)]
    struct Settings {
        tenants: Mutex<HashMap<String, ProviderConfig>>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl ProviderSettingsRepo for Settings {
        async fn tenant_provider(&self, tenant: &TenantId) -> Result<Option<ProviderConfig>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.tenants.lock().unwrap().get(tenant.as_str()).cloned())
        }
    }

    fn config(kind: ProviderType, model: &str, key_parameter: Option<&str>) -> ProviderConfig {
        ProviderConfig {
            kind,
            model: model.into(),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            key_parameter: key_parameter.map(str::to_owned),
            updated_at_ms: 1,
        }
    }

    fn record(own: Option<ProviderConfig>) -> BotRecord {
        let mut record = crate::testing::bot_record();
        record.provider = own;
        record
    }

    fn resolver(settings: &Arc<Settings>, secrets: &Arc<MemorySecrets>) -> ProviderResolver {
        ProviderResolver::new(settings.clone(), secrets.clone(), Duration::from_secs(60))
    }

    #[test]
    fn key_parameters_sit_under_the_tenant() {
        let (t, b) = (crate::testing::tenant(), crate::testing::bot_id());
        assert_eq!(key_parameter("/clawless/s/", &t, None), format!("/clawless/s/tenants/{t}/provider"));
        assert_eq!(key_parameter("/clawless/s", &t, Some(&b)), format!("/clawless/s/tenants/{t}/bots/{b}/provider"));
    }

    #[tokio::test]
    async fn bot_over_tenant_over_platform() {
        let settings = Arc::new(Settings::default());
        let secrets = MemorySecrets::new();
        secrets.put("/t/provider", &[("api_key", "tenant-key")]);
        secrets.put("/t/bots/b/provider", &[("api_key", "bot-key")]);
        let tenant = crate::testing::tenant();
        let r = resolver(&settings, &secrets);

        // Nothing set: the platform's default (no grant).
        assert_eq!(r.resolve(&record(None)).await.unwrap(), None);

        let settings = Arc::new(Settings::default());
        settings
            .tenants
            .lock()
            .unwrap()
            .insert(tenant.to_string(), config(ProviderType::Openai, "tenant-model", Some("/t/provider")));
        let r = resolver(&settings, &secrets);
        let grant = r.resolve(&record(None)).await.unwrap().unwrap();
        assert_eq!((grant.kind, grant.model.as_str()), (ProviderType::Openai, "tenant-model"));
        assert_eq!(grant.api_key.unwrap().expose(), "tenant-key");

        let own = config(ProviderType::Anthropic, "bot-model", Some("/t/bots/b/provider"));
        let grant = r.resolve(&record(Some(own))).await.unwrap().unwrap();
        assert_eq!((grant.kind, grant.model.as_str()), (ProviderType::Anthropic, "bot-model"));
        assert_eq!(grant.api_key.unwrap().expose(), "bot-key");

        // Bedrock names no key: none is read.
        let reads = secrets.reads();
        let own = config(ProviderType::Bedrock, "anthropic.claude", None);
        let grant = r.resolve(&record(Some(own))).await.unwrap().unwrap();
        assert_eq!(grant.api_key, None);
        assert_eq!(secrets.reads(), reads);
    }

    #[tokio::test]
    async fn a_missing_key_fails_closed_and_never_falls_back() {
        let settings = Arc::new(Settings::default());
        let secrets = MemorySecrets::new();
        secrets.put("/t/empty", &[("api_key", "")]);
        secrets.put("/t/other", &[("token", "x")]);
        let r = resolver(&settings, &secrets);
        for parameter in ["/t/gone", "/t/empty", "/t/other"] {
            let own = config(ProviderType::Openai, "m", Some(parameter));
            let err = r.resolve(&record(Some(own))).await.unwrap_err();
            assert!(matches!(&err, ProviderError::KeyMissing { parameter: p } if p == parameter), "{err:?}");
        }
        // SSM failing is not a missing key: retryable, and not cached.
        secrets.fail.on("get");
        let own = config(ProviderType::Openai, "m", Some("/t/new"));
        assert!(matches!(r.resolve(&record(Some(own))).await, Err(ProviderError::Secrets(_))));
    }

    #[tokio::test]
    async fn settings_and_keys_are_cached_per_container() {
        let settings = Arc::new(Settings::default());
        let secrets = MemorySecrets::new();
        secrets.put("/t/provider", &[("api_key", "k")]);
        let tenant = crate::testing::tenant();
        settings
            .tenants
            .lock()
            .unwrap()
            .insert(tenant.to_string(), config(ProviderType::Openai, "m", Some("/t/provider")));
        let r = resolver(&settings, &secrets);
        for _ in 0..3 {
            assert!(r.resolve(&record(None)).await.unwrap().is_some());
        }
        assert_eq!(settings.reads.load(Ordering::SeqCst), 1);
        assert_eq!(secrets.reads(), 1);
    }
}
