//! The session's workspace directory and safe paths inside it.
//!
//! Every path a tool takes is workspace-relative and goes through [`resolve`] (or
//! [`resolve_for`], which also applies the profile's `file_prefixes`). A path is refused if it is
//! absolute, climbs with `..`, or reaches outside the workspace through a symlink, including
//! for files that do not exist yet.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use super::{ToolContext, ToolError};

/// Longest path a tool accepts, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Most bytes a session's workspace holds: the sizes of its regular files (as `ls -l` shows
/// them, so a sparse file counts at its full size).
pub const MAX_WORKSPACE_BYTES: u64 = 64 * 1024 * 1024;
/// Most entries (files, folders, links, anything else) a session's workspace holds.
pub const MAX_WORKSPACE_FILES: u64 = 10_000;

/// What a workspace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Sizes of its regular files.
    pub bytes: u64,
    /// Its entries, the workspace itself not counted. Counting stops just past
    /// [`MAX_WORKSPACE_FILES`] (`bytes` is then incomplete too).
    pub files: u64,
}

impl Usage {
    pub fn over_quota(&self) -> bool {
        self.bytes > MAX_WORKSPACE_BYTES || self.files > MAX_WORKSPACE_FILES
    }

    /// Whether counting stopped at the entry limit.
    pub fn incomplete(&self) -> bool {
        self.files > MAX_WORKSPACE_FILES
    }
}

/// What the workspace at `root` holds. Links are counted, not followed; folders the agent cannot
/// read are counted but not entered. The walk stops just past [`MAX_WORKSPACE_FILES`], so a
/// workspace a shell filled with a million files costs each write a bounded walk.
pub fn usage(root: &Path) -> Usage {
    let mut usage = Usage::default();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            usage.files += 1;
            if usage.incomplete() {
                return usage;
            }
            // DirEntry::metadata does not follow a link.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                folders.push(entry.path());
            } else if meta.is_file() {
                usage.bytes = usage.bytes.saturating_add(meta.len());
            }
        }
    }
    usage
}

/// A note for a tool result when the workspace is over its quota (after a `shell` command),
/// saying what that means for later writes.
pub fn quota_note(usage: Usage) -> Option<String> {
    if !usage.over_quota() {
        return None;
    }
    let files = if usage.incomplete() { format!("more than {MAX_WORKSPACE_FILES}") } else { usage.files.to_string() };
    Some(format!(
        "[the workspace is over its quota: it holds {}{} bytes in {files} files and folders; the quota is \
         {MAX_WORKSPACE_BYTES} bytes in {MAX_WORKSPACE_FILES} files and folders. `file_write` refuses every write \
         that does not make it smaller until files are deleted]",
        if usage.incomplete() { "at least " } else { "" },
        usage.bytes
    ))
}

/// Refuses a write of `new_len` bytes to `path` (a workspace path from [`resolve`], `append` or
/// overwrite) that the workspace's quota does not allow: one that would take the workspace over
/// [`MAX_WORKSPACE_BYTES`] or [`MAX_WORKSPACE_FILES`], or that adds to a workspace already over
/// its quota (a `shell` command can put it there). A write that makes the workspace smaller is
/// always allowed, so space can be freed by overwriting a large file.
pub fn check_quota(root: &Path, path: &Path, relative: &str, new_len: u64, append: bool) -> Result<(), ToolError> {
    let before = usage(root);
    let existing = std::fs::symlink_metadata(path).ok();
    let old_len = existing.as_ref().filter(|m| m.is_file()).map_or(0, |m| m.len());
    let new_size = if append { old_len.saturating_add(new_len) } else { new_len };
    // The file and the folders the write creates on its way.
    let new_entries = path
        .ancestors()
        .take_while(|p| *p != root && p.starts_with(root))
        .filter(|p| std::fs::symlink_metadata(p).is_err())
        .count() as u64;
    let files_after = before.files.saturating_add(new_entries);
    if new_entries > 0 && files_after > MAX_WORKSPACE_FILES {
        let files =
            if before.incomplete() { format!("more than {MAX_WORKSPACE_FILES}") } else { files_after.to_string() };
        return Err(ToolError::Refused(format!(
            "writing `{}` would make the workspace hold {files} files and folders; the limit is \
             {MAX_WORKSPACE_FILES}. Nothing was written. Delete files you no longer need first",
            shown(relative)
        )));
    }
    if new_size <= old_len {
        return Ok(());
    }
    let bytes_after = before.bytes.saturating_sub(old_len).saturating_add(new_size);
    if bytes_after > MAX_WORKSPACE_BYTES || before.incomplete() {
        return Err(ToolError::Refused(format!(
            "writing `{}` would make the workspace hold {}{bytes_after} bytes; its quota is {MAX_WORKSPACE_BYTES} \
             bytes. Nothing was written. Delete files you no longer need, or overwrite large ones with less, first",
            shown(relative),
            if before.incomplete() { "at least " } else { "" },
        )));
    }
    Ok(())
}

/// Creates the workspace if needed and returns its canonical path.
pub fn ensure(workspace: &Path) -> Result<PathBuf, ToolError> {
    std::fs::create_dir_all(workspace)
        .and_then(|()| std::fs::canonicalize(workspace))
        .map_err(|e| ToolError::Failed(format!("the session workspace is not available: {}", e.kind())))
}

/// The absolute path of `relative` inside `workspace` (created on first use). The result is
/// the canonical workspace joined with the cleaned relative path, so a symlink as the last
/// component is kept as such (writers open it with `O_NOFOLLOW`).
pub fn resolve(workspace: &Path, relative: &str) -> Result<PathBuf, ToolError> {
    let clean = clean_relative(relative)?;
    let root = ensure(workspace)?;
    let joined = root.join(&clean);
    // The deepest existing ancestor decides where the path really is: a symlink anywhere on
    // the way that leads out of the workspace is refused, even if the file itself is new.
    for ancestor in joined.ancestors() {
        match std::fs::symlink_metadata(ancestor) {
            Ok(_) => {
                let real = std::fs::canonicalize(ancestor).map_err(|e| {
                    refused(relative, &format!("it goes through a link that cannot be followed ({})", e.kind()))
                })?;
                if !real.starts_with(&root) {
                    return Err(refused(relative, "it leads outside the workspace through a symbolic link"));
                }
                return Ok(joined);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(ToolError::Failed(format!("cannot check `{}`: {}", shown(relative), e.kind()))),
        }
    }
    // Unreachable in practice: the workspace itself exists.
    Err(refused(relative, "it is not inside the workspace"))
}

/// [`resolve`] in the context's workspace, after checking the profile's `file_prefixes`.
pub fn resolve_for(ctx: &ToolContext, relative: &str) -> Result<PathBuf, ToolError> {
    check_prefixes(relative, &ctx.profile.file_prefixes)?;
    resolve(&ctx.workspace, relative)
}

/// Refuses `relative` unless it lies under one of `prefixes` (workspace-relative, compared by
/// whole components: `reports` allows `reports/q1.csv`, not `reports2/x`). Empty = anywhere.
pub fn check_prefixes(relative: &str, prefixes: &[String]) -> Result<(), ToolError> {
    if prefixes.is_empty() {
        return Ok(());
    }
    let clean = clean_relative(relative)?;
    // A malformed prefix in a profile (absolute, `..`) allows nothing rather than everything.
    let allowed = prefixes.iter().filter_map(|p| clean_relative(p).ok()).any(|p| clean.starts_with(&p));
    if allowed {
        return Ok(());
    }
    let list = prefixes.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    Err(ToolError::Refused(format!(
        "`{}` is outside the folders this profile allows (paths must start with one of: {list})",
        shown(relative)
    )))
}

/// `relative` as plain components, or a refusal saying what is wrong with it.
fn clean_relative(relative: &str) -> Result<PathBuf, ToolError> {
    if relative.trim().is_empty() {
        return Err(ToolError::Refused("the path is empty (use `.` for the workspace itself)".into()));
    }
    if relative.len() > MAX_PATH_BYTES {
        return Err(ToolError::Refused(format!("the path is longer than {MAX_PATH_BYTES} bytes")));
    }
    if relative.contains('\0') {
        return Err(ToolError::Refused("the path contains a NUL byte".into()));
    }
    let mut clean = PathBuf::new();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(refused(relative, "`..` is not allowed; use paths relative to the workspace"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused(relative, "absolute paths are not allowed; use paths relative to the workspace"));
            }
        }
    }
    Ok(clean)
}

fn refused(relative: &str, why: &str) -> ToolError {
    ToolError::Refused(format!("path `{}` refused: {why}", shown(relative)))
}

/// The path as quoted back to the model: short and on one line.
pub(crate) fn shown(relative: &str) -> String {
    relative.chars().take(200).map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_workspace(tag: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::env::temp_dir().join(format!("clawless-ws-unit-{tag}-{}-{n}", std::process::id()))
    }

    fn is_refused(r: Result<PathBuf, ToolError>) -> bool {
        matches!(r, Err(ToolError::Refused(_)))
    }

    #[test]
    fn malformed_paths_are_refused() {
        let ws = temp_workspace("bad");
        for bad in ["", "  ", "/etc/passwd", "../x", "a/../../x", "a/..", "a\0b"] {
            assert!(is_refused(resolve(&ws, bad)), "{bad:?} should be refused");
        }
        assert!(is_refused(resolve(&ws, &"a".repeat(MAX_PATH_BYTES + 1))));
        let _ = std::fs::remove_dir_all(&ws);
    }

    #[test]
    fn plain_paths_resolve_inside_the_created_workspace() {
        let ws = temp_workspace("ok");
        let p = resolve(&ws, "./notes/today.txt").unwrap();
        let root = std::fs::canonicalize(&ws).unwrap();
        assert_eq!(p, root.join("notes/today.txt"));
        assert_eq!(resolve(&ws, ".").unwrap(), root);
        let _ = std::fs::remove_dir_all(&ws);
    }

    #[test]
    fn symlinks_out_of_the_workspace_are_refused_even_for_new_files() {
        let ws = temp_workspace("link");
        std::fs::create_dir_all(&ws).unwrap();
        std::os::unix::fs::symlink("/etc", ws.join("etc")).unwrap();
        std::os::unix::fs::symlink("/nonexistent-clawless", ws.join("dangling")).unwrap();
        std::fs::create_dir_all(ws.join("inside")).unwrap();
        std::os::unix::fs::symlink(ws.join("inside"), ws.join("alias")).unwrap();
        assert!(is_refused(resolve(&ws, "etc")));
        assert!(is_refused(resolve(&ws, "etc/passwd")));
        assert!(is_refused(resolve(&ws, "etc/new-file")));
        assert!(is_refused(resolve(&ws, "dangling")));
        assert!(resolve(&ws, "alias/file.txt").is_ok(), "links that stay inside are fine");
        let _ = std::fs::remove_dir_all(&ws);
    }

    #[test]
    fn prefixes_match_whole_components() {
        let prefixes = vec!["reports".to_owned(), "./shared/".to_owned()];
        assert!(check_prefixes("reports/q1.csv", &prefixes).is_ok());
        assert!(check_prefixes("reports", &prefixes).is_ok());
        assert!(check_prefixes("shared/a/b", &prefixes).is_ok());
        assert!(matches!(check_prefixes("reports2/x", &prefixes), Err(ToolError::Refused(_))));
        assert!(matches!(check_prefixes("notes.txt", &prefixes), Err(ToolError::Refused(_))));
        assert!(check_prefixes("anything", &[]).is_ok());
        assert!(check_prefixes("x", &["/".to_owned()]).is_err(), "a malformed prefix allows nothing");
    }
}
