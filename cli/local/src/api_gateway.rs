//! Plays API Gateway (HTTP API, payload format 2.0): matches the template's routes, turns the
//! HTTP request into the v2 event, invokes the function and maps its answer back.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::lambda::FunctionHandle;

/// Largest request body API Gateway HTTP APIs accept (10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct ApiRoute {
    pub method: String,
    pub path: String,
    pub function: FunctionHandle,
}

impl ApiRoute {
    /// Path parameters if `path` matches this route's template (`/webhook/{channel}/{bot_id}`).
    fn matches(&self, method: &Method, path: &str) -> Option<Map<String, Value>> {
        if self.method != "ANY" && self.method != method.as_str() {
            return None;
        }
        let want: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let got: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut params = Map::new();
        for (i, segment) in want.iter().enumerate() {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                params.insert(name.to_owned(), Value::String(got.get(i..)?.join("/")));
                return Some(params);
            }
            let actual = got.get(i)?;
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if !actual.is_empty() => {
                    params.insert(name.to_owned(), Value::String(percent_decode(actual)));
                }
                Some(_) => return None,
                None if segment == actual => {}
                None => return None,
            }
        }
        (want.len() == got.len()).then_some(params)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn router(routes: Vec<ApiRoute>) -> Router {
    Router::new().fallback(handle).with_state(Arc::new(routes))
}

async fn handle(
    State(routes): State<Arc<Vec<ApiRoute>>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().to_owned();
    let Some((route, params)) = routes.iter().find_map(|r| r.matches(&method, &path).map(|p| (r, p))) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(json!({"message": "Request Entity Too Large"})))
            .into_response();
    };
    let event = to_event(route, &method, &uri, &headers, &body, params, &peer.ip().to_string());
    let payload = Bytes::from(event.to_string());
    match route.function.invoke(payload).await {
        Ok(answer) => from_function_answer(&answer),
        Err(e) => {
            tracing::error!(function = %route.function.name(), error = %e, "integration failed");
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"message": "Internal Server Error"}))).into_response()
        }
    }
}

fn to_event(
    route: &ApiRoute,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    params: Map<String, Value>,
    source_ip: &str,
) -> Value {
    // API Gateway joins repeated headers with commas and lowercases their names.
    let mut header_map = Map::new();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(",");
        header_map.insert(name.as_str().to_ascii_lowercase(), Value::String(joined));
    }
    let mut query = Map::new();
    for pair in uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")));
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let (body_value, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(BASE64.encode(body)), true),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let route_key = format!("{} {}", route.method, route.path);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or(""),
        "headers": header_map,
        "requestContext": {
            "accountId": super::resources::LOCAL_ACCOUNT_ID,
            "apiId": "local",
            "domainName": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": format!("local-{}", now.as_nanos()),
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": is_base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = Value::Object(params);
    }
    if !body_value.is_null() {
        event["body"] = body_value;
    }
    event
}

/// Maps a function's answer as API Gateway does for payload 2.0: a `statusCode` object is a full
/// response; anything else is a 200 with the answer as a JSON body.
fn from_function_answer(answer: &[u8]) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(answer) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"message": "Internal Server Error"})))
            .into_response();
    };
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        return (StatusCode::OK, axum::Json(value)).into_response();
    };
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    for (k, v) in value.get("headers").and_then(Value::as_object).into_iter().flatten() {
        if let (Ok(name), Some(Ok(v))) = (HeaderName::try_from(k.as_str()), v.as_str().map(HeaderValue::from_str)) {
            headers.insert(name, v);
        }
    }
    for (k, vs) in value.get("multiValueHeaders").and_then(Value::as_object).into_iter().flatten() {
        for v in vs.as_array().into_iter().flatten() {
            if let (Ok(name), Some(Ok(v))) = (HeaderName::try_from(k.as_str()), v.as_str().map(HeaderValue::from_str)) {
                headers.append(name, v);
            }
        }
    }
    let body = value.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if value.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
        BASE64.decode(body).unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    (status, headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
