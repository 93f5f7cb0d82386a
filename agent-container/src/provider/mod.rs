//! Model providers: what turns a conversation (and the tools on offer) into the model's next
//! step, either an answer or tool calls.
//!
//! - [`offline::OfflineProvider`]: deterministic, no network, calls a tool only when a message says
//!   `call <tool> <JSON>`; for local runs and tests without any model.
//! - [`bedrock::BedrockProvider`]: Amazon Bedrock `Converse` with tool use (the default in AWS).
//! - [`openai::OpenAiProvider`]: any OpenAI-compatible `/v1/chat/completions` endpoint with tool
//!   calls (an OpenClaw gateway beside the container, Ollama, vLLM, llama.cpp).
//!
//! - [`anthropic::AnthropicProvider`]: the Anthropic Messages API with tool use, only as a
//!   tenant's own provider ([`Providers::for_grant`]).
//!
//! The types here are the loop's own; each provider maps them to and from its wire format.

pub mod anthropic;
pub mod bedrock;
pub mod offline;
pub mod openai;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use std::collections::HashMap;

use async_trait::async_trait;
use clawless_core::domain::extensions::{ANTHROPIC_DEFAULT_BASE_URL, ProviderGrant, ProviderType};
use clawless_core::domain::secrets::Secret;
use serde_json::Value;
use sha2::Digest;

pub use offline::OfflineProvider;

/// Who said a message, as a model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    User,
    Assistant,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    /// The model asks to run a tool. `id` pairs it with its result.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// What running a tool gave (sent back in a user message).
    ToolResult {
        tool_use_id: String,
        content: String,
        is_error: bool,
    },
    /// An image the user sent, in a format every provider takes (`png`, `jpeg`, `gif`, `webp`),
    /// within Converse's size limits (see [`crate::attachments`]).
    Image {
        format: ImageFormat,
        bytes: Vec<u8>,
    },
    /// A document the user sent, for providers that read documents (`format`: Converse's word,
    /// `pdf`, `csv`, `docx`, …; `name`: a neutral name, never the sender's).
    Document {
        format: String,
        name: String,
        bytes: Vec<u8>,
    },
}

/// The image formats the providers take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }

    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "image/png" => Some(ImageFormat::Png),
            "image/jpeg" => Some(ImageFormat::Jpeg),
            "image/gif" => Some(ImageFormat::Gif),
            "image/webp" => Some(ImageFormat::Webp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: Vec<Block>,
}

impl ChatMessage {
    pub fn user_text(text: impl Into<String>) -> Self {
        Self { role: ChatRole::User, content: vec![Block::Text(text.into())] }
    }

    pub fn assistant_text(text: impl Into<String>) -> Self {
        Self { role: ChatRole::Assistant, content: vec![Block::Text(text.into())] }
    }

    /// The text blocks joined by blank lines.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        parts.join("\n\n")
    }
}

/// A tool the model may call: name, what it does, and a JSON Schema of its input object.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// What a provider is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    /// The model to use; `None` = the provider's configured default.
    pub model_id: Option<String>,
    pub system: String,
    /// Oldest first; starts with a user message, roles alternate (see [`push_message`]).
    pub messages: Vec<ChatMessage>,
    /// Only the tools the tenant's profile allows.
    pub tools: Vec<ToolSpec>,
    pub max_output_tokens: u32,
}

/// Appends `message`, merging it into the last one when both have the same role: Bedrock
/// requires alternating roles, and group chats have runs of user messages.
pub fn push_message(messages: &mut Vec<ChatMessage>, message: ChatMessage) {
    match messages.last_mut() {
        Some(last) if last.role == message.role => last.content.extend(message.content),
        _ => messages.push(message),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished its answer.
    EndTurn,
    /// The model wants tool results before going on.
    ToolUse,
    /// The answer was cut at the output token limit.
    MaxTokens,
    /// Stopped by a content filter or guardrail.
    Filtered,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl TokenUsage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    pub fn add(&mut self, other: TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelResponse {
    /// The assistant message: text and/or tool calls.
    pub message: ChatMessage,
    pub stop_reason: StopReason,
    pub usage: TokenUsage,
}

impl ModelResponse {
    /// A plain text answer.
    pub fn text(text: impl Into<String>, usage: TokenUsage) -> Self {
        Self { message: ChatMessage::assistant_text(text), stop_reason: StopReason::EndTurn, usage }
    }

    /// The tool calls in the answer, in order: (id, name, input).
    pub fn tool_uses(&self) -> Vec<(&str, &str, &Value)> {
        self.message
            .content
            .iter()
            .filter_map(|b| match b {
                Block::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input)),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("the request does not end with a user message")]
    NoUserMessage,
    /// The provider's service failed; `detail` never contains conversation text or keys.
    #[error("model provider {provider} failed: {detail}")]
    Provider { provider: &'static str, detail: String },
    /// The service answered something this provider cannot read.
    #[error("model provider {provider} sent an unreadable answer: {detail}")]
    BadResponse { provider: &'static str, detail: String },
}

#[async_trait]
pub trait ModelProvider: Send + Sync + 'static {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError>;
}

/// The providers `CLAWLESS_MODEL_PROVIDER` (or a bot's settings) may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ProviderKind {
    #[default]
    Offline,
    Bedrock,
    OpenAi,
    /// Only as a tenant's own provider, with its key ([`Providers::for_grant`]).
    Anthropic,
}

impl ProviderKind {
    /// What `CLAWLESS_MODEL_PROVIDER` and a bot's `model_provider` may name: not `anthropic`,
    /// which needs a tenant's key and so comes only with a grant.
    pub const ALL: [ProviderKind; 3] = [ProviderKind::Bedrock, ProviderKind::OpenAi, ProviderKind::Offline];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Offline => "offline",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown model provider {given:?} (accepted values: {accepted})")]
pub struct UnknownProvider {
    pub given: String,
    pub accepted: String,
}

impl FromStr for ProviderKind {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        ProviderKind::ALL.into_iter().find(|k| k.as_str() == wanted).ok_or_else(|| UnknownProvider {
            given: s.chars().take(40).collect(),
            accepted: ProviderKind::ALL.map(|k| k.as_str()).join(", "),
        })
    }
}

/// The platform's model settings, from the environment (see [`crate::config`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelSettings {
    /// `CLAWLESS_MODEL_PROVIDER` (default `offline`).
    pub provider: ProviderKind,
    /// `CLAWLESS_MODEL_ID`: the default model (Bedrock model id or OpenAI model name).
    pub model_id: Option<String>,
    /// `CLAWLESS_OPENAI_BASE_URL`, e.g. `http://localhost:11434/v1`.
    pub openai_base_url: Option<String>,
    /// `CLAWLESS_OPENAI_API_KEY`; never logged.
    pub openai_api_key: Option<Secret>,
    /// `CLAWLESS_BEDROCK_ENDPOINT`: overrides the Bedrock runtime endpoint (tests, VPC endpoints).
    pub bedrock_endpoint: Option<String>,
}

/// Default Bedrock model when none is configured.
pub const DEFAULT_BEDROCK_MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProviderBuildError {
    #[error("CLAWLESS_OPENAI_BASE_URL is required for the openai provider")]
    MissingOpenAiBaseUrl,
    #[error("CLAWLESS_MODEL_ID is required for the openai provider")]
    MissingOpenAiModel,
    #[error("invalid {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("the anthropic provider takes its key from a tenant's setting (clawless provider set), not the platform's")]
    AnthropicIsPerTenant,
}

/// The providers of this process, one per kind, built once at startup from the settings.
#[derive(Clone)]
pub struct Providers {
    default: ProviderKind,
    offline: Arc<dyn ModelProvider>,
    bedrock: Option<Arc<dyn ModelProvider>>,
    openai: Option<Arc<dyn ModelProvider>>,
    /// Tenants' own providers, built on first use and kept, so a warm agent reuses connections.
    granted: Arc<std::sync::Mutex<HashMap<GrantKey, Arc<dyn ModelProvider>>>>,
}

/// Most tenant providers kept at once (a microVM serves one conversation, so a handful at most).
const MAX_GRANTED: usize = 16;

/// What a tenant's provider client is built from: the type, the base URL and a digest of the key
/// (the key itself is not kept twice).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GrantKey {
    kind: ProviderType,
    base_url: Option<String>,
    key_digest: Option<[u8; 32]>,
}

/// A tenant's provider that could not be built: every call fails (the run reports it), and the
/// platform's model is never used instead.
struct Unavailable(String);

#[async_trait]
impl ModelProvider for Unavailable {
    fn name(&self) -> &'static str {
        "unavailable"
    }

    async fn complete(&self, _request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        Err(ModelError::Provider { provider: "tenant", detail: self.0.clone() })
    }
}

impl Providers {
    /// Builds the default provider (failing if its settings are incomplete) and every other one
    /// whose settings are present.
    /// An `openai` default also needs `CLAWLESS_MODEL_ID`: bots that name no model use it.
    pub fn build(settings: &ModelSettings, sdk: &aws_config::SdkConfig) -> Result<Self, ProviderBuildError> {
        let bedrock: Option<Arc<dyn ModelProvider>> = Some(Arc::new(bedrock::BedrockProvider::new(settings, sdk)));
        let openai: Option<Arc<dyn ModelProvider>> = match openai::OpenAiProvider::new(settings) {
            Ok(p) if settings.provider == ProviderKind::OpenAi && p.default_model().is_none() => {
                return Err(ProviderBuildError::MissingOpenAiModel);
            }
            Ok(p) => Some(Arc::new(p)),
            Err(e) if settings.provider == ProviderKind::OpenAi => return Err(e),
            Err(_) => None,
        };
        if settings.provider == ProviderKind::Anthropic {
            return Err(ProviderBuildError::AnthropicIsPerTenant);
        }
        Ok(Self {
            default: settings.provider,
            offline: Arc::new(OfflineProvider),
            bedrock,
            openai,
            granted: Arc::default(),
        })
    }

    /// Only `provider`, used whatever a bot asks for (tests).
    pub fn single(provider: Arc<dyn ModelProvider>) -> Self {
        Self { default: ProviderKind::Offline, offline: provider, bedrock: None, openai: None, granted: Arc::default() }
    }

    pub fn default_kind(&self) -> ProviderKind {
        self.default
    }

    /// The provider for a bot's choice (or the platform default). A choice this process has no
    /// settings for falls back to the default, so a bot never runs without an answer.
    pub fn get(&self, wanted: Option<ProviderKind>) -> Arc<dyn ModelProvider> {
        let kind = wanted.unwrap_or(self.default);
        let found = match kind {
            ProviderKind::Offline => Some(&self.offline),
            ProviderKind::Bedrock => self.bedrock.as_ref(),
            ProviderKind::OpenAi => self.openai.as_ref(),
            ProviderKind::Anthropic => None,
        };
        match found {
            Some(p) => Arc::clone(p),
            None if kind != self.default => self.get(None),
            None => Arc::clone(&self.offline),
        }
    }

    /// The provider a tenant's grant names, with its key and base URL. Bedrock is the platform's
    /// client (the grant's model goes in the request); the others are built once per type, base
    /// URL and key and kept. A grant that cannot be built gives a provider that only fails.
    pub fn for_grant(&self, grant: &ProviderGrant) -> Arc<dyn ModelProvider> {
        let key = GrantKey {
            kind: grant.kind,
            base_url: grant.base_url.clone(),
            key_digest: grant.api_key.as_ref().map(|k| sha2::Sha256::digest(k.expose().as_bytes()).into()),
        };
        let mut granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = granted.get(&key) {
            return Arc::clone(found);
        }
        let built: Result<Arc<dyn ModelProvider>, ProviderBuildError> = match grant.kind {
            ProviderType::Openai => openai::OpenAiProvider::new(&ModelSettings {
                provider: ProviderKind::OpenAi,
                model_id: Some(grant.model.clone()),
                openai_base_url: grant.base_url.clone(),
                openai_api_key: grant.api_key.clone(),
                bedrock_endpoint: None,
            })
            .map(|p| Arc::new(p) as Arc<dyn ModelProvider>),
            ProviderType::Anthropic => match &grant.api_key {
                Some(api_key) => anthropic::AnthropicProvider::new(
                    grant.base_url.as_deref().unwrap_or(ANTHROPIC_DEFAULT_BASE_URL),
                    api_key.clone(),
                    Some(grant.model.clone()),
                )
                .map(|p| Arc::new(p) as Arc<dyn ModelProvider>),
                None => Err(ProviderBuildError::Invalid { name: "anthropic API key", reason: "none given".into() }),
            },
            ProviderType::Bedrock => return self.bedrock.clone().unwrap_or_else(|| Arc::clone(&self.offline)),
        };
        let provider = match built {
            Ok(p) => p,
            // Not kept: a fixed setting builds next time.
            Err(e) => return Arc::new(Unavailable(e.to_string())),
        };
        if granted.len() >= MAX_GRANTED {
            granted.clear();
        }
        granted.insert(key, Arc::clone(&provider));
        provider
    }
}
