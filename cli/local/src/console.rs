//! Serves the built console (`console/dist`) at `/console/`, as S3 behind CloudFront does in AWS,
//! with the configuration it reads (`config.json`: the user pool, the app client, where Cognito
//! and the API answer) and the same strict headers the CloudFront response policy sets.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

struct Console {
    dist: PathBuf,
    config: Value,
    csp: String,
}

/// `/console/…`: files from `dist`, `config.json` from `config`. `connect` lists the origins
/// the console may call besides its own (the Cognito emulator).
pub fn router(dist: PathBuf, config: Value, connect: &[String]) -> Router {
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' {}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'",
        connect.join(" ")
    );
    let state = Arc::new(Console { dist, config, csp });
    Router::new()
        .route("/console", get(|| async { axum::response::Redirect::permanent("/console/") }))
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
        .with_state(state)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn with_headers(console: &Console, status: StatusCode, kind: &str, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, kind);
    set(header::CONTENT_SECURITY_POLICY, &console.csp);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-cache");
    response
}

async fn index(State(console): State<Arc<Console>>) -> Response {
    serve(&console, "index.html").await
}

async fn file(State(console): State<Arc<Console>>, UrlPath(path): UrlPath<String>) -> Response {
    serve(&console, &path).await
}

async fn serve(console: &Console, path: &str) -> Response {
    if path == "config.json" {
        return with_headers(console, StatusCode::OK, "application/json", console.config.to_string().into_bytes());
    }
    // Only plain names below `dist`: no `..`, no absolute paths.
    let relative = Path::new(path);
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return with_headers(console, StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec());
    }
    let full = console.dist.join(relative);
    match tokio::fs::read(&full).await {
        Ok(bytes) => with_headers(console, StatusCode::OK, content_type(&full), bytes),
        Err(_) if !console.dist.join("index.html").is_file() => with_headers(
            console,
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            b"The console is not built: run `npm ci && npm run build` in console/.".to_vec(),
        ),
        Err(_) => with_headers(console, StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec()),
    }
}
