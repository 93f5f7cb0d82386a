//! The run's model provider in the dispatcher (the resolution's own rules are in
//! `crate::flows::provider`'s tests).
//!
//! - nothing set → no grant (the platform's provider)                       `a_tenant_provider_reaches_the_invocation_with_its_key`
//! - the tenant's setting → the grant, with the key read from its parameter  same
//! - the key's parameter is gone → the user told, nothing run, stored with its mark   `a_missing_key_runs_nothing_and_answers`
//! - SSM failing → error (the queue retries), nothing run or stored          `a_failed_key_read_is_retried`

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::domain::extensions::{ProviderConfig, ProviderType};
use crate::domain::ids::TenantId;
use crate::flows::provider::{KEY_MISSING_ANSWER, ProviderResolver, ProviderSettingsRepo};

#[derive(Default)]
struct TenantSettings(Mutex<HashMap<String, ProviderConfig>>);

#[async_trait]
impl ProviderSettingsRepo for TenantSettings {
    async fn tenant_provider(&self, tenant: &TenantId) -> Result<Option<ProviderConfig>, StoreError> {
        Ok(self.0.lock().unwrap().get(tenant.as_str()).cloned())
    }
}

const KEY_PARAMETER: &str = "/clawless/test/tenants/t/provider";

fn with_providers(h: Harness, settings: Arc<TenantSettings>, secrets: Arc<MemorySecrets>) -> Harness {
    let Harness { store, agent, queue, credentials, scope, dispatcher } = h;
    let resolver = ProviderResolver::new(settings, secrets, Duration::from_secs(60));
    Harness { store, agent, queue, credentials, scope, dispatcher: dispatcher.with_providers(resolver) }
}

fn openai_setting() -> ProviderConfig {
    ProviderConfig {
        kind: ProviderType::Openai,
        model: "tenant-model".into(),
        base_url: Some("http://127.0.0.1:9/v1".into()),
        key_parameter: Some(KEY_PARAMETER.into()),
        updated_at_ms: 1,
    }
}

#[tokio::test]
async fn a_tenant_provider_reaches_the_invocation_with_its_key() {
    let settings = Arc::new(TenantSettings::default());
    let secrets = MemorySecrets::new();
    secrets.put(KEY_PARAMETER, &[("api_key", "sk-tenant")]);
    let h = with_providers(Harness::with_approvals(bot_record()), settings.clone(), secrets);

    let first = message("4242", "1001", "hello", NOW);
    assert_eq!(h.dispatcher.dispatch(channel(&first)).await.unwrap(), DispatchOutcome::Dispatched);
    assert_eq!(h.invoked()[0].provider, None, "nothing set: the platform's provider");

    // A new dispatcher (its cache empty) after the operator set the tenant's provider.
    settings.0.lock().unwrap().insert(tenant().to_string(), openai_setting());
    let secrets = MemorySecrets::new();
    secrets.put(KEY_PARAMETER, &[("api_key", "sk-tenant")]);
    let h = with_providers(Harness::with_approvals(bot_record()), settings, secrets);
    let second = message("4242", "1002", "again", NOW + 1);
    assert_eq!(h.dispatcher.dispatch(channel(&second)).await.unwrap(), DispatchOutcome::Dispatched);
    let grant = h.invoked()[0].provider.clone().expect("the tenant's provider");
    assert_eq!((grant.kind, grant.model.as_str()), (ProviderType::Openai, "tenant-model"));
    assert_eq!(grant.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
    assert_eq!(grant.api_key.map(|k| k.expose().to_owned()).as_deref(), Some("sk-tenant"));
}

#[tokio::test]
async fn a_missing_key_runs_nothing_and_answers() {
    let settings = Arc::new(TenantSettings::default());
    settings.0.lock().unwrap().insert(tenant().to_string(), openai_setting());
    let h = with_providers(Harness::with_approvals(bot_record()), settings, MemorySecrets::new());
    let item = message("4242", "1001", "hello", NOW);
    assert_eq!(
        h.dispatcher.dispatch(channel(&item)).await.unwrap(),
        DispatchOutcome::Dropped("model provider key missing")
    );
    assert!(h.invoked().is_empty(), "never the platform's model instead");
    let replies = h.queue.replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].text, KEY_MISSING_ANSWER);
    assert!(h.is_dispatched(&item), "handled: a redelivery does not answer again");
}

#[tokio::test]
async fn a_failed_key_read_is_retried() {
    let settings = Arc::new(TenantSettings::default());
    settings.0.lock().unwrap().insert(tenant().to_string(), openai_setting());
    let secrets = MemorySecrets::new();
    secrets.fail.on("get");
    let h = with_providers(Harness::with_approvals(bot_record()), settings, secrets);
    let item = message("4242", "1001", "hello", NOW);
    assert!(matches!(h.dispatcher.dispatch(channel(&item)).await, Err(DispatchError::Provider(_))));
    assert!(h.invoked().is_empty() && h.queue.replies().is_empty());
    assert!(h.line(&item).is_none(), "nothing stored: the retry starts over");
}
