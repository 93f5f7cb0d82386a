//! The agent's built-in tools. Each is one [`Tool`]; the [`ToolBox`] offers the model only the
//! tools the tenant's profile allows, and the loop checks every call again before it runs
//! (see [`crate::agent_loop`]).
//!
//! Tools never see another session's files or another tenant's memory: everything they touch
//! comes through the [`ToolContext`] built for this run.
//!
//! Each built-in tool is a [`TypedTool`], named by a [`ToolName`]: one input type gives both the
//! schema the model is offered and the parsing of its calls ([`input`]). Every input first
//! passes the size limits of [`limits`].

pub mod file;
pub mod input;
pub mod limits;
pub mod memory;
pub mod name;
pub mod send_file;
pub mod send_message;
pub mod shell;
pub mod skills;
pub mod tasks;
pub mod web;
pub mod workspace;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use clawless_core::domain::ids::ConversationRef;
use clawless_core::domain::permissions::PermissionProfile;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{Instrument, Span};

pub use self::input::{input_schema, parse_input};
pub use self::limits::{
    FIELD_LIMITS, InputError, MAX_FIELD_NAME_CHARS, MAX_INPUT_STRING_CHARS, MAX_INPUT_TOTAL_BYTES, validate_input,
};
pub use self::name::ToolName;
use crate::memory::MemoryLayers;
use crate::provider::ToolSpec;

/// Longest tool output handed back to the model, in characters.
pub const MAX_OUTPUT_CHARS: usize = 16_000;

/// Why a tool call failed. The message goes back to the model as an error result, so it must
/// say what to change, and never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("failed: {0}")]
    Failed(String),
}

/// Everything a tool may use during one run.
pub struct ToolContext {
    pub conversation: ConversationRef,
    /// The session's private directory; file and shell tools stay inside it.
    pub workspace: PathBuf,
    /// The profile that allowed the call (data limits such as `file_prefixes`, `shell_read_only`).
    pub profile: PermissionProfile,
    pub memory: Arc<dyn MemoryLayers>,
    /// Texts `send_message` queued in this run; the loop sends each as an intermediate reply.
    pub outbox: Mutex<Vec<String>>,
    pub web: web::WebSettings,
    /// The conversation's files with the handed credentials (`send_file` writes the outbox).
    pub files: Option<Arc<dyn clawless_core::ports::ConversationFiles>>,
    /// Files `send_file` handed over in this run; they go with the final answer.
    pub outgoing: Mutex<Vec<clawless_core::domain::media::OutgoingFile>>,
    /// The message the run answers (its id names the run's outbox folder).
    pub run_id: String,
    /// The bot's skills with the handed credentials (`skill_read`); `None` without them.
    pub skills: Option<Arc<crate::skills::RunSkills>>,
}

impl ToolContext {
    /// The span a call of `tool` runs in: the tool, and whose data it acts on. Inside a run it
    /// is a child of the run's span; a tool called on its own still says whose data it touched.
    pub fn span(&self, tool: ToolName) -> Span {
        tracing::info_span!(
            "tool",
            tool = %tool,
            tenant_id = %self.conversation.tenant_id,
            bot_id = %self.conversation.bot_id,
        )
    }

    pub fn queue_message(&self, text: String) {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner).push(text);
    }

    pub fn queue_file(&self, file: clawless_core::domain::media::OutgoingFile) {
        self.outgoing.lock().unwrap_or_else(PoisonError::into_inner).push(file);
    }

    pub fn outgoing_len(&self) -> usize {
        self.outgoing.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The files handed over in this run, taken for the final answer.
    pub fn take_files(&self) -> Vec<clawless_core::domain::media::OutgoingFile> {
        std::mem::take(&mut *self.outgoing.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The texts queued after the first `start` (the loop sends them after each response). The
    /// outbox keeps every text of the run, so [`Self::outbox_len`] counts the whole run.
    pub fn outbox_from(&self, start: usize) -> Vec<String> {
        let outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        outbox.get(start..).map(<[String]>::to_vec).unwrap_or_default()
    }
}

#[async_trait]
pub trait Tool: Send + Sync + 'static {
    fn spec(&self) -> ToolSpec;
    /// Runs the tool. `input` has already passed [`validate_input`].
    async fn call(&self, ctx: &ToolContext, input: &Value) -> Result<String, ToolError>;
}

/// A built-in tool: its input is one [`TypedTool::Input`], which gives both the schema the
/// model is offered and the parsing of its calls (see [`input`]).
#[async_trait]
pub trait TypedTool: Send + Sync + 'static {
    type Input: DeserializeOwned + JsonSchema + Send;

    fn name(&self) -> ToolName;
    /// What the model is told the tool does.
    fn description(&self) -> String;
    /// Runs the tool on an input that parsed.
    async fn run(&self, ctx: &ToolContext, input: Self::Input) -> Result<String, ToolError>;
}

#[async_trait]
impl<T: TypedTool> Tool for T {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name().as_str().to_owned(),
            description: self.description(),
            input_schema: input_schema::<T::Input>(),
        }
    }

    async fn call(&self, ctx: &ToolContext, input: &Value) -> Result<String, ToolError> {
        let input = parse_input::<T::Input>(input)?;
        self.run(ctx, input).instrument(ctx.span(self.name())).await
    }
}

/// The built-in tools by name.
#[derive(Clone)]
pub struct ToolBox {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolBox {
    /// Every built-in tool that needs only its [`ToolContext`]; the task tools also need the
    /// tenant's services and are added by [`tasks::register`].
    pub fn builtin() -> Self {
        let mut b = Self::empty();
        b.add(Arc::new(send_message::SendMessage));
        b.add(Arc::new(send_file::SendFile));
        b.add(Arc::new(memory::MemoryRead));
        b.add(Arc::new(memory::MemoryWrite));
        b.add(Arc::new(skills::SkillRead));
        b.add(Arc::new(file::FileRead));
        b.add(Arc::new(file::FileWrite));
        b.add(Arc::new(shell::Shell));
        b.add(Arc::new(web::WebSearch));
        b.add(Arc::new(web::WebFetch));
        b
    }

    pub fn empty() -> Self {
        Self { tools: BTreeMap::new() }
    }

    pub fn add(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.spec().name, tool);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    /// Specs of the tools the profile allows, by name.
    pub fn offered(&self, profile: &PermissionProfile) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .filter(|(name, _)| profile.decide(name) == clawless_core::domain::permissions::ToolDecision::Allowed)
            .map(|(_, t)| t.spec())
            .collect()
    }
}

/// Cuts a tool's output for the model, keeping head and tail.
pub fn truncate_output(text: &str) -> String {
    crate::memory::head_tail(text, MAX_OUTPUT_CHARS)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use strum::VariantArray;

    use super::*;
    use crate::services::MemoryServices;

    /// Every key in `schema` and its subschemas that a provider may not take, with its path.
    fn unwelcome(schema: &Value, path: &str, found: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                for (key, value) in map {
                    if ["$ref", "$defs", "definitions", "$schema", "title", "format", "anyOf", "oneOf"]
                        .contains(&key.as_str())
                        || (key == "type" && !value.is_string())
                    {
                        found.push(format!("{path}/{key}"));
                    }
                    unwelcome(value, &format!("{path}/{key}"), found);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| unwelcome(item, path, found)),
            _ => {}
        }
    }

    #[test]
    fn every_tool_has_a_plain_object_schema_under_its_name() {
        let mut tools = ToolBox::builtin();
        tasks::register(&mut tools, Arc::new(MemoryServices::default()));
        let names: BTreeSet<&str> = tools.tools.keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = ToolName::VARIANTS.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, expected, "one tool per name");

        for name in ToolName::VARIANTS {
            let spec = tools.get(name.as_str()).map(|t| t.spec()).unwrap();
            assert_eq!(spec.name, name.as_str());
            let schema = &spec.input_schema;
            assert_eq!(schema["type"], "object", "{name}");
            let properties = schema["properties"].as_object().unwrap_or_else(|| panic!("{name} lists properties"));
            for (field, property) in properties {
                assert!(property["type"].is_string(), "{name}.{field} has one type: {property}");
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                assert!(properties.contains_key(required.as_str().unwrap_or_default()), "{name}: {required}");
            }
            let mut found = Vec::new();
            unwelcome(schema, "", &mut found);
            assert!(found.is_empty(), "{name}: {found:?} in {schema}");
        }
    }
}
