//! (Being built.)

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError};
use crate::provider::ToolSpec;

pub struct Shell;

#[async_trait]
impl Tool for Shell {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "shell".into(), description: "(being built)".into(), input_schema: json!({"type": "object"}) }
    }

    async fn call(&self, _ctx: &ToolContext, _input: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed("not built yet".into()))
    }
}
