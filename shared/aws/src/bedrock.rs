//! The model behind the approval notices' optional summary: Bedrock `Converse`, called by the
//! reply function (trusted code) with the core's fixed prompt
//! ([`clawless_core::approvals::wording::summary_prompt`]). No tools, one turn, no retries (the
//! core waits a few seconds at most and sends the notice without a summary otherwise).
//!
//! `CLAWLESS_NOTICE_SUMMARY_MODEL` names the model (empty: no summaries in this stack);
//! `CLAWLESS_BEDROCK_ENDPOINT` overrides the endpoint, as for the agent (VPC endpoints, or the
//! local stand-in). The client is built on the first summary, so a reply function that never
//! writes one never pays for it.

use std::sync::OnceLock;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::BehaviorVersion;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message, SystemContentBlock,
};
use clawless_core::approvals::wording::{NoticeSummarizer, SummaryError, SummaryPrompt};
use clawless_core::config::optional;

use crate::sdk::describe_sdk_error;

/// Longest error detail kept: enough to diagnose, short enough for one log line.
const MAX_DETAIL: usize = 300;

pub struct BedrockSummarizer {
    sdk: SdkConfig,
    endpoint: Option<String>,
    model_id: String,
    client: OnceLock<Client>,
}

impl BedrockSummarizer {
    /// `None` when `CLAWLESS_NOTICE_SUMMARY_MODEL` is unset or empty.
    pub fn from_env(sdk: &SdkConfig) -> Option<Self> {
        let model_id = optional("CLAWLESS_NOTICE_SUMMARY_MODEL")?;
        Some(Self::new(sdk, model_id.trim(), optional("CLAWLESS_BEDROCK_ENDPOINT")))
    }

    pub fn new(sdk: &SdkConfig, model_id: &str, endpoint: Option<String>) -> Self {
        Self { sdk: sdk.clone(), endpoint, model_id: model_id.to_owned(), client: OnceLock::new() }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            let mut config =
                aws_sdk_bedrockruntime::config::Builder::from(&self.sdk).retry_config(RetryConfig::disabled());
            // Without a behavior version the SDK panics when building the client.
            if self.sdk.behavior_version().is_none() {
                config = config.behavior_version(BehaviorVersion::latest());
            }
            if let Some(endpoint) = self.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
                config = config.endpoint_url(endpoint);
            }
            Client::from_conf(config.build())
        })
    }
}

#[async_trait]
impl NoticeSummarizer for BedrockSummarizer {
    async fn complete(&self, prompt: &SummaryPrompt) -> Result<String, SummaryError> {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.user.clone()))
            .build()
            .map_err(|e| SummaryError::Model(e.to_string()))?;
        let max_tokens = i32::try_from(prompt.max_tokens).unwrap_or(i32::MAX);
        let output = self
            .client()
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(prompt.system.to_owned()))
            .messages(message)
            .inference_config(InferenceConfiguration::builder().max_tokens(max_tokens).temperature(0.0).build())
            .send()
            .await
            .map_err(|e| SummaryError::Model(describe_sdk_error(&e).chars().take(MAX_DETAIL).collect()))?;
        let Some(ConverseOutput::Message(message)) = output.output() else {
            return Err(SummaryError::Model("no output message".into()));
        };
        let text: Vec<&str> = message
            .content()
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        Ok(text.join("\n"))
    }
}
