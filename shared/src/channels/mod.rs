//! Chat channels: verify an incoming webhook, parse it into a domain message, send an answer.
//! One module per channel; what they share (constant-time comparison, send errors) lives here.

pub mod telegram;

use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Compares a presented secret with the configured one in constant time, lengths included
/// (both sides are hashed first, so the comparison never leaks the secret's length).
pub fn secrets_match(presented: &[u8], configured: &[u8]) -> bool {
    let a = Sha256::digest(presented);
    let b = Sha256::digest(configured);
    a.ct_eq(&b).into()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the channel has no {0} configured, so every request is refused")]
    NotConfigured(&'static str),
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("signature does not match")]
    Mismatch,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body is malformed: {0}")]
    Invalid(String),
}

/// Why a send did not go through, and what the caller should do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The channel asks us to slow down.
    #[error("rate limited by the channel, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// Worth retrying later (5xx, network).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying cannot help (blocked by the user, chat gone, bad token).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match(b"abc", b"abc"));
        assert!(!secrets_match(b"abc", b"abd"));
        assert!(!secrets_match(b"abc", b"abcd"));
        assert!(!secrets_match(b"", b"abc"));
    }
}
