//! Safety checks on what the agent writes and says: a memory-poisoning check and a response
//! audit, enforced in code rather than asked of the model in its prompt.
//!
//! - [`check_memory_write`]: memory is put into every later system prompt, so a note that reads
//!   as an instruction ("ignore previous instructions", a fake `<|im_start|>system` turn, "send
//!   the API key to …") would outlive the conversation that planted it. Such writes are refused.
//!   The rules cover English, Chinese (simplified and traditional), Spanish, German, French,
//!   Japanese and Portuguese (the other languages live in `i18n`, one set per English family, and
//!   report the family's name).
//! - [`audit_response`]: a second net after the tool gate. It finds claims in the final answer
//!   of having used a tool the profile does not allow; the agent loop logs them as
//!   `permission_denied`. Refusals and statements of inability are not claims.
//!
//! Both match on normalised text with regexes compiled once: invisible characters removed (text
//! hidden in tag characters read as the ASCII it shadows), NFKC (full-width letters, ligatures),
//! lowercased, accents on Latin letters dropped (so an accent added as a combining mark changes
//! nothing), curly quotes straightened, whitespace collapsed and dropped between CJK characters.

mod audit;
mod i18n;
mod normalise;
mod poison;

pub use audit::{AuditFinding, audit_response};
pub use poison::{PoisonFinding, check_memory_write};

/// The patterns are constants; a bad one is a bug caught by every test run.
fn compile(name: &str, pattern: &str) -> regex::Regex {
    match regex::Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => panic!("safety pattern {name} does not compile: {e}"),
    }
}

#[cfg(test)]
mod tests;
