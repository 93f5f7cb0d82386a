//! `clawless provider`: a tenant's own model provider (or one bot's), as an operator sets and
//! reads it. The setting is a table item (`TENANT#{t}`/`PROVIDER`, `BOT#{b}`/`PROVIDER`); the
//! key is a SecureString under the tenant ([`clawless_core::flows::provider::key_parameter`]),
//! read from stdin and never printed. The dispatcher hands it to the tenant's own runs only; a
//! change applies within the functions' cache time (a minute by default).

use std::io::Read;

use clap::Subcommand;
use clawless_aws::dynamodb::ProviderOwner;
use clawless_aws::ssm::secrets::SecretStore;
use clawless_core::admin::Acting;
use clawless_core::admin::ports::ChannelSecretWriter;
use clawless_core::domain::extensions::{ProviderConfig, ProviderType};
use clawless_core::domain::ids::{BotId, TenantId};
use clawless_core::domain::model::now_ms;
use clawless_core::domain::secrets::{ChannelSecrets, Secret};
use clawless_core::flows::provider::{API_KEY_FIELD, key_parameter};
use clawless_core::ports::SecretSource;
use serde_json::{Value, json};

use crate::admin::{Admin, AdminError};

/// Longest key read from stdin: far above any provider's keys, and a bound on what is stored.
const MAX_KEY_BYTES: usize = 4096;

#[derive(Subcommand)]
pub enum ProviderAction {
    /// Set the model provider of the tenant's bots (or of one bot, with --bot).
    Set {
        #[arg(long)]
        tenant: String,
        /// Only this bot of the tenant (it overrides the tenant's setting).
        #[arg(long)]
        bot: Option<String>,
        /// bedrock | anthropic | openai (OpenAI-compatible).
        #[arg(long = "type", value_parser = parse_type)]
        kind: ProviderType,
        /// The model: a Bedrock model id, an Anthropic model name, or the server's model name.
        #[arg(long)]
        model: String,
        /// The API's base URL: required for openai (…/v1); anthropic defaults to
        /// https://api.anthropic.com; https only (plain http to localhost).
        #[arg(long)]
        base_url: Option<String>,
        /// Read the API key from stdin (never from the command line); stored as a SecureString.
        #[arg(long)]
        api_key_stdin: bool,
    },
    /// The provider that applies (the bot's, else the tenant's, else the platform's); never the key.
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        bot: Option<String>,
    },
}

pub fn parse_type(raw: &str) -> Result<ProviderType, String> {
    raw.parse().map_err(|e: clawless_core::domain::extensions::ExtensionError| e.to_string())
}

/// The key as read from `input`: trimmed, not empty, bounded. The error never holds the input.
pub fn read_key(input: &mut dyn Read) -> Result<Secret, AdminError> {
    let mut raw = String::new();
    input
        .take(MAX_KEY_BYTES as u64 + 1)
        .read_to_string(&mut raw)
        .map_err(|_| AdminError::Invalid("could not read the API key from stdin (expected UTF-8 text)".into()))?;
    let key = raw.trim();
    if key.is_empty() {
        return Err(AdminError::Invalid("the API key read from stdin is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "the API key read from stdin must be one line of at most {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(Secret::new(key))
}

/// The tenant, and the bot if one is named (another tenant's bot is as unknown as a missing one).
async fn owner(admin: &Admin, tenant: &str, bot: Option<&str>) -> Result<(TenantId, Option<BotId>), AdminError> {
    let tenant = admin.service().tenant(&Acting::Operator, tenant).await?.tenant_id;
    let bot = match bot {
        Some(bot) => Some(admin.service().bot_record(&Acting::Tenant(tenant.clone()), bot).await?.bot.bot_id),
        None => None,
    };
    Ok((tenant, bot))
}

fn store_owner(tenant: &TenantId, bot: Option<&BotId>) -> ProviderOwner {
    match bot {
        Some(bot) => ProviderOwner::Bot(bot.clone()),
        None => ProviderOwner::Tenant(tenant.clone()),
    }
}

/// What `show` (and `set`) print: never the key, only whether one is stored.
fn shown(
    tenant: &TenantId,
    bot: Option<&BotId>,
    config: Option<&ProviderConfig>,
    has_api_key: bool,
    source: &str,
) -> (Value, String) {
    let kind = config.map_or(ProviderType::Bedrock, |c| c.kind);
    let model = config.map(|c| c.model.clone());
    let base_url = config.and_then(|c| c.base_url.clone());
    let text = format!(
        "tenant {tenant}{}: {kind}, model {}, base URL {}, API key {} (from the {source})",
        bot.map(|b| format!(", bot {b}")).unwrap_or_default(),
        model.as_deref().unwrap_or("the platform's default"),
        base_url.as_deref().unwrap_or("-"),
        if has_api_key { "stored" } else { "none" },
    );
    (
        json!({
            "tenant_id": tenant,
            "bot_id": bot,
            "type": kind,
            "model": model,
            "base_url": base_url,
            "has_api_key": has_api_key,
            "source": source,
        }),
        text,
    )
}

/// Whether `config`'s key parameter holds a key (read, never shown).
async fn has_key(secrets: &SecretStore, config: &ProviderConfig) -> Result<bool, AdminError> {
    let Some(name) = &config.key_parameter else { return Ok(false) };
    let found = match SecretSource::get(secrets, name).await {
        Ok(found) => found,
        Err(clawless_core::domain::secrets::SecretsError::Malformed { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(found.is_some_and(|s| s.get(API_KEY_FIELD).is_some()))
}

pub async fn run(
    admin: &Admin,
    secrets: &SecretStore,
    prefix: &str,
    action: ProviderAction,
    stdin: &mut dyn Read,
) -> Result<(Value, String), AdminError> {
    match action {
        ProviderAction::Set { tenant, bot, kind, model, base_url, api_key_stdin } => {
            // Everything checked before anything is written.
            let key = if api_key_stdin { Some(read_key(stdin)?) } else { None };
            let (model, base_url) = ProviderConfig::check(kind, model.trim(), base_url.as_deref(), key.is_some())
                .map_err(|e| AdminError::Invalid(e.to_string()))?;
            let (tenant, bot) = owner(admin, &tenant, bot.as_deref()).await?;
            let parameter = key_parameter(prefix, &tenant, bot.as_ref());
            let config = ProviderConfig {
                kind,
                model,
                base_url,
                key_parameter: key.as_ref().map(|_| parameter.clone()),
                updated_at_ms: now_ms(),
            };
            let owner = store_owner(&tenant, bot.as_ref());
            match &key {
                // The key first: a setting is never stored naming a key that is not there.
                Some(key) => {
                    let value = ChannelSecrets([(API_KEY_FIELD.to_owned(), key.clone())].into());
                    secrets.put(&parameter, &value).await?;
                    admin.store().put_provider(&owner, &config).await?;
                }
                // No key for this type: the setting first (it names none), then any old key goes.
                None => {
                    admin.store().put_provider(&owner, &config).await?;
                    ChannelSecretWriter::delete(secrets, &parameter).await?;
                }
            }
            let source = if bot.is_some() { "bot" } else { "tenant" };
            Ok(shown(&tenant, bot.as_ref(), Some(&config), key.is_some(), source))
        }
        ProviderAction::Show { tenant, bot } => {
            let (tenant, bot) = owner(admin, &tenant, bot.as_deref()).await?;
            let own = match &bot {
                Some(bot) => admin.store().provider(&ProviderOwner::Bot(bot.clone())).await?,
                None => None,
            };
            let (config, source) = match own {
                Some(config) => (Some(config), "bot"),
                None => match admin.store().provider(&ProviderOwner::Tenant(tenant.clone())).await? {
                    Some(config) => (Some(config), "tenant"),
                    None => (None, "platform"),
                },
            };
            let has_api_key = match &config {
                Some(config) => has_key(secrets, config).await?,
                None => false,
            };
            Ok(shown(&tenant, bot.as_ref(), config.as_ref(), has_api_key, source))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_checked_and_never_echoed() {
        assert_eq!(read_key(&mut "  sk-abc\n".as_bytes()).unwrap().expose(), "sk-abc");
        for bad in ["", " \n\t", "sk-one\nsk-two"] {
            let err = read_key(&mut bad.as_bytes()).unwrap_err().to_string();
            assert!(!err.contains("sk-"), "{err}");
        }
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(read_key(&mut long.as_bytes()).is_err());
    }

    #[test]
    fn show_prints_no_key_and_defaults_to_the_platform() {
        let tenant = TenantId::generate();
        let (value, text) = shown(&tenant, None, None, false, "platform");
        assert_eq!(value["type"], "bedrock");
        assert_eq!(value["model"], Value::Null);
        assert_eq!(value["bot_id"], Value::Null);
        assert_eq!(value["source"], "platform");
        assert!(text.contains("bedrock"), "{text}");
    }
}
