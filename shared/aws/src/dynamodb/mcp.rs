//! A bot's MCP servers: `BOT#{bot}` / `MCP#{name}`, in the bot's own partition so the query that
//! loads a bot (`bots.rs`) brings them with it, at no extra read on the message path. Their
//! secret headers are SSM parameters (`ssm/secrets.rs`), never items here.

use clawless_core::domain::extensions::{McpServerConfig, McpServerName};

use super::*;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct McpItem {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) server: McpServerConfig,
}

impl Store {
    /// Adds (or replaces) `server` on an existing bot.
    pub async fn put_mcp_server(&self, bot: &BotId, server: &McpServerConfig) -> Result<(), StoreError> {
        let item = McpItem { pk: format!("BOT#{bot}"), sk: format!("MCP#{}", server.name), server: server.clone() };
        let bot_pk = item.pk.clone();
        self.put_guarded_item(to_item(&item)?, bot_pk, "BOT", format!("bot {bot}")).await
    }

    /// Removes the server `name` of `bot`; `false` if it had none by that name.
    pub async fn delete_mcp_server(&self, bot: &BotId, name: &McpServerName) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("BOT#{bot}")))
            .key("sk", s(format!("MCP#{name}")))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", &e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
