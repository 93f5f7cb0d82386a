//! The agent's configuration, read once at startup from the environment.

use clawless_shared::config::ConfigError;

use crate::provider::ProviderKind;

pub const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// `PORT` (default 8080): AgentCore calls 8080; the local run gives each session its own port.
    pub port: u16,
    /// `CLAWLESS_REPLY_QUEUE_URL` (required): the reply FIFO queue.
    pub reply_queue_url: String,
    /// `CLAWLESS_MODEL_PROVIDER` (default `offline`).
    pub provider: ProviderKind,
}

impl AgentConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests). Empty
    /// values count as unset.
    pub fn from_lookup(lookup: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name| lookup(name).filter(|v| !v.trim().is_empty());
        let port = match get("PORT") {
            None => DEFAULT_PORT,
            Some(raw) => raw.trim().parse().map_err(|e: std::num::ParseIntError| ConfigError::Invalid {
                name: "PORT",
                reason: format!("{e} (expected a port number)"),
            })?,
        };
        let reply_queue_url =
            get("CLAWLESS_REPLY_QUEUE_URL").ok_or(ConfigError::Missing("CLAWLESS_REPLY_QUEUE_URL"))?;
        let provider = match get("CLAWLESS_MODEL_PROVIDER") {
            None => ProviderKind::default(),
            Some(raw) => raw.parse().map_err(|e: crate::provider::UnknownProvider| ConfigError::Invalid {
                name: "CLAWLESS_MODEL_PROVIDER",
                reason: e.to_string(),
            })?,
        };
        Ok(Self { port, reply_queue_url: reply_queue_url.trim().to_owned(), provider })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&'static str, &str)]) -> Result<AgentConfig, ConfigError> {
        let map: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        AgentConfig::from_lookup(|name| map.get(name).cloned())
    }

    const QUEUE: (&str, &str) = ("CLAWLESS_REPLY_QUEUE_URL", "http://localhost:4566/000000000000/reply.fifo");

    #[test]
    fn defaults() {
        let c = config(&[QUEUE]).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.provider, ProviderKind::Offline);
        assert_eq!(c.reply_queue_url, QUEUE.1);
    }

    #[test]
    fn reply_queue_is_required() {
        assert_eq!(config(&[]), Err(ConfigError::Missing("CLAWLESS_REPLY_QUEUE_URL")));
        assert_eq!(
            config(&[("CLAWLESS_REPLY_QUEUE_URL", "  ")]),
            Err(ConfigError::Missing("CLAWLESS_REPLY_QUEUE_URL"))
        );
    }

    #[test]
    fn port_and_provider_are_validated() {
        assert_eq!(config(&[QUEUE, ("PORT", "9001")]).unwrap().port, 9001);
        assert!(matches!(config(&[QUEUE, ("PORT", "http")]), Err(ConfigError::Invalid { name: "PORT", .. })));
        assert_eq!(config(&[QUEUE, ("CLAWLESS_MODEL_PROVIDER", "offline")]).unwrap().provider, ProviderKind::Offline);
        let err = config(&[QUEUE, ("CLAWLESS_MODEL_PROVIDER", "openai")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable CLAWLESS_MODEL_PROVIDER is invalid: unknown model provider \"openai\" (accepted values: offline)"
        );
    }
}
