//! The agent's configuration, read once at startup from the environment.

use clawless_core::config::ConfigError;

use std::path::PathBuf;

use clawless_core::domain::progress::DEFAULT_PROGRESS_SECS;
use clawless_core::domain::secrets::Secret;

use crate::provider::{ModelSettings, ProviderKind};

pub const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// `PORT` (default 8080): AgentCore calls 8080; the local run gives each session its own port.
    pub port: u16,
    /// `CLAWLESS_REPLY_QUEUE_URL` (required): the reply FIFO queue.
    pub reply_queue_url: String,
    /// `CLAWLESS_MODEL_PROVIDER`, `CLAWLESS_MODEL_ID`, `CLAWLESS_OPENAI_BASE_URL`,
    /// `CLAWLESS_OPENAI_API_KEY`, `CLAWLESS_BEDROCK_ENDPOINT`.
    pub model: ModelSettings,
    /// `CLAWLESS_STACK` (default `clawless`): names the SSM parameters.
    pub stack: String,
    /// `CLAWLESS_TABLE` (default `{stack}-data`).
    pub table: String,
    /// `CLAWLESS_PARAMETER_PREFIX` (default `/clawless/{stack}`).
    pub parameter_prefix: String,
    /// `CLAWLESS_MEMORY_BUCKET` (default `{stack}-memory`): long-term memory.
    pub memory_bucket: String,
    /// `CLAWLESS_LISTEN_HOST` (default `0.0.0.0`, where AgentCore reaches the container): the
    /// local run sets `127.0.0.1`, so nothing beyond the machine can post invocations.
    pub listen_host: std::net::IpAddr,
    /// `CLAWLESS_WORKSPACE_ROOT` (default `/tmp/clawless-workspaces`).
    pub workspace_root: PathBuf,
    /// `CLAWLESS_WEB_SEARCH_URL`: a search API for `web_search` (unset: the tool says so).
    pub web_search_url: Option<String>,
    /// `CLAWLESS_PROFILE_CACHE_SECONDS` (default 30): how long a permission profile is cached.
    pub profile_cache_secs: u64,
    /// How long the session keeps a memory layer it read (`CLAWLESS_MEMORY_CACHE_SECONDS`, 30).
    pub memory_cache_secs: u64,
    /// `CLAWLESS_RUN_SECONDS` (default and most [`MAX_RUN_SECONDS`]): the wall time of one run,
    /// tool calls included. Tests shorten it; it cannot grow, because the dispatcher reuses
    /// handed credentials only while more than 5 minutes remain of them.
    pub run_seconds: u64,
    /// `CLAWLESS_PROGRESS_SECS` (default [`DEFAULT_PROGRESS_SECS`], 0 = off): how often a run
    /// reports progress while it lasts (the reply function shows typing and a status message
    /// from them). Each report is one reply-queue message and one reply-function invocation.
    pub progress_secs: u64,
    /// `CLAWLESS_TRANSCRIBE` (`on`/`true` or `off`/`false`, default off): voice notes and audio
    /// files reach the model as transcripts made by Amazon Transcribe.
    pub transcribe: bool,
    /// `CLAWLESS_TRANSCRIBE_LANGUAGE`: the language voice notes are in (a Transcribe language
    /// code such as `en-US`); unset: Transcribe identifies it per note.
    pub transcribe_language: Option<String>,
    /// `CLAWLESS_TRANSCRIBE_ENDPOINT`: another Transcribe endpoint (the local stand-in).
    pub transcribe_endpoint: Option<String>,
    /// `CLAWLESS_MEMORY_BACKEND` (`s3`, the default, or `agentcore`) with
    /// `CLAWLESS_AGENTCORE_MEMORY_ID` (required with `agentcore`): the AgentCore Memory that
    /// holds the bots' long-term memory; `None` with `s3`.
    pub agentcore_memory_id: Option<String>,
    /// `CLAWLESS_AGENTCORE_MEMORY_ENDPOINT`: another AgentCore data-plane endpoint (the local
    /// stand-in).
    pub agentcore_memory_endpoint: Option<String>,
}

/// The longest run `CLAWLESS_RUN_SECONDS` may ask for (and its default).
pub const MAX_RUN_SECONDS: u64 = crate::agent_loop::RUN_WALL_TIME.as_secs();

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
        let provider: ProviderKind = match get("CLAWLESS_MODEL_PROVIDER") {
            None => ProviderKind::default(),
            Some(raw) => raw.parse().map_err(|e: crate::provider::UnknownProvider| ConfigError::Invalid {
                name: "CLAWLESS_MODEL_PROVIDER",
                reason: e.to_string(),
            })?,
        };
        let url = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(raw) if raw.starts_with("http://") || raw.starts_with("https://") => {
                    Ok(Some(raw.trim().trim_end_matches('/').to_owned()))
                }
                Some(_) => Err(ConfigError::Invalid { name, reason: "expected an http(s) URL".into() }),
            }
        };
        let model = ModelSettings {
            provider,
            model_id: get("CLAWLESS_MODEL_ID").map(|v| v.trim().to_owned()),
            openai_base_url: url("CLAWLESS_OPENAI_BASE_URL")?,
            openai_api_key: get("CLAWLESS_OPENAI_API_KEY").map(|v| Secret::new(v.trim())),
            bedrock_endpoint: url("CLAWLESS_BEDROCK_ENDPOINT")?,
        };
        if provider == ProviderKind::OpenAi && model.openai_base_url.is_none() {
            return Err(ConfigError::Missing("CLAWLESS_OPENAI_BASE_URL"));
        }
        let stack = get("CLAWLESS_STACK").unwrap_or_else(|| "clawless".to_owned());
        let seconds = |name: &'static str, default: u64| match get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: std::num::ParseIntError| ConfigError::Invalid { name, reason: e.to_string() }),
        };
        let profile_cache_secs = seconds("CLAWLESS_PROFILE_CACHE_SECONDS", 30)?;
        let memory_cache_secs = seconds("CLAWLESS_MEMORY_CACHE_SECONDS", 30)?;
        let progress_secs = seconds("CLAWLESS_PROGRESS_SECS", DEFAULT_PROGRESS_SECS)?;
        if progress_secs > 60 {
            return Err(ConfigError::Invalid {
                name: "CLAWLESS_PROGRESS_SECS",
                reason: "expected 0 (off) to 60 seconds".into(),
            });
        }
        let run_seconds = match get("CLAWLESS_RUN_SECONDS") {
            None => MAX_RUN_SECONDS,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(secs @ 1..=MAX_RUN_SECONDS) => secs,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "CLAWLESS_RUN_SECONDS",
                        reason: format!("expected a whole number of seconds from 1 to {MAX_RUN_SECONDS}"),
                    });
                }
            },
        };
        // The template passes its `TranscribeVoice` parameter as it is (`true`/`false`).
        let transcribe = match get("CLAWLESS_TRANSCRIBE").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("off" | "false") => false,
            Some("on" | "true") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "CLAWLESS_TRANSCRIBE",
                    reason: "expected on or off (or true or false)".into(),
                });
            }
        };
        let transcribe_language = get("CLAWLESS_TRANSCRIBE_LANGUAGE").map(|v| v.trim().to_owned());
        if let Some(language) = &transcribe_language
            && !language.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ConfigError::Invalid {
                name: "CLAWLESS_TRANSCRIBE_LANGUAGE",
                reason: "expected a language code such as en-US".into(),
            });
        }
        let agentcore_memory_id = match get("CLAWLESS_MEMORY_BACKEND").map(|v| v.trim().to_owned()).as_deref() {
            None | Some("s3") => None,
            Some("agentcore") => {
                let id = get("CLAWLESS_AGENTCORE_MEMORY_ID")
                    .ok_or(ConfigError::Missing("CLAWLESS_AGENTCORE_MEMORY_ID"))?
                    .trim()
                    .to_owned();
                // AgentCore memory ids: letters, digits, `-` and `_`.
                if id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(ConfigError::Invalid {
                        name: "CLAWLESS_AGENTCORE_MEMORY_ID",
                        reason: "expected an AgentCore memory id (letters, digits, - and _)".into(),
                    });
                }
                Some(id)
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "CLAWLESS_MEMORY_BACKEND",
                    reason: "expected s3 or agentcore".into(),
                });
            }
        };
        Ok(Self {
            agentcore_memory_id,
            agentcore_memory_endpoint: url("CLAWLESS_AGENTCORE_MEMORY_ENDPOINT")?,
            transcribe,
            transcribe_language,
            transcribe_endpoint: url("CLAWLESS_TRANSCRIBE_ENDPOINT")?,
            port,
            reply_queue_url: reply_queue_url.trim().to_owned(),
            model,
            table: get("CLAWLESS_TABLE").unwrap_or_else(|| format!("{stack}-data")),
            parameter_prefix: get("CLAWLESS_PARAMETER_PREFIX").unwrap_or_else(|| format!("/clawless/{stack}")),
            memory_bucket: get("CLAWLESS_MEMORY_BUCKET").unwrap_or_else(|| format!("{stack}-memory")),
            listen_host: match get("CLAWLESS_LISTEN_HOST") {
                None => std::net::IpAddr::from([0, 0, 0, 0]),
                Some(raw) => raw.trim().parse().map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                    name: "CLAWLESS_LISTEN_HOST",
                    reason: format!("{e} (expected an IP address)"),
                })?,
            },
            workspace_root: get("CLAWLESS_WORKSPACE_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp/clawless-workspaces")),
            web_search_url: url("CLAWLESS_WEB_SEARCH_URL")?,
            profile_cache_secs,
            memory_cache_secs,
            run_seconds,
            progress_secs,
            stack,
        })
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
        assert_eq!(c.model.provider, ProviderKind::Offline);
        assert_eq!(c.table, "clawless-data");
        assert_eq!(c.memory_bucket, "clawless-memory");
        assert_eq!(c.listen_host.to_string(), "0.0.0.0");
        assert_eq!(
            config(&[QUEUE, ("CLAWLESS_LISTEN_HOST", "127.0.0.1")]).unwrap().listen_host.to_string(),
            "127.0.0.1"
        );
        assert!(matches!(
            config(&[QUEUE, ("CLAWLESS_LISTEN_HOST", "localhost:1")]),
            Err(ConfigError::Invalid { name: "CLAWLESS_LISTEN_HOST", .. })
        ));
        assert_eq!(c.reply_queue_url, QUEUE.1);
        assert_eq!(c.run_seconds, 300);
        assert_eq!(c.progress_secs, 4);
    }

    #[test]
    fn progress_seconds_may_be_off_and_are_bounded() {
        assert_eq!(config(&[QUEUE, ("CLAWLESS_PROGRESS_SECS", "0")]).unwrap().progress_secs, 0);
        assert_eq!(config(&[QUEUE, ("CLAWLESS_PROGRESS_SECS", "1")]).unwrap().progress_secs, 1);
        for bad in ["61", "-1", "x"] {
            assert!(config(&[QUEUE, ("CLAWLESS_PROGRESS_SECS", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_seconds_are_bounded_by_the_five_minute_run() {
        assert_eq!(config(&[QUEUE, ("CLAWLESS_RUN_SECONDS", "6")]).unwrap().run_seconds, 6);
        assert_eq!(config(&[QUEUE, ("CLAWLESS_RUN_SECONDS", "1")]).unwrap().run_seconds, 1);
        assert_eq!(config(&[QUEUE, ("CLAWLESS_RUN_SECONDS", "300")]).unwrap().run_seconds, MAX_RUN_SECONDS);
        for bad in ["301", "0", "-5", "1.5", "five"] {
            assert!(
                matches!(
                    config(&[QUEUE, ("CLAWLESS_RUN_SECONDS", bad)]),
                    Err(ConfigError::Invalid { name: "CLAWLESS_RUN_SECONDS", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn transcription_is_off_unless_turned_on() {
        let c = config(&[QUEUE]).unwrap();
        assert!(!c.transcribe);
        assert_eq!(c.transcribe_language, None);
        for on in ["on", "true", "ON"] {
            assert!(config(&[QUEUE, ("CLAWLESS_TRANSCRIBE", on)]).unwrap().transcribe, "{on}");
        }
        for off in ["off", "false"] {
            assert!(!config(&[QUEUE, ("CLAWLESS_TRANSCRIBE", off)]).unwrap().transcribe, "{off}");
        }
        assert!(matches!(
            config(&[QUEUE, ("CLAWLESS_TRANSCRIBE", "yes please")]),
            Err(ConfigError::Invalid { name: "CLAWLESS_TRANSCRIBE", .. })
        ));
        let c = config(&[
            QUEUE,
            ("CLAWLESS_TRANSCRIBE", "on"),
            ("CLAWLESS_TRANSCRIBE_LANGUAGE", "de-DE"),
            ("CLAWLESS_TRANSCRIBE_ENDPOINT", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        assert_eq!(c.transcribe_language.as_deref(), Some("de-DE"));
        assert_eq!(c.transcribe_endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert!(config(&[QUEUE, ("CLAWLESS_TRANSCRIBE_LANGUAGE", "en US")]).is_err());
    }

    #[test]
    fn memory_backend_is_s3_unless_agentcore_with_a_memory_id() {
        assert_eq!(config(&[QUEUE]).unwrap().agentcore_memory_id, None);
        assert_eq!(config(&[QUEUE, ("CLAWLESS_MEMORY_BACKEND", "s3")]).unwrap().agentcore_memory_id, None);
        // The template passes an empty id with `s3`.
        let s3 = config(&[QUEUE, ("CLAWLESS_MEMORY_BACKEND", "s3"), ("CLAWLESS_AGENTCORE_MEMORY_ID", "")]).unwrap();
        assert_eq!(s3.agentcore_memory_id, None);
        let c = config(&[
            QUEUE,
            ("CLAWLESS_MEMORY_BACKEND", "agentcore"),
            ("CLAWLESS_AGENTCORE_MEMORY_ID", "clawless_memory-AbCdE12345"),
            ("CLAWLESS_AGENTCORE_MEMORY_ENDPOINT", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        assert_eq!(c.agentcore_memory_id.as_deref(), Some("clawless_memory-AbCdE12345"));
        assert_eq!(c.agentcore_memory_endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(
            config(&[QUEUE, ("CLAWLESS_MEMORY_BACKEND", "agentcore")]),
            Err(ConfigError::Missing("CLAWLESS_AGENTCORE_MEMORY_ID"))
        );
        let err = config(&[QUEUE, ("CLAWLESS_MEMORY_BACKEND", "dynamo")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable CLAWLESS_MEMORY_BACKEND is invalid: expected s3 or agentcore"
        );
        for bad in ["mem/../x", "a b"] {
            assert!(matches!(
                config(&[QUEUE, ("CLAWLESS_MEMORY_BACKEND", "agentcore"), ("CLAWLESS_AGENTCORE_MEMORY_ID", bad)]),
                Err(ConfigError::Invalid { name: "CLAWLESS_AGENTCORE_MEMORY_ID", .. })
            ));
        }
        assert!(matches!(
            config(&[QUEUE, ("CLAWLESS_AGENTCORE_MEMORY_ENDPOINT", "localhost:1")]),
            Err(ConfigError::Invalid { name: "CLAWLESS_AGENTCORE_MEMORY_ENDPOINT", .. })
        ));
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
        assert_eq!(
            config(&[QUEUE, ("CLAWLESS_MODEL_PROVIDER", "bedrock")]).unwrap().model.provider,
            ProviderKind::Bedrock
        );
        let err = config(&[QUEUE, ("CLAWLESS_MODEL_PROVIDER", "gpt")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable CLAWLESS_MODEL_PROVIDER is invalid: unknown model provider \"gpt\" (accepted values: bedrock, openai, offline)"
        );
        assert_eq!(
            config(&[QUEUE, ("CLAWLESS_MODEL_PROVIDER", "openai")]),
            Err(ConfigError::Missing("CLAWLESS_OPENAI_BASE_URL"))
        );
        let c = config(&[
            QUEUE,
            ("CLAWLESS_MODEL_PROVIDER", "openai"),
            ("CLAWLESS_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("CLAWLESS_OPENAI_API_KEY", "sk-test"),
            ("CLAWLESS_MODEL_ID", "llama3"),
        ])
        .unwrap();
        assert_eq!(c.model.openai_base_url.as_deref(), Some("http://127.0.0.1:11434/v1"));
        assert!(!format!("{c:?}").contains("sk-test"), "the key never shows in Debug output");
        assert!(matches!(
            config(&[QUEUE, ("CLAWLESS_BEDROCK_ENDPOINT", "localhost:1")]),
            Err(ConfigError::Invalid { name: "CLAWLESS_BEDROCK_ENDPOINT", .. })
        ));
    }
}
