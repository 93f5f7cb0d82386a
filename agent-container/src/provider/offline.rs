//! Answers without any model: greets the sender, echoes the message and counts the history.
//! The answer depends only on the request, so tests and local runs are reproducible.
//!
//! One tool call on demand, so the local run can show a tool working end to end without a model:
//! a message `call <tool> <JSON object>` makes it call that tool with that input (through the
//! same gate as any model's call: outside the profile it becomes a permission request), and the
//! tool's result is then its answer.

use async_trait::async_trait;

use super::{
    Block, ChatMessage, ChatRole, ModelError, ModelProvider, ModelRequest, ModelResponse, StopReason, TokenUsage,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineProvider;

/// The sender name the loop puts in front of user text (`[Ada] hello`), if any.
fn split_sender(text: &str) -> (Option<&str>, &str) {
    if let Some(rest) = text.strip_prefix('[')
        && let Some((name, body)) = rest.split_once("] ")
    {
        return (Some(name), body);
    }
    (None, text)
}

/// `call <tool> <JSON object>` as a tool call.
fn tool_call(said: &str) -> Option<Block> {
    let rest = said.trim().strip_prefix("call ")?;
    let (name, input) = rest.trim().split_once(char::is_whitespace).unwrap_or((rest.trim(), "{}"));
    let input: serde_json::Value = serde_json::from_str(input.trim()).ok()?;
    input.is_object().then(|| Block::ToolUse { id: "offline-call-1".into(), name: name.to_owned(), input })
}

#[async_trait]
impl ModelProvider for OfflineProvider {
    fn name(&self) -> &'static str {
        "offline"
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let (last, earlier) = request.messages.split_last().ok_or(ModelError::NoUserMessage)?;
        if last.role != ChatRole::User {
            return Err(ModelError::NoUserMessage);
        }
        let usage = TokenUsage { input_tokens: 0, output_tokens: 0 };
        let results: Vec<&str> = last
            .content
            .iter()
            .filter_map(|b| match b {
                Block::ToolResult { content, .. } => Some(content.as_str()),
                _ => None,
            })
            .collect();
        if !results.is_empty() {
            return Ok(ModelResponse::text(format!("The tool answered:\n{}", results.join("\n")), usage));
        }
        let last_text = last.text();
        // Merged user messages: answer the newest one.
        let newest = last_text.rsplit("\n\n").next().unwrap_or_default();
        let (name, said) = split_sender(newest);
        if let Some(call) = tool_call(said) {
            return Ok(ModelResponse {
                message: ChatMessage { role: ChatRole::Assistant, content: vec![call] },
                stop_reason: StopReason::ToolUse,
                usage,
            });
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("there");
        let mut text = format!("Hello {name}! You said: {said}");
        let remembered: usize = earlier.iter().map(|m| m.content.len()).sum::<usize>() + last.content.len() - 1;
        match remembered {
            0 => {}
            1 => text.push_str("\n(I remember 1 earlier message in this conversation.)"),
            n => text.push_str(&format!("\n(I remember {n} earlier messages in this conversation.)")),
        }
        Ok(ModelResponse::text(text, usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(messages: Vec<ChatMessage>) -> ModelRequest {
        ModelRequest { model_id: None, system: String::new(), messages, tools: Vec::new(), max_output_tokens: 100 }
    }

    #[tokio::test]
    async fn a_call_message_calls_the_tool_and_its_result_is_the_answer() {
        let said = ChatMessage::user_text(r#"[Ada] call mcp__demo__lookup_order {"order_id": "A-1001"}"#);
        let out = OfflineProvider.complete(&request(vec![said.clone()])).await.unwrap();
        assert_eq!(out.stop_reason, StopReason::ToolUse);
        let calls = out.tool_uses();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].1, "mcp__demo__lookup_order");
        assert_eq!(calls[0].2["order_id"], "A-1001");

        let result = ChatMessage {
            role: ChatRole::User,
            content: vec![Block::ToolResult {
                tool_use_id: "offline-call-1".into(),
                content: "shipped".into(),
                is_error: false,
            }],
        };
        let out = OfflineProvider.complete(&request(vec![said, out.message, result])).await.unwrap();
        assert_eq!(out.message.text(), "The tool answered:\nshipped");

        for not_a_call in ["call", "call x [1]", "call x {not json", "please call x {}"] {
            let out = OfflineProvider.complete(&request(vec![ChatMessage::user_text(not_a_call)])).await.unwrap();
            assert!(out.tool_uses().is_empty(), "{not_a_call}");
        }
    }
}
