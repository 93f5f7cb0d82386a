//! Extensions an operator adds to a bot or tenant: remote MCP servers and the tenant's own model
//! provider. What is stored (`McpServerConfig`, `ProviderConfig`) names its secret by parameter
//! only; what an invocation carries (`McpServerGrant`, `ProviderGrant`) holds the secret itself,
//! resolved by the dispatcher for the invocation's own bot and tenant and nothing else.
//!
//! MCP tools reach the model as `mcp__{server}__{tool}`; a profile allows them as `mcp:{server}`
//! (every tool of the server) or `mcp:{server}:{tool}` (see
//! [`crate::domain::permissions::PermissionProfile::decide`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::permissions::{MAX_TOOL_NAME, is_valid_tool_name};
use crate::domain::secrets::Secret;

/// What comes before an MCP tool's name in the name the model calls it by.
pub const MCP_TOOL_PREFIX: &str = "mcp__";
/// What a profile entry for MCP tools starts with.
pub const MCP_PROFILE_PREFIX: &str = "mcp:";
/// Longest server name.
pub const MAX_MCP_SERVER_NAME: usize = 24;
/// Most MCP servers per bot.
pub const MAX_MCP_SERVERS: usize = 10;
/// A call's time limit when the operator sets none, and the most it may be.
pub const DEFAULT_MCP_TIMEOUT_S: u32 = 30;
pub const MAX_MCP_TIMEOUT_S: u32 = 120;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("invalid MCP server name {0:?}: 1-24 of [a-z0-9_], starting with a letter, no \"__\", not ending in \"_\"")]
    ServerName(String),
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid header name {0:?}: 1-64 of [A-Za-z0-9-], and not one the MCP transport sets itself")]
    HeaderName(String),
    #[error("invalid timeout {0}: 1-120 seconds")]
    Timeout(u32),
    #[error("unknown provider type {0:?} (types: bedrock, anthropic, openai)")]
    ProviderType(String),
    #[error("invalid model {0:?}: 1-128 printable characters")]
    Model(String),
    #[error("{0}")]
    ProviderSettings(String),
}

/// The name an operator gives an MCP server of a bot: `[a-z][a-z0-9_]{0,23}`, no `__` (which
/// separates server and tool in a tool's name) and no trailing `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct McpServerName(String);

impl McpServerName {
    pub fn parse(raw: &str) -> Result<Self, ExtensionError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_MCP_SERVER_NAME
            && raw.as_bytes()[0].is_ascii_lowercase()
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !raw.contains("__")
            && !raw.ends_with('_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(ExtensionError::ServerName(raw.chars().take(40).collect())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for McpServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for McpServerName {
    type Error = ExtensionError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<McpServerName> for String {
    fn from(value: McpServerName) -> Self {
        value.0
    }
}

/// The name the model calls `server`'s `tool` by, if it is a valid tool name (`[A-Za-z0-9_]`,
/// at most 64 characters in all). Tools whose names do not fit are not offered.
pub fn mcp_tool_name(server: &McpServerName, tool: &str) -> Option<String> {
    let name = format!("{MCP_TOOL_PREFIX}{server}__{tool}");
    (!tool.is_empty() && name.len() <= MAX_TOOL_NAME && is_valid_tool_name(&name)).then_some(name)
}

/// The server and tool a model-facing name `mcp__{server}__{tool}` names (the server name holds
/// no `__`, so the first one after the prefix separates them).
pub fn parse_mcp_tool_name(name: &str) -> Option<(McpServerName, &str)> {
    let rest = name.strip_prefix(MCP_TOOL_PREFIX)?;
    let (server, tool) = rest.split_once("__")?;
    let server = McpServerName::parse(server).ok()?;
    (!tool.is_empty() && is_valid_tool_name(name)).then_some((server, tool))
}

/// A profile entry for MCP tools: `mcp:{server}` or `mcp:{server}:{tool}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpGrant {
    Server(McpServerName),
    Tool(McpServerName, String),
}

impl McpGrant {
    /// Parses a profile entry; `None` if it is not an MCP entry at all, `Some(Err)` if it is one
    /// that is malformed.
    pub fn parse(entry: &str) -> Option<Result<Self, ExtensionError>> {
        let rest = entry.strip_prefix(MCP_PROFILE_PREFIX)?;
        Some(match rest.split_once(':') {
            None => McpServerName::parse(rest).map(McpGrant::Server),
            Some((server, tool)) => McpServerName::parse(server).and_then(|s| {
                if mcp_tool_name(&s, tool).is_some() {
                    Ok(McpGrant::Tool(s, tool.to_owned()))
                } else {
                    Err(ExtensionError::ServerName(format!("{server}:{tool}")))
                }
            }),
        })
    }

    /// The profile entry that allows exactly the tool a model-facing name names.
    pub fn for_tool_name(name: &str) -> Option<String> {
        let (server, tool) = parse_mcp_tool_name(name)?;
        Some(format!("{MCP_PROFILE_PREFIX}{server}:{tool}"))
    }
}

/// An absolute `https://` URL, or `http://` to this machine (a local server beside the agent).
/// Userinfo is refused: a secret belongs in the stored header, never in a URL that is shown.
pub fn check_url(raw: &str) -> Result<String, ExtensionError> {
    let bad = |reason: &str| ExtensionError::Url { url: raw.chars().take(120).collect(), reason: reason.to_owned() };
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL are not allowed; use --secret-header"));
    }
    let host = url.host_str().ok_or_else(|| bad("no host"))?;
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1");
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => return Err(bad("must be https (plain http only to localhost)")),
        _ => return Err(bad("must be an https URL")),
    }
    if raw.len() > 512 {
        return Err(bad("longer than 512 characters"));
    }
    Ok(url.to_string())
}

/// Header names the MCP transport sets itself, which a stored secret header may not replace.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-type",
    "content-length",
    "accept",
    "connection",
    "transfer-encoding",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

pub fn check_header_name(raw: &str) -> Result<String, ExtensionError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !RESERVED_HEADERS.contains(&raw.to_ascii_lowercase().as_str());
    if ok { Ok(raw.to_owned()) } else { Err(ExtensionError::HeaderName(raw.chars().take(64).collect())) }
}

pub fn check_timeout(seconds: u32) -> Result<u32, ExtensionError> {
    if (1..=MAX_MCP_TIMEOUT_S).contains(&seconds) { Ok(seconds) } else { Err(ExtensionError::Timeout(seconds)) }
}

/// A tool an MCP server listed when it was added (what `mcp list` shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpToolInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A remote MCP server registered for a bot, as stored. Its secret header's value is in the
/// parameter `secret_parameter` (a SecureString), never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpServerConfig {
    pub name: McpServerName,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_parameter: Option<String>,
    pub timeout_s: u32,
    /// The tools it listed when it was added.
    #[serde(default)]
    pub tools: Vec<McpToolInfo>,
    pub added_at_ms: i64,
}

/// A header an MCP server wants, with its value (a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHeader {
    pub name: String,
    pub value: Secret,
}

/// An MCP server of the invocation's bot, as the agent connects to it for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpServerGrant {
    pub name: McpServerName,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<SecretHeader>,
    pub timeout_s: u32,
}

/// The model providers a tenant can bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    Bedrock,
    Anthropic,
    Openai,
}

impl ProviderType {
    pub const ALL: [ProviderType; 3] = [ProviderType::Bedrock, ProviderType::Anthropic, ProviderType::Openai];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderType::Bedrock => "bedrock",
            ProviderType::Anthropic => "anthropic",
            ProviderType::Openai => "openai",
        }
    }
}

impl fmt::Display for ProviderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderType {
    type Err = ExtensionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ExtensionError::ProviderType(s.chars().take(40).collect()))
    }
}

/// The Anthropic Messages API's address when a tenant names none.
pub const ANTHROPIC_DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// A tenant's (or one bot's) own model provider, as stored. The key, if any, is in the
/// parameter `key_parameter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderConfig {
    #[serde(rename = "type")]
    pub kind: ProviderType,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_parameter: Option<String>,
    pub updated_at_ms: i64,
}

impl ProviderConfig {
    /// Checks what an operator sets: a model; a base URL only where the type takes one (the
    /// OpenAI-compatible type needs one); a key for Anthropic, none for Bedrock (it signs with
    /// the platform's role).
    pub fn check(
        kind: ProviderType,
        model: &str,
        base_url: Option<&str>,
        has_key: bool,
    ) -> Result<(String, Option<String>), ExtensionError> {
        let model_ok = !model.is_empty() && model.len() <= 128 && model.chars().all(|c| c.is_ascii_graphic());
        if !model_ok {
            return Err(ExtensionError::Model(model.chars().take(40).collect()));
        }
        let base_url = base_url.map(check_url).transpose()?;
        match kind {
            ProviderType::Bedrock if base_url.is_some() => {
                Err(ExtensionError::ProviderSettings("bedrock takes no --base-url".into()))
            }
            ProviderType::Bedrock if has_key => Err(ExtensionError::ProviderSettings(
                "bedrock takes no API key: it is called with the platform's role".into(),
            )),
            ProviderType::Openai if base_url.is_none() => {
                Err(ExtensionError::ProviderSettings("openai needs --base-url (an OpenAI-compatible /v1 URL)".into()))
            }
            ProviderType::Anthropic if !has_key => {
                Err(ExtensionError::ProviderSettings("anthropic needs --api-key-stdin".into()))
            }
            _ => Ok((model.to_owned(), base_url)),
        }
    }
}

/// The provider a run uses, with its key: the bot's own setting, else the tenant's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderGrant {
    #[serde(rename = "type")]
    pub kind: ProviderType,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_keep_the_separator_unambiguous() {
        for ok in ["crm", "order_db", "a1", "abcdefghijklmnopqrstuvwx"] {
            assert!(McpServerName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Crm", "1crm", "a__b", "crm_", "a-b", "abcdefghijklmnopqrstuvwxy", "a b", "crm:x"] {
            assert!(McpServerName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tool_names_round_trip() {
        let server = McpServerName::parse("order_db").unwrap();
        let name = mcp_tool_name(&server, "lookup__by_id").unwrap();
        assert_eq!(name, "mcp__order_db__lookup__by_id");
        let (s, t) = parse_mcp_tool_name(&name).unwrap();
        assert_eq!((s.as_str(), t), ("order_db", "lookup__by_id"));
        assert_eq!(mcp_tool_name(&server, "has-dash"), None);
        assert_eq!(mcp_tool_name(&server, &"x".repeat(60)), None);
        assert_eq!(parse_mcp_tool_name("file_write"), None);
        assert_eq!(parse_mcp_tool_name("mcp__Bad__x"), None);
        assert_eq!(parse_mcp_tool_name("mcp__crm__"), None);
    }

    #[test]
    fn profile_entries_parse() {
        let crm = McpServerName::parse("crm").unwrap();
        assert_eq!(McpGrant::parse("mcp:crm"), Some(Ok(McpGrant::Server(crm.clone()))));
        assert_eq!(McpGrant::parse("mcp:crm:lookup"), Some(Ok(McpGrant::Tool(crm, "lookup".into()))));
        assert!(matches!(McpGrant::parse("mcp:Crm"), Some(Err(_))));
        assert!(matches!(McpGrant::parse("mcp:crm:a-b"), Some(Err(_))));
        assert_eq!(McpGrant::parse("shell"), None);
        assert_eq!(McpGrant::for_tool_name("mcp__crm__lookup").as_deref(), Some("mcp:crm:lookup"));
    }

    #[test]
    fn urls_are_https_or_local() {
        assert!(check_url("https://mcp.example.com/mcp").is_ok());
        assert!(check_url("http://127.0.0.1:8080/mcp").is_ok());
        assert!(check_url("http://localhost:1/mcp").is_ok());
        for bad in ["http://mcp.example.com/mcp", "ftp://x/", "https://user:pw@x.example/", "not a url", "file:///etc"]
        {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_names_are_tokens_the_transport_does_not_own() {
        assert!(check_header_name("X-Api-Key").is_ok());
        assert!(check_header_name("Authorization").is_ok());
        for bad in ["", "Host", "mcp-session-id", "X Api", "X:Y", &"x".repeat(65)] {
            assert!(check_header_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn provider_settings_are_checked_per_type() {
        use ProviderType::*;
        assert!(ProviderConfig::check(Bedrock, "anthropic.claude", None, false).is_ok());
        assert!(ProviderConfig::check(Bedrock, "m", Some("https://x.example"), false).is_err());
        assert!(ProviderConfig::check(Bedrock, "m", None, true).is_err());
        assert!(ProviderConfig::check(Openai, "gpt", None, true).is_err());
        assert!(ProviderConfig::check(Openai, "gpt", Some("http://127.0.0.1:9/v1"), false).is_ok());
        assert!(ProviderConfig::check(Anthropic, "claude", None, false).is_err());
        assert!(ProviderConfig::check(Anthropic, "claude", None, true).is_ok());
        assert!(ProviderConfig::check(Anthropic, "", None, true).is_err());
        assert_eq!("anthropic".parse::<ProviderType>(), Ok(Anthropic));
        assert!("offline".parse::<ProviderType>().is_err());
    }

    #[test]
    fn grants_never_print_their_secrets() {
        let g = ProviderGrant {
            kind: ProviderType::Openai,
            model: "m".into(),
            base_url: None,
            api_key: Some(Secret::new("sk-very-secret")),
        };
        let h = McpServerGrant {
            name: McpServerName::parse("crm").unwrap(),
            url: "https://x.example".into(),
            header: Some(SecretHeader { name: "X-Key".into(), value: Secret::new("hdr-very-secret") }),
            timeout_s: 5,
        };
        let shown = format!("{g:?} {h:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
