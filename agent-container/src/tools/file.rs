//! `file` (read a file or list a folder) and `file_write`, confined to the session workspace
//! (see [`super::workspace`]) and the profile's `file_prefixes`.

use std::io::ErrorKind;
use std::path::Path;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::workspace::{MAX_PATH_BYTES, check_quota, ensure, resolve_for, shown};
use super::{ToolContext, ToolError, ToolName, TypedTool, truncate_output};
use crate::untrusted::{self, Kind};

/// Most bytes `file` reads from one file.
pub const MAX_READ_BYTES: usize = 256 * 1024;
/// Most bytes `file_write` writes in one call.
pub const MAX_WRITE_BYTES: usize = 1024 * 1024;
/// Most entries `file` lists from one folder.
pub const MAX_LIST_ENTRIES: usize = 1000;

pub struct FileRead;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileReadInput {
    /// Workspace-relative path, e.g. `notes/todo.md` or `.`.
    #[schemars(length(min = 1, max = MAX_PATH_BYTES))]
    pub path: String,
    /// `read` a file (default) or `list` a folder.
    #[schemars(extend("default" = FileAction::default()))]
    pub action: Option<FileAction>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileAction {
    #[default]
    Read,
    List,
}

#[async_trait]
impl TypedTool for FileRead {
    type Input = FileReadInput;

    fn name(&self) -> ToolName {
        ToolName::File
    }

    fn description(&self) -> String {
        "Read a text file or list a folder in this conversation's private workspace. Paths are relative to the \
         workspace (no absolute paths, no `..`); use `.` for the workspace itself. Reads return at most the first \
         256 KiB as text; binary files are not shown."
            .into()
    }

    async fn run(&self, ctx: &ToolContext, input: FileReadInput) -> Result<String, ToolError> {
        let relative = input.path.as_str();
        let path = resolve_for(ctx, relative)?;
        match input.action.unwrap_or_default() {
            FileAction::Read => read(&path, relative).await,
            FileAction::List => list(&path, relative).await,
        }
    }
}

async fn read(path: &Path, relative: &str) -> Result<String, ToolError> {
    // O_NONBLOCK: opening a FIFO someone made with the shell must not hang the run.
    let mut file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .await
        .map_err(|e| io_error("read", relative, &e))?;
    let meta = file.metadata().await.map_err(|e| io_error("read", relative, &e))?;
    if meta.is_dir() {
        return Err(ToolError::InvalidInput(format!(
            "`{}` is a folder; use `\"action\": \"list\"` to see what is in it",
            shown(relative)
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::Refused(format!("`{}` is not a regular file", shown(relative))));
    }
    let mut bytes = Vec::with_capacity((meta.len() as usize).min(MAX_READ_BYTES));
    (&mut file)
        .take(MAX_READ_BYTES as u64)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| io_error("read", relative, &e))?;
    if bytes.contains(&0) {
        return Ok(format!("`{}` is a binary file ({} bytes); its content is not shown.", shown(relative), meta.len()));
    }
    let mut text = untrusted::wrap(Kind::File, &[("path", relative)], &String::from_utf8_lossy(&bytes));
    if meta.len() > MAX_READ_BYTES as u64 {
        text.push_str(&format!("\n[file is {} bytes; only the first {MAX_READ_BYTES} bytes were read]", meta.len()));
    }
    // Cut in the middle if at all: the block's delimiters are at its two ends.
    Ok(truncate_output(&text))
}

async fn list(path: &Path, relative: &str) -> Result<String, ToolError> {
    let mut dir = tokio::fs::read_dir(path).await.map_err(|e| io_error("list", relative, &e))?;
    let mut entries = Vec::new();
    let mut more = false;
    while let Some(entry) = dir.next_entry().await.map_err(|e| io_error("list", relative, &e))? {
        if entries.len() == MAX_LIST_ENTRIES {
            more = true;
            break;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        // file_type does not follow symlinks, so links are shown as links.
        let line = match entry.file_type().await {
            Ok(t) if t.is_dir() => format!("{name}/"),
            Ok(t) if t.is_symlink() => format!("{name}@ (link)"),
            Ok(t) if t.is_file() => match entry.metadata().await {
                Ok(m) => format!("{name} ({} bytes)", m.len()),
                Err(_) => name,
            },
            _ => format!("{name} (special file)"),
        };
        entries.push(line);
    }
    entries.sort();
    if entries.is_empty() {
        return Ok(format!("`{}` is empty.", shown(relative)));
    }
    // Names are untrusted too: a command can create a file with any name.
    let mut text = untrusted::wrap(Kind::FolderListing, &[("path", relative)], &entries.join("\n"));
    if more {
        text.push_str(&format!("\n[only the first {MAX_LIST_ENTRIES} entries are listed]"));
    }
    Ok(truncate_output(&text))
}

pub struct FileWrite;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileWriteInput {
    /// Workspace-relative file path, e.g. `reports/summary.md`.
    #[schemars(length(min = 1, max = MAX_PATH_BYTES))]
    pub path: String,
    /// The text to write.
    pub content: String,
    /// `overwrite` (default) or `append`.
    #[schemars(extend("default" = WriteMode::default()))]
    pub mode: Option<WriteMode>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    #[default]
    Overwrite,
    Append,
}

#[async_trait]
impl TypedTool for FileWrite {
    type Input = FileWriteInput;

    fn name(&self) -> ToolName {
        ToolName::FileWrite
    }

    fn description(&self) -> String {
        "Write a text file in this conversation's private workspace, creating missing folders. `mode` `overwrite` \
         (default) replaces the file, `append` adds to its end. Paths are relative to the workspace (no absolute \
         paths, no `..`); writing through symbolic links is refused. At most 1 MiB per call; the workspace holds \
         at most 64 MiB in 10,000 files and folders."
            .into()
    }

    async fn run(&self, ctx: &ToolContext, input: FileWriteInput) -> Result<String, ToolError> {
        let relative = input.path.as_str();
        let content = input.content.as_str();
        let append = input.mode.unwrap_or_default() == WriteMode::Append;
        if content.len() > MAX_WRITE_BYTES {
            return Err(ToolError::Refused(format!(
                "the content is {} bytes; at most {MAX_WRITE_BYTES} bytes per call",
                content.len()
            )));
        }
        let path = resolve_for(ctx, relative)?;
        // resolve_for created the workspace; its canonical path is the prefix of `path`.
        let root = ensure(&ctx.workspace)?;
        check_quota(&root, &path, relative, content.len() as u64, append)?;
        if let Some(parent) = path.parent() {
            // The parent's existing part was checked by resolve_for; new folders are created inside it.
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_error("create the folders for", relative, &e))?;
        }
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true);
        if append {
            options.append(true);
        } else {
            options.truncate(true);
        }
        // O_NOFOLLOW: a link as the last component is refused, whatever it points to.
        let mut file = options
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .await
            .map_err(|e| io_error("write", relative, &e))?;
        let meta = file.metadata().await.map_err(|e| io_error("write", relative, &e))?;
        if !meta.is_file() {
            return Err(ToolError::Refused(format!("`{}` is not a regular file", shown(relative))));
        }
        file.write_all(content.as_bytes()).await.map_err(|e| io_error("write", relative, &e))?;
        file.flush().await.map_err(|e| io_error("write", relative, &e))?;
        let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        let verb = if append { "appended" } else { "wrote" };
        Ok(format!("{verb} {} bytes to `{}` (now {size} bytes)", content.len(), shown(relative)))
    }
}

/// An I/O error as the model sees it: what failed and why, without the absolute path.
fn io_error(doing: &str, relative: &str, e: &std::io::Error) -> ToolError {
    let path = shown(relative);
    match e.kind() {
        ErrorKind::NotFound => ToolError::Failed(format!("cannot {doing} `{path}`: it does not exist")),
        ErrorKind::IsADirectory => ToolError::Failed(format!("cannot {doing} `{path}`: it is a folder")),
        ErrorKind::NotADirectory => {
            ToolError::Failed(format!("cannot {doing} `{path}`: a part of the path is a file, not a folder"))
        }
        ErrorKind::PermissionDenied => ToolError::Failed(format!("cannot {doing} `{path}`: permission denied")),
        _ if e.raw_os_error() == Some(libc::ELOOP) => {
            ToolError::Refused(format!("cannot {doing} `{path}`: it is a symbolic link, and links are not followed"))
        }
        _ => ToolError::Failed(format!("cannot {doing} `{path}`: {}", e.kind())),
    }
}
