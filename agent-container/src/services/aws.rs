//! [`TenantServices`] on AWS, with the credentials the dispatcher handed the invocation.
//!
//! The microVM's own role can assume no role and read no tenant data. Each invocation carries
//! 15-minute credentials of the tenant-access role for its conversation's tenant and bot, with
//! session tags this process cannot change and a session policy narrowing memory to the
//! conversation ([`clawless_core::domain::credentials`]). Every client here is built from the current
//! ones; without them, tenant data is out of reach (profiles fall back to least privilege,
//! memory and tasks answer with an error). Nothing here writes grants, requests, usage or
//! answered marks: the role cannot, and the run reports them instead.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use clawless_aws::dynamodb::Store;
use clawless_aws::dynamodb::tasks::TaskStore;
use clawless_aws::scheduler::{SchedulerClient, Schedules};
use clawless_aws::ssm::profiles::ProfileStore;
use clawless_core::approvals::Grant;
use clawless_core::cache::TtlCache;
use clawless_core::domain::credentials::TenantCredentials;
use clawless_core::domain::ids::{ConversationRef, TenantId};
use clawless_core::domain::model::now_ms;
use clawless_core::domain::permissions::{PermissionProfile, PermissionRequest, UserRef};
use clawless_core::domain::scope::ScopeToken;
use clawless_core::ports::{ApprovalRepo, ProfileRepo};
use clawless_core::tasks::{TaskConfig, TaskManager};

use super::{ServiceError, TenantServices};
use crate::memory::{CachedMemory, LayerCache, MemoryError, MemoryLayer, MemoryLayers, S3Memory};

/// Names and settings of the tenant data.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub table: String,
    pub parameter_prefix: String,
    pub memory_bucket: String,
    pub profile_cache: Duration,
    /// How long a memory layer read stays cached in the session.
    pub memory_cache: Duration,
    /// Scheduled tasks (schedule group, scheduler target); `None`: the task tools say so.
    pub tasks: Option<TaskConfig>,
    /// Voice-note transcription through Amazon Transcribe; `None`: off.
    pub transcribe: Option<TranscribeSettings>,
    /// Long-term memory in AgentCore Memory (`CLAWLESS_MEMORY_BACKEND=agentcore`); `None`: S3
    /// layers only.
    pub long_term: Option<LongTermSettings>,
}

/// Which AgentCore Memory holds the bots' long-term memory.
#[derive(Debug, Clone)]
pub struct LongTermSettings {
    pub memory_id: String,
    /// Another AgentCore data-plane endpoint (the local stand-in).
    pub endpoint: Option<String>,
}

/// How voice notes are transcribed.
#[derive(Debug, Clone, Default)]
pub struct TranscribeSettings {
    /// The spoken language (a Transcribe language code); `None`: Transcribe identifies it.
    pub language: Option<String>,
    /// Another Transcribe endpoint (the local stand-in).
    pub endpoint: Option<String>,
}

/// The SDK configuration of the credentials the current run was handed. The reply sink sends
/// with the same ones.
pub struct HandedCredentials {
    base: SdkConfig,
    current: Mutex<Option<Handed>>,
}

#[derive(Clone)]
struct Handed {
    tenant: TenantId,
    access_key_id: String,
    sdk: SdkConfig,
}

impl HandedCredentials {
    pub fn new(base: SdkConfig) -> Self {
        Self { base, current: Mutex::new(None) }
    }

    /// Uses `credentials` for `tenant` from now on (`None` forgets any: fail closed).
    pub fn install(&self, tenant: &TenantId, credentials: Option<&TenantCredentials>) {
        let handed = credentials.map(|c| {
            let creds = aws_credential_types::Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.expose().to_owned(),
                Some(c.session_token.expose().to_owned()),
                u64::try_from(c.expires_at_ms / 1000).ok().map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s)),
                "clawless-dispatcher",
            );
            let sdk = self
                .base
                .to_builder()
                .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
                .build();
            Handed { tenant: tenant.clone(), access_key_id: c.access_key_id.clone(), sdk }
        });
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = handed;
    }

    /// The configuration for `tenant`, and the key id that names it; an error unless the current
    /// run was handed credentials for exactly that tenant.
    pub fn config(&self, tenant: &TenantId) -> Result<(SdkConfig, String), ServiceError> {
        match &*self.current.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(h) if &h.tenant == tenant => Ok((h.sdk.clone(), h.access_key_id.clone())),
            _ => Err(ServiceError::NoCredentials),
        }
    }
}

/// The clients of one set of handed credentials.
#[derive(Clone)]
struct TenantClients {
    access_key_id: String,
    store: Store,
    profiles: ProfileStore,
    s3: aws_sdk_s3::Client,
    /// Transcription jobs, when turned on.
    transcribe: Option<aws_sdk_transcribe::Client>,
    /// Task records and schedules.
    tasks: Option<TaskManager>,
}

pub struct AwsTenantServices {
    handed: Arc<HandedCredentials>,
    settings: AwsSettings,
    clients: Mutex<Option<TenantClients>>,
    scope: Mutex<ScopeToken>,
    profiles: TtlCache<(TenantId, String), PermissionProfile>,
    memory: Arc<LayerCache>,
    /// Skill indexes, cached like memory layers (the operator's changes show within the TTL).
    skills: Arc<crate::skills::SkillIndexCache>,
}

impl AwsTenantServices {
    pub fn new(handed: Arc<HandedCredentials>, settings: AwsSettings) -> Self {
        let profiles = TtlCache::new(settings.profile_cache, 256);
        let memory = Arc::new(LayerCache::new(settings.memory_cache, 64));
        let skills = Arc::new(crate::skills::SkillIndexCache::new(settings.memory_cache, 16));
        Self {
            handed,
            settings,
            clients: Mutex::new(None),
            scope: Mutex::new(ScopeToken::default()),
            profiles,
            memory,
            skills,
        }
    }

    fn clients(&self, tenant: &TenantId) -> Result<TenantClients, ServiceError> {
        let (sdk, key_id) = self.handed.config(tenant)?;
        let mut current = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = current.as_ref().filter(|c| c.access_key_id == key_id) {
            return Ok(c.clone());
        }
        let scope = self.scope.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let clients = TenantClients {
            access_key_id: key_id,
            store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), self.settings.table.clone()),
            profiles: ProfileStore::new(aws_sdk_ssm::Client::new(&sdk), self.settings.parameter_prefix.clone()),
            s3: s3_client(&sdk),
            transcribe: self.settings.transcribe.as_ref().map(|t| transcribe_client(&sdk, t.endpoint.as_deref())),
            tasks: self.settings.tasks.as_ref().map(|config| {
                TaskManager::new(
                    Arc::new(TaskStore::new(aws_sdk_dynamodb::Client::new(&sdk), self.settings.table.clone())),
                    Arc::new(Schedules::new(SchedulerClient::new(&sdk), config.group.clone())),
                    config.settings.clone(),
                )
                .with_scope(scope)
            }),
        };
        *current = Some(clients.clone());
        Ok(clients)
    }
}

/// An S3 client; path-style addressing when an endpoint override points at an emulator.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A Transcribe client, at `endpoint` when one is given.
pub fn transcribe_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_transcribe::Client {
    let mut config = aws_sdk_transcribe::config::Builder::from(sdk);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_transcribe::Client::from_conf(config.build())
}

/// An AgentCore data-plane client, at `endpoint` when one is given.
pub fn agentcore_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_bedrockagentcore::Client {
    let mut config = aws_sdk_bedrockagentcore::config::Builder::from(sdk);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_bedrockagentcore::Client::from_conf(config.build())
}

fn storage(what: &'static str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Storage { what, detail: e.to_string() }
}

/// Memory when the run has no credentials for its tenant: nothing can be read or written.
struct NoMemory;

#[async_trait]
impl MemoryLayers for NoMemory {
    async fn read(&self, _layer: MemoryLayer) -> Result<Option<String>, MemoryError> {
        Err(MemoryError::Storage(ServiceError::NoCredentials.to_string()))
    }

    async fn write(&self, _layer: MemoryLayer, _content: &str) -> Result<(), MemoryError> {
        Err(MemoryError::Storage(ServiceError::NoCredentials.to_string()))
    }
}

#[async_trait]
impl TenantServices for AwsTenantServices {
    fn begin_run(&self, conversation: &ConversationRef, credentials: Option<&TenantCredentials>, scope: &ScopeToken) {
        *self.scope.lock().unwrap_or_else(PoisonError::into_inner) = scope.clone();
        // New credentials mean new clients (and tasks that carry this run's token).
        *self.clients.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.handed.install(&conversation.tenant_id, credentials);
    }

    async fn profile(&self, conversation: &ConversationRef, user: &UserRef) -> PermissionProfile {
        let tenant = &conversation.tenant_id;
        let key = (tenant.clone(), user.to_string());
        if let Some(p) = self.profiles.get(&key) {
            return p;
        }
        let resolved = match self.clients(tenant) {
            Ok(clients) => clients.profiles.resolve(tenant, Some(user)).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match resolved {
            Ok((profile, source)) => {
                tracing::debug!(event = "profile_loaded", source = source.as_str());
                self.profiles.insert(key, profile.clone());
                profile
            }
            Err(e) => {
                // Fail closed: no tools beyond replying until the profile can be read.
                tracing::error!(event = "profile_load_failed", error = %e, "using least privilege");
                PermissionProfile::least_privilege()
            }
        }
    }

    fn memory(&self, conversation: &ConversationRef) -> Arc<dyn MemoryLayers> {
        match self.clients(&conversation.tenant_id) {
            Ok(c) => Arc::new(CachedMemory::new(
                Arc::new(S3Memory::new(c.s3, self.settings.memory_bucket.clone(), conversation.clone())),
                conversation.clone(),
                Arc::clone(&self.memory),
            )),
            Err(_) => Arc::new(NoMemory),
        }
    }

    fn forget_memory(&self, conversation: &ConversationRef) {
        self.memory.invalidate(&clawless_core::domain::memory::conversation_memory_key(conversation));
    }

    async fn temporary_grant(&self, wanted: &PermissionRequest) -> Result<Option<Grant>, ServiceError> {
        let clients = self.clients(&wanted.conversation.tenant_id)?;
        clients.store.temporary_grant(wanted, now_ms()).await.map_err(|e| storage("looking for an approval", e))
    }

    fn forget_profile(&self, conversation: &ConversationRef, user: &UserRef) {
        self.profiles.invalidate(&(conversation.tenant_id.clone(), user.to_string()));
    }

    async fn tasks(&self, conversation: &ConversationRef) -> Option<TaskManager> {
        self.settings.tasks.as_ref()?;
        self.clients(&conversation.tenant_id).ok()?.tasks
    }

    fn files(&self, conversation: &ConversationRef) -> Option<Arc<dyn clawless_core::ports::ConversationFiles>> {
        let clients = self.clients(&conversation.tenant_id).ok()?;
        Some(Arc::new(clawless_aws::s3::MemoryBucket::new(clients.s3, self.settings.memory_bucket.clone())))
    }

    fn skills(&self, conversation: &ConversationRef) -> Option<Arc<crate::skills::RunSkills>> {
        let clients = self.clients(&conversation.tenant_id).ok()?;
        let reader = clawless_aws::skills::SkillBucket::for_agent(clients.s3, self.settings.memory_bucket.clone());
        Some(Arc::new(crate::skills::RunSkills::new(Arc::new(reader), conversation.clone(), Arc::clone(&self.skills))))
    }

    fn transcripts(&self, conversation: &ConversationRef) -> Option<Arc<dyn crate::attachments::Transcripts>> {
        let settings = self.settings.transcribe.as_ref()?;
        let clients = self.clients(&conversation.tenant_id).ok()?;
        Some(Arc::new(crate::transcribe::AwsTranscripts {
            transcribe: clients.transcribe?,
            s3: clients.s3,
            bucket: self.settings.memory_bucket.clone(),
            conversation: conversation.clone(),
            language: settings.language.clone(),
            poll_every: crate::transcribe::POLL_EVERY,
            wait_at_most: crate::transcribe::WAIT_AT_MOST,
        }))
    }

    fn long_term(&self, conversation: &ConversationRef) -> Option<Arc<dyn crate::long_term::LongTermMemory>> {
        let settings = self.settings.long_term.as_ref()?;
        // The handed credentials only: the microVM's own role has no grant on the memory.
        let (sdk, _) = self.handed.config(&conversation.tenant_id).ok()?;
        Some(Arc::new(crate::long_term::AgentCoreMemory::new(
            agentcore_client(&sdk, settings.endpoint.as_deref()),
            settings.memory_id.clone(),
            conversation.clone(),
        )))
    }
}
