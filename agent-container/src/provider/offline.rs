//! Answers without any model: greets the sender, echoes the message and counts the history.
//! The answer depends only on the request, so tests and local runs are reproducible. It never
//! calls tools.

use async_trait::async_trait;

use super::{ChatRole, ModelError, ModelProvider, ModelRequest, ModelResponse, TokenUsage};

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
        let last_text = last.text();
        // Merged user messages: answer the newest one.
        let newest = last_text.rsplit("\n\n").next().unwrap_or_default();
        let (name, said) = split_sender(newest);
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("there");
        let mut text = format!("Hello {name}! You said: {said}");
        let remembered: usize = earlier.iter().map(|m| m.content.len()).sum::<usize>() + last.content.len() - 1;
        match remembered {
            0 => {}
            1 => text.push_str("\n(I remember 1 earlier message in this conversation.)"),
            n => text.push_str(&format!("\n(I remember {n} earlier messages in this conversation.)")),
        }
        let usage = TokenUsage { input_tokens: 0, output_tokens: 0 };
        Ok(ModelResponse::text(text, usage))
    }
}
