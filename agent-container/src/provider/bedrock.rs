//! Amazon Bedrock `Converse` with tool use.
//!
//! One SDK client, built at startup; `CLAWLESS_BEDROCK_ENDPOINT` overrides its endpoint (VPC
//! endpoints, or the local stand-in in [`crate::stand_ins`]).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::BehaviorVersion;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message, StopReason as WireStop,
    SystemContentBlock, Tool, ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
    ToolResultStatus, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use clawless_aws::sdk::describe_sdk_error;
use serde_json::Value;

use super::{
    Block, ChatMessage, ChatRole, DEFAULT_BEDROCK_MODEL, ModelError, ModelProvider, ModelRequest, ModelResponse,
    ModelSettings, StopReason, TokenUsage,
};

const PROVIDER: &str = "bedrock";
/// Longest error detail kept: enough to diagnose, short enough for one log line.
const MAX_DETAIL: usize = 300;

pub struct BedrockProvider {
    client: Client,
    default_model: String,
}

impl BedrockProvider {
    pub fn new(settings: &ModelSettings, sdk: &aws_config::SdkConfig) -> Self {
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(sdk);
        // Without a behavior version the SDK panics when building the client.
        if sdk.behavior_version().is_none() {
            config = config.behavior_version(BehaviorVersion::latest());
        }
        if let Some(endpoint) = settings.bedrock_endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            config = config.endpoint_url(endpoint);
        }
        let default_model = settings
            .model_id
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(DEFAULT_BEDROCK_MODEL)
            .to_owned();
        Self { client: Client::from_conf(config.build()), default_model }
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> &str {
        &self.default_model
    }
}

#[async_trait]
impl ModelProvider for BedrockProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        match request.messages.last() {
            Some(m) if m.role == ChatRole::User => {}
            _ => return Err(ModelError::NoUserMessage),
        }
        let model_id =
            request.model_id.as_deref().map(str::trim).filter(|m| !m.is_empty()).unwrap_or(&self.default_model);
        let messages = request.messages.iter().map(to_wire_message).collect::<Result<Vec<_>, _>>()?;
        let system =
            (!request.system.trim().is_empty()).then(|| vec![SystemContentBlock::Text(request.system.clone())]);
        let tool_config = if request.tools.is_empty() {
            None
        } else {
            let tools = request
                .tools
                .iter()
                .map(|t| {
                    ToolSpecification::builder()
                        .name(&t.name)
                        .description(&t.description)
                        .input_schema(ToolInputSchema::Json(json_to_document(&t.input_schema)))
                        .build()
                        .map(Tool::ToolSpec)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            Some(ToolConfiguration::builder().set_tools(Some(tools)).build().map_err(build_error)?)
        };
        let max_tokens = i32::try_from(request.max_output_tokens).unwrap_or(i32::MAX);

        let output = self
            .client
            .converse()
            .model_id(model_id)
            .set_system(system)
            .set_messages(Some(messages))
            .set_tool_config(tool_config)
            .inference_config(InferenceConfiguration::builder().max_tokens(max_tokens).build())
            .send()
            .await
            .map_err(|e| ModelError::Provider { provider: PROVIDER, detail: shorten(&describe_sdk_error(&e)) })?;

        let Some(ConverseOutput::Message(message)) = output.output() else {
            return Err(ModelError::BadResponse { provider: PROVIDER, detail: "no output message".into() });
        };
        let content: Vec<Block> = message.content().iter().filter_map(from_wire_block).collect();
        let has_tool_use = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
        let stop_reason = match output.stop_reason() {
            WireStop::EndTurn | WireStop::StopSequence => StopReason::EndTurn,
            WireStop::ToolUse => StopReason::ToolUse,
            WireStop::MaxTokens | WireStop::ModelContextWindowExceeded => StopReason::MaxTokens,
            WireStop::GuardrailIntervened | WireStop::ContentFiltered => StopReason::Filtered,
            // Malformed or new reasons: go by what the message holds.
            _ if has_tool_use => StopReason::ToolUse,
            _ => StopReason::EndTurn,
        };
        let usage = output
            .usage()
            .map(|u| TokenUsage {
                input_tokens: u64::try_from(u.input_tokens()).unwrap_or(0),
                output_tokens: u64::try_from(u.output_tokens()).unwrap_or(0),
            })
            .unwrap_or_default();
        Ok(ModelResponse { message: ChatMessage { role: ChatRole::Assistant, content }, stop_reason, usage })
    }
}

fn build_error(e: aws_smithy_types::error::operation::BuildError) -> ModelError {
    ModelError::Provider { provider: PROVIDER, detail: shorten(&format!("invalid request: {e}")) }
}

fn shorten(detail: &str) -> String {
    let one_line = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Converse rejects blank text blocks and empty messages, so those get a placeholder.
fn non_blank(text: &str, placeholder: &str) -> String {
    if text.trim().is_empty() { placeholder.to_owned() } else { text.to_owned() }
}

fn to_wire_message(message: &ChatMessage) -> Result<Message, ModelError> {
    let role = match message.role {
        ChatRole::User => ConversationRole::User,
        ChatRole::Assistant => ConversationRole::Assistant,
    };
    let mut content = Vec::with_capacity(message.content.len());
    for block in &message.content {
        match block {
            Block::Text(text) if text.trim().is_empty() => {}
            Block::Text(text) => content.push(ContentBlock::Text(text.clone())),
            Block::ToolUse { id, name, input } => content.push(ContentBlock::ToolUse(
                ToolUseBlock::builder()
                    .tool_use_id(id)
                    .name(name)
                    .input(json_to_document(input))
                    .build()
                    .map_err(build_error)?,
            )),
            Block::ToolResult { tool_use_id, content: result, is_error } => content.push(ContentBlock::ToolResult(
                ToolResultBlock::builder()
                    .tool_use_id(tool_use_id)
                    .content(ToolResultContentBlock::Text(non_blank(result, "(no output)")))
                    .status(if *is_error { ToolResultStatus::Error } else { ToolResultStatus::Success })
                    .build()
                    .map_err(build_error)?,
            )),
            Block::Image { format, bytes } => {
                use aws_sdk_bedrockruntime::types::{ImageBlock, ImageFormat as WireImage, ImageSource};
                let format = match format {
                    super::ImageFormat::Png => WireImage::Png,
                    super::ImageFormat::Jpeg => WireImage::Jpeg,
                    super::ImageFormat::Gif => WireImage::Gif,
                    super::ImageFormat::Webp => WireImage::Webp,
                };
                content.push(ContentBlock::Image(
                    ImageBlock::builder()
                        .format(format)
                        .source(ImageSource::Bytes(aws_smithy_types::Blob::new(bytes.clone())))
                        .build()
                        .map_err(build_error)?,
                ));
            }
            Block::Document { format, name, bytes } => {
                use aws_sdk_bedrockruntime::types::{DocumentBlock, DocumentFormat, DocumentSource};
                content.push(ContentBlock::Document(
                    DocumentBlock::builder()
                        .format(DocumentFormat::from(format.as_str()))
                        .name(name)
                        .source(DocumentSource::Bytes(aws_smithy_types::Blob::new(bytes.clone())))
                        .build()
                        .map_err(build_error)?,
                ));
            }
        }
    }
    if content.is_empty() {
        content.push(ContentBlock::Text("(empty)".to_owned()));
    }
    Message::builder().role(role).set_content(Some(content)).build().map_err(build_error)
}

/// Text and tool calls; other block kinds (reasoning, citations, …) are not the loop's concern.
fn from_wire_block(block: &ContentBlock) -> Option<Block> {
    match block {
        ContentBlock::Text(text) => Some(Block::Text(text.clone())),
        ContentBlock::ToolUse(tool_use) => Some(Block::ToolUse {
            id: tool_use.tool_use_id().to_owned(),
            name: tool_use.name().to_owned(),
            input: document_to_json(tool_use.input()),
        }),
        _ => None,
    }
}

/// serde_json → Smithy document (tool schemas and tool inputs travel as documents).
fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(json_to_document).collect()),
        Value::Object(map) => {
            Document::Object(map.iter().map(|(k, v)| (k.clone(), json_to_document(v))).collect::<HashMap<_, _>>())
        }
    }
}

/// Smithy document → serde_json. Non-finite floats (not JSON) become null.
fn document_to_json(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(document_to_json).collect()),
        Document::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), document_to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_and_documents_convert_both_ways() {
        let value = json!({
            "s": "x", "t": true, "n": null, "pos": 7, "neg": -3, "f": 1.5,
            "arr": [1, "two", { "three": [] }], "obj": {}
        });
        let document = json_to_document(&value);
        assert!(
            matches!(&document, Document::Object(m) if matches!(m.get("neg"), Some(Document::Number(Number::NegInt(-3)))))
        );
        assert_eq!(document_to_json(&document), value);
        assert_eq!(document_to_json(&Document::Number(Number::Float(f64::NAN))), Value::Null);
    }

    #[test]
    fn blank_text_and_empty_tool_results_get_placeholders() {
        let message = ChatMessage {
            role: ChatRole::User,
            content: vec![
                Block::Text("  ".into()),
                Block::ToolResult { tool_use_id: "t1".into(), content: String::new(), is_error: true },
            ],
        };
        let wire = to_wire_message(&message).unwrap();
        assert_eq!(wire.content().len(), 1);
        let ContentBlock::ToolResult(result) = &wire.content()[0] else { panic!("not a tool result") };
        assert_eq!(result.status(), Some(&ToolResultStatus::Error));
        assert_eq!(result.content(), &[ToolResultContentBlock::Text("(no output)".into())]);

        let empty = to_wire_message(&ChatMessage::assistant_text("")).unwrap();
        assert_eq!(empty.content(), &[ContentBlock::Text("(empty)".into())]);
    }

    #[test]
    fn long_details_are_cut_to_one_short_line() {
        let detail = shorten(&format!("a\n  b {}", "x".repeat(1000)));
        assert!(detail.starts_with("a b x"));
        assert_eq!(detail.chars().count(), MAX_DETAIL + 1);
    }
}
