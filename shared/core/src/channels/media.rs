//! What every channel's file download shares: a download that stops at the size limit (a
//! declared `Content-Length` over it is refused before a byte is read; an undeclared stream is
//! cut as soon as it passes it), and the errors a download ends in.

use std::time::Duration;

use futures::StreamExt;

use super::SendError;
use super::api::{Refusal, describe_http_error};
use crate::domain::model::ChannelKind;

/// How long one file download may take, from request to last byte: inside the dispatcher's
/// 10 s timeout, so a slow download ends as a retryable error the dispatcher handles (retried by
/// the queue, then the run goes on without the file), never as a killed invocation.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(8);
/// How long one file upload may take: inside the reply function's 15 s timeout (text sends keep
/// the client's 10 s bound).
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(12);

/// Why a file could not be taken in.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DownloadError {
    /// Larger than the limit: refused with a clear reply, nothing stored.
    #[error("the file is larger than the limit ({size:?} bytes, at most {limit})")]
    TooLarge { size: Option<u64>, limit: u64 },
    /// The channel or the network failed in a way a retry can fix.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying cannot help (the file is gone, the token cannot read it, the channel cannot
    /// download files here).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl From<SendError> for DownloadError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::RateLimited { retry_after } => {
                DownloadError::Temporary(format!("rate limited, retry after {retry_after:?}"))
            }
            SendError::Temporary(why) => DownloadError::Temporary(why),
            SendError::Permanent(why) => DownloadError::Permanent(why),
        }
    }
}

/// Fetches `request`'s body, at most `max_bytes` of it. A non-success status maps as a send's
/// would (429 and 5xx retry, others do not); its body is never read into an error.
pub async fn download_capped(
    channel: ChannelKind,
    request: reqwest::RequestBuilder,
    max_bytes: u64,
) -> Result<Vec<u8>, DownloadError> {
    let response = request
        .timeout(DOWNLOAD_TIMEOUT)
        .send()
        .await
        .map_err(|e| DownloadError::Temporary(describe_http_error(channel, &e)))?;
    let status = response.status();
    if !status.is_success() {
        let refusal = Refusal::new(status.as_u16(), format!("{channel} file download HTTP {status}"));
        return Err(refusal.retry_after(super::api::retry_after_header(response.headers())).into_error().into());
    }
    if let Some(size) = response.content_length()
        && size > max_bytes
    {
        return Err(DownloadError::TooLarge { size: Some(size), limit: max_bytes });
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DownloadError::Temporary(describe_http_error(channel, &e)))?;
        if body.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(DownloadError::TooLarge { size: None, limit: max_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether a file URL may be fetched: `https` on one of the channel's own file hosts, or the
/// scheme, host and port of the configured API base (a self-hosted or local stand-in serves its
/// files there). Everything else is refused, so a URL a sender put in a message cannot make
/// trusted code fetch an internal address or carry the bot's token elsewhere.
pub fn file_url_allowed(url: &str, channel_hosts: &[&str], api_base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else { return false };
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let Some(host) = url.host_str() else { return false };
    if url.scheme() == "https" && url.port().is_none() && channel_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return true;
    }
    let Ok(base) = reqwest::Url::parse(api_base) else { return false };
    base.host_str().is_some_and(|b| b.eq_ignore_ascii_case(host))
        && base.scheme() == url.scheme()
        && base.port_or_known_default() == url.port_or_known_default()
}

/// The multipart part for a file upload: its bytes, a safe file name and the type its bytes
/// show.
pub fn file_part(file: &crate::domain::media::FileUpload<'_>) -> reqwest::multipart::Part {
    let name = crate::domain::media::safe_file_name(file.name, &file.sniffed.extension);
    let part = reqwest::multipart::Part::bytes(file.bytes.to_vec()).file_name(name);
    match part.mime_str(&file.sniffed.media_type) {
        Ok(part) => part,
        // A type reqwest cannot read is sent without one (the channel sniffs it too).
        Err(_) => reqwest::multipart::Part::bytes(file.bytes.to_vec())
            .file_name(crate::domain::media::safe_file_name(file.name, &file.sniffed.extension)),
    }
}

/// A download of a source of another channel: refused, whichever channel was asked.
pub fn foreign_source(channel: ChannelKind) -> DownloadError {
    DownloadError::Permanent(format!("not a {channel} file"))
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    #[tokio::test]
    async fn stops_at_the_limit_and_maps_refusals() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/small"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8; 100]))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/big"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8; 2000]))
            .mount(&server)
            .await;
        Mock::given(method("GET")).and(path("/gone")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
        Mock::given(method("GET")).and(path("/busy")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
        let http = reqwest::Client::new();
        let get = |p: &str| http.get(format!("{}{p}", server.uri()));
        assert_eq!(download_capped(ChannelKind::Telegram, get("/small"), 1000).await.unwrap(), vec![7u8; 100]);
        assert_eq!(
            download_capped(ChannelKind::Telegram, get("/big"), 1000).await,
            Err(DownloadError::TooLarge { size: Some(2000), limit: 1000 })
        );
        assert!(matches!(
            download_capped(ChannelKind::Telegram, get("/gone"), 1000).await,
            Err(DownloadError::Permanent(_))
        ));
        assert!(matches!(
            download_capped(ChannelKind::Telegram, get("/busy"), 1000).await,
            Err(DownloadError::Temporary(_))
        ));
    }

    #[test]
    fn only_the_channels_hosts_and_the_api_base_are_fetched() {
        let hosts = ["files.slack.com"];
        let base = "http://127.0.0.1:9000/slack";
        assert!(file_url_allowed("https://files.slack.com/files-pri/T1-F1/a.png", &hosts, base));
        assert!(file_url_allowed("https://FILES.slack.com/x", &hosts, base));
        assert!(file_url_allowed("http://127.0.0.1:9000/slack/files-pri/F1", &hosts, base));
        for refused in [
            "http://files.slack.com/x",
            "https://files.slack.com:8443/x",
            "https://files.slack.com.evil.example/x",
            "https://user:pw@files.slack.com/x",
            "http://127.0.0.1:9001/x",
            "https://127.0.0.1:9000/x",
            "http://169.254.169.254/latest/meta-data",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(!file_url_allowed(refused, &hosts, base), "{refused}");
        }
    }
}
