//! (Being built.)

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError};
use crate::provider::ToolSpec;

pub struct WebSearch;

#[async_trait]
impl Tool for WebSearch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_search".into(),
            description: "(being built)".into(),
            input_schema: json!({"type": "object"}),
        }
    }

    async fn call(&self, _ctx: &ToolContext, _input: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed("not built yet".into()))
    }
}

pub struct WebFetch;

#[async_trait]
impl Tool for WebFetch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_fetch".into(),
            description: "(being built)".into(),
            input_schema: json!({"type": "object"}),
        }
    }

    async fn call(&self, _ctx: &ToolContext, _input: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed("not built yet".into()))
    }
}

/// Settings of the web tools. (Being built.)
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// A search API (`CLAWLESS_WEB_SEARCH_URL`); unset: `web_search` says it is not configured.
    pub search_url: Option<String>,
}

impl WebSettings {
    pub fn from_config(config: &crate::config::AgentConfig) -> Self {
        Self { search_url: config.web_search_url.clone() }
    }
}
