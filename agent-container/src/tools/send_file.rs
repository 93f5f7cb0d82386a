//! `send_file`: sends a file of the workspace to the chat with the final answer. The file goes
//! to the conversation's outbox in the memory bucket, written with the handed credentials (which
//! reach no other conversation's); the reply function, which holds the channel's token, reads it
//! there and uploads it. The channel's token never enters the microVM.

use async_trait::async_trait;
use clawless_core::domain::media::{
    MAX_FILES_PER_REPLY, MAX_OUTBOUND_BYTES, OutgoingFile, megabytes, outbox_prefix, safe_file_name, sniff,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::workspace::{MAX_PATH_BYTES, resolve_for};
use super::{ToolContext, ToolError, ToolName, TypedTool};

/// Longest caption kept.
pub const MAX_CAPTION_CHARS: usize = 1000;

pub struct SendFile;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendFileInput {
    /// Workspace-relative path of the file to send, e.g. `reports/q1.pdf`.
    #[schemars(length(min = 1, max = MAX_PATH_BYTES))]
    pub path: String,
    /// A short caption shown with the file.
    #[schemars(length(max = MAX_CAPTION_CHARS))]
    pub caption: Option<String>,
}

#[async_trait]
impl TypedTool for SendFile {
    type Input = SendFileInput;

    fn name(&self) -> ToolName {
        ToolName::SendFile
    }

    fn description(&self) -> String {
        format!(
            "Send a file from your workspace to the user in this chat, with your final answer (at most {} each, \
             {MAX_FILES_PER_REPLY} per answer). Write the file first (file_write or shell).",
            megabytes(MAX_OUTBOUND_BYTES)
        )
    }

    async fn run(&self, ctx: &ToolContext, input: SendFileInput) -> Result<String, ToolError> {
        let path = resolve_for(ctx, &input.path)?;
        let Some(files) = &ctx.files else {
            return Err(ToolError::Failed("files cannot be sent in this run".into()));
        };
        if ctx.outgoing_len() >= MAX_FILES_PER_REPLY {
            return Err(ToolError::Refused(format!("at most {MAX_FILES_PER_REPLY} files per answer")));
        }
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|_| ToolError::InvalidInput(format!("no file at `{}`", input.path)))?;
        if !meta.is_file() {
            return Err(ToolError::InvalidInput(format!("`{}` is not a file", input.path)));
        }
        if meta.len() > MAX_OUTBOUND_BYTES {
            return Err(ToolError::Refused(format!(
                "`{}` is {}; files sent to a chat may be at most {}",
                input.path,
                megabytes(meta.len()),
                megabytes(MAX_OUTBOUND_BYTES)
            )));
        }
        let bytes = tokio::fs::read(&path).await.map_err(|e| ToolError::Failed(format!("reading the file: {e}")))?;
        let sniffed = sniff(&bytes);
        let name = safe_file_name(&input.path, &sniffed.extension);
        let n = ctx.outgoing_len();
        let run = clawless_core::domain::ids::short_digest(&[ctx.run_id.as_str()]);
        let key = format!("{}{run}/{n}-{name}", outbox_prefix(&ctx.conversation));
        files
            .put_file(&key, bytes, &sniffed.media_type)
            .await
            .map_err(|e| ToolError::Failed(format!("the file could not be handed over: {e}")))?;
        let caption = input.caption.map(|c| c.chars().take(MAX_CAPTION_CHARS).collect::<String>());
        ctx.queue_file(OutgoingFile { key, name: name.clone(), caption });
        Ok(format!("{name} will be sent with your answer"))
    }
}
