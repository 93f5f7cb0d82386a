//! (Being built.)

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError};
use crate::provider::ToolSpec;

pub struct FileRead;

#[async_trait]
impl Tool for FileRead {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "file".into(), description: "(being built)".into(), input_schema: json!({"type": "object"}) }
    }

    async fn call(&self, _ctx: &ToolContext, _input: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed("not built yet".into()))
    }
}

pub struct FileWrite;

#[async_trait]
impl Tool for FileWrite {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "file_write".into(),
            description: "(being built)".into(),
            input_schema: json!({"type": "object"}),
        }
    }

    async fn call(&self, _ctx: &ToolContext, _input: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed("not built yet".into()))
    }
}
