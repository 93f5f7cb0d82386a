//! What a run needs from outside the process, always for one tenant: its permission profile,
//! its memory, where token use and permission requests are recorded, and where messages are
//! marked answered (durable state: the dispatcher hands a run the messages a recycled microVM
//! lost, those handed to an agent with neither a mark nor a reply).
//!
//! [`aws::AwsTenantServices`] is the production implementation (tenant-scoped credentials);
//! [`MemoryServices`] keeps everything in memory for unit tests.

pub mod aws;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use clawless_shared::approvals::Grant;
use clawless_shared::ids::ConversationRef;
use clawless_shared::permissions::{PermissionProfile, PermissionRequest, UserRef};
use clawless_shared::tasks::TaskManager;

use crate::memory::{MemoryError, MemoryLayer, MemoryLayers};
use crate::provider::TokenUsage;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} failed: {detail}")]
    Storage { what: &'static str, detail: String },
}

#[async_trait]
pub trait TenantServices: Send + Sync + 'static {
    /// The profile for `user` in the conversation's tenant: the user's override, else the
    /// tenant's, else least privilege. Errors count as least privilege (fail closed).
    async fn profile(&self, conversation: &ConversationRef, user: &UserRef) -> PermissionProfile;

    /// The memory layers of the conversation.
    fn memory(&self, conversation: &ConversationRef) -> Arc<dyn MemoryLayers>;

    /// Adds a run's token use to the tenant's month.
    async fn record_usage(&self, conversation: &ConversationRef, usage: TokenUsage) -> Result<(), ServiceError>;

    /// Stores a permission request (the approvals flow picks it up).
    async fn request_permission(&self, request: &PermissionRequest) -> Result<(), ServiceError>;

    /// A grant that lets `wanted` run without asking again: a temporary approval of the tool for
    /// the requester, or an unused approve-once of exactly these arguments (used up here).
    async fn take_grant(&self, _wanted: &PermissionRequest) -> Result<Option<Grant>, ServiceError> {
        Ok(None)
    }

    /// Drops a cached profile (a resumed run after a persistent approval must see the change).
    fn forget_profile(&self, _conversation: &ConversationRef, _user: &UserRef) {}

    /// Marks inbound messages answered (idempotent). The dispatcher leaves marked messages out
    /// of the lost work it hands the next run.
    async fn mark_answered(
        &self,
        conversation: &ConversationRef,
        messages: &[(i64, String)],
    ) -> Result<(), ServiceError>;

    /// Scheduled tasks of the conversation's tenant (the task tools scope them to the
    /// conversation); `None` where scheduling is not configured.
    async fn tasks(&self, _conversation: &ConversationRef) -> Option<TaskManager> {
        None
    }
}

/// Everything in memory (unit tests).
#[derive(Default)]
pub struct MemoryServices {
    pub profiles: Mutex<HashMap<String, PermissionProfile>>,
    pub memory: Arc<InMemoryLayers>,
    pub usage: Mutex<TokenUsage>,
    pub requests: Mutex<Vec<PermissionRequest>>,
    pub answered: Mutex<Vec<(i64, String)>>,
    /// Scheduled tasks (e.g. over `clawless_shared::tasks::memory`); `None`: not configured.
    pub tasks: Option<TaskManager>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryServices {
    /// Every conversation of the tenant gets `profile`.
    pub fn with_profile(profile: PermissionProfile) -> Self {
        let s = Self::default();
        lock(&s.profiles).insert("*".into(), profile);
        s
    }

    pub fn requests(&self) -> Vec<PermissionRequest> {
        lock(&self.requests).clone()
    }

    pub fn usage(&self) -> TokenUsage {
        *lock(&self.usage)
    }

    pub fn answered(&self) -> Vec<(i64, String)> {
        lock(&self.answered).clone()
    }
}

#[async_trait]
impl TenantServices for MemoryServices {
    async fn profile(&self, _conversation: &ConversationRef, user: &UserRef) -> PermissionProfile {
        let profiles = lock(&self.profiles);
        profiles.get(&user.to_string()).or_else(|| profiles.get("*")).cloned().unwrap_or_default()
    }

    fn memory(&self, _conversation: &ConversationRef) -> Arc<dyn MemoryLayers> {
        Arc::clone(&self.memory) as Arc<dyn MemoryLayers>
    }

    async fn record_usage(&self, _conversation: &ConversationRef, usage: TokenUsage) -> Result<(), ServiceError> {
        lock(&self.usage).add(usage);
        Ok(())
    }

    async fn request_permission(&self, request: &PermissionRequest) -> Result<(), ServiceError> {
        lock(&self.requests).push(request.clone());
        Ok(())
    }

    async fn mark_answered(
        &self,
        _conversation: &ConversationRef,
        messages: &[(i64, String)],
    ) -> Result<(), ServiceError> {
        lock(&self.answered).extend(messages.iter().cloned());
        Ok(())
    }

    async fn tasks(&self, _conversation: &ConversationRef) -> Option<TaskManager> {
        self.tasks.clone()
    }
}

/// Memory layers in a map (unit tests).
#[derive(Default)]
pub struct InMemoryLayers {
    layers: Mutex<HashMap<MemoryLayer, String>>,
}

impl InMemoryLayers {
    pub fn set(&self, layer: MemoryLayer, text: &str) {
        lock(&self.layers).insert(layer, text.to_owned());
    }

    pub fn get(&self, layer: MemoryLayer) -> Option<String> {
        lock(&self.layers).get(&layer).cloned()
    }
}

#[async_trait]
impl MemoryLayers for InMemoryLayers {
    async fn read(&self, layer: MemoryLayer) -> Result<Option<String>, MemoryError> {
        Ok(self.get(layer))
    }

    async fn write(&self, layer: MemoryLayer, content: &str) -> Result<(), MemoryError> {
        if !layer.is_writable() {
            return Err(MemoryError::ReadOnly(layer));
        }
        self.set(layer, content);
        Ok(())
    }
}
