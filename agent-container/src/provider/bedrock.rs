//! Amazon Bedrock `Converse` with tool use. (Being built.)

use async_trait::async_trait;

use super::{ModelError, ModelProvider, ModelRequest, ModelResponse, ModelSettings};

pub struct BedrockProvider;

impl BedrockProvider {
    pub fn new(_settings: &ModelSettings, _sdk: &aws_config::SdkConfig) -> Self {
        Self
    }
}

#[async_trait]
impl ModelProvider for BedrockProvider {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn complete(&self, _request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        Err(ModelError::Provider { provider: "bedrock", detail: "not built yet".into() })
    }
}
