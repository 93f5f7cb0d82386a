//! Secrets as the core holds them: a channel's keys (one JSON object of strings per bot and
//! channel, where the adapter keeps them). Values never reach logs: `Secret` redacts itself.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The keys of one channel binding (`bot_token`, `webhook_secret`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelSecrets(pub BTreeMap<String, Secret>);

impl ChannelSecrets {
    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.0.get(key).filter(|s| !s.expose().is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("SSM {operation} failed for {name}: {detail}")]
    Aws { operation: &'static str, name: String, detail: String },
    #[error("parameter {name} is not a JSON object of strings")]
    Malformed { name: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut map = BTreeMap::new();
        map.insert("bot_token".to_owned(), Secret::new("123:ABC-very-secret"));
        let secrets = ChannelSecrets(map);
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(secrets.get("bot_token").unwrap().expose(), "123:ABC-very-secret");
    }

    #[test]
    fn empty_values_count_as_missing() {
        let mut map = BTreeMap::new();
        map.insert("webhook_secret".to_owned(), Secret::new(""));
        assert!(ChannelSecrets(map).get("webhook_secret").is_none());
    }
}
