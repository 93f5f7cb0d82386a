//! `send_message`: an intermediate reply ("working on it…") sent before the final answer.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolError, ToolName, TypedTool};

/// Most intermediate messages one run may send.
pub const MAX_MESSAGES_PER_RUN: usize = 5;

pub struct SendMessage;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendMessageInput {
    /// The message to send.
    pub text: String,
}

#[async_trait]
impl TypedTool for SendMessage {
    type Input = SendMessageInput;

    fn name(&self) -> ToolName {
        ToolName::SendMessage
    }

    fn description(&self) -> String {
        "Send a message to the conversation now, before your final answer (for progress updates on long tasks). \
         Your final answer is sent anyway; do not repeat it here."
            .into()
    }

    async fn run(&self, ctx: &ToolContext, input: SendMessageInput) -> Result<String, ToolError> {
        let text = input.text.trim();
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
