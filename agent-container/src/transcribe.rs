//! Voice notes and audio files as text, through Amazon Transcribe, with the run's handed
//! credentials. The job reads the attachment where the dispatcher stored it and writes its
//! result under the same conversation's prefix, the only place those credentials may write;
//! the run then reads the result back with the same credentials.
//!
//! Job names are account-wide, so each starts with `{tenant}-{bot}-`: the tenant-access role
//! may start and read only jobs with its own session tags' prefix. The rest of the name is a
//! digest of the attachment's key, so a retried run finds the job it already started (a
//! `ConflictException`) and waits for it instead of transcribing again.

use std::time::Duration;

use aws_sdk_transcribe::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_transcribe::types::{LanguageCode, Media, TranscriptionJobStatus};
use clawless_core::domain::ids::{ConversationRef, short_digest};
use clawless_core::domain::media::{StoredAttachment, conversation_files_prefix};
use serde::Deserialize;

use crate::attachments::Transcripts;

/// How often a job is looked at while it runs.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long a run waits for a transcript before it goes on without one.
pub const WAIT_AT_MOST: Duration = Duration::from_secs(60);
/// The largest transcript output read back (a 20 MB voice note's text is far smaller).
const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// The most characters of a reason the service gave that are shown to the model.
const MAX_REASON_CHARS: usize = 160;

/// Why a voice note has no transcript. The texts are shown to the model: they name the step
/// and the service's error code, never a URL, key or credential.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranscribeError {
    #[error("the voice note is outside the conversation")]
    OutsideConversation,
    #[error("the transcription job could not be started ({0})")]
    Start(String),
    #[error("the transcription job could not be read ({0})")]
    Poll(String),
    #[error("the transcription failed ({0})")]
    Failed(String),
    #[error("the transcription took longer than {0} seconds")]
    TimedOut(u64),
    #[error("the transcript could not be read ({0})")]
    Output(String),
    #[error("the transcript was not understood ({0})")]
    Parse(String),
}

/// Transcribe's output document, as far as the transcript goes.
#[derive(Deserialize)]
struct Output {
    results: Results,
}

#[derive(Deserialize)]
struct Results {
    #[serde(default)]
    transcripts: Vec<OutputTranscript>,
}

#[derive(Deserialize)]
struct OutputTranscript {
    transcript: String,
}

/// The text of Transcribe's output JSON (`results.transcripts[0].transcript`).
pub fn transcript_text(json: &[u8]) -> Result<String, TranscribeError> {
    let output: Output = serde_json::from_slice(json).map_err(|e| TranscribeError::Parse(e.to_string()))?;
    output
        .results
        .transcripts
        .into_iter()
        .next()
        .map(|t| t.transcript)
        .ok_or_else(|| TranscribeError::Parse("no transcript in the results".into()))
}

/// The job name of `key` in `conversation`: `{tenant}-{bot}-{digest of the key}`.
pub fn job_name(conversation: &ConversationRef, key: &str) -> String {
    format!("{}-{}-{}", conversation.tenant_id, conversation.bot_id, short_digest(&[key]))
}

/// Where the job writes its result: beside the attachments, under the conversation's prefix.
pub fn output_key(conversation: &ConversationRef, key: &str) -> String {
    format!("{}/transcripts/{}.json", conversation_files_prefix(conversation), short_digest(&[key]))
}

/// Transcripts of one conversation's voice notes, with the clients of the run's handed
/// credentials.
pub struct AwsTranscripts {
    pub transcribe: aws_sdk_transcribe::Client,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub conversation: ConversationRef,
    /// The spoken language when known (`CLAWLESS_TRANSCRIBE_LANGUAGE`); else Transcribe
    /// identifies it.
    pub language: Option<String>,
    pub poll_every: Duration,
    pub wait_at_most: Duration,
}

/// The service's error code, or that it could not be reached: never the error's full text,
/// which can carry the request.
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("service error").to_owned(),
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        _ => "the service could not be reached".to_owned(),
    }
}

impl AwsTranscripts {
    async fn run(&self, stored: &StoredAttachment) -> Result<String, TranscribeError> {
        let prefix = format!("{}/", conversation_files_prefix(&self.conversation));
        if !stored.key.starts_with(&prefix) {
            return Err(TranscribeError::OutsideConversation);
        }
        let name = job_name(&self.conversation, &stored.key);
        let output = output_key(&self.conversation, &stored.key);
        let media = Media::builder().media_file_uri(format!("s3://{}/{}", self.bucket, stored.key)).build();
        let mut start = self
            .transcribe
            .start_transcription_job()
            .transcription_job_name(&name)
            .media(media)
            .output_bucket_name(&self.bucket)
            .output_key(&output);
        start = match &self.language {
            Some(language) => start.language_code(LanguageCode::from(language.as_str())),
            None => start.identify_language(true),
        };
        match start.send().await {
            Ok(_) => {}
            // Started by an earlier attempt at this run: wait for it.
            Err(SdkError::ServiceError(e)) if e.err().is_conflict_exception() => {}
            Err(e) => return Err(TranscribeError::Start(code(&e))),
        }
        let deadline = tokio::time::Instant::now() + self.wait_at_most;
        loop {
            let got = self
                .transcribe
                .get_transcription_job()
                .transcription_job_name(&name)
                .send()
                .await
                .map_err(|e| TranscribeError::Poll(code(&e)))?;
            let job = got.transcription_job();
            match job.and_then(|j| j.transcription_job_status()) {
                Some(TranscriptionJobStatus::Completed) => break,
                Some(TranscriptionJobStatus::Failed) => {
                    let reason = job.and_then(|j| j.failure_reason()).unwrap_or("no reason given");
                    return Err(TranscribeError::Failed(reason.chars().take(MAX_REASON_CHARS).collect()));
                }
                _ => {}
            }
            if tokio::time::Instant::now() + self.poll_every > deadline {
                return Err(TranscribeError::TimedOut(self.wait_at_most.as_secs()));
            }
            tokio::time::sleep(self.poll_every).await;
        }
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&output)
            .send()
            .await
            .map_err(|e| TranscribeError::Output(code(&e)))?;
        if object.content_length().unwrap_or(0) > MAX_OUTPUT_BYTES as i64 {
            return Err(TranscribeError::Output("too large".into()));
        }
        let body = object.body.collect().await.map_err(|_| TranscribeError::Output("interrupted".into()))?;
        transcript_text(&body.into_bytes())
    }
}

#[async_trait::async_trait]
impl Transcripts for AwsTranscripts {
    async fn transcribe(&self, stored: &StoredAttachment, _bytes: &[u8]) -> Result<String, String> {
        self.run(stored).await.map_err(|e| {
            tracing::warn!(event = "transcription_failed", error = %e);
            e.to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawless_core::domain::ids::{BotId, ConversationId, TenantId};
    use clawless_core::domain::model::ChannelKind;

    #[test]
    fn the_transcript_is_the_first_of_the_results() {
        let json = br#"{"jobName":"t1-b1-x","accountId":"123456789012","status":"COMPLETED",
            "results":{"language_code":"en-US","transcripts":[{"transcript":"please book a table for two"}],
            "items":[]}}"#;
        assert_eq!(transcript_text(json).unwrap(), "please book a table for two");
    }

    #[test]
    fn output_without_a_transcript_is_an_error() {
        assert!(matches!(transcript_text(br#"{"results":{"transcripts":[]}}"#), Err(TranscribeError::Parse(_))));
        assert!(matches!(transcript_text(br#"{"status":"FAILED"}"#), Err(TranscribeError::Parse(_))));
        assert!(matches!(transcript_text(b"not json"), Err(TranscribeError::Parse(_))));
    }

    #[test]
    fn job_names_carry_the_tenant_and_bot_and_fit_transcribes_limits() {
        let conversation = ConversationRef {
            tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
            bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
            channel: ChannelKind::Telegram,
            conversation_id: ConversationId::parse("4242").unwrap(),
        };
        let key = format!("{}/attachments/abc/0.ogg", conversation_files_prefix(&conversation));
        let name = job_name(&conversation, &key);
        assert!(name.starts_with("t0123456789abcdef0123-b0123456789abcdef0123-"), "{name}");
        assert!(name.len() <= 200 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{name}");
        assert_eq!(name, job_name(&conversation, &key), "the same key names the same job");
        let output = output_key(&conversation, &key);
        assert!(output.starts_with(&format!("{}/transcripts/", conversation_files_prefix(&conversation))));
        assert!(output.ends_with(".json"));
    }
}
