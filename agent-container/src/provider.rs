//! Model providers: what turns a conversation into an answer.
//!
//! Only [`OfflineProvider`] exists for now: deterministic, no network, so the whole platform runs
//! and is testable anywhere. Real providers (Amazon Bedrock Converse, OpenAI-compatible HTTP APIs)
//! come later as further [`ModelProvider`] implementations selected by `CLAWLESS_MODEL_PROVIDER`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use clawless_shared::envelope::AgentInvocation;
use clawless_shared::model::Role;

/// One message of the conversation as a model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMessage {
    pub role: Role,
    /// Who wrote it (user messages); group chats have several people.
    pub sender_name: Option<String>,
    pub text: String,
}

/// What a provider is asked: a system prompt and the conversation, oldest first, ending with the
/// user message to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRequest {
    pub system: String,
    pub messages: Vec<ModelMessage>,
}

impl ModelRequest {
    /// The invocation's history followed by its message.
    pub fn from_invocation(system: String, invocation: &AgentInvocation) -> Self {
        let mut messages: Vec<ModelMessage> = invocation
            .history
            .iter()
            .map(|h| ModelMessage {
                role: h.role,
                sender_name: match h.role {
                    Role::User => Some(h.sender_name.clone()),
                    Role::Assistant => None,
                },
                text: h.text.clone(),
            })
            .collect();
        let message = &invocation.item.message;
        messages.push(ModelMessage {
            role: Role::User,
            sender_name: Some(message.sender.name.clone()),
            text: message.text.clone(),
        });
        Self { system, messages }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelResponse {
    pub text: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("the request does not end with a user message")]
    NoUserMessage,
    /// The provider's service failed; `detail` never contains conversation text.
    #[error("model provider {provider} failed: {detail}")]
    Provider { provider: &'static str, detail: String },
}

#[async_trait]
pub trait ModelProvider: Send + Sync + 'static {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError>;
}

/// Answers without any model: greets the sender, echoes the message and counts the history.
/// The answer depends only on the request, so tests and local runs are reproducible.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineProvider;

#[async_trait]
impl ModelProvider for OfflineProvider {
    fn name(&self) -> &'static str {
        "offline"
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let (last, earlier) = request.messages.split_last().ok_or(ModelError::NoUserMessage)?;
        if last.role != Role::User {
            return Err(ModelError::NoUserMessage);
        }
        let name = last.sender_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("there");
        let mut text = format!("Hello {name}! You said: {}", last.text);
        match earlier.len() {
            0 => {}
            1 => text.push_str("\n(I remember 1 earlier message in this conversation.)"),
            n => text.push_str(&format!("\n(I remember {n} earlier messages in this conversation.)")),
        }
        Ok(ModelResponse { text })
    }
}

/// The providers `CLAWLESS_MODEL_PROVIDER` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderKind {
    #[default]
    Offline,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 1] = [ProviderKind::Offline];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Offline => "offline",
        }
    }

    pub fn build(self) -> Arc<dyn ModelProvider> {
        match self {
            ProviderKind::Offline => Arc::new(OfflineProvider),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{history, invocation};

    fn user(name: &str, text: &str) -> ModelMessage {
        ModelMessage { role: Role::User, sender_name: Some(name.into()), text: text.into() }
    }

    #[tokio::test]
    async fn offline_answers_deterministically() {
        let request = ModelRequest { system: "s".into(), messages: vec![user("Ada", "hi there")] };
        let a = OfflineProvider.complete(&request).await.unwrap();
        let b = OfflineProvider.complete(&request).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.text, "Hello Ada! You said: hi there");
    }

    #[tokio::test]
    async fn offline_counts_history() {
        let one = ModelRequest {
            system: String::new(),
            messages: vec![
                ModelMessage { role: Role::Assistant, sender_name: None, text: "earlier".into() },
                user("Ada", "again"),
            ],
        };
        assert_eq!(
            OfflineProvider.complete(&one).await.unwrap().text,
            "Hello Ada! You said: again\n(I remember 1 earlier message in this conversation.)"
        );

        let inv = invocation("4242", "1003", "third", history(2));
        let request = ModelRequest::from_invocation("sys".into(), &inv);
        assert_eq!(request.messages.len(), 3);
        assert_eq!(request.messages[1].sender_name, None, "assistant lines carry no sender");
        assert_eq!(
            OfflineProvider.complete(&request).await.unwrap().text,
            "Hello Ada! You said: third\n(I remember 2 earlier messages in this conversation.)"
        );
    }

    #[tokio::test]
    async fn offline_needs_a_final_user_message() {
        let empty = ModelRequest { system: String::new(), messages: vec![] };
        assert_eq!(OfflineProvider.complete(&empty).await, Err(ModelError::NoUserMessage));
        let assistant_last = ModelRequest {
            system: String::new(),
            messages: vec![ModelMessage { role: Role::Assistant, sender_name: None, text: "x".into() }],
        };
        assert_eq!(OfflineProvider.complete(&assistant_last).await, Err(ModelError::NoUserMessage));
    }

    #[tokio::test]
    async fn offline_greets_nameless_senders() {
        let request = ModelRequest { system: String::new(), messages: vec![user("  ", "yo")] };
        assert_eq!(OfflineProvider.complete(&request).await.unwrap().text, "Hello there! You said: yo");
    }

    #[test]
    fn provider_kind_parses_and_names_accepted_values() {
        assert_eq!("offline".parse::<ProviderKind>(), Ok(ProviderKind::Offline));
        assert_eq!(" Offline ".parse::<ProviderKind>(), Ok(ProviderKind::Offline));
        let err = "bedrock".parse::<ProviderKind>().unwrap_err();
        assert_eq!(err.to_string(), "unknown model provider \"bedrock\" (accepted values: offline)");
        assert_eq!(ProviderKind::default().build().name(), "offline");
    }
}
