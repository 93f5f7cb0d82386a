//! `clawless skill add|list|remove`: a bot's skills ([`clawless_core::skills`]). Only the operator
//! installs skills (agents' `install_skill` is always blocked and their credentials may only read
//! them). A folder is checked before anything is stored: limits, text files judged by their
//! bytes, no symlinks or hidden files, and the memory-poisoning rules on every file; a refusal
//! names the file and the rule. The operator names the bot; its tenant comes from the bot record.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use clawless_aws::skills::{SkillBucket, memory_bucket_name};
use clawless_core::admin::AdminError;
use clawless_core::ports::StoreError;
use clawless_core::skills::{
    MAX_FILE_BYTES, MAX_FILES, MAX_PATH_DEPTH, SkillCatalog, SkillEntry, SkillName, SkillRefusal, SkillStoreError,
    SourceEntry, check_skill,
};
use serde_json::{Value, json};

use crate::admin::Admin;

#[derive(Subcommand)]
pub enum SkillAction {
    /// Install a skill folder (SKILL.md with name and description, then the instructions, and
    /// optional text files); replaces the bot's skill of the same name.
    Add {
        #[arg(long)]
        bot: String,
        /// The skill's folder.
        #[arg(long)]
        path: PathBuf,
    },
    /// The bot's skills.
    List {
        #[arg(long)]
        bot: String,
    },
    /// Remove a skill and its files.
    Remove {
        #[arg(long)]
        bot: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("skill refused: {0}")]
    Refused(#[from] SkillRefusal),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] SkillStoreError),
    #[error(transparent)]
    Bucket(#[from] StoreError),
    #[error(transparent)]
    Name(#[from] clawless_core::skills::BadSkillName),
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> SkillError + '_ {
    move |source| SkillError::Read { path: path.display().to_string(), source }
}

/// The folder's entries, paths relative to it with `/`; symlinks are reported, not followed;
/// files are read only up to one byte past the size limit.
pub fn walk(root: &Path) -> Result<Vec<SourceEntry>, SkillError> {
    if !std::fs::metadata(root).map_err(read_err(root))?.is_dir() {
        return Err(SkillError::Read {
            path: root.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a folder"),
        });
    }
    let mut entries = Vec::new();
    walk_into(root, "", 1, &mut entries)?;
    entries.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
    Ok(entries)
}

fn entry_path(e: &SourceEntry) -> &str {
    match e {
        SourceEntry::File { path, .. } | SourceEntry::Symlink { path } | SourceEntry::Other { path } => path,
    }
}

fn walk_into(dir: &Path, rel: &str, depth: usize, out: &mut Vec<SourceEntry>) -> Result<(), SkillError> {
    let mut children: Vec<_> =
        std::fs::read_dir(dir).map_err(read_err(dir))?.collect::<Result<_, _>>().map_err(read_err(dir))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        // Enough to refuse the folder: more files than allowed are never read.
        if out.len() > MAX_FILES {
            return Ok(());
        }
        let path = child.path();
        let name = child.file_name().to_string_lossy().into_owned();
        let rel_path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let kind = std::fs::symlink_metadata(&path).map_err(read_err(&path))?.file_type();
        if kind.is_symlink() {
            out.push(SourceEntry::Symlink { path: rel_path });
        } else if kind.is_dir() {
            if name.starts_with('.') {
                return Err(SkillRefusal::BadPath {
                    file: format!("{rel_path}/"),
                    reason: "hidden files and '..' are not allowed",
                }
                .into());
            }
            if depth >= MAX_PATH_DEPTH {
                return Err(SkillRefusal::BadPath {
                    file: format!("{rel_path}/"),
                    reason: "the file sits too deep in the folder",
                }
                .into());
            }
            walk_into(&path, &rel_path, depth + 1, out)?;
        } else if kind.is_file() {
            let mut bytes = Vec::new();
            let file = std::fs::File::open(&path).map_err(read_err(&path))?;
            file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(read_err(&path))?;
            out.push(SourceEntry::File { path: rel_path, bytes });
        } else {
            out.push(SourceEntry::Other { path: rel_path });
        }
    }
    Ok(())
}

fn entry_json(e: &SkillEntry) -> Value {
    json!({"name": e.name, "description": e.description, "files": e.files, "bytes": e.bytes})
}

async fn catalog(sdk: &aws_config::SdkConfig, stack: &str) -> Result<SkillCatalog, SkillError> {
    let bucket = memory_bucket_name(sdk, stack).await?;
    Ok(SkillCatalog::new(Arc::new(SkillBucket::from_sdk(sdk, bucket))))
}

pub async fn run(
    admin: &Admin,
    sdk: &aws_config::SdkConfig,
    stack: &str,
    action: SkillAction,
) -> Result<(Value, String), SkillError> {
    match action {
        SkillAction::Add { bot, path } => {
            // Checked before anything is read from or written to AWS beyond the bot record.
            let view = admin.show_bot(&bot).await?;
            let skill = check_skill(walk(&path)?)?;
            let (tenant, bot_id) = (view.bot.tenant_id, view.bot.bot_id);
            let entry = catalog(sdk, stack).await?.add(&tenant, &bot_id, &skill).await?;
            let mut shown = entry_json(&entry);
            shown["bot_id"] = json!(bot_id);
            let text = format!(
                "skill {} installed on bot {bot_id} ({} files, {} bytes): {}",
                entry.name,
                entry.files.len(),
                entry.bytes,
                entry.description
            );
            Ok((shown, text))
        }
        SkillAction::List { bot } => {
            let view = admin.show_bot(&bot).await?;
            let (tenant, bot_id) = (view.bot.tenant_id, view.bot.bot_id);
            let index = catalog(sdk, stack).await?.list(&tenant, &bot_id).await?;
            let lines: Vec<String> = index
                .skills
                .iter()
                .map(|s| format!("{}  {} files, {} bytes  {}", s.name, s.files.len(), s.bytes, s.description))
                .collect();
            let text = if lines.is_empty() { format!("bot {bot_id} has no skills") } else { lines.join("\n") };
            let skills: Vec<Value> = index.skills.iter().map(entry_json).collect();
            Ok((json!({"bot_id": bot_id, "skills": skills}), text))
        }
        SkillAction::Remove { bot, name } => {
            let name = SkillName::parse(name.trim())?;
            let view = admin.show_bot(&bot).await?;
            let (tenant, bot_id) = (view.bot.tenant_id, view.bot.bot_id);
            catalog(sdk, stack).await?.remove(&tenant, &bot_id, &name).await?;
            Ok((
                json!({"bot_id": bot_id, "name": name, "removed": true}),
                format!("skill {name} removed from bot {bot_id}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clawless-skill-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_walk_reports_symlinks_and_hidden_folders_and_reads_nested_files() {
        let dir = folder("walk");
        std::fs::write(dir.join("SKILL.md"), "x").unwrap();
        std::fs::create_dir_all(dir.join("ref")).unwrap();
        std::fs::write(dir.join("ref/a.md"), "a").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link.md")).unwrap();
        let entries = walk(&dir).unwrap();
        assert_eq!(
            entries,
            [
                SourceEntry::File { path: "SKILL.md".into(), bytes: b"x".to_vec() },
                SourceEntry::Symlink { path: "link.md".into() },
                SourceEntry::File { path: "ref/a.md".into(), bytes: b"a".to_vec() },
            ]
        );
        assert_eq!(check_skill(entries).unwrap_err().to_string(), "link.md: symbolic links are not allowed");
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        assert_eq!(walk(&dir).unwrap_err().to_string(), "skill refused: .git/: hidden files and '..' are not allowed");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(walk(&dir).unwrap_err().to_string().starts_with("cannot read "));
    }

    #[test]
    fn a_large_file_is_read_only_past_the_limit() {
        let dir = folder("large");
        std::fs::write(dir.join("big.txt"), vec![b'x'; MAX_FILE_BYTES + 1000]).unwrap();
        let entries = walk(&dir).unwrap();
        assert!(matches!(&entries[0], SourceEntry::File { bytes, .. } if bytes.len() == MAX_FILE_BYTES + 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
