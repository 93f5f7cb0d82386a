//! `send_message`: an intermediate reply ("working on it…") sent before the final answer.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError, required_str};
use crate::provider::ToolSpec;

/// Most intermediate messages one run may send.
pub const MAX_MESSAGES_PER_RUN: usize = 5;

pub struct SendMessage;

#[async_trait]
impl Tool for SendMessage {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "send_message".into(),
            description: "Send a message to the conversation now, before your final answer (for progress updates \
                          on long tasks). Your final answer is sent anyway; do not repeat it here."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {"text": {"type": "string", "description": "The message to send."}},
                "required": ["text"]
            }),
        }
    }

    async fn call(&self, ctx: &ToolContext, input: &Value) -> Result<String, ToolError> {
        let text = required_str(input, "text")?.trim();
        if text.is_empty() {
            return Err(ToolError::InvalidInput("`text` is empty".into()));
        }
        if ctx.outbox_len() >= MAX_MESSAGES_PER_RUN {
            return Err(ToolError::Refused(format!("at most {MAX_MESSAGES_PER_RUN} messages per run")));
        }
        ctx.queue_message(text.to_owned());
        Ok("sent".into())
    }
}
