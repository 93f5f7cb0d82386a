//! What every channel's `send` shares: the trip to the channel's API and the rule for an answer
//! that is not a success.
//!
//! The rule: the channel asked to slow down (HTTP 429, or its own code for it) → rate limited,
//! for as long as it said (else [`DEFAULT_RETRY_AFTER`]); a 5xx → worth retrying later; anything
//! else (a bad token, a chat that is gone, a user who blocked the bot) → retrying cannot help.
//! Each channel reads its own answer body and tells [`Refusal`] what it found there where that
//! says more than the status: its rate-limit codes, its error codes known to be retryable or
//! not, the wait it asked for.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::SendError;
use crate::domain::model::ChannelKind;

/// How long to wait when a channel says to slow down without saying for how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A channel API's answer, read once, whatever its status.
#[derive(Debug)]
pub struct ApiAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, if it is JSON (an HTML error page from a proxy, say, is not).
    pub body: Option<Value>,
}

impl ApiAnswer {
    /// The body read as `T`, if it is one.
    pub fn body_as<T: DeserializeOwned>(&self) -> Option<T> {
        self.body.clone().and_then(|body| serde_json::from_value(body).ok())
    }

    /// The wait the `Retry-After` header asks for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after_header(&self.headers)
    }
}

/// Sends `request` to `channel`'s API and reads the answer. A request that got no answer (a
/// timeout, no connection) is worth retrying; its error says which of those it was and never
/// shows the URL, which may hold a token.
pub async fn exchange(channel: ChannelKind, request: reqwest::RequestBuilder) -> Result<ApiAnswer, SendError> {
    let response = request.send().await.map_err(|e| SendError::Temporary(describe_http_error(channel, &e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.ok();
    Ok(ApiAnswer { status, headers, body })
}

/// An answer that is not a success, as its channel reads it; [`Refusal::into_error`] applies the
/// shared rule (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status the verdict goes by: the HTTP status, or the channel's own where its body
    /// carries one in its place (Telegram's `error_code`).
    status: u16,
    /// What the error says (the channel's name, the status, its message; never a secret).
    detail: String,
    rate_limited: bool,
    retry_after: Option<Duration>,
    retryable: Option<bool>,
}

impl Refusal {
    /// An answer with `status`, reported as `detail`: rate limited on 429, worth retrying on a
    /// 5xx, permanent otherwise, unless the channel says more with the methods below.
    pub fn new(status: impl Into<u16>, detail: impl Into<String>) -> Self {
        let status = status.into();
        Self { status, detail: detail.into(), rate_limited: status == 429, retry_after: None, retryable: None }
    }

    /// An answer with `status` whose body could not be read, from the channel called `name`.
    pub fn unreadable(name: &str, status: StatusCode) -> Self {
        let detail = if status.is_server_error() {
            format!("{name} HTTP {status}")
        } else {
            format!("{name} HTTP {status} with an unreadable body")
        };
        Self::new(status, detail)
    }

    /// The channel said to slow down its own way (an error code), whatever the status.
    pub fn rate_limited(mut self, rate_limited: bool) -> Self {
        self.rate_limited |= rate_limited;
        self
    }

    /// How long the channel asked to wait, if it said.
    pub fn retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// The channel's own verdict, from an error code it documents: retrying can help
    /// (`Some(true)`) or cannot (`Some(false)`); `None` leaves it to the status.
    pub fn retryable(mut self, verdict: Option<bool>) -> Self {
        self.retryable = verdict;
        self
    }

    pub fn into_error(self) -> SendError {
        if self.rate_limited {
            SendError::RateLimited { retry_after: self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER) }
        } else if self.retryable.unwrap_or((500..600).contains(&self.status)) {
            SendError::Temporary(self.detail)
        } else {
            SendError::Permanent(self.detail)
        }
    }
}

/// Reduces a reqwest error to its kind: the URL may hold a token, so it is never printed.
pub fn describe_http_error(channel: ChannelKind, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("request to {channel} timed out")
    } else if e.is_connect() {
        format!("could not connect to {channel}")
    } else {
        format!("request to {channel} failed")
    }
}

/// Seconds from a `Retry-After` header (whole or fractional seconds), if present.
pub fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    raw.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_decides_unless_the_channel_says_more() {
        let error = |r: Refusal| r.into_error();
        assert_eq!(
            error(Refusal::new(429u16, "x")),
            SendError::RateLimited { retry_after: DEFAULT_RETRY_AFTER },
            "a 429 without a wait"
        );
        assert_eq!(
            error(Refusal::new(429u16, "x").retry_after(Some(Duration::from_secs(3)))),
            SendError::RateLimited { retry_after: Duration::from_secs(3) }
        );
        assert_eq!(error(Refusal::new(503u16, "x")), SendError::Temporary("x".into()));
        for status in [400u16, 401, 403, 404, 200] {
            assert_eq!(error(Refusal::new(status, "x")), SendError::Permanent("x".into()), "{status}");
        }
        // A channel's own codes: a rate limit in a 400, a retryable 400, a permanent 500.
        assert!(matches!(error(Refusal::new(400u16, "x").rate_limited(true)), SendError::RateLimited { .. }));
        assert_eq!(error(Refusal::new(400u16, "x").retryable(Some(true))), SendError::Temporary("x".into()));
        assert_eq!(error(Refusal::new(500u16, "x").retryable(Some(false))), SendError::Permanent("x".into()));
        // A rate limit wins over any verdict.
        assert!(matches!(
            error(Refusal::new(500u16, "x").rate_limited(true).retryable(Some(false))),
            SendError::RateLimited { .. }
        ));
    }

    #[test]
    fn unreadable_answers_name_the_status() {
        assert_eq!(
            Refusal::unreadable("Slack", StatusCode::BAD_GATEWAY).into_error(),
            SendError::Temporary("Slack HTTP 502 Bad Gateway".into())
        );
        assert_eq!(
            Refusal::unreadable("Slack", StatusCode::FORBIDDEN).into_error(),
            SendError::Permanent("Slack HTTP 403 Forbidden with an unreadable body".into())
        );
    }

    #[test]
    fn retry_after_reads_whole_and_fractional_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_header(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(2)));
        headers.insert(reqwest::header::RETRY_AFTER, " 0.5 ".parse().unwrap());
        assert_eq!(retry_after_header(&headers), Some(Duration::from_millis(500)));
        for junk in ["-1", "NaN", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            headers.insert(reqwest::header::RETRY_AFTER, junk.parse().unwrap());
            assert_eq!(retry_after_header(&headers), None, "{junk}");
        }
    }
}
