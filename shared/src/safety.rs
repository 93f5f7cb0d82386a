//! Safety checks on what the agent writes and says. (Being built.)

use std::collections::BTreeSet;

/// A claim in an answer of having used a tool the profile does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFinding {
    pub tool: String,
}

pub fn audit_response(_text: &str, _allowed: &BTreeSet<String>) -> Vec<AuditFinding> {
    Vec::new()
}
