//! A counting reverse proxy in front of the AWS emulator, for benchmarks that want the AWS calls
//! a function makes counted rather than guessed. Each request is forwarded unchanged (method,
//! path, query, headers including `Host`, so a SigV4 signature would still match) and counted as
//! `service:Operation`: the service from the SigV4 credential scope, the operation from
//! `X-Amz-Target` (JSON protocols: DynamoDB, SQS, SSM), the `Action` form field (query
//! protocols) or, for REST protocols, the method and the first path segment.
//!
//! Responses are streamed back as they arrive. Request bodies are read whole before forwarding
//! (they are small AWS API calls, and the proxy forwards them byte for byte).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct AwsCallCounter {
    upstream: String,
    http: reqwest::Client,
    counts: Mutex<BTreeMap<String, u64>>,
    /// Time spent waiting on the emulator, summed over every forwarded call (microseconds).
    upstream_micros: AtomicU64,
}

impl AwsCallCounter {
    /// A counter forwarding to `upstream` (`http://host:port`, no trailing slash).
    pub fn new(upstream: &str) -> Self {
        Self {
            upstream: upstream.trim_end_matches('/').to_owned(),
            // No redirects: the client sees exactly what the emulator answered.
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default(),
            counts: Mutex::new(BTreeMap::new()),
            upstream_micros: AtomicU64::new(0),
        }
    }

    /// Calls so far, by `service:Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Time the emulator took to answer, summed over every call so far (each call from the moment
    /// it is forwarded until the emulator's answer starts): benchmarks subtract it from the
    /// platform's own time.
    pub fn upstream_time(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.upstream_micros.load(Ordering::Relaxed))
    }

    fn count(&self, key: String) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(key).or_default() += 1;
        }
    }
}

pub fn router(counter: Arc<AwsCallCounter>) -> Router {
    Router::new().fallback(forward).with_state(counter)
}

/// The service named in a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20260101/us-east-1/dynamodb/aws4_request`).
fn service(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split(['/', ',']).nth(3))
        .unwrap_or("unknown")
        .to_owned()
}

/// `Action=…` from a form-encoded query-protocol body.
fn form_action(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| pair.strip_prefix("Action=")).map(str::to_owned)
}

fn operation(headers: &HeaderMap, method: &str, path: &str, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form && let Some(action) = form_action(body) {
        return action;
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    format!("{method} /{first}")
}

/// `headers` without those that describe one hop's connection rather than the message.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let hop_by_hop = |name: &header::HeaderName| {
        matches!(name.as_str(), "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade")
    };
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers.iter().filter(|(name, _)| !hop_by_hop(name)) {
        out.append(name.clone(), value.clone());
    }
    out
}

async fn forward(State(counter): State<Arc<AwsCallCounter>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("could not read the request: {e}")).into_response(),
    };
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    counter.count(format!(
        "{}:{}",
        service(&parts.headers),
        operation(&parts.headers, parts.method.as_str(), parts.uri.path(), &body)
    ));
    let headers = end_to_end(&parts.headers);
    // `Host` stays as the client sent it (hyper only adds one when it is missing).
    let started = std::time::Instant::now();
    let upstream = counter
        .http
        .request(parts.method.clone(), format!("{}{path_and_query}", counter.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    counter.upstream_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    let upstream = match upstream {
        Ok(response) => response,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("AWS endpoint unreachable: {e}")).into_response(),
    };
    let status = upstream.status();
    let response_headers = end_to_end(upstream.headers());
    let stream = futures::stream::unfold(upstream, |mut upstream| async move {
        match upstream.chunk().await {
            Ok(Some(chunk)) => Some((Ok::<Bytes, reqwest::Error>(chunk), upstream)),
            Ok(None) => None,
            Err(e) => Some((Err(e), upstream)),
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_service_and_operation() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-target", "DynamoDB_20120810.PutItem".parse().unwrap());
        assert_eq!(service(&headers), "dynamodb");
        assert_eq!(operation(&headers, "POST", "/", b""), "PutItem");

        let mut form = HeaderMap::new();
        form.insert(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap());
        assert_eq!(operation(&form, "POST", "/", b"Version=2012-11-05&Action=SendMessage&QueueUrl=x"), "SendMessage");
        assert_eq!(operation(&HeaderMap::new(), "GET", "/schedules/x", b""), "GET /schedules");
        assert_eq!(service(&HeaderMap::new()), "unknown");
    }
}
