//! Skills: operator-installed instructions for one bot. A skill is a folder with a `SKILL.md`
//! (front matter with `name` and `description`, then the instructions) and optional text files.
//!
//! - Only the operator installs them (`clawless skill add`, trusted code): `install_skill` stays
//!   always blocked for agents, and agents' credentials may only read skills (IAM).
//! - At install every file passes the limits and file-type checks here and every text file the
//!   memory-poisoning rules ([`crate::safety::check_memory_write`]); a refusal names the file and
//!   the rule ([`SkillRefusal`]), and nothing is stored.
//! - Stored in the memory bucket under the bot's prefix ([`skill_file_key`]), with one index
//!   object per bot ([`skill_index_key`]) so a run reads one object to list the skills in its
//!   prompt; the body is read on demand (`skill_read`).

mod manifest;
mod scan;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::ids::{BotId, TenantId};

pub use manifest::{SkillManifest, parse_manifest};
pub use scan::{CheckedSkill, SkillEntry, SkillFile, SkillRefusal, SourceEntry, check_skill};
#[cfg(any(test, feature = "test-support"))]
pub use store::InMemorySkillObjects;
pub use store::{SkillCatalog, SkillObjects, SkillReader, SkillStoreError};

/// The file every skill has.
pub const SKILL_MD: &str = "SKILL.md";
/// Largest `SKILL.md`, in bytes.
pub const MAX_SKILL_MD_BYTES: usize = 32 * 1024;
/// Most files in one skill, `SKILL.md` included.
pub const MAX_FILES: usize = 20;
/// Largest file of a skill, in bytes.
pub const MAX_FILE_BYTES: usize = 256 * 1024;
/// Largest skill, all its files together, in bytes.
pub const MAX_TOTAL_BYTES: usize = 1024 * 1024;
/// Longest description, in characters (it goes into every prompt).
pub const MAX_DESCRIPTION_CHARS: usize = 300;
/// Most skills one bot has (each one's name and description goes into every prompt).
pub const MAX_SKILLS_PER_BOT: usize = 32;
/// Deepest a file may sit inside the skill's folder (`a/b/c/file.md` is 4).
pub const MAX_PATH_DEPTH: usize = 4;
/// Longest relative path of a file, in bytes.
pub const MAX_PATH_BYTES: usize = 200;
/// The file types a skill may hold, by extension: UTF-8 text only (checked again on the bytes).
pub const TEXT_EXTENSIONS: [&str; 11] = ["md", "txt", "json", "yaml", "yml", "csv", "py", "js", "ts", "sh", "toml"];

/// A skill's name: `[a-z0-9][a-z0-9-]{0,47}`. It is a path segment of its S3 keys, so nothing
/// else is accepted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SkillName(String);

/// Longest skill name.
pub const MAX_NAME_CHARS: usize = 48;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "skill name {given:?} is not valid: use 1 to {MAX_NAME_CHARS} characters a-z, 0-9 and '-', starting with a letter or digit"
)]
pub struct BadSkillName {
    pub given: String,
}

impl SkillName {
    pub fn parse(raw: &str) -> Result<Self, BadSkillName> {
        let bytes = raw.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= MAX_NAME_CHARS
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok { Ok(Self(raw.to_owned())) } else { Err(BadSkillName { given: raw.chars().take(80).collect() }) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SkillName {
    type Error = BadSkillName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SkillName> for String {
    fn from(value: SkillName) -> Self {
        value.0
    }
}

impl fmt::Display for SkillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file's path inside its skill's folder, as stored and as `skill_read` names it: `/`-separated
/// segments of `[A-Za-z0-9_][A-Za-z0-9._-]*` (no hidden files, no `..`, no empty segment), at
/// most [`MAX_PATH_DEPTH`] deep, ending in one of [`TEXT_EXTENSIONS`].
pub fn check_file_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return Err("the path is empty or too long");
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() > MAX_PATH_DEPTH {
        return Err("the file sits too deep in the folder");
    }
    for segment in &segments {
        let Some(first) = segment.bytes().next() else { return Err("the path has an empty segment") };
        if first == b'.' {
            return Err("hidden files and '..' are not allowed");
        }
        if !(first.is_ascii_alphanumeric() || first == b'_') {
            return Err("a path segment must start with a letter, digit or '_'");
        }
        if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err("only letters, digits, '.', '_' and '-' may name a file or folder");
        }
    }
    let extension = path.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase());
    match extension {
        Some(ext) if !path.ends_with('/') && TEXT_EXTENSIONS.contains(&ext.as_str()) => Ok(()),
        _ => Err("only text files are allowed (md, txt, json, yaml, yml, csv, py, js, ts, sh, toml)"),
    }
}

/// Where a bot's skills live in the memory bucket: `tenants/{t}/bots/{b}/skills/`.
pub fn skills_prefix(tenant: &TenantId, bot: &BotId) -> String {
    format!("tenants/{tenant}/bots/{bot}/skills/")
}

/// The bot's skill index (one object: what a run lists in its prompt).
pub fn skill_index_key(tenant: &TenantId, bot: &BotId) -> String {
    format!("{}index.json", skills_prefix(tenant, bot))
}

/// The prefix of one skill's files.
pub fn skill_prefix(tenant: &TenantId, bot: &BotId, name: &SkillName) -> String {
    format!("{}{name}/", skills_prefix(tenant, bot))
}

/// The object key of one file of a skill; `path` must have passed [`check_file_path`].
pub fn skill_file_key(tenant: &TenantId, bot: &BotId, name: &SkillName, path: &str) -> String {
    format!("{}{path}", skill_prefix(tenant, bot, name))
}

/// A bot's skills, as the index object holds them (sorted by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillIndex {
    pub skills: Vec<SkillEntry>,
}

impl SkillIndex {
    pub fn get(&self, name: &SkillName) -> Option<&SkillEntry> {
        self.skills.iter().find(|s| &s.name == name)
    }

    /// The index parsed from its stored bytes; entries whose fields fail their checks are
    /// dropped (the index is written by trusted code only, so that is a corrupt object).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let mut index: SkillIndex = serde_json::from_slice(bytes)?;
        index.skills.retain(|s| s.files.iter().all(|f| check_file_path(f).is_ok()));
        Ok(index)
    }
}
