//! The fuzz targets' bodies, one function per target (the binaries in `fuzz_targets/` only hand
//! libFuzzer's input to them), so the same functions replay the committed corpora in an ordinary
//! `cargo test` without instrumentation (`scripts/fuzz.sh --replay`).
//!
//! Each target feeds the bytes to the code that reads them from outside, and checks what must
//! hold whatever the bytes: no panic (an overflow included: the fuzz build keeps overflow
//! checks), a request signed with the channel's secret verifies, whatever the webhook parsed
//! survives the inbound queue, decoded envelopes re-encode to themselves, split text stays within
//! the limit and loses nothing, and a path that resolves stays inside the workspace.

mod agent_tools;
mod bytes;
mod envelopes;
mod safety;
mod schedules;
mod text;
pub mod webhooks;

pub use agent_tools::workspace_path;
pub use envelopes::envelopes;
pub use safety::memory_poison;
pub use schedules::schedules;
pub use text::text_split;
pub use webhooks::{webhook_discord, webhook_feishu, webhook_slack, webhook_telegram, webhook_whatsapp};

/// A target's body: takes libFuzzer's input, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target by the name of its binary and corpus folder (`fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("webhook_telegram", webhook_telegram),
    ("webhook_slack", webhook_slack),
    ("webhook_discord", webhook_discord),
    ("webhook_feishu", webhook_feishu),
    ("webhook_whatsapp", webhook_whatsapp),
    ("envelopes", envelopes),
    ("schedules", schedules),
    ("text_split", text_split),
    ("memory_poison", memory_poison),
    ("workspace_path", workspace_path),
];

#[cfg(test)]
mod replay;
