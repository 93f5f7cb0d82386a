//! The agent's built-in tools. Each is one [`Tool`]; the [`ToolBox`] offers the model only the
//! tools the tenant's profile allows, and the loop checks every call again before it runs
//! (see [`crate::agent_loop`]).
//!
//! Tools never see another session's files or another tenant's memory: everything they touch
//! comes through the [`ToolContext`] built for this run.

pub mod file;
pub mod memory;
pub mod send_message;
pub mod shell;
pub mod tasks;
pub mod web;
pub mod workspace;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use clawless_shared::ids::ConversationRef;
use clawless_shared::permissions::PermissionProfile;
use serde_json::Value;

use crate::memory::MemoryLayers;
use crate::provider::ToolSpec;

/// Longest tool input the agent accepts, in characters; longer string values are cut.
pub const MAX_INPUT_CHARS: usize = 32_000;
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
    /// Texts `send_message` queued; the loop sends them as intermediate replies.
    pub outbox: Mutex<Vec<String>>,
    pub web: web::WebSettings,
}

impl ToolContext {
    pub fn queue_message(&self, text: String) {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner).push(text);
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn take_outbox(&self) -> Vec<String> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
pub trait Tool: Send + Sync + 'static {
    fn spec(&self) -> ToolSpec;
    /// Runs the tool. `input` has already been truncated to [`MAX_INPUT_CHARS`].
    async fn call(&self, ctx: &ToolContext, input: &Value) -> Result<String, ToolError>;
}

/// The built-in tools by name.
#[derive(Clone)]
pub struct ToolBox {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolBox {
    /// Every built-in tool of this scope.
    pub fn builtin() -> Self {
        let mut b = Self::empty();
        b.add(Arc::new(send_message::SendMessage));
        b.add(Arc::new(memory::MemoryRead));
        b.add(Arc::new(memory::MemoryWrite));
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
        let allowed = profile.allowed_tools();
        self.tools.iter().filter(|(name, _)| allowed.contains(*name)).map(|(_, t)| t.spec()).collect()
    }
}

/// Cuts every string in `input` to at most [`MAX_INPUT_CHARS`] characters in all.
pub fn truncate_input(input: &Value) -> Value {
    fn walk(v: &Value, budget: &mut usize) -> Value {
        match v {
            Value::String(s) => {
                let kept: String = s.chars().take(*budget).collect();
                *budget -= kept.chars().count();
                Value::String(kept)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, budget)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), walk(v, budget))).collect()),
            other => other.clone(),
        }
    }
    let mut budget = MAX_INPUT_CHARS;
    walk(input, &mut budget)
}

/// Cuts a tool's output for the model, keeping head and tail.
pub fn truncate_output(text: &str) -> String {
    crate::memory::head_tail(text, MAX_OUTPUT_CHARS)
}

/// The string field `key` of a tool input, or a clear error.
pub fn required_str<'a>(input: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    input
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::InvalidInput(format!("`{key}` (a string) is required")))
}

pub fn optional_str<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}
