//! What the dispatcher hands a run of its bot's extensions: each MCP server with its secret
//! header, read here (trusted code) from the bot's own parameters. Only the invocation's own
//! bot's servers are ever read, so a run holds no other bot's or tenant's secret.

use crate::domain::extensions::{McpServerGrant, SecretHeader};
use crate::domain::records::BotRecord;
use crate::domain::secrets::SecretsError;
use crate::flows::directory::BotDirectory;

/// The key of an MCP server's header value in its parameter.
pub const MCP_HEADER_VALUE_KEY: &str = "header_value";

/// The bot's MCP servers, each with its header value. A server whose stored value is gone is
/// left out of the run (logged): sending it without its header would only fail there. A failed
/// read fails the dispatch, so the queue retries it.
pub async fn mcp_grants(directory: &BotDirectory, record: &BotRecord) -> Result<Vec<McpServerGrant>, SecretsError> {
    let mut grants = Vec::with_capacity(record.mcp_servers.len());
    for server in &record.mcp_servers {
        let header = match (&server.secret_header, &server.secret_parameter) {
            (Some(name), Some(parameter)) => {
                let value = directory.secret(parameter).await?.and_then(|s| s.get(MCP_HEADER_VALUE_KEY).cloned());
                let Some(value) = value else {
                    tracing::warn!(event = "mcp_secret_missing", server = %server.name, "MCP server left out: its header value is not stored");
                    continue;
                };
                Some(SecretHeader { name: name.clone(), value })
            }
            _ => None,
        };
        grants.push(McpServerGrant {
            name: server.name.clone(),
            url: server.url.clone(),
            header,
            timeout_s: server.timeout_s,
        });
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::domain::extensions::{McpServerConfig, McpServerName};
    use crate::domain::secrets::{ChannelSecrets, Secret};
    use crate::ports::SecretSource;

    struct Params(BTreeMap<String, ChannelSecrets>);

    #[async_trait]
    impl SecretSource for Params {
        async fn get(&self, name: &str) -> Result<Option<ChannelSecrets>, SecretsError> {
            Ok(self.0.get(name).cloned())
        }
    }

    fn server(name: &str, parameter: Option<&str>) -> McpServerConfig {
        McpServerConfig {
            name: McpServerName::parse(name).unwrap(),
            url: format!("https://{name}.example/mcp"),
            secret_header: parameter.map(|_| "X-Key".to_owned()),
            secret_parameter: parameter.map(str::to_owned),
            timeout_s: 7,
            tools: Vec::new(),
            added_at_ms: 1,
        }
    }

    #[tokio::test]
    async fn each_server_gets_its_own_header_and_a_missing_one_is_left_out() {
        let mut params = BTreeMap::new();
        let value = |v: &str| ChannelSecrets([(MCP_HEADER_VALUE_KEY.to_owned(), Secret::new(v))].into_iter().collect());
        params.insert("/p/crm".to_owned(), value("crm-key"));
        params.insert("/p/erp".to_owned(), value("erp-key"));
        let directory = BotDirectory::new(
            crate::testing::MemoryStore::new(),
            Some(Arc::new(Params(params))),
            std::time::Duration::from_secs(60),
        );
        let mut record = crate::testing::bot_record();
        record.mcp_servers = vec![
            server("crm", Some("/p/crm")),
            server("open", None),
            server("gone", Some("/p/gone")),
            server("erp", Some("/p/erp")),
        ];
        let grants = mcp_grants(&directory, &record).await.unwrap();
        let shown: Vec<(&str, Option<&str>)> =
            grants.iter().map(|g| (g.name.as_str(), g.header.as_ref().map(|h| h.value.expose()))).collect();
        assert_eq!(shown, vec![("crm", Some("crm-key")), ("open", None), ("erp", Some("erp-key"))]);
        assert!(grants.iter().all(|g| g.timeout_s == 7));
    }
}
