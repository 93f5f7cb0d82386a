//! OpenAI-compatible `/v1/chat/completions` with tool calls. (Being built.)

use async_trait::async_trait;

use super::{ModelError, ModelProvider, ModelRequest, ModelResponse, ModelSettings, ProviderBuildError};

pub struct OpenAiProvider;

impl OpenAiProvider {
    pub fn new(settings: &ModelSettings) -> Result<Self, ProviderBuildError> {
        if settings.openai_base_url.is_none() {
            return Err(ProviderBuildError::MissingOpenAiBaseUrl);
        }
        Ok(Self)
    }
}

#[async_trait]
impl ModelProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn complete(&self, _request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        Err(ModelError::Provider { provider: "openai", detail: "not built yet".into() })
    }
}
