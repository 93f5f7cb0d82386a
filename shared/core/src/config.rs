//! Configuration read once per cold start from the environment (the template sets it in AWS,
//! the local run sets the same variables).

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Reads one variable; empty counts as unset.
pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

pub fn parsed<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string() }),
    }
}

/// Names shared by every function: the stack, its table and its parameter prefix.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub stack: String,
    pub table: String,
    pub parameter_prefix: String,
    /// How long bot records and channel secrets are cached per container.
    pub cache_ttl: Duration,
}

impl PlatformConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let stack = optional("CLAWLESS_STACK").unwrap_or_else(|| "clawless".to_owned());
        let table = optional("CLAWLESS_TABLE").unwrap_or_else(|| format!("{stack}-data"));
        let parameter_prefix = optional("CLAWLESS_PARAMETER_PREFIX").unwrap_or_else(|| format!("/clawless/{stack}"));
        let cache_secs: u64 = parsed("CLAWLESS_CACHE_SECONDS", 60)?;
        Ok(Self { stack, table, parameter_prefix, cache_ttl: Duration::from_secs(cache_secs) })
    }

    /// The names a stack's resources get, as template.yaml names them.
    pub fn for_stack(stack: &str) -> Self {
        Self {
            stack: stack.to_owned(),
            table: format!("{stack}-data"),
            parameter_prefix: format!("/clawless/{stack}"),
            cache_ttl: Duration::from_secs(60),
        }
    }
}
