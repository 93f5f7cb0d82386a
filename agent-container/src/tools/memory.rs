//! (Being built.)

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError};
use crate::provider::ToolSpec;

pub struct MemoryRead;

#[async_trait]
impl Tool for MemoryRead {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_read".into(),
            description: "(being built)".into(),
            input_schema: json!({"type": "object"}),
        }
    }

    async fn call(&self, _ctx: &ToolContext, _input: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed("not built yet".into()))
    }
}

pub struct MemoryWrite;

#[async_trait]
impl Tool for MemoryWrite {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_write".into(),
            description: "(being built)".into(),
            input_schema: json!({"type": "object"}),
        }
    }

    async fn call(&self, _ctx: &ToolContext, _input: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed("not built yet".into()))
    }
}
