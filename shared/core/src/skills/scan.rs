//! The install-time check of a skill folder: limits, file types judged by their bytes, paths, and
//! the memory-poisoning rules on every text file. A skill's description goes into every prompt
//! of its bot and its body into any run that reads it, so it gets the same check as memory.

use serde::{Deserialize, Serialize};

use super::{
    MAX_FILE_BYTES, MAX_FILES, MAX_SKILL_MD_BYTES, MAX_TOTAL_BYTES, SKILL_MD, SkillManifest, SkillName,
    check_file_path, parse_manifest,
};
use crate::safety::check_memory_write;

/// One entry found in the folder, as the CLI walked it (symlinks are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEntry {
    /// A regular file: its path relative to the folder (`/`-separated) and its bytes (a reader
    /// may stop one byte past [`MAX_FILE_BYTES`]: that is enough to refuse it).
    File { path: String, bytes: Vec<u8> },
    /// A symbolic link.
    Symlink { path: String },
    /// A device, socket, pipe or anything else that is neither a file nor a folder.
    Other { path: String },
}

/// A file of a checked skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillFile {
    pub path: String,
    pub text: String,
}

/// A skill that passed every check, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSkill {
    pub manifest: SkillManifest,
    /// `SKILL.md` first, then the others by path.
    pub files: Vec<SkillFile>,
}

impl CheckedSkill {
    /// The index entry that describes it.
    pub fn entry(&self) -> SkillEntry {
        SkillEntry {
            name: self.manifest.name.clone(),
            description: self.manifest.description.clone(),
            files: self.files.iter().map(|f| f.path.clone()).collect(),
            bytes: self.files.iter().map(|f| f.text.len() as u64).sum(),
        }
    }
}

/// One skill in a bot's index (and in `clawless skill list --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillEntry {
    pub name: SkillName,
    pub description: String,
    /// Its files' paths inside the skill's folder, `SKILL.md` first.
    pub files: Vec<String>,
    /// All its files together.
    pub bytes: u64,
}

/// Why a skill was refused at install. Each message names the file and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkillRefusal {
    #[error("the folder has no SKILL.md")]
    MissingSkillMd,
    #[error("SKILL.md: {reason}")]
    Manifest { reason: String },
    #[error("{file}: matches the memory-poisoning rule {rule} (text that reads as an instruction to the model)")]
    Poisoned { file: String, rule: &'static str },
    #[error("the folder has more than {MAX_FILES} files")]
    TooManyFiles,
    #[error("{file}: larger than {limit} bytes")]
    FileTooLarge { file: String, limit: usize },
    #[error("the skill's files together are larger than {MAX_TOTAL_BYTES} bytes")]
    TotalTooLarge,
    #[error("{file}: {reason}")]
    BadPath { file: String, reason: &'static str },
    #[error("{file}: not a text file ({reason})")]
    NotText { file: String, reason: &'static str },
    #[error("{file}: symbolic links are not allowed")]
    Symlink { file: String },
    #[error("{file}: only regular files and folders are allowed")]
    NotAFile { file: String },
}

/// What the file's bytes say, whatever its extension: UTF-8 text with no control characters
/// but tab, line feed, carriage return and form feed (NUL bytes and other controls mark binary).
fn text_of(bytes: &[u8]) -> Result<&str, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "its bytes are not UTF-8")?;
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')) {
        return Err("it holds control characters or NUL bytes");
    }
    Ok(text)
}

/// Checks a skill folder's entries; the skill to store, or why not.
pub fn check_skill(entries: Vec<SourceEntry>) -> Result<CheckedSkill, SkillRefusal> {
    let mut files = Vec::new();
    let mut total = 0usize;
    for entry in entries {
        let (path, bytes) = match entry {
            SourceEntry::Symlink { path } => return Err(SkillRefusal::Symlink { file: path }),
            SourceEntry::Other { path } => return Err(SkillRefusal::NotAFile { file: path }),
            SourceEntry::File { path, bytes } => (path, bytes),
        };
        check_file_path(&path).map_err(|reason| SkillRefusal::BadPath { file: path.clone(), reason })?;
        let limit = if path == SKILL_MD { MAX_SKILL_MD_BYTES } else { MAX_FILE_BYTES };
        if bytes.len() > limit {
            return Err(SkillRefusal::FileTooLarge { file: path, limit });
        }
        total += bytes.len();
        if total > MAX_TOTAL_BYTES {
            return Err(SkillRefusal::TotalTooLarge);
        }
        files.push((path, bytes));
        if files.len() > MAX_FILES {
            return Err(SkillRefusal::TooManyFiles);
        }
    }
    let mut checked = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let text = text_of(&bytes).map_err(|reason| SkillRefusal::NotText { file: path.clone(), reason })?;
        check_memory_write(text).map_err(|f| SkillRefusal::Poisoned { file: path.clone(), rule: f.pattern })?;
        checked.push(SkillFile { path, text: text.to_owned() });
    }
    checked.sort_by(|a, b| (a.path != SKILL_MD, &a.path).cmp(&(b.path != SKILL_MD, &b.path)));
    let skill_md = checked.first().filter(|f| f.path == SKILL_MD).ok_or(SkillRefusal::MissingSkillMd)?;
    let manifest = parse_manifest(&skill_md.text)?;
    Ok(CheckedSkill { manifest, files: checked })
}
