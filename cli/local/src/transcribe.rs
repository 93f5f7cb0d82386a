//! Amazon Transcribe's stand-in for the local run, speaking its wire protocol (JSON 1.1: `POST /`
//! with `X-Amz-Target: Transcribe.<Operation>`), so the agent's real SDK client talks to it.
//!
//! A job completes as it starts: the media is read from the emulator's S3 and its "transcript"
//! is made from the bytes, so tests choose what the model hears. Audio that carries
//! [`MARKER`] followed by UTF-8 text (up to a NUL or the end) is heard as that text; anything
//! else as `(audio of N bytes)`. The output document, in Transcribe's shape, is written where
//! the job asked, as Transcribe would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What audio bytes carry to be heard as text.
pub const MARKER: &[u8] = b"CLAWLESS-TRANSCRIPT:";

/// The transcript the stand-in makes of `audio`.
pub fn heard(audio: &[u8]) -> String {
    let found = audio.windows(MARKER.len()).position(|w| w == MARKER);
    match found {
        Some(at) => {
            let rest = &audio[at + MARKER.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        }
        None => format!("(audio of {} bytes)", audio.len()),
    }
}

#[derive(Clone)]
struct Stand {
    s3: aws_sdk_s3::Client,
    /// Where the emulator serves objects (for the transcript file's URI).
    s3_endpoint: String,
    /// Jobs by name: (output bucket, output key).
    jobs: Arc<Mutex<HashMap<String, (String, String)>>>,
}

/// The stand-in's routes; `s3` reaches the emulator at `s3_endpoint`.
pub fn router(s3: aws_sdk_s3::Client, s3_endpoint: String) -> Router {
    let stand = Stand { s3, s3_endpoint: s3_endpoint.trim_end_matches('/').to_owned(), jobs: Arc::default() };
    Router::new().route("/", post(operation)).with_state(stand)
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"__type": kind, "message": message.into()});
    (status, [("content-type", "application/x-amz-json-1.1")], body.to_string()).into_response()
}

fn answer(body: Value) -> Response {
    (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], body.to_string()).into_response()
}

async fn operation(State(stand): State<Stand>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "SerializationException", "the body is not JSON");
    };
    match target {
        "Transcribe.StartTranscriptionJob" => start(&stand, &request).await,
        "Transcribe.GetTranscriptionJob" => get(&stand, &request),
        other => error(StatusCode::BAD_REQUEST, "UnknownOperationException", format!("not served here: {other}")),
    }
}

fn text<'a>(request: &'a Value, field: &str) -> Option<&'a str> {
    request.get(field).and_then(Value::as_str).filter(|v| !v.is_empty())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn job(stand: &Stand, name: &str, bucket: &str, key: &str) -> Value {
    json!({"TranscriptionJob": {
        "TranscriptionJobName": name,
        "TranscriptionJobStatus": "COMPLETED",
        "Transcript": {"TranscriptFileUri": format!("{}/{bucket}/{key}", stand.s3_endpoint)},
    }})
}

async fn start(stand: &Stand, request: &Value) -> Response {
    let (Some(name), Some(uri), Some(bucket), Some(key)) = (
        text(request, "TranscriptionJobName"),
        request.get("Media").and_then(|m| text(m, "MediaFileUri")),
        text(request, "OutputBucketName"),
        text(request, "OutputKey"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "TranscriptionJobName, Media.MediaFileUri, OutputBucketName and OutputKey are needed here",
        );
    };
    if lock(&stand.jobs).contains_key(name) {
        return error(StatusCode::BAD_REQUEST, "ConflictException", "The requested job name already exists.");
    }
    let Some((media_bucket, media_key)) = uri.strip_prefix("s3://").and_then(|rest| rest.split_once('/')) else {
        return error(StatusCode::BAD_REQUEST, "BadRequestException", "the media URI is not s3://bucket/key");
    };
    let audio = match stand.s3.get_object().bucket(media_bucket).key(media_key).send().await {
        Ok(object) => match object.body.collect().await {
            Ok(bytes) => bytes.into_bytes(),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailureException", e.to_string()),
        },
        Err(_) => return error(StatusCode::BAD_REQUEST, "BadRequestException", "the media could not be read"),
    };
    let output = json!({
        "jobName": name,
        "accountId": "000000000000",
        "status": "COMPLETED",
        "results": {"transcripts": [{"transcript": heard(&audio)}], "items": []},
    });
    let put = stand
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(output.to_string().into_bytes().into())
        .send()
        .await;
    if put.is_err() {
        return error(StatusCode::BAD_REQUEST, "BadRequestException", "the output could not be written");
    }
    lock(&stand.jobs).insert(name.to_owned(), (bucket.to_owned(), key.to_owned()));
    answer(job(stand, name, bucket, key))
}

fn get(stand: &Stand, request: &Value) -> Response {
    let Some(name) = text(request, "TranscriptionJobName") else {
        return error(StatusCode::BAD_REQUEST, "BadRequestException", "TranscriptionJobName is needed");
    };
    let found = lock(&stand.jobs).get(name).cloned();
    match found {
        Some((bucket, key)) => answer(job(stand, name, &bucket, &key)),
        None => error(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "The requested job couldn't be found. Check the job name and try your request again.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_decides_what_is_heard() {
        assert_eq!(heard(b"OggS\0\x02junkCLAWLESS-TRANSCRIPT:book a table\0more"), "book a table");
        assert_eq!(heard(b"OggS\0CLAWLESS-TRANSCRIPT:to the end"), "to the end");
        assert_eq!(heard(b"OggS\0\x02"), "(audio of 6 bytes)");
    }
}
