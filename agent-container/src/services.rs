//! What a run reads from outside the process, always for one tenant and bot: its permission
//! profile, its memory, temporary grants and scheduled tasks. Nothing here writes what trusted
//! code decides with: token use, permission requests and answered marks travel in the run's
//! reports on the reply queue ([`crate::reply_sink`]), and the reply function records them.
//!
//! [`aws::AwsTenantServices`] is the production implementation, with the credentials the
//! dispatcher handed the invocation; [`MemoryServices`] keeps everything in memory for unit tests.

pub mod aws;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use clawless_core::approvals::Grant;
use clawless_core::domain::credentials::TenantCredentials;
use clawless_core::domain::ids::ConversationRef;
use clawless_core::domain::permissions::{PermissionProfile, PermissionRequest, UserRef};
use clawless_core::tasks::TaskManager;

use crate::memory::{MemoryError, MemoryLayer, MemoryLayers};
use clawless_core::domain::scope::ScopeToken;
use clawless_core::ports::{ConversationFiles, FileTooLarge, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} failed: {detail}")]
    Storage { what: &'static str, detail: String },
    #[error("no credentials were handed over for this tenant")]
    NoCredentials,
}

#[async_trait]
pub trait TenantServices: Send + Sync + 'static {
    /// Starts a run for `conversation` with what its invocation carried: the credentials the
    /// dispatcher vended (`None`: tenant data stays out of reach, fail closed) and the scope
    /// token that tasks created in the run carry.
    fn begin_run(
        &self,
        _conversation: &ConversationRef,
        _credentials: Option<&TenantCredentials>,
        _scope: &ScopeToken,
    ) {
    }

    /// The profile for `user` in the conversation's tenant: the user's override, else the
    /// tenant's, else least privilege. Errors count as least privilege (fail closed).
    async fn profile(&self, conversation: &ConversationRef, user: &UserRef) -> PermissionProfile;

    /// The memory layers of the conversation.
    fn memory(&self, conversation: &ConversationRef) -> Arc<dyn MemoryLayers>;

    /// A temporary approval of `wanted`'s tool for its requester, if one is in force (read
    /// only: the approve-once grant comes in the invocation).
    async fn temporary_grant(&self, _wanted: &PermissionRequest) -> Result<Option<Grant>, ServiceError> {
        Ok(None)
    }

    /// Drops any cached copy of the conversation's memory layer (after a `/reset` erased it).
    fn forget_memory(&self, _conversation: &ConversationRef) {}

    /// Drops a cached profile (a resumed run after a persistent approval must see the change).
    fn forget_profile(&self, _conversation: &ConversationRef, _user: &UserRef) {}

    /// Scheduled tasks of the conversation's tenant (the task tools scope them to the
    /// conversation); `None` where scheduling is not configured.
    async fn tasks(&self, _conversation: &ConversationRef) -> Option<TaskManager> {
        None
    }

    /// The conversation's files in the memory bucket (attachments in, the outbox out), with the
    /// handed credentials; `None` without them.
    fn files(&self, _conversation: &ConversationRef) -> Option<Arc<dyn ConversationFiles>> {
        None
    }

    /// Transcripts of the conversation's voice notes with the handed credentials; `None` where
    /// transcription is off or there are no credentials (the run's default then answers).
    fn transcripts(&self, _conversation: &ConversationRef) -> Option<Arc<dyn crate::attachments::Transcripts>> {
        None
    }

    /// The bot's long-term memory in AgentCore Memory with the handed credentials; `None` with
    /// the `s3` backend or without credentials.
    fn long_term(&self, _conversation: &ConversationRef) -> Option<Arc<dyn crate::long_term::LongTermMemory>> {
        None
    }

    /// The bot's skills with the handed credentials; `None` without them.
    fn skills(&self, _conversation: &ConversationRef) -> Option<Arc<crate::skills::RunSkills>> {
        None
    }
}

/// Everything in memory (unit tests).
#[derive(Default)]
pub struct MemoryServices {
    pub profiles: Mutex<HashMap<String, PermissionProfile>>,
    pub memory: Arc<InMemoryLayers>,
    /// Temporary grants by `<tool>|<requester id>`.
    pub grants: Mutex<HashMap<String, Grant>>,
    /// Scheduled tasks (e.g. over `clawless_core::tasks::memory`); `None`: not configured.
    pub tasks: Option<TaskManager>,
    /// Conversation files by key.
    pub files: Arc<InMemoryFiles>,
    /// Long-term memory; `None`: the `s3` backend.
    pub long_term: Option<Arc<crate::long_term::InMemoryLongTerm>>,
    /// Skill objects by key; `None`: no skills can be read.
    pub skills: Option<Arc<dyn clawless_core::skills::SkillReader>>,
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

    /// A temporary grant of `tool` to `requester`.
    pub fn grant(&self, tool: &str, requester: &str, grant: Grant) {
        lock(&self.grants).insert(format!("{tool}|{requester}"), grant);
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

    async fn temporary_grant(&self, wanted: &PermissionRequest) -> Result<Option<Grant>, ServiceError> {
        Ok(lock(&self.grants).get(&format!("{}|{}", wanted.tool, wanted.requester_id)).cloned())
    }

    async fn tasks(&self, _conversation: &ConversationRef) -> Option<TaskManager> {
        self.tasks.clone()
    }

    fn files(&self, _conversation: &ConversationRef) -> Option<Arc<dyn ConversationFiles>> {
        Some(Arc::clone(&self.files) as Arc<dyn ConversationFiles>)
    }

    fn long_term(&self, _conversation: &ConversationRef) -> Option<Arc<dyn crate::long_term::LongTermMemory>> {
        self.long_term.clone().map(|m| m as Arc<dyn crate::long_term::LongTermMemory>)
    }

    fn skills(&self, conversation: &ConversationRef) -> Option<Arc<crate::skills::RunSkills>> {
        // No cache: tests see every change at once.
        let cache = Arc::new(crate::skills::SkillIndexCache::new(std::time::Duration::ZERO, 1));
        Some(Arc::new(crate::skills::RunSkills::new(Arc::clone(self.skills.as_ref()?), conversation.clone(), cache)))
    }
}

/// Conversation files in a map (unit tests).
#[derive(Default)]
pub struct InMemoryFiles {
    pub objects: Mutex<HashMap<String, (Vec<u8>, String)>>,
}

#[async_trait]
impl ConversationFiles for InMemoryFiles {
    async fn put_file(&self, key: &str, bytes: Vec<u8>, media_type: &str) -> Result<(), StoreError> {
        lock(&self.objects).insert(key.to_owned(), (bytes, media_type.to_owned()));
        Ok(())
    }

    async fn get_file(&self, key: &str, max_bytes: u64) -> Result<Option<Result<Vec<u8>, FileTooLarge>>, StoreError> {
        Ok(lock(&self.objects).get(key).map(|(bytes, _)| {
            if bytes.len() as u64 > max_bytes {
                Err(FileTooLarge { size: bytes.len() as u64 })
            } else {
                Ok(bytes.clone())
            }
        }))
    }

    async fn delete_file(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.objects).remove(key);
        Ok(())
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
