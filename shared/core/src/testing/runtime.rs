//! The agent runtime in memory, and what the dispatcher hands an agent: credentials and the
//! scope key its token is minted with. Each can be told to fail.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::ports::{FailSwitch, lock};
use crate::domain::credentials::{CredentialError, TenantCredentials};
use crate::domain::envelope::{AckStatus, AgentAck, AgentInvocation};
use crate::domain::ids::{ConversationRef, RuntimeSessionId};
use crate::domain::model::now_ms;
use crate::domain::scope::{ScopeError, ScopeKey};
use crate::domain::secrets::Secret;
use crate::ports::{AgentCoreError, AgentInvoker, CredentialIssuer, ScopeKeys};

/// The agent runtime in memory: records each invocation and acknowledges it.
#[derive(Default)]
pub struct MemoryAgent {
    pub fail: FailSwitch,
    invocations: Mutex<Vec<(RuntimeSessionId, AgentInvocation)>>,
}

impl MemoryAgent {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn invocations(&self) -> Vec<(RuntimeSessionId, AgentInvocation)> {
        lock(&self.invocations).clone()
    }
}

#[async_trait]
impl AgentInvoker for MemoryAgent {
    async fn invoke(
        &self,
        session: &RuntimeSessionId,
        invocation: &AgentInvocation,
    ) -> Result<AgentAck, AgentCoreError> {
        if self.fail.is_on("invoke") {
            return Err(AgentCoreError::Invoke { detail: "injected failure".into(), retryable: true });
        }
        let mut seen = lock(&self.invocations);
        let duplicate =
            seen.iter().any(|(s, i)| s == session && i.item.message.message_id == invocation.item.message.message_id);
        seen.push((session.clone(), invocation.clone()));
        let status = if duplicate { AckStatus::Duplicate } else { AckStatus::Accepted };
        Ok(AgentAck { status, detail: None })
    }
}

/// Hands out fixed, obviously fake credentials (and can refuse).
#[derive(Default)]
pub struct FixedCredentials {
    pub fail: FailSwitch,
}

#[async_trait]
impl CredentialIssuer for FixedCredentials {
    async fn for_conversation(&self, conversation: &ConversationRef) -> Result<TenantCredentials, CredentialError> {
        if self.fail.is_on("for_conversation") {
            return Err(CredentialError::AssumeRole("injected failure".into()));
        }
        Ok(TenantCredentials {
            access_key_id: format!("ASIA-{}", conversation.tenant_id),
            secret_access_key: Secret::new("test-secret"),
            session_token: Secret::new("test-token"),
            expires_at_ms: now_ms() + 900_000,
        })
    }
}

/// A scope key held in memory that can be told to be unavailable (`get`), as the secret it is
/// loaded from can be.
pub struct MemoryScopeKey {
    pub fail: FailSwitch,
    key: ScopeKey,
}

impl MemoryScopeKey {
    pub fn new(key: ScopeKey) -> Arc<Self> {
        Arc::new(Self { fail: FailSwitch::default(), key })
    }
}

#[async_trait]
impl ScopeKeys for MemoryScopeKey {
    async fn get(&self) -> Result<&ScopeKey, ScopeError> {
        if self.fail.is_on("get") {
            return Err(ScopeError::Unavailable("injected failure".into()));
        }
        Ok(&self.key)
    }
}
