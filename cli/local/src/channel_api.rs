//! Channel API stand-ins for the local run: each channel's send endpoints answer as the real API
//! does, and what the bot sends is printed and kept, so a person trying the platform sees the
//! answers. Each channel lives under its own prefix (`/telegram`, `/slack`, …), which the local
//! run passes to the functions as `CLAWLESS_<CHANNEL>_API`. `GET /_outbox` lists what was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub channel: &'static str,
    /// The chat, channel or person the message went to, as the channel names it.
    pub chat_id: Value,
    pub text: String,
    /// The interaction a Discord follow-up answers (its token: kept, never printed or listed).
    #[serde(skip)]
    pub interaction: Option<String>,
    /// When the stand-in took it (the soak ties a resend to the kill it straddles).
    #[serde(skip)]
    pub at: std::time::Instant,
}

/// Something a bot did to a chat besides sending a message: a typing indicator, an edit of a
/// message it sent, a reaction put on or taken off.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelAction {
    pub channel: &'static str,
    /// `typing`, `edit`, `react` or `unreact`.
    pub kind: &'static str,
    /// The chat (or, where the API names only a message, the message) it was done to.
    pub target: Value,
    /// The message's new text (`edit`), or the emoji (`react`, `unreact`).
    pub text: String,
    #[serde(skip)]
    pub at: std::time::Instant,
}

/// A file a bot uploaded to a chat.
#[derive(Debug, Clone, Serialize)]
pub struct SentFile {
    pub channel: &'static str,
    pub chat_id: Value,
    /// The file name the upload gave.
    pub name: String,
    /// The upload's declared MIME type, if it gave one.
    pub content_type: Option<String>,
    pub caption: Option<String>,
    /// How the channel was asked to show it (`photo` or `document` on Telegram, `image` or
    /// `file` on Feishu, …).
    pub as_kind: String,
    pub size: usize,
    /// The bytes (not listed by `/_files`; tests compare them).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// A file a chat holds for the bot to download (put there by a test or `send-test-message.sh`
/// through `POST /_files/{channel}/{id}`).
#[derive(Debug, Clone)]
pub struct HostedFile {
    pub bytes: Vec<u8>,
    pub name: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Default)]
pub struct Outbox {
    /// Files to serve, by channel and the channel's id for them.
    hosted: Mutex<std::collections::HashMap<(String, String), HostedFile>>,
    files_sent: Mutex<Vec<SentFile>>,
    /// Files uploaded to a channel but not (yet) sent in a message, by channel and the key the
    /// upload answered with (Slack's pending uploads, WhatsApp media ids, Feishu image and file
    /// keys).
    uploads: Mutex<std::collections::HashMap<(String, String), HostedFile>>,
    /// Downloads served, by channel and file id (a test checks a file was fetched once).
    downloads: Mutex<Vec<(String, String)>>,
    sent: Mutex<Vec<SentMessage>>,
    actions: Mutex<Vec<ChannelAction>>,
    next_id: AtomicI64,
    /// Feishu's request de-duplication: the message each `uuid` created (Feishu keeps one for an
    /// hour; the stand-in for its lifetime).
    feishu_uuids: Mutex<std::collections::HashMap<String, i64>>,
    /// Each Discord application's global commands, as the last bulk overwrite put them.
    discord_commands: Mutex<std::collections::HashMap<String, Value>>,
    /// Stretches of refused sends a soak test asks for.
    #[cfg(feature = "test-support")]
    pub faults: crate::faults::ChannelFaults,
}

impl Outbox {
    /// Puts a file where `channel`'s download API serves it as `id`.
    pub async fn host_file(&self, channel: &str, id: &str, file: HostedFile) {
        self.hosted.lock().await.insert((channel.to_owned(), id.to_owned()), file);
    }

    async fn hosted_file(&self, channel: &str, id: &str) -> Option<HostedFile> {
        let file = self.hosted.lock().await.get(&(channel.to_owned(), id.to_owned())).cloned();
        if file.is_some() {
            self.downloads.lock().await.push((channel.to_owned(), id.to_owned()));
        }
        file
    }

    async fn keep_upload(&self, channel: &str, key: &str, file: HostedFile) {
        self.uploads.lock().await.insert((channel.to_owned(), key.to_owned()), file);
    }

    async fn upload(&self, channel: &str, key: &str) -> Option<HostedFile> {
        self.uploads.lock().await.get(&(channel.to_owned(), key.to_owned())).cloned()
    }

    fn next(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The downloads served so far: `(channel, file id)`.
    pub async fn downloads(&self) -> Vec<(String, String)> {
        self.downloads.lock().await.clone()
    }

    /// The files bots uploaded so far, in order.
    pub async fn files(&self) -> Vec<SentFile> {
        self.files_sent.lock().await.clone()
    }

    async fn record_file(&self, file: SentFile) -> i64 {
        eprintln!(
            "\n  {} → {}: file {} ({} bytes, {}){}\n",
            file.channel,
            file.chat_id,
            file.name,
            file.size,
            file.as_kind,
            file.caption.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
        );
        self.files_sent.lock().await.push(file);
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub async fn sent(&self) -> Vec<SentMessage> {
        self.sent.lock().await.clone()
    }

    /// The global commands Discord application `application_id` has, if any were put.
    pub async fn discord_commands(&self, application_id: &str) -> Option<Value> {
        self.discord_commands.lock().await.get(application_id).cloned()
    }

    /// Typing indicators, edits and reactions so far, in order.
    pub async fn actions(&self) -> Vec<ChannelAction> {
        self.actions.lock().await.clone()
    }

    async fn act(&self, channel: &'static str, kind: &'static str, target: Value, text: &str) {
        if kind != "typing" {
            eprintln!("\n  {channel} {kind} {target}: {text}\n");
        }
        let action = ChannelAction { channel, kind, target, text: text.to_owned(), at: std::time::Instant::now() };
        self.actions.lock().await.push(action);
    }

    async fn record(&self, channel: &'static str, chat_id: Value, text: &str) -> i64 {
        self.record_answer(channel, chat_id, text, None).await
    }

    async fn record_answer(&self, channel: &'static str, chat_id: Value, text: &str, interaction: Option<&str>) -> i64 {
        eprintln!("\n  {channel} → {chat_id}: {text}\n");
        let interaction = interaction.map(str::to_owned);
        self.sent.lock().await.push(SentMessage {
            channel,
            chat_id,
            text: text.to_owned(),
            interaction,
            at: std::time::Instant::now(),
        });
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The channels with a stand-in, as the path prefix and the variable that points at it.
pub const STAND_INS: [(&str, &str); 5] = [
    ("telegram", "CLAWLESS_TELEGRAM_API"),
    ("feishu", "CLAWLESS_FEISHU_API"),
    ("whatsapp", "CLAWLESS_WHATSAPP_API"),
    ("slack", "CLAWLESS_SLACK_API"),
    ("discord", "CLAWLESS_DISCORD_API"),
];

pub fn router(outbox: Arc<Outbox>) -> Router {
    // Uploads of files up to the platform's 25 MB, and a margin for multipart framing.
    Router::new().fallback(handle).layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024)).with_state(outbox)
}

struct Call<'a> {
    method: Method,
    /// The path after the channel prefix.
    path: &'a str,
    /// The raw query string, if any.
    query: Option<&'a str>,
    headers: HeaderMap,
    body: Bytes,
}

impl Call<'_> {
    /// The non-empty token of an `Authorization: Bearer …` header.
    fn bearer(&self) -> Option<&str> {
        self.headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.trim().is_empty())
    }

    /// The stand-in's own URL for `channel` (`http://{Host}/{channel}`), for the absolute URLs
    /// the real APIs answer with (upload and media URLs).
    fn base_url(&self, channel: &str) -> String {
        let host = self.headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
        format!("http://{host}/{channel}")
    }

    /// One parameter of the query string, or of a form body when `from_body` (decoded as a form).
    fn param(&self, name: &str, from_body: bool) -> Option<String> {
        let raw = if from_body { String::from_utf8_lossy(&self.body).into_owned() } else { self.query?.to_owned() };
        let url = reqwest::Url::parse(&format!("http://form.invalid/?{raw}")).ok()?;
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

async fn handle(
    State(outbox): State<Arc<Outbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if method == Method::GET && path == "/_outbox" {
        return axum::Json(outbox.sent().await).into_response();
    }
    if method == Method::GET && path == "/_actions" {
        return axum::Json(outbox.actions().await).into_response();
    }
    if method == Method::GET && path == "/_files" {
        return axum::Json(outbox.files().await).into_response();
    }
    // `POST /_files/{channel}/{id}?name=…`: a file the chat holds, as a person would have sent it.
    if method == Method::POST
        && let Some(rest) = path.strip_prefix("/_files/")
        && let Some((channel, id)) = rest.split_once('/')
    {
        let name = uri
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("name=")).map(|v| v.replace("%20", " ")));
        let content_type =
            headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        outbox.host_file(channel, id, HostedFile { bytes: body.to_vec(), name, content_type }).await;
        return axum::Json(json!({"ok": true})).into_response();
    }
    let (prefix, rest) = path.trim_start_matches('/').split_once('/').unwrap_or((path.trim_start_matches('/'), ""));
    // A soak's refused sends (not the token exchange or webhook setup: only sends are refused).
    #[cfg(feature = "test-support")]
    if method == Method::POST
        && !rest.contains("tenant_access_token")
        && !rest.ends_with("Webhook")
        && let Some(refusal) = outbox.faults.refusal(prefix).await
    {
        return refusal;
    }
    let call = Call { method, path: rest, query: uri.query(), headers, body };
    match prefix {
        "telegram" => telegram(&outbox, call).await,
        "slack" => slack(&outbox, call).await,
        "discord" => discord(&outbox, call).await,
        "feishu" => feishu(&outbox, call).await,
        "whatsapp" => whatsapp(&outbox, call).await,
        _ => (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no stand-in for this channel"}))).into_response(),
    }
}

/// Reads a `multipart/form-data` body into its text fields and its one file part (name, its
/// declared type, bytes, and the field it came in).
async fn multipart_parts(call: &Call<'_>) -> Option<MultipartBody> {
    let content_type = call.headers.get(axum::http::header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = multer::parse_boundary(content_type).ok()?;
    let body = call.body.clone();
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parsed = MultipartBody::default();
    while let Ok(Some(field)) = multipart.next_field().await {
        let field_name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let content_type = field.content_type().map(|m| m.to_string());
                let bytes = field.bytes().await.ok()?.to_vec();
                parsed.file = Some(MultipartFile { field: field_name, file_name, content_type, bytes });
            }
            None => {
                let text = field.text().await.ok()?;
                parsed.fields.insert(field_name, text);
            }
        }
    }
    Some(parsed)
}

#[derive(Default)]
struct MultipartBody {
    pub fields: std::collections::HashMap<String, String>,
    pub file: Option<MultipartFile>,
}

struct MultipartFile {
    pub field: String,
    pub file_name: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A file download: the bytes, or 404.
fn file_response(file: Option<HostedFile>) -> Response {
    match file {
        Some(file) => {
            let content_type = file.content_type.unwrap_or_else(|| "application/octet-stream".into());
            ([(axum::http::header::CONTENT_TYPE, content_type)], file.bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "file not found").into_response(),
    }
}

/// Telegram: `POST /bot<token>/<method>`; files at `GET /file/bot<token>/<file_path>` (the file
/// path `getFile` gave: `files/{file_id}`).
async fn telegram(outbox: &Outbox, call: Call<'_>) -> Response {
    let not_found = || {
        (StatusCode::NOT_FOUND, axum::Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})))
            .into_response()
    };
    if call.method == Method::GET
        && let Some(rest) = call.path.strip_prefix("file/")
    {
        let Some((bot, file_path)) = rest.split_once('/') else { return not_found() };
        if !bot.starts_with("bot") || bot.len() <= 3 {
            return not_found();
        }
        let Some(file_id) = file_path.strip_prefix("files/") else { return not_found() };
        return file_response(outbox.hosted_file("telegram", file_id).await);
    }
    let Some((bot, api_method)) = call.path.split_once('/') else { return not_found() };
    if call.method != Method::POST || !bot.starts_with("bot") || bot.len() <= 3 {
        return not_found();
    }
    let _ = &call.headers;
    let bad_request = |description: &str| {
        (StatusCode::BAD_REQUEST, axum::Json(json!({"ok": false, "error_code": 400, "description": description})))
            .into_response()
    };
    let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    match api_method {
        "sendMessage" => {
            let (Some(chat_id), Some(text)) =
                (request.get("chat_id").cloned(), request.get("text").and_then(Value::as_str))
            else {
                let description = "Bad Request: chat_id and text are required";
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"ok": false, "error_code": 400, "description": description})),
                )
                    .into_response();
            };
            let id = outbox.record("telegram", chat_id.clone(), text).await;
            axum::Json(
                json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat_id}, "date": 0, "text": text}}),
            )
            .into_response()
        }
        "sendChatAction" => {
            let (Some(chat_id), Some(action)) =
                (request.get("chat_id").cloned(), request.get("action").and_then(Value::as_str))
            else {
                return bad_request("Bad Request: chat_id and action are required");
            };
            outbox.act("telegram", "typing", chat_id, action).await;
            axum::Json(json!({"ok": true, "result": true})).into_response()
        }
        "editMessageText" => {
            let (Some(chat_id), Some(message_id), Some(text)) = (
                request.get("chat_id").cloned(),
                request.get("message_id").and_then(Value::as_i64),
                request.get("text").and_then(Value::as_str),
            ) else {
                return bad_request("Bad Request: chat_id, message_id and text are required");
            };
            let edited = outbox
                .actions()
                .await
                .into_iter()
                .rev()
                .find(|a| a.kind == "edit" && a.target == json!({"chat_id": chat_id, "message_id": message_id}));
            if edited.is_some_and(|a| a.text == text) {
                return bad_request(
                    "Bad Request: message is not modified: specified new message content and reply markup are \
                     exactly the same as a current content and reply markup of the message",
                );
            }
            outbox.act("telegram", "edit", json!({"chat_id": chat_id, "message_id": message_id}), text).await;
            axum::Json(json!({"ok": true, "result": {"message_id": message_id, "chat": {"id": chat_id}, "text": text}}))
                .into_response()
        }
        "getFile" => {
            let Some(file_id) = request.get("file_id").and_then(Value::as_str) else {
                return bad_request("Bad Request: file_id is required");
            };
            let Some(file) = outbox.hosted.lock().await.get(&("telegram".to_owned(), file_id.to_owned())).cloned()
            else {
                return bad_request("Bad Request: invalid file_id");
            };
            axum::Json(json!({"ok": true, "result": {
                "file_id": file_id, "file_unique_id": file_id, "file_size": file.bytes.len(),
                "file_path": format!("files/{file_id}"),
            }}))
            .into_response()
        }
        "sendPhoto" | "sendDocument" => {
            let Some(parts) = multipart_parts(&call).await else {
                return bad_request("Bad Request: expected multipart/form-data");
            };
            let field = if api_method == "sendPhoto" { "photo" } else { "document" };
            let (Some(chat_id), Some(file)) = (parts.fields.get("chat_id"), parts.file.filter(|f| f.field == field))
            else {
                return bad_request("Bad Request: chat_id and the file are required");
            };
            let chat_id = chat_id.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(chat_id.clone()));
            let id = outbox
                .record_file(SentFile {
                    channel: "telegram",
                    chat_id: chat_id.clone(),
                    name: file.file_name,
                    content_type: file.content_type,
                    caption: parts.fields.get("caption").cloned(),
                    as_kind: field.to_owned(),
                    size: file.bytes.len(),
                    bytes: file.bytes,
                })
                .await;
            axum::Json(json!({"ok": true, "result": {"message_id": id, "chat": {"id": chat_id}, "date": 0}}))
                .into_response()
        }
        "setWebhook" | "deleteWebhook" | "setMyCommands" | "deleteMyCommands" => {
            axum::Json(json!({"ok": true, "result": true})).into_response()
        }
        _ => not_found(),
    }
}

/// Feishu / Lark: `POST /open-apis/auth/v3/tenant_access_token/internal`, then
/// `POST /open-apis/im/v1/messages?receive_id_type=chat_id` or
/// `POST /open-apis/im/v1/messages/{message_id}/reply` with `Authorization: Bearer t-…` (text,
/// card, image and file messages); uploads to `POST /open-apis/im/v1/images` and `…/files`;
/// a message's files at `GET /open-apis/im/v1/messages/{id}/resources/{key}?type=image|file`.
async fn feishu(outbox: &Outbox, call: Call<'_>) -> Response {
    let error = |status: StatusCode, code: i64, msg: &str| {
        (status, axum::Json(json!({"code": code, "msg": msg}))).into_response()
    };
    let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    if call.method == Method::POST && call.path == "open-apis/auth/v3/tenant_access_token/internal" {
        let has = |k: &str| request.get(k).and_then(Value::as_str).is_some_and(|v| !v.is_empty());
        if !has("app_id") || !has("app_secret") {
            return error(StatusCode::BAD_REQUEST, 10003, "invalid param");
        }
        let n = outbox.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        return axum::Json(
            json!({"code": 0, "msg": "ok", "tenant_access_token": format!("t-local-{n}"), "expire": 7200}),
        )
        .into_response();
    }
    if call.method == Method::POST && matches!(call.path, "open-apis/im/v1/images" | "open-apis/im/v1/files") {
        if call.bearer().is_none_or(|t| !t.starts_with("t-")) {
            return error(StatusCode::BAD_REQUEST, 99991661, "Missing access token for authorization");
        }
        return feishu_upload(outbox, &call).await;
    }
    let Some(messages) = call.path.strip_prefix("open-apis/im/v1/messages") else {
        return error(StatusCode::NOT_FOUND, 404, "not found");
    };
    if call.bearer().is_none_or(|t| !t.starts_with("t-")) {
        return error(StatusCode::BAD_REQUEST, 99991661, "Missing access token for authorization");
    }
    let segments: Vec<&str> = messages.trim_start_matches('/').split('/').collect();
    let ok = |data: Value| axum::Json(json!({"code": 0, "msg": "success", "data": data})).into_response();
    match (&call.method, segments.as_slice()) {
        // A message's file: `GET …/messages/{id}/resources/{key}?type=image|file`, the key a test
        // hosted.
        (&Method::GET, [message_id, "resources", key]) if !message_id.is_empty() => {
            if !matches!(call.param("type", false).as_deref(), Some("image" | "file")) {
                return error(StatusCode::BAD_REQUEST, 234001, "Invalid request param: type.");
            }
            return match outbox.hosted_file("feishu", key).await {
                Some(file) => file_response(Some(file)),
                None => error(StatusCode::BAD_REQUEST, 234003, "File not in msg."),
            };
        }
        // Reactions: `POST …/messages/{id}/reactions`, `DELETE …/messages/{id}/reactions/{reaction}`.
        (&Method::POST, [message_id, "reactions"]) if !message_id.is_empty() => {
            let Some(emoji) = request.pointer("/reaction_type/emoji_type").and_then(Value::as_str) else {
                return error(StatusCode::BAD_REQUEST, 231001, "reaction type is invalid");
            };
            outbox.act("feishu", "react", json!(message_id), emoji).await;
            let n = outbox.next_id.fetch_add(1, Ordering::Relaxed) + 1;
            return ok(json!({"reaction_id": format!("reaction_local_{n}"), "reaction_type": {"emoji_type": emoji}}));
        }
        (&Method::DELETE, [message_id, "reactions", reaction]) if !message_id.is_empty() && !reaction.is_empty() => {
            outbox.act("feishu", "unreact", json!(message_id), reaction).await;
            return ok(json!({"reaction_id": reaction}));
        }
        // A shared card patched in place (`PATCH …/messages/{id}`, cards only).
        (&Method::PATCH, [message_id]) if !message_id.is_empty() => {
            let card = request.get("content").and_then(Value::as_str).and_then(|c| serde_json::from_str(c).ok());
            let Some(text) = card.as_ref().and_then(card_text) else {
                return error(StatusCode::BAD_REQUEST, 230001, "invalid message content: only cards can be patched");
            };
            outbox.act("feishu", "edit", json!(message_id), &text).await;
            return ok(json!({}));
        }
        (&Method::POST, _) => {}
        _ => return error(StatusCode::NOT_FOUND, 404, "not found"),
    }
    let content: Option<Value> =
        request.get("content").and_then(Value::as_str).and_then(|c| serde_json::from_str(c).ok());
    let msg_type = request.get("msg_type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let text = match msg_type.as_str() {
        "text" => content.as_ref().and_then(|c| c.get("text").and_then(Value::as_str).map(str::to_owned)),
        "interactive" => content.as_ref().and_then(card_text),
        _ => None,
    };
    // An image or file message names what `im/v1/images` or `im/v1/files` answered.
    let key_field = match msg_type.as_str() {
        "image" => Some("image_key"),
        "file" => Some("file_key"),
        _ => None,
    };
    let upload = match key_field.and_then(|f| content.as_ref()?.get(f)?.as_str()) {
        Some(key) => outbox.upload("feishu", key).await,
        None => None,
    };
    if text.is_none() && upload.is_none() {
        return error(StatusCode::BAD_REQUEST, 230001, "invalid message content");
    }
    // A reply names the message it answers, not the chat; the outbox shows which message, and
    // whether the reply went into the message's thread (`reply_in_thread`).
    let chat = match messages.strip_prefix('/').and_then(|rest| rest.strip_suffix("/reply")) {
        Some(message_id) if !message_id.is_empty() && !message_id.contains('/') => {
            match request.get("reply_in_thread") {
                None | Some(Value::Bool(false)) => json!({"reply_to": message_id}),
                Some(Value::Bool(true)) => json!({"reply_to": message_id, "in_thread": true}),
                Some(_) => return error(StatusCode::BAD_REQUEST, 99992402, "reply_in_thread must be a boolean"),
            }
        }
        Some(_) => return error(StatusCode::NOT_FOUND, 404, "not found"),
        None if messages.is_empty() => match request.get("receive_id").and_then(Value::as_str) {
            Some(chat_id) => json!(chat_id),
            None => return error(StatusCode::BAD_REQUEST, 230001, "receive_id is required"),
        },
        None => return error(StatusCode::NOT_FOUND, 404, "not found"),
    };
    // A send that repeats an earlier one's `uuid` posts nothing and is answered with the
    // message the first one created.
    let uuid = request.get("uuid").and_then(Value::as_str).map(str::to_owned);
    let mut uuids = outbox.feishu_uuids.lock().await;
    let id = match uuid.as_ref().and_then(|u| uuids.get(u)) {
        Some(id) => *id,
        None => {
            let id = match (upload, &text) {
                (Some(upload), _) => {
                    let file = SentFile {
                        channel: "feishu",
                        chat_id: chat,
                        name: upload.name.unwrap_or_default(),
                        content_type: upload.content_type,
                        caption: None,
                        as_kind: msg_type.clone(),
                        size: upload.bytes.len(),
                        bytes: upload.bytes,
                    };
                    outbox.record_file(file).await
                }
                (None, Some(text)) => outbox.record("feishu", chat, text).await,
                (None, None) => return error(StatusCode::BAD_REQUEST, 230001, "invalid message content"),
            };
            if let Some(uuid) = uuid {
                uuids.insert(uuid, id);
            }
            id
        }
    };
    drop(uuids);
    axum::Json(
        json!({"code": 0, "msg": "success", "data": {"message_id": format!("om_local_{id}"), "msg_type": msg_type}}),
    )
    .into_response()
}

/// `POST /open-apis/im/v1/images` (`image_type`, `image`) and `POST /open-apis/im/v1/files`
/// (`file_type`, `file_name`, `file`): the upload is kept under the key it is answered with, for
/// the image or file message that names it.
async fn feishu_upload(outbox: &Outbox, call: &Call<'_>) -> Response {
    let error =
        |code: i64, msg: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({"code": code, "msg": msg}))).into_response();
    let images = call.path.ends_with("images");
    let Some(parts) = multipart_parts(call).await else { return error(234001, "Invalid request param.") };
    let (file_field, kind_field, key_field) =
        if images { ("image", "image_type", "image_key") } else { ("file", "file_type", "file_key") };
    let Some(file) = parts.file.filter(|f| f.field == file_field) else {
        return error(234001, "Invalid request param.");
    };
    let kind = parts.fields.get(kind_field).map(String::as_str).unwrap_or_default();
    let kind_ok = if images {
        matches!(kind, "message" | "avatar")
    } else {
        matches!(kind, "opus" | "mp4" | "pdf" | "doc" | "xls" | "ppt" | "stream")
    };
    if !kind_ok {
        return error(234001, &format!("Invalid request param: {kind_field}."));
    }
    let name = if images { Some(file.file_name) } else { parts.fields.get("file_name").cloned() };
    let n = outbox.next();
    let key = if images { format!("img_v3_local_{n}") } else { format!("file_v3_local_{n}") };
    let upload = HostedFile { bytes: file.bytes, name, content_type: file.content_type };
    outbox.keep_upload("feishu", &key, upload).await;
    axum::Json(json!({"code": 0, "msg": "success", "data": {key_field: key}})).into_response()
}

/// The plain text of a card's `div` blocks, one line each (what the status cards carry).
fn card_text(card: &Value) -> Option<String> {
    let lines: Vec<&str> = card
        .get("elements")?
        .as_array()?
        .iter()
        .filter_map(|e| e.pointer("/text/content").and_then(Value::as_str))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// WhatsApp Cloud API, with a bearer token: `POST [/{version}]/{phone_number_id}/messages` (text
/// and media messages), `POST [/{version}]/{phone_number_id}/media` (uploads), `GET
/// [/{version}]/{media_id}` (a media's URL: `/_media/{id}` here) and that URL.
async fn whatsapp(outbox: &Outbox, call: Call<'_>) -> Response {
    let error = |status: StatusCode, code: i64, message: &str| {
        (status, axum::Json(json!({"error": {"message": message, "type": "OAuthException", "code": code}})))
            .into_response()
    };
    let parts: Vec<&str> = call.path.split('/').collect();
    // Without the Graph API version, if the path has one.
    let unversioned = match parts.as_slice() {
        [version, rest @ ..] if version.starts_with('v') && version[1..].starts_with(|c: char| c.is_ascii_digit()) => {
            rest
        }
        all => all,
    };
    if call.bearer().is_none() {
        return error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    let digits = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    match (&call.method, unversioned) {
        // The media URL a lookup gave (Meta's is on lookaside.fbsbx.com, fetched with the token).
        (&Method::GET, ["_media", media_id]) => return file_response(outbox.hosted_file("whatsapp", media_id).await),
        // A media lookup: the URL to fetch it from, and what Meta knows of it.
        (&Method::GET, [media_id]) => {
            let file = outbox.hosted.lock().await.get(&("whatsapp".to_owned(), (*media_id).to_owned())).cloned();
            let Some(file) = file else {
                return error(StatusCode::BAD_REQUEST, 100, "Unsupported get request. Object does not exist");
            };
            return axum::Json(json!({
                "messaging_product": "whatsapp",
                "url": format!("{}/_media/{media_id}", call.base_url("whatsapp")),
                "mime_type": file.content_type.unwrap_or_else(|| "application/octet-stream".into()),
                "sha256": "",
                "file_size": file.bytes.len(),
                "id": media_id,
            }))
            .into_response();
        }
        // A media upload: `messaging_product`, `type` and the file, answered with its id.
        (&Method::POST, [phone_number_id, "media"]) if digits(phone_number_id) => {
            let Some(parts) = multipart_parts(&call).await else {
                return error(StatusCode::BAD_REQUEST, 100, "(#100) The parameter file is required.");
            };
            if parts.fields.get("messaging_product").map(String::as_str) != Some("whatsapp") {
                return error(StatusCode::BAD_REQUEST, 100, "(#100) The parameter messaging_product is required.");
            }
            let Some(file) = parts.file.filter(|f| f.field == "file") else {
                return error(StatusCode::BAD_REQUEST, 100, "(#100) The parameter file is required.");
            };
            let id = format!("{}", 4_000_000_000_000_000u64 + outbox.next() as u64);
            let declared = parts.fields.get("type").cloned().or(file.content_type);
            let upload = HostedFile { bytes: file.bytes, name: Some(file.file_name), content_type: declared };
            outbox.keep_upload("whatsapp", &id, upload).await;
            return axum::Json(json!({"id": id})).into_response();
        }
        (&Method::POST, [phone_number_id, "messages"]) if digits(phone_number_id) => {}
        _ => return error(StatusCode::NOT_FOUND, 100, "Unsupported request"),
    }
    let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    // A read receipt, with the typing indicator when it asks for one.
    if request.get("status").and_then(Value::as_str) == Some("read") {
        let Some(message_id) = request.get("message_id").and_then(Value::as_str) else {
            return error(StatusCode::BAD_REQUEST, 100, "(#100) The parameter message_id is required.");
        };
        if let Some(kind) = request.pointer("/typing_indicator/type").and_then(Value::as_str) {
            outbox.act("whatsapp", "typing", json!(message_id), kind).await;
        }
        return axum::Json(json!({"success": true})).into_response();
    }
    let to = request.get("to").and_then(Value::as_str);
    // A media message names an uploaded media's id.
    let kind = request.get("type").and_then(Value::as_str).unwrap_or("text");
    if matches!(kind, "image" | "document" | "audio" | "video" | "sticker") {
        if request.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
            return error(StatusCode::BAD_REQUEST, 100, "(#100) The parameter messaging_product is required.");
        }
        let media = request.get(kind);
        let media_id = media.and_then(|m| m.get("id")).and_then(Value::as_str).unwrap_or_default();
        let (Some(to), Some(upload)) = (to, outbox.upload("whatsapp", media_id).await) else {
            return error(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter");
        };
        let text = |key: &str| media.and_then(|m| m.get(key)).and_then(Value::as_str).map(str::to_owned);
        let id = outbox
            .record_file(SentFile {
                channel: "whatsapp",
                chat_id: json!(to),
                name: text("filename").or(upload.name).unwrap_or_default(),
                content_type: upload.content_type,
                caption: text("caption"),
                as_kind: kind.to_owned(),
                size: upload.bytes.len(),
                bytes: upload.bytes,
            })
            .await;
        return axum::Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.local{id}")}]
        }))
        .into_response();
    }
    let body = request.pointer("/text/body").and_then(Value::as_str);
    let (Some(to), Some(body)) = (to, body) else {
        return error(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter");
    };
    if request.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return error(StatusCode::BAD_REQUEST, 100, "(#100) The parameter messaging_product is required.");
    }
    let id = outbox.record("whatsapp", json!(to), body).await;
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": format!("wamid.local{id}")}]
    }))
    .into_response()
}

/// Slack Web API: `POST /<method>` with `Authorization: Bearer <token>` and a JSON body (a form
/// for `files.getUploadURLExternal`). Slack answers 200 with `{"ok": false, "error": …}` when a
/// call fails. Files: private files at `GET /files-pri/{id}[/…]` with the token (what tests put in
/// `url_private_download`); uploads by `files.getUploadURLExternal`, the bytes posted to the
/// upload URL it gives (`/_upload/{file id}`, no token), and `files.completeUploadExternal`.
async fn slack(outbox: &Outbox, call: Call<'_>) -> Response {
    let answer = |value: Value| axum::Json(value).into_response();
    // The upload URL `files.getUploadURLExternal` gave: the URL itself is the credential.
    if call.method == Method::POST
        && let Some(file_id) = call.path.strip_prefix("_upload/")
    {
        let mut uploads = outbox.uploads.lock().await;
        let Some(pending) = uploads.get_mut(&("slack".to_owned(), file_id.to_owned())) else {
            return (StatusCode::NOT_FOUND, "upload URL not found").into_response();
        };
        pending.bytes = call.body.to_vec();
        return format!("OK - {}", call.body.len()).into_response();
    }
    if call.bearer().is_none() {
        if call.method == Method::GET {
            // Slack answers a file URL without the token with its sign-in page.
            return (StatusCode::FORBIDDEN, "not_authed").into_response();
        }
        return answer(json!({"ok": false, "error": "not_authed"}));
    }
    // Private files (`url_private_download`): `/files-pri/{id}[/…]`, the id a test hosted.
    if call.method == Method::GET
        && let Some(rest) = call.path.strip_prefix("files-pri/")
    {
        let id = rest.split('/').next().unwrap_or_default();
        return file_response(outbox.hosted_file("slack", id).await);
    }
    let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    match (call.method.clone(), call.path) {
        (Method::POST, "files.getUploadURLExternal") => {
            let name = call.param("filename", true).filter(|n| !n.is_empty());
            let length = call.param("length", true).and_then(|l| l.parse::<usize>().ok());
            let (Some(name), Some(_)) = (name, length) else {
                return answer(json!({"ok": false, "error": "invalid_arguments"}));
            };
            let file_id = format!("F0LOCAL{}", outbox.next());
            let pending = HostedFile { bytes: Vec::new(), name: Some(name), content_type: None };
            outbox.keep_upload("slack", &file_id, pending).await;
            let upload_url = format!("{}/_upload/{file_id}", call.base_url("slack"));
            answer(json!({"ok": true, "upload_url": upload_url, "file_id": file_id}))
        }
        (Method::POST, "files.completeUploadExternal") => {
            let Some(files) = request.get("files").and_then(Value::as_array).filter(|f| !f.is_empty()) else {
                return answer(json!({"ok": false, "error": "invalid_arguments"}));
            };
            let Some(channel) = request.get("channel_id").and_then(Value::as_str).filter(|c| !c.is_empty()) else {
                return answer(json!({"ok": false, "error": "channel_not_found"}));
            };
            let mut shared = Vec::new();
            for file in files {
                let id = file.get("id").and_then(Value::as_str).unwrap_or_default();
                let Some(upload) = outbox.upload("slack", id).await.filter(|u| !u.bytes.is_empty()) else {
                    return answer(json!({"ok": false, "error": "file_not_found"}));
                };
                let title = file.get("title").and_then(Value::as_str).map(str::to_owned);
                let name = title.clone().or(upload.name.clone()).unwrap_or_default();
                outbox
                    .record_file(SentFile {
                        channel: "slack",
                        chat_id: json!(channel),
                        name: name.clone(),
                        content_type: None,
                        caption: request.get("initial_comment").and_then(Value::as_str).map(str::to_owned),
                        as_kind: "file".to_owned(),
                        size: upload.bytes.len(),
                        bytes: upload.bytes,
                    })
                    .await;
                shared.push(json!({"id": id, "title": name}));
            }
            answer(json!({"ok": true, "files": shared}))
        }
        (Method::POST, "chat.postMessage") => {
            let Some(channel) = request.get("channel").and_then(Value::as_str).filter(|c| !c.is_empty()) else {
                return answer(json!({"ok": false, "error": "channel_not_found"}));
            };
            let Some(text) = request.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
                return answer(json!({"ok": false, "error": "no_text"}));
            };
            let id = outbox.record("slack", json!(channel), text).await;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
            let ts = format!("{now}.{:06}", id % 1_000_000);
            let mut message =
                json!({"type": "message", "text": text, "user": "U0LOCALBOT", "bot_id": "B0LOCALBOT", "ts": ts});
            if let Some(thread) = request.get("thread_ts") {
                message["thread_ts"] = thread.clone();
            }
            answer(json!({"ok": true, "channel": channel, "ts": ts, "message": message}))
        }
        (Method::POST, "chat.update") => {
            let (Some(channel), Some(ts), Some(text)) = (
                request.get("channel").and_then(Value::as_str),
                request.get("ts").and_then(Value::as_str),
                request.get("text").and_then(Value::as_str),
            ) else {
                return answer(json!({"ok": false, "error": "invalid_arguments"}));
            };
            outbox.act("slack", "edit", json!({"channel": channel, "ts": ts}), text).await;
            answer(json!({"ok": true, "channel": channel, "ts": ts, "text": text}))
        }
        (Method::POST, method @ ("reactions.add" | "reactions.remove")) => {
            let (Some(channel), Some(ts), Some(name)) = (
                request.get("channel").and_then(Value::as_str),
                request.get("timestamp").and_then(Value::as_str),
                request.get("name").and_then(Value::as_str),
            ) else {
                return answer(json!({"ok": false, "error": "invalid_arguments"}));
            };
            let kind = if method == "reactions.add" { "react" } else { "unreact" };
            outbox.act("slack", kind, json!({"channel": channel, "ts": ts}), name).await;
            answer(json!({"ok": true}))
        }
        (Method::POST, "auth.test") => answer(json!({"ok": true, "user_id": "U0LOCALBOT", "bot_id": "B0LOCALBOT"})),
        _ => answer(json!({"ok": false, "error": "unknown_method"})),
    }
}

/// Discord REST API (v10): interaction follow-ups (`POST /webhooks/<application>/<token>`, no
/// authorization), channel messages (`POST /channels/<id>/messages`, `Authorization: Bot …`; a
/// thread is a channel; either as JSON, or multipart with `payload_json` and `files[0]` for a
/// file), attachments as the CDN serves them (`GET /attachments/<id>[/<name>]`, no token), and the application's global commands (`PUT
/// /applications/<application>/commands`, a bulk overwrite, and `GET` of the same path). Messages
/// are answered with the message object; errors are `{"message", "code"}`.
async fn discord(outbox: &Outbox, call: Call<'_>) -> Response {
    let error = |status: StatusCode, code: u32, message: &str| {
        (status, axum::Json(json!({"message": message, "code": code}))).into_response()
    };
    let segments: Vec<&str> = call.path.split('/').collect();
    let authorized = call
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bot "))
        .is_some_and(|token| !token.trim().is_empty());
    if let ["applications", application, "commands"] = segments.as_slice() {
        if !authorized {
            return error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
        }
        return discord_commands(outbox, &call, application).await;
    }
    // An interaction's original response (the deferred "thinking…"), edited in place.
    if call.method == Method::PATCH {
        let ["webhooks", application, token, "messages", "@original"] = segments.as_slice() else {
            return error(StatusCode::NOT_FOUND, 0, "404: Not Found");
        };
        if application.is_empty() || token.is_empty() {
            return error(StatusCode::NOT_FOUND, 0, "404: Not Found");
        }
        let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        let Some(content) = request.get("content").and_then(Value::as_str).filter(|c| !c.is_empty()) else {
            return error(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message");
        };
        // The token is a credential: only the application is shown.
        outbox.act("discord", "edit", json!(format!("original response of application {application}")), content).await;
        return axum::Json(json!({"id": "0", "type": 0, "content": content, "flags": request.get("flags").cloned().unwrap_or(json!(0))}))
            .into_response();
    }
    // Attachments on the CDN: `/attachments/{id}[/{filename}]`, the id a test hosted (the CDN's
    // URLs are signed; no token goes with them).
    if call.method == Method::GET
        && let ["attachments", id, ..] = segments.as_slice()
    {
        return file_response(outbox.hosted_file("discord", id).await);
    }
    if call.method != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, 0, "405: Method Not Allowed");
    }
    let mut interaction = None;
    let (target, channel_id) = match segments.as_slice() {
        ["webhooks", application, token] if !application.is_empty() && !token.is_empty() => {
            // The token is a credential: it is not printed.
            interaction = Some(*token);
            (json!(format!("interaction of application {application}")), Value::Null)
        }
        ["channels", channel, "messages"] if !channel.is_empty() => {
            if !authorized {
                return error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
            }
            (json!(channel), json!(channel))
        }
        _ => return error(StatusCode::NOT_FOUND, 0, "404: Not Found"),
    };
    let is_multipart = call
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        return discord_file(outbox, &call, target, channel_id, interaction).await;
    }
    let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    let Some(content) = request.get("content").and_then(Value::as_str).filter(|c| !c.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message");
    };
    if content.chars().count() > 2000 {
        return error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body (content: Must be 2000 or fewer in length.)");
    }
    let id = outbox.record_answer("discord", target, content, interaction).await;
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    // A snowflake: milliseconds since Discord's epoch (2015) above 22 bits of sequence.
    let snowflake = ((now_ms - 1_420_070_400_000).max(0) << 22) | (id & 0x3f_ffff);
    axum::Json(json!({
        "id": snowflake.to_string(),
        "type": 0,
        "channel_id": channel_id,
        "content": content,
        "author": {"id": "0", "username": "clawless-local", "bot": true},
        "flags": request.get("flags").cloned().unwrap_or(json!(0)),
        "mentions": [],
    }))
    .into_response()
}

/// A message with a file: a multipart body with the message as `payload_json` and the file as
/// `files[0]` (its `content`, if any, is the caption).
async fn discord_file(
    outbox: &Outbox,
    call: &Call<'_>,
    target: Value,
    channel_id: Value,
    interaction: Option<&str>,
) -> Response {
    let error = |status: StatusCode, code: u32, message: &str| {
        (status, axum::Json(json!({"message": message, "code": code}))).into_response()
    };
    let Some(parts) = multipart_parts(call).await else {
        return error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
    };
    let payload: Value =
        parts.fields.get("payload_json").and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
    let Some(file) = parts.file.filter(|f| f.field == "files[0]") else {
        return error(StatusCode::BAD_REQUEST, 50006, "Cannot send an empty message");
    };
    let caption = payload.get("content").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_owned);
    if caption.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body (content: Must be 2000 or fewer in length.)");
    }
    // The token of an interaction is a credential: only whether there was one is shown.
    let as_kind = if interaction.is_some() { "follow-up attachment" } else { "attachment" };
    let (name, size) = (file.file_name.clone(), file.bytes.len());
    let id = outbox
        .record_file(SentFile {
            channel: "discord",
            chat_id: target,
            name: name.clone(),
            content_type: file.content_type,
            caption: caption.clone(),
            as_kind: as_kind.to_owned(),
            size,
            bytes: file.bytes,
        })
        .await;
    let attachment_url = format!("{}/attachments/{id}/{name}", call.base_url("discord"));
    axum::Json(json!({
        "id": format!("{}", 1_300_000_000_000_000_000u64 + id as u64),
        "type": 0,
        "channel_id": channel_id,
        "content": caption.unwrap_or_default(),
        "author": {"id": "0", "username": "clawless-local", "bot": true},
        "attachments": [{"id": id.to_string(), "filename": name, "size": size, "url": attachment_url}],
        "mentions": [],
    }))
    .into_response()
}

/// `PUT` replaces the application's global commands with the array given (each a slash command
/// with a name and a description, as Discord requires) and answers them with ids; `GET` lists them.
async fn discord_commands(outbox: &Outbox, call: &Call<'_>, application: &str) -> Response {
    let invalid = |message: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": format!("Invalid Form Body ({message})"), "code": 50035})),
        )
            .into_response()
    };
    if application.is_empty() || !application.bytes().all(|b| b.is_ascii_digit()) {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Unknown Application", "code": 10002})))
            .into_response();
    }
    match call.method {
        Method::GET => axum::Json(outbox.discord_commands(application).await.unwrap_or(json!([]))).into_response(),
        Method::PUT => {
            let Ok(Value::Array(commands)) = serde_json::from_slice::<Value>(&call.body) else {
                return invalid("the body must be an array of commands");
            };
            let mut stored = Vec::with_capacity(commands.len());
            for (i, mut command) in commands.into_iter().enumerate() {
                let text = |key: &str, most: usize| {
                    command.get(key).and_then(Value::as_str).is_some_and(|v| (1..=most).contains(&v.chars().count()))
                };
                if !text("name", 32) || !text("description", 100) {
                    return invalid("each command needs a name (1-32) and a description (1-100)");
                }
                command["id"] = json!(format!("{}", 1_300_000_000_000_000_000u64 + i as u64));
                command["application_id"] = json!(application);
                stored.push(command);
            }
            let stored = Value::Array(stored);
            eprintln!("\n  discord → application {application}: {} commands\n", stored.as_array().map_or(0, Vec::len));
            outbox.discord_commands.lock().await.insert(application.to_owned(), stored.clone());
            axum::Json(stored).into_response()
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({"message": "405: Method Not Allowed", "code": 0})))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use clawless_core::cache::TtlCache;
    use clawless_core::channels::{self, SendContext};
    use clawless_core::domain::media::{FileUpload, MediaSource, sniff};
    use clawless_core::domain::model::{ChannelKind, ReplyRoute};
    use clawless_core::domain::secrets::{ChannelSecrets, Secret};

    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    async fn stand_in() -> (Arc<Outbox>, String) {
        let outbox = Arc::new(Outbox::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(outbox.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (outbox, format!("http://{addr}"))
    }

    fn secrets(pairs: &[(&str, &str)]) -> ChannelSecrets {
        ChannelSecrets(pairs.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect::<BTreeMap<_, _>>())
    }

    /// Each channel's own code, as the platform runs it, against its stand-in: a hosted file is
    /// downloaded through the channel's download API and a file is uploaded and sent through its
    /// upload API, so the stand-ins speak the wire formats the channels use.
    #[tokio::test]
    async fn the_channels_download_and_send_files_through_their_stand_ins() {
        let (outbox, base) = stand_in().await;
        let http = reqwest::Client::new();
        let tokens = TtlCache::new(Duration::from_secs(60), 10);
        let png = sniff(PNG);
        let kinds = [ChannelKind::Slack, ChannelKind::Discord, ChannelKind::Whatsapp, ChannelKind::Feishu];
        for kind in kinds {
            let api = format!("{base}/{}", kind.as_str());
            let (secrets, hosted_id, source, route) = match kind {
                ChannelKind::Slack => (
                    secrets(&[("bot_token", "xoxb-local")]),
                    "F0PHOTO",
                    MediaSource::SlackFile { url: format!("{api}/files-pri/F0PHOTO/download/photo.png") },
                    ReplyRoute::Slack { channel_id: "C0123ABCD".into(), thread_ts: Some("1763740800.000200".into()) },
                ),
                ChannelKind::Discord => (
                    secrets(&[("bot_token", "local")]),
                    "1441458133401600002",
                    MediaSource::DiscordAttachment { url: format!("{api}/attachments/1441458133401600002/photo.png") },
                    ReplyRoute::Discord {
                        channel_id: "1000000000000000002".into(),
                        interaction: None,
                        thread_id: None,
                    },
                ),
                ChannelKind::Whatsapp => (
                    secrets(&[("access_token", "EAAlocal"), ("phone_number_id", "106540352242922")]),
                    "1003123456789012",
                    MediaSource::WhatsappMedia { media_id: "1003123456789012".into() },
                    ReplyRoute::Whatsapp { to: "16505551234".into(), reply_to_message_id: None },
                ),
                _ => (
                    secrets(&[("app_id", "cli_local"), ("app_secret", "local-secret")]),
                    "img_v3_photo",
                    MediaSource::FeishuResource {
                        message_id: "om_1".into(),
                        file_key: "img_v3_photo".into(),
                        resource_type: "image".into(),
                    },
                    ReplyRoute::Feishu { chat_id: "oc_1".into(), reply_to_message_id: None, thread_root_id: None },
                ),
            };
            let hosted = http
                .post(format!("{base}/_files/{}/{hosted_id}?name=photo.png", kind.as_str()))
                .body(PNG.to_vec())
                .send()
                .await
                .unwrap();
            assert!(hosted.status().is_success());
            let channel = channels::channel(kind).unwrap();
            let ctx = SendContext { http: &http, api_base: &api, secrets: &secrets, tokens: &tokens, send_key: None };
            assert_eq!(channel.download(&ctx, &source, 1000).await.unwrap(), PNG, "{kind}");
            let file = FileUpload { name: "chart.png", bytes: PNG, sniffed: &png, caption: Some("the chart") };
            let sent = channel.send_file(&ctx, &route, &file).await;
            assert!(sent.is_ok_and(|id| !id.is_empty()), "{kind}");
        }
        let files = outbox.files().await;
        let shown: Vec<(&str, &str, &str, Option<&str>)> =
            files.iter().map(|f| (f.channel, f.as_kind.as_str(), f.name.as_str(), f.caption.as_deref())).collect();
        assert_eq!(
            shown,
            [
                ("slack", "file", "chart.png", Some("the chart")),
                ("discord", "attachment", "chart.png", Some("the chart")),
                ("whatsapp", "image", "chart.png", Some("the chart")),
                ("feishu", "image", "chart.png", None),
            ]
        );
        assert!(files.iter().all(|f| f.bytes == PNG && f.size == PNG.len()));
        assert_eq!(files[0].chat_id, json!("C0123ABCD"));
        // Feishu's caption follows its image as a text message.
        let texts: Vec<(&str, String)> = outbox.sent().await.iter().map(|m| (m.channel, m.text.clone())).collect();
        assert_eq!(texts, [("feishu", "the chart".to_owned())]);
        assert_eq!(outbox.downloads().await.len(), 4);
    }

    #[tokio::test]
    async fn file_routes_want_the_tokens_the_real_apis_want() {
        let (_outbox, base) = stand_in().await;
        let http = reqwest::Client::new();
        for channel in ["slack", "whatsapp", "feishu", "discord"] {
            let hosted = http.post(format!("{base}/_files/{channel}/k1")).body(PNG.to_vec()).send().await.unwrap();
            assert!(hosted.status().is_success());
        }
        let status = |r: reqwest::Response| r.status().as_u16();
        let get = |path: &str| http.get(format!("{base}{path}"));
        assert_eq!(status(get("/slack/files-pri/k1").send().await.unwrap()), 403);
        assert_eq!(status(get("/slack/files-pri/k1").bearer_auth("xoxb-1").send().await.unwrap()), 200);
        assert_eq!(status(get("/whatsapp/v21.0/k1").send().await.unwrap()), 401);
        assert_eq!(status(get("/whatsapp/_media/k1").send().await.unwrap()), 401);
        let lookup: Value = get("/whatsapp/v21.0/k1").bearer_auth("EAA").send().await.unwrap().json().await.unwrap();
        assert_eq!(lookup["url"], json!(format!("{base}/whatsapp/_media/k1")));
        assert_eq!(lookup["file_size"], json!(PNG.len()));
        let resource = "/feishu/open-apis/im/v1/messages/om_1/resources/k1";
        assert_eq!(status(get(&format!("{resource}?type=image")).send().await.unwrap()), 400);
        assert_eq!(status(get(&format!("{resource}?type=video")).bearer_auth("t-1").send().await.unwrap()), 400);
        assert_eq!(status(get(&format!("{resource}?type=file")).bearer_auth("t-1").send().await.unwrap()), 200);
        // Discord's CDN URLs are signed: no token.
        assert_eq!(status(get("/discord/attachments/k1/photo.png").send().await.unwrap()), 200);
        assert_eq!(status(get("/discord/attachments/nope/photo.png").send().await.unwrap()), 404);
    }
}
