//! Permission profiles: which tools a tenant's agent may run, enforced in code by the agent
//! before every tool call (an instruction in the prompt alone can be talked around by what the
//! model reads).
//!
//! Resolution: the end user's override, else the tenant's profile, else [`PermissionProfile::least_privilege`]
//! (replying and memory only). Tools in [`ALWAYS_BLOCKED`] never run, whatever a profile says.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Tools no profile can allow: they would let the agent change its own code or run arbitrary code
/// outside the sandboxed tools.
pub const ALWAYS_BLOCKED: [&str; 3] = ["install_skill", "load_extension", "eval"];

/// Tools every agent has, profile or not: answering, its own memory, and reading the skills its
/// operator installed for its bot.
pub const ALWAYS_ALLOWED: [&str; 4] = ["send_message", "memory_read", "memory_write", "skill_read"];

/// Every tool the platform knows, privileged ones included.
pub const KNOWN_TOOLS: [&str; 17] = [
    "send_message",
    "send_file",
    "memory_read",
    "memory_write",
    "skill_read",
    "file",
    "file_write",
    "shell",
    "web_search",
    "web_fetch",
    "schedule_task",
    "list_tasks",
    "pause_task",
    "resume_task",
    "cancel_task",
    "update_task",
    "approve",
];

/// Longest tool name the platform accepts.
pub const MAX_TOOL_NAME: usize = 64;

/// Tool names match `[a-zA-Z0-9_]{1,64}`.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_TOOL_NAME && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What a profile lets the agent do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionProfile {
    /// The preset it was made from, if any (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Tools allowed beyond [`ALWAYS_ALLOWED`].
    #[serde(default)]
    pub tools: BTreeSet<String>,
    /// `shell` may only run read-only commands (see the agent's shell tool).
    #[serde(default)]
    pub shell_read_only: bool,
    /// `file`/`file_write` paths must start with one of these (workspace-relative); empty = anywhere
    /// in the workspace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_prefixes: Vec<String>,
    /// Who last changed it and when (ms), for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown preset {given:?} (presets: {accepted})")]
    UnknownPreset { given: String, accepted: String },
    #[error("invalid tool name {0:?} (tool names match [a-zA-Z0-9_]{{1,64}})")]
    InvalidToolName(String),
    #[error("unknown tool {given:?} (tools: {accepted})")]
    UnknownTool { given: String, accepted: String },
    #[error("tool {0:?} is always blocked and cannot be allowed")]
    AlwaysBlocked(String),
    #[error("invalid MCP profile entry (mcp:<server> or mcp:<server>:<tool>): {0}")]
    InvalidMcpEntry(String),
    #[error("stored profile is not valid JSON: {0}")]
    Malformed(String),
}

/// The named presets, one per kind of work a company gives its agents (finance, the web, the ERP,
/// reading only, approving).
pub const PRESETS: [&str; 5] = ["finance-agent", "web-agent", "erp-agent", "readonly-agent", "approver"];

impl PermissionProfile {
    /// No tools beyond replying and memory: the default when nothing is configured.
    pub fn least_privilege() -> Self {
        Self::default()
    }

    pub fn preset(name: &str) -> Result<Self, ProfileError> {
        let (tools, shell_read_only): (&[&str], bool) = match name {
            "finance-agent" => (&["web_search", "shell", "file", "send_file"], true),
            "web-agent" => (
                &[
                    "file",
                    "file_write",
                    "send_file",
                    "shell",
                    "web_search",
                    "web_fetch",
                    "schedule_task",
                    "list_tasks",
                    "pause_task",
                    "resume_task",
                    "cancel_task",
                    "update_task",
                ],
                false,
            ),
            "erp-agent" => (&["web_search", "shell", "file", "file_write", "send_file"], false),
            "readonly-agent" => (&["web_search"], false),
            // The approver decides permission requests; as an agent it only reads.
            "approver" => (&["approve", "web_search", "file"], false),
            other => {
                return Err(ProfileError::UnknownPreset {
                    given: other.chars().take(40).collect(),
                    accepted: PRESETS.join(", "),
                });
            }
        };
        Ok(Self {
            preset: Some(name.to_owned()),
            tools: tools.iter().map(|t| (*t).to_owned()).collect(),
            shell_read_only,
            ..Self::default()
        })
    }

    /// A profile allowing exactly `tools` (validated: known, well-formed, never always-blocked).
    pub fn with_tools<I, S>(tools: I) -> Result<Self, ProfileError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for tool in tools {
            let tool = tool.as_ref().trim();
            if tool.is_empty() {
                continue;
            }
            validate_grantable(tool)?;
            set.insert(tool.to_owned());
        }
        Ok(Self { tools: set, ..Self::default() })
    }

    /// Adds one tool (a persistent approval). An MCP tool's model-facing name is stored as the
    /// profile entry for exactly that tool (`mcp:{server}:{tool}`).
    pub fn grant(&mut self, tool: &str) -> Result<bool, ProfileError> {
        let entry = crate::domain::extensions::McpGrant::for_tool_name(tool).unwrap_or_else(|| tool.to_owned());
        validate_grantable(&entry)?;
        Ok(self.tools.insert(entry))
    }

    /// Whether `tool` may run under this profile, before any approval token.
    pub fn decide(&self, tool: &str) -> ToolDecision {
        if !is_valid_tool_name(tool) {
            return ToolDecision::Invalid;
        }
        if ALWAYS_BLOCKED.contains(&tool) {
            return ToolDecision::Blocked;
        }
        if ALWAYS_ALLOWED.contains(&tool) || self.tools.contains(tool) || self.allows_mcp_tool(tool) {
            return ToolDecision::Allowed;
        }
        ToolDecision::NeedsApproval
    }

    /// Whether `tool`, a model-facing MCP name `mcp__{server}__{tool}`, is allowed by an
    /// `mcp:{server}` or `mcp:{server}:{tool}` entry.
    fn allows_mcp_tool(&self, tool: &str) -> bool {
        let Some((server, name)) = crate::domain::extensions::parse_mcp_tool_name(tool) else { return false };
        self.tools.contains(&format!("mcp:{server}")) || self.tools.contains(&format!("mcp:{server}:{name}"))
    }

    /// The tools the model is offered (allowed ones only).
    pub fn allowed_tools(&self) -> BTreeSet<String> {
        ALWAYS_ALLOWED
            .iter()
            .map(|t| (*t).to_owned())
            .chain(self.tools.iter().filter(|t| !ALWAYS_BLOCKED.contains(&t.as_str())).cloned())
            .collect()
    }

    /// Parses a stored profile, dropping always-blocked tools a hand edit may have added.
    pub fn from_json(raw: &str) -> Result<Self, ProfileError> {
        let mut profile: Self = serde_json::from_str(raw).map_err(|e| ProfileError::Malformed(e.to_string()))?;
        profile.tools.retain(|t| {
            (is_valid_tool_name(t) && !ALWAYS_BLOCKED.contains(&t.as_str()))
                || matches!(crate::domain::extensions::McpGrant::parse(t), Some(Ok(_)))
        });
        Ok(profile)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

fn validate_grantable(tool: &str) -> Result<(), ProfileError> {
    // `mcp:{server}` / `mcp:{server}:{tool}`: the bot's MCP servers, checked when they are called.
    if let Some(entry) = crate::domain::extensions::McpGrant::parse(tool) {
        return entry.map(|_| ()).map_err(|e| ProfileError::InvalidMcpEntry(e.to_string()));
    }
    if !is_valid_tool_name(tool) {
        return Err(ProfileError::InvalidToolName(tool.chars().take(80).collect()));
    }
    if ALWAYS_BLOCKED.contains(&tool) {
        return Err(ProfileError::AlwaysBlocked(tool.to_owned()));
    }
    if !KNOWN_TOOLS.contains(&tool) {
        return Err(ProfileError::UnknownTool { given: tool.to_owned(), accepted: KNOWN_TOOLS.join(", ") });
    }
    Ok(())
}

/// The verdict on one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolDecision {
    Allowed,
    /// Outside the profile: not run; a permission request goes to the approver.
    NeedsApproval,
    /// Always blocked: never run, never approvable.
    Blocked,
    /// Not a well-formed tool name.
    Invalid,
}

/// Who a profile override is for: an end user of a bot, on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserRef {
    pub channel: crate::domain::model::ChannelKind,
    pub user_id: String,
}

impl UserRef {
    /// Parses `<channel>:<user id>`. The user id is kept to a safe character set because it
    /// becomes part of a parameter name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (channel, user) = raw.split_once(':').ok_or_else(|| format!("{raw:?} is not <channel>:<user id>"))?;
        let channel: crate::domain::model::ChannelKind = channel.parse().map_err(|e| format!("{e}"))?;
        Self::new(channel, user)
    }

    pub fn new(channel: crate::domain::model::ChannelKind, user_id: &str) -> Result<Self, String> {
        let ok = !user_id.is_empty()
            && user_id.len() <= 128
            && user_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
        if !ok {
            return Err(format!(
                "user id {:?} must be 1-128 of [A-Za-z0-9_.@-]",
                user_id.chars().take(40).collect::<String>()
            ));
        }
        Ok(Self { channel, user_id: user_id.to_owned() })
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel, self.user_id)
    }
}

/// How much harm a tool can do if misused: shown to the approver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn of_tool(tool: &str) -> Self {
        match tool {
            "shell" | "file_write" => RiskLevel::High,
            "web_fetch" | "file" | "send_file" | "schedule_task" | "update_task" => RiskLevel::Medium,
            // A remote server's tool: what it does is the server's, so an approver looks closer.
            t if t.starts_with(crate::domain::extensions::MCP_TOOL_PREFIX) => RiskLevel::Medium,
            _ => RiskLevel::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

/// How long a permission request waits for a decision.
pub const REQUEST_TTL_MS: i64 = 30 * 60 * 1000;
/// Longest arguments (canonical JSON, in bytes) a permission request may carry. A request travels
/// as one queue message and is stored as one table item, and an approver should be able to read
/// what they approve; larger calls are not put to an approver.
pub const MAX_REQUEST_ARGUMENTS_BYTES: usize = 32_000;

/// A run asked for a tool outside its profile. Stored durably; the approver decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRequest {
    /// Stable for the same message, tool and arguments, so a redone run asks once.
    pub request_id: crate::domain::ids::RequestId,
    #[serde(flatten)]
    pub conversation: crate::domain::ids::ConversationRef,
    /// The message whose run asked.
    pub in_reply_to: crate::domain::ids::MessageId,
    pub requester_id: String,
    pub requester_name: String,
    pub tool: String,
    /// The arguments as canonical JSON (keys sorted), exactly what an approval covers.
    pub arguments: String,
    /// Hex SHA-256 of `arguments`.
    pub arguments_hash: String,
    pub reason: String,
    pub risk: RiskLevel,
    pub status: RequestStatus,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// When the message that asked was sent (with `in_reply_to`, it keys that message).
    #[serde(default)]
    pub in_reply_to_at_ms: i64,
    /// Where the requester hears the outcome.
    pub route: crate::domain::model::ReplyRoute,
    /// The decision, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionRecord>,
    /// A once-approval is used up when the dispatcher hands it to the run it resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at_ms: Option<i64>,
    /// The message whose run it was handed to (a redelivery of that message gets it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
}

/// Who decided a request, how and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// `once`, `temporary`, `persistent`, `rejected` or `expired`.
    pub how: String,
    /// `<channel>:<user id>` of the approver, or `timeout`.
    pub by: String,
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The approver's message that decided it (a retry of that message redoes the side effects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl PermissionRequest {
    /// A pending request for `tool` with `arguments`, asked while answering `message`.
    pub fn new(
        conversation: &crate::domain::ids::ConversationRef,
        message: &crate::domain::model::InboundMessage,
        tool: &str,
        arguments: &serde_json::Value,
        reason: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Self {
        use sha2::{Digest, Sha256};
        // serde_json's map is ordered by key, so this is canonical.
        let canonical = serde_json::to_string(arguments).unwrap_or_else(|_| "null".to_owned());
        let arguments_hash = hex::encode(Sha256::digest(canonical.as_bytes()));
        let id_source = format!("{}|{}|{tool}|{arguments_hash}", conversation.partition_key(), message.message_id);
        // "pr" and 20 hex digits: a valid id by construction.
        let request_id =
            crate::domain::ids::RequestId::from_digest(&hex::encode(Sha256::digest(id_source.as_bytes()))[..20]);
        Self {
            request_id,
            conversation: conversation.clone(),
            in_reply_to: message.message_id.clone(),
            requester_id: message.sender.id.clone(),
            requester_name: message.sender.name.clone(),
            tool: tool.to_owned(),
            arguments: canonical,
            arguments_hash,
            reason: reason.chars().take(500).collect(),
            risk: RiskLevel::of_tool(tool),
            status: RequestStatus::Pending,
            created_at_ms: now_ms,
            expires_at_ms: now_ms + ttl_ms,
            in_reply_to_at_ms: message.sent_at_ms,
            route: message.route.clone(),
            decision: None,
            used_at_ms: None,
            used_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_privilege_allows_only_replying_and_memory() {
        let p = PermissionProfile::least_privilege();
        assert_eq!(p.decide("send_message"), ToolDecision::Allowed);
        assert_eq!(p.decide("memory_write"), ToolDecision::Allowed);
        assert_eq!(p.decide("skill_read"), ToolDecision::Allowed);
        assert_eq!(p.decide("install_skill"), ToolDecision::Blocked);
        assert_eq!(p.decide("shell"), ToolDecision::NeedsApproval);
        assert_eq!(p.decide("eval"), ToolDecision::Blocked);
        assert_eq!(p.decide("bad name!"), ToolDecision::Invalid);
        assert_eq!(p.decide(&"x".repeat(65)), ToolDecision::Invalid);
        assert_eq!(p.allowed_tools().len(), 4);
    }

    #[test]
    fn presets_match_the_seed_roles() {
        let finance = PermissionProfile::preset("finance-agent").unwrap();
        assert!(finance.shell_read_only);
        assert_eq!(finance.decide("file"), ToolDecision::Allowed);
        assert_eq!(finance.decide("file_write"), ToolDecision::NeedsApproval);
        let readonly = PermissionProfile::preset("readonly-agent").unwrap();
        assert_eq!(readonly.decide("web_search"), ToolDecision::Allowed);
        assert_eq!(readonly.decide("shell"), ToolDecision::NeedsApproval);
        let web = PermissionProfile::preset("web-agent").unwrap();
        assert_eq!(web.decide("web_fetch"), ToolDecision::Allowed);
        assert_eq!(web.decide("install_skill"), ToolDecision::Blocked, "always blocked beats every preset");
        let err = PermissionProfile::preset("root").unwrap_err();
        assert!(err.to_string().contains("finance-agent"));
    }

    #[test]
    fn always_blocked_tools_cannot_be_granted_or_smuggled_in() {
        assert_eq!(PermissionProfile::with_tools(["eval"]), Err(ProfileError::AlwaysBlocked("eval".into())));
        assert!(matches!(PermissionProfile::with_tools(["rm_rf"]), Err(ProfileError::UnknownTool { .. })));
        assert!(matches!(PermissionProfile::with_tools(["a b"]), Err(ProfileError::InvalidToolName(_))));
        let stored = r#"{"tools":["shell","eval","load_extension"]}"#;
        let p = PermissionProfile::from_json(stored).unwrap();
        assert_eq!(p.tools.iter().map(String::as_str).collect::<Vec<_>>(), ["shell"]);
        assert_eq!(p.decide("eval"), ToolDecision::Blocked);
    }

    #[test]
    fn profiles_round_trip() {
        let mut p = PermissionProfile::with_tools(["shell", " file "]).unwrap();
        assert!(p.grant("web_fetch").unwrap());
        assert!(!p.grant("web_fetch").unwrap());
        assert_eq!(PermissionProfile::from_json(&p.to_json()).unwrap(), p);
    }

    #[test]
    fn user_refs_parse_safely() {
        let u = UserRef::parse("telegram:4242").unwrap();
        assert_eq!(u.to_string(), "telegram:4242");
        assert!(UserRef::parse("telegram:../x").is_err());
        assert!(UserRef::parse("fax:1").is_err());
        assert!(UserRef::parse("4242").is_err());
    }

    #[test]
    fn mcp_tools_are_allowed_per_server_or_per_tool() {
        let p = PermissionProfile::with_tools(["mcp:crm", "mcp:erp:read_order"]).unwrap();
        assert_eq!(p.decide("mcp__crm__lookup"), ToolDecision::Allowed);
        assert_eq!(p.decide("mcp__crm__delete_all"), ToolDecision::Allowed);
        assert_eq!(p.decide("mcp__erp__read_order"), ToolDecision::Allowed);
        assert_eq!(p.decide("mcp__erp__write_order"), ToolDecision::NeedsApproval);
        assert_eq!(p.decide("mcp__other__lookup"), ToolDecision::NeedsApproval);
        // A built-in's name is never an MCP entry's, whatever the profile holds.
        assert_eq!(p.decide("shell"), ToolDecision::NeedsApproval);
        assert!(PermissionProfile::with_tools(["mcp:Bad"]).is_err());
        assert!(PermissionProfile::with_tools(["mcp:crm:has-dash"]).is_err());
        assert!(PermissionProfile::with_tools(["mcp__crm__lookup"]).is_err(), "the model's name is not an entry");
        assert_eq!(RiskLevel::of_tool("mcp__crm__lookup"), RiskLevel::Medium);
    }

    #[test]
    fn a_persistent_approval_of_an_mcp_tool_allows_that_tool_only() {
        let mut p = PermissionProfile::least_privilege();
        assert!(p.grant("mcp__crm__lookup").unwrap());
        assert!(p.tools.contains("mcp:crm:lookup"));
        assert_eq!(p.decide("mcp__crm__lookup"), ToolDecision::Allowed);
        assert_eq!(p.decide("mcp__crm__other"), ToolDecision::NeedsApproval);
        let stored = PermissionProfile::from_json(&p.to_json()).unwrap();
        assert_eq!(stored.decide("mcp__crm__lookup"), ToolDecision::Allowed);
    }
}
