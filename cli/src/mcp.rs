//! `clawless mcp`: a bot's remote MCP servers. `add` reaches the server first (with its secret
//! header) and lists its tools, so a wrong URL or key fails here, not in a chat; then the header's
//! value goes to an SSM SecureString under the bot, and the server (URL, header name, timeout,
//! tools) to the bot's record. The dispatcher hands each run its own bot's servers with their
//! headers; the value is read from standard input, never from the command line.

use std::io::Read;
use std::time::Duration;

use clap::Subcommand;
use clawless_aws::ssm::secrets::SecretStore;
use clawless_core::admin::Acting;
use clawless_core::domain::extensions::{
    DEFAULT_MCP_TIMEOUT_S, MAX_MCP_SERVERS, McpServerConfig, McpServerName, McpToolInfo, check_header_name,
    check_timeout, check_url, mcp_tool_name,
};
use clawless_core::domain::model::now_ms;
use clawless_core::domain::secrets::{ChannelSecrets, Secret};
use serde_json::{Value, json};

use crate::admin::{Admin, AdminError};

/// The key of the header's value in its parameter.
pub const HEADER_VALUE_KEY: &str = clawless_core::flows::extensions::MCP_HEADER_VALUE_KEY;
/// Longest header value accepted.
const MAX_HEADER_VALUE: usize = 8 * 1024;

#[derive(Subcommand)]
pub enum McpAction {
    /// Register (or replace) a remote MCP server for a bot; its tools reach the model as
    /// `mcp__<name>__<tool>`, allowed by a profile's `mcp:<name>` or `mcp:<name>:<tool>`.
    Add {
        #[arg(long)]
        bot: String,
        /// 1-24 of [a-z0-9_], starting with a letter.
        #[arg(long)]
        name: String,
        /// The server's streamable-HTTP endpoint (https; plain http only to localhost).
        #[arg(long)]
        url: String,
        /// A header the server wants on every request (e.g. `Authorization`, `X-Api-Key`); its
        /// value is read from standard input.
        #[arg(long)]
        secret_header: Option<String>,
        /// Seconds each call may take (1-120).
        #[arg(long, default_value_t = DEFAULT_MCP_TIMEOUT_S)]
        timeout_s: u32,
    },
    /// The bot's MCP servers and their tools.
    List {
        #[arg(long)]
        bot: String,
    },
    /// Remove a server (and its stored header value).
    Remove {
        #[arg(long)]
        bot: String,
        #[arg(long)]
        name: String,
    },
}

/// `/clawless/{stack}/tenants/{t}/bots/{b}/mcp/{name}`: under the bot, so IAM can name it.
pub fn secret_parameter(prefix: &str, tenant: &str, bot: &str, name: &McpServerName) -> String {
    format!("{}/tenants/{tenant}/bots/{bot}/mcp/{name}", prefix.trim_end_matches('/'))
}

/// A secret read from standard input: the first line, without its line ending.
pub fn read_secret_from_stdin(what: &str) -> Result<Secret, AdminError> {
    let mut raw = String::new();
    std::io::stdin()
        .take(MAX_HEADER_VALUE as u64 + 2)
        .read_to_string(&mut raw)
        .map_err(|e| AdminError::Invalid(format!("could not read {what} from standard input: {e}")))?;
    let value = raw.lines().next().unwrap_or_default().trim();
    if value.is_empty() {
        return Err(AdminError::Invalid(format!("{what} is read from standard input, and none was given")));
    }
    if value.len() > MAX_HEADER_VALUE {
        return Err(AdminError::Invalid(format!("{what} is longer than {MAX_HEADER_VALUE} bytes")));
    }
    Ok(Secret::new(value))
}

fn invalid(e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}

fn shown_server(server: &McpServerConfig) -> Value {
    json!({
        "name": server.name,
        "url": server.url,
        "secret_header": server.secret_header,
        "timeout_s": server.timeout_s,
        "tools": server.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
    })
}

/// Registers (or replaces) a server on `bot`: checks what is given, reaches the server with its
/// header and lists its tools (a wrong URL, key or server stores nothing), then stores the
/// header's value and the server. Returns the bot's id and what was stored.
#[allow(clippy::too_many_arguments)]
pub async fn add_server(
    admin: &Admin,
    secrets: &SecretStore,
    prefix: &str,
    bot: &str,
    name: &str,
    url: &str,
    header: Option<(String, Secret)>,
    timeout_s: u32,
) -> Result<(String, McpServerConfig), AdminError> {
    let name = McpServerName::parse(name.trim()).map_err(invalid)?;
    let url = check_url(url.trim()).map_err(invalid)?;
    let timeout_s = check_timeout(timeout_s).map_err(invalid)?;
    if let Some((h, _)) = &header {
        check_header_name(h).map_err(invalid)?;
    }
    let record = admin.service().bot_record(&Acting::Operator, bot).await?;
    let others = record.mcp_servers.iter().filter(|s| s.name != name).count();
    if others >= MAX_MCP_SERVERS {
        return Err(AdminError::Invalid(format!("a bot has at most {MAX_MCP_SERVERS} MCP servers")));
    }

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AdminError::Invalid(format!("HTTP client: {e}")))?;
    let endpoint = clawless_mcp::Endpoint {
        url: &url,
        header: header.as_ref().map(|(n, v)| (n.as_str(), v)),
        timeout: Duration::from_secs(u64::from(timeout_s)),
    };
    let connection = clawless_mcp::McpConnection::connect(&http, &endpoint)
        .await
        .map_err(|e| AdminError::Invalid(format!("could not add the server: {e}")))?;
    let listed = connection.tools().await;
    connection.close().await;
    let listed = listed.map_err(|e| AdminError::Invalid(format!("could not add the server: {e}")))?;
    let tools: Vec<McpToolInfo> = listed
        .into_iter()
        .filter(|t| mcp_tool_name(&name, &t.name).is_some())
        .map(|t| McpToolInfo { name: t.name, description: t.description.chars().take(200).collect() })
        .collect();

    let (t, b) = (record.bot.tenant_id.to_string(), record.bot.bot_id.to_string());
    let parameter = secret_parameter(prefix, &t, &b, &name);
    match &header {
        Some((_, value)) => {
            let stored = ChannelSecrets([(HEADER_VALUE_KEY.to_owned(), value.clone())].into_iter().collect());
            secrets.put(&parameter, &stored).await?;
        }
        // A replaced server that had a header keeps none behind.
        None => clawless_core::admin::ports::ChannelSecretWriter::delete(secrets, &parameter).await?,
    }
    let server = McpServerConfig {
        name,
        url,
        secret_header: header.as_ref().map(|(h, _)| h.clone()),
        secret_parameter: header.as_ref().map(|_| parameter),
        timeout_s,
        tools,
        added_at_ms: now_ms(),
    };
    admin.store().put_mcp_server(&record.bot.bot_id, &server).await?;
    Ok((b, server))
}

pub async fn run(
    admin: &Admin,
    secrets: &SecretStore,
    prefix: &str,
    action: McpAction,
) -> Result<(Value, String), AdminError> {
    match action {
        McpAction::Add { bot, name, url, secret_header, timeout_s } => {
            let header_name =
                secret_header.as_deref().map(str::trim).map(check_header_name).transpose().map_err(invalid)?;
            // Everything else is checked before the value is asked for.
            McpServerName::parse(name.trim()).map_err(invalid)?;
            check_url(url.trim()).map_err(invalid)?;
            check_timeout(timeout_s).map_err(invalid)?;
            let header = match header_name {
                Some(h) => {
                    let value = read_secret_from_stdin(&format!("the value of {h}"))?;
                    Some((h, value))
                }
                None => None,
            };
            let (b, server) = add_server(admin, secrets, prefix, &bot, &name, &url, header, timeout_s).await?;
            let text = format!(
                "MCP server {} added to bot {b}: {} tool(s) ({}). Allow them with a profile's mcp:{} or mcp:{}:<tool>.",
                server.name,
                server.tools.len(),
                server.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
                server.name,
                server.name,
            );
            let mut shown = shown_server(&server);
            shown["bot_id"] = json!(b);
            Ok((shown, text))
        }
        McpAction::List { bot } => {
            let record = admin.service().bot_record(&Acting::Operator, &bot).await?;
            let mut servers = record.mcp_servers.clone();
            servers.sort_by(|a, b| a.name.cmp(&b.name));
            let text = if servers.is_empty() {
                format!("bot {} has no MCP servers", record.bot.bot_id)
            } else {
                servers
                    .iter()
                    .map(|s| {
                        let tools = s.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
                        format!("{}  {}  tools: {}", s.name, s.url, if tools.is_empty() { "none" } else { &tools })
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Ok((
                json!({"bot_id": record.bot.bot_id, "servers": servers.iter().map(shown_server).collect::<Vec<_>>()}),
                text,
            ))
        }
        McpAction::Remove { bot, name } => {
            let name = McpServerName::parse(name.trim()).map_err(invalid)?;
            let record = admin.service().bot_record(&Acting::Operator, &bot).await?;
            let Some(server) = record.mcp_servers.iter().find(|s| s.name == name) else {
                return Err(AdminError::NotFound(format!("MCP server {name} of bot {}", record.bot.bot_id)));
            };
            // The item first: once it is gone no run is handed the header, then the value goes.
            admin.store().delete_mcp_server(&record.bot.bot_id, &name).await?;
            if let Some(parameter) = &server.secret_parameter {
                clawless_core::admin::ports::ChannelSecretWriter::delete(secrets, parameter).await?;
            }
            Ok((
                json!({"bot_id": record.bot.bot_id, "name": name, "removed": true}),
                format!("MCP server {name} removed from bot {}", record.bot.bot_id),
            ))
        }
    }
}
