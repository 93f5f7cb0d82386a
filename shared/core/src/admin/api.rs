//! The admin REST API (`/admin/v1/…`): parses a request, checks who calls and what they may do,
//! calls [`AdminService`], and maps the result to a status and a JSON body. The admin function
//! and the local run both hand requests here.
//!
//! The tenant a call acts on is the verified token's, never the path's or the body's; only a
//! platform admin may name another with `?tenant=`, and each such call is audited as
//! `platform_admin_action`. Members read; admins write (`403`). Another tenant's resources answer
//! `404`, exactly as missing ones.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::identity::{AuthError, Caller, IdTokenVerifier};
use super::{Acting, AdminError, AdminService, BotPatch, ConsoleDecision, QuotaChange, TaskAction, UserRole};
use crate::approvals::Scope;
use crate::domain::model::{BotSettings, BotStatus};
use crate::observe::audit::{AuditKind, emit_tenant};

/// Where the routes live.
pub const PREFIX: &str = "/admin/v1/";
/// Largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// One HTTP request, as the function (or the local run) received it.
pub struct AdminRequest<'a> {
    pub method: &'a str,
    /// The raw path, e.g. `/admin/v1/bots/b…/channels`.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// The status and JSON body to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminResponse {
    pub status: u16,
    pub body: Value,
}

fn answer(status: u16, body: Value) -> AdminResponse {
    AdminResponse { status, body }
}

fn error(status: u16, message: impl Into<String>) -> AdminResponse {
    answer(status, json!({"error": message.into()}))
}

impl From<AdminError> for AdminResponse {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) => error(400, m),
            AdminError::NotFound(m) => error(404, format!("{m} not found")),
            AdminError::Conflict(m) => error(409, m),
            AdminError::Forbidden(m) => error(403, m),
            AdminError::Store(crate::ports::StoreError::NotFound(m)) => error(404, format!("{m} not found")),
            AdminError::Store(crate::ports::StoreError::Corrupt { what: "cursor", detail }) => error(400, detail),
            AdminError::Tasks(crate::tasks::TaskError::NotFound(m)) => error(404, format!("task {m} not found")),
            AdminError::Tasks(
                e @ (crate::tasks::TaskError::WrongState { .. } | crate::tasks::TaskError::Conflict(_)),
            ) => error(409, e.to_string()),
            AdminError::Tasks(e @ crate::tasks::TaskError::Invalid(_)) => error(400, e.to_string()),
            AdminError::Store(crate::ports::StoreError::AlreadyExists(m)) => error(409, format!("{m} already exists")),
            other => {
                // The detail names AWS operations, never secrets; the caller gets no internals.
                tracing::error!(event = "admin_failed", error = %other, "admin API call failed");
                error(500, "internal error; try again")
            }
        }
    }
}

/// Percent-decodes one path segment (`%3A` in `telegram%3A42`).
fn decode(segment: &str) -> Result<String, AdminResponse> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let value = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| error(400, "malformed path"))?;
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| error(400, "malformed path"))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminResponse> {
    if body.len() > MAX_BODY {
        return Err(error(400, "the body is too large"));
    }
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| error(400, format!("malformed JSON body: {e}")))
}

/// `Some(None)` for an explicit `null`, so a PATCH can clear a field.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBot {
    name: String,
    persona: Option<String>,
    model_provider: Option<String>,
    model_id: Option<String>,
    trigger: Option<String>,
    dm: Option<crate::access::DmPolicy>,
    groups: Option<crate::access::GroupPolicy>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    persona: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    model_provider: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    model_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    trigger: Option<Option<String>>,
    status: Option<BotStatus>,
    dm: Option<crate::access::DmPolicy>,
    groups: Option<crate::access::GroupPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    keys: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    #[serde(default)]
    keys: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    preset: Option<String>,
    tools: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproverBody {
    bot_id: String,
    channel: String,
    user_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: String,
    hours: Option<u32>,
    reason: Option<String>,
    arguments_hash: Option<String>,
    /// The console's id for this click, so a retry of it is the same attempt.
    attempt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessModes {
    dm: Option<crate::access::DmPolicy>,
    groups: Option<crate::access::GroupPolicy>,
}

/// `{"user": "<channel>:<id>"}` or `{"group": "<channel>:<id>"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessSubject {
    user: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairingCode {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    role: String,
    password: Option<String>,
}

/// Whether a route changes something (admins only, audited).
fn is_write(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD")
}

pub struct AdminApi {
    service: AdminService,
    verifier: IdTokenVerifier,
}

impl AdminApi {
    pub fn new(service: AdminService, verifier: IdTokenVerifier) -> Self {
        Self { service, verifier }
    }

    pub fn service(&self) -> &AdminService {
        &self.service
    }

    pub async fn handle(&self, request: AdminRequest<'_>) -> AdminResponse {
        let caller = match self.verifier.verify_header(request.authorization).await {
            Ok(caller) => caller,
            Err(AuthError::Keys) => return error(503, "the sign-in keys are unavailable; try again"),
            Err(AuthError::NoTenant) => return error(403, AuthError::NoTenant.to_string()),
            Err(e) => return error(401, e.to_string()),
        };
        let Some(rest) = request.path.strip_prefix(PREFIX).or_else(|| {
            // A stage-prefixed path (`/prod/admin/v1/…`) as API Gateway may hand it over.
            request.path.find(PREFIX).map(|at| &request.path[at + PREFIX.len()..])
        }) else {
            return error(404, "no such route");
        };
        let segments: Result<Vec<String>, AdminResponse> =
            rest.trim_end_matches('/').split('/').filter(|s| !s.is_empty()).map(decode).collect();
        let segments = match segments {
            Ok(s) => s,
            Err(e) => return e,
        };
        // Which tenant: the token's; a platform admin may name another.
        let named = query_param(request.query, "tenant").filter(|t| !t.trim().is_empty());
        let tenant = match (&named, caller.platform_admin, &caller.tenant_id) {
            (Some(t), true, _) => t.trim().to_owned(),
            (Some(_), false, _) => return error(403, "only a platform admin may name a tenant"),
            (None, _, Some(own)) => own.to_string(),
            (None, _, None) => return error(400, "name the tenant with ?tenant="),
        };
        let write = is_write(request.method);
        if write && caller.role != UserRole::Admin {
            return error(403, "members may read; only admins change things");
        }
        let acting = Acting::Tenant(match crate::domain::ids::TenantId::parse(&tenant) {
            Ok(t) => t,
            Err(_) => return error(404, "tenant not found"),
        });
        let route: Vec<&str> = segments.iter().map(String::as_str).collect();
        let response = match self.route(&request, &caller, &acting, &tenant, &route).await {
            Ok(r) => r,
            Err(r) => r,
        };
        let cross_tenant = caller.tenant_id.as_ref().is_none_or(|own| own.as_str() != tenant);
        if caller.platform_admin && cross_tenant {
            emit_tenant(
                AuditKind::PlatformAdminAction,
                &tenant,
                None,
                json!({"actor": caller.email, "sub": caller.subject, "method": request.method, "route": route_name(&route), "status": response.status}),
            );
        }
        if write && response.status < 400 {
            emit_tenant(
                AuditKind::AdminAction,
                &tenant,
                route.get(1).filter(|_| route.first() == Some(&"bots")).copied(),
                json!({"actor": caller.email, "sub": caller.subject, "method": request.method, "route": route_name(&route), "resource": route.get(1), "status": response.status}),
            );
        }
        response
    }

    async fn route(
        &self,
        request: &AdminRequest<'_>,
        caller: &Caller,
        acting: &Acting,
        tenant: &str,
        route: &[&str],
    ) -> Result<AdminResponse, AdminResponse> {
        let s = &self.service;
        let method = request.method;
        let limit = query_param(request.query, "limit")
            .map(|l| l.parse::<i32>().map_err(|_| error(400, "limit is a number from 1 to 100")))
            .transpose()?
            .unwrap_or(50);
        let cursor = query_param(request.query, "cursor").filter(|c| !c.is_empty());
        let ok = |v: Value| Ok(answer(200, v));
        match (method, route) {
            ("GET", ["me"]) => ok(json!({
                "tenant_id": caller.tenant_id.as_ref().map(|t| t.to_string()),
                "email": caller.email,
                "role": caller.role.as_str(),
                "platform_admin": caller.platform_admin,
            })),
            ("GET", ["bots"]) => {
                let bots = s.list_bots(acting, tenant).await?;
                ok(json!({ "bots": bots }))
            }
            ("POST", ["bots"]) => {
                let b: NewBot = parse_body(request.body)?;
                let settings = BotSettings {
                    trigger: b.trigger,
                    persona: b.persona,
                    model_provider: b.model_provider,
                    model_id: b.model_id,
                    dm: b.dm,
                    groups: b.groups,
                };
                let bot = s.create_bot(acting, tenant, &b.name, settings).await?;
                let view = s.bot(acting, bot.bot_id.as_str()).await?;
                Ok(answer(201, json_of(&view)))
            }
            ("GET", ["bots", bot]) => ok(json_of(&s.bot(acting, bot).await?)),
            ("PATCH", ["bots", bot]) => {
                let p: PatchBody = parse_body(request.body)?;
                let patch = BotPatch {
                    name: p.name,
                    persona: p.persona,
                    model_provider: p.model_provider,
                    model_id: p.model_id,
                    trigger: p.trigger,
                    status: p.status,
                    dm: p.dm,
                    groups: p.groups,
                };
                ok(json_of(&s.update_bot(acting, bot, patch).await?))
            }
            ("DELETE", ["bots", bot]) => {
                s.delete_bot(acting, bot).await?;
                ok(json!({"bot_id": bot, "deleted": true}))
            }
            ("POST", ["bots", bot, "channels"]) => {
                let c: NewChannel = parse_body(request.body)?;
                let keys: Vec<(String, String)> = c.keys.into_iter().collect();
                let added = s.add_channel(acting, bot, &c.kind, &keys, false).await?;
                Ok(answer(201, json_of(&added)))
            }
            ("DELETE", ["bots", bot, "channels", kind]) => {
                s.remove_channel(acting, bot, kind).await?;
                ok(json!({"bot_id": bot, "channel": kind, "removed": true}))
            }
            ("POST", ["bots", bot, "channels", kind, "rotate"]) => {
                let k: Keys = parse_body(request.body)?;
                let keys: Vec<(String, String)> = k.keys.into_iter().collect();
                ok(json_of(&s.rotate_channel(acting, bot, kind, &keys).await?))
            }
            ("POST", ["bots", bot, "channels", kind, "register"]) => {
                ok(json_of(&s.register_channel(acting, bot, kind).await?))
            }
            ("GET", ["bots", bot, "access"]) => ok(json_of(&s.access(acting, bot).await?)),
            ("PUT", ["bots", bot, "access"]) => {
                let m: AccessModes = parse_body(request.body)?;
                ok(json_of(&s.set_access(acting, bot, m.dm, m.groups).await?))
            }
            ("POST", ["bots", bot, "access", verb @ ("allow" | "revoke")]) => {
                let a: AccessSubject = parse_body(request.body)?;
                let subject = match (a.user, a.group) {
                    (Some(user), None) => super::access::Subject::User(user),
                    (None, Some(group)) => super::access::Subject::Group(group),
                    _ => return Err(error(400, "give exactly one of \"user\" and \"group\"")),
                };
                ok(json_of(&s.change_access(acting, bot, subject, *verb == "allow", &caller.actor()).await?))
            }
            ("POST", ["bots", bot, "access", "approve"]) => {
                let p: PairingCode = parse_body(request.body)?;
                let (user, view) = s.approve_pairing(acting, bot, &p.code, &caller.actor()).await?;
                let mut shown = json_of(&view);
                shown["approved"] = json!(user);
                ok(shown)
            }
            ("GET", ["profile"]) => ok(json_of(&s.show_profile(acting, tenant, None).await?)),
            ("PUT", ["profile"]) => {
                let p: ProfileBody = parse_body(request.body)?;
                let shown = s
                    .set_profile(acting, tenant, None, p.preset.as_deref(), p.tools.as_deref(), &caller.actor())
                    .await?;
                ok(json_of(&shown))
            }
            ("GET", ["profile", "users", user]) => ok(json_of(&s.show_profile(acting, tenant, Some(user)).await?)),
            ("PUT", ["profile", "users", user]) => {
                let p: ProfileBody = parse_body(request.body)?;
                let shown = s
                    .set_profile(acting, tenant, Some(user), p.preset.as_deref(), p.tools.as_deref(), &caller.actor())
                    .await?;
                ok(json_of(&shown))
            }
            ("GET", ["approver"]) => match s.approver(acting, tenant).await? {
                Some(a) => ok(
                    json!({"tenant_id": a.tenant_id, "bot_id": a.bot_id, "channel": a.channel, "user_id": a.user_id}),
                ),
                None => Err(error(404, "no approver is set")),
            },
            ("PUT", ["approver"]) => {
                let a: ApproverBody = parse_body(request.body)?;
                let a = s.set_approver(acting, tenant, &a.bot_id, &a.channel, &a.user_id).await?;
                ok(json!({"tenant_id": a.tenant_id, "bot_id": a.bot_id, "channel": a.channel, "user_id": a.user_id}))
            }
            ("GET", ["approvals"]) => {
                let status = query_param(request.query, "status");
                let requests = s.list_approvals(acting, tenant, status.as_deref()).await?;
                ok(json!({ "requests": requests }))
            }
            ("POST", ["approvals", id, "decision"]) => {
                let d: DecisionBody = parse_body(request.body)?;
                let scope = match (d.decision.as_str(), d.hours) {
                    ("once", None) => Some(Scope::Once),
                    ("hours", Some(h)) if (1..=24).contains(&h) => Some(Scope::Hours(h)),
                    ("hours", _) => return Err(error(400, "\"hours\" needs \"hours\": 1 to 24")),
                    ("always", None) => Some(Scope::Always),
                    ("reject", None) => None,
                    (_, Some(_)) => return Err(error(400, "\"hours\" goes only with \"decision\": \"hours\"")),
                    (other, None) => {
                        return Err(error(400, format!("unknown decision {other:?} (once, hours, always, reject)")));
                    }
                };
                let attempt = d
                    .attempt
                    .filter(|a| {
                        !a.is_empty() && a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
                    .unwrap_or_else(|| hex::encode(rand::random::<[u8; 12]>()));
                let decision = ConsoleDecision { scope, reason: d.reason, arguments_hash: d.arguments_hash, attempt };
                ok(json_of(&s.decide(acting, tenant, id, decision, &caller.actor()).await?))
            }
            ("GET", ["bots", bot, "tasks"]) => ok(json!({ "tasks": s.list_tasks(acting, bot).await? })),
            ("POST", ["bots", bot, "tasks", task, action]) => {
                let action = match *action {
                    "pause" => TaskAction::Pause,
                    "resume" => TaskAction::Resume,
                    "cancel" => TaskAction::Cancel,
                    _ => return Err(error(404, "no such route")),
                };
                let mut view = json_of(&s.task_action(acting, bot, task, action).await?);
                if action == TaskAction::Cancel {
                    view["status"] = json!("cancelled");
                    view["next_run"] = Value::Null;
                }
                ok(view)
            }
            ("GET", ["bots", bot, "conversations"]) => {
                let page = s.conversations(acting, bot, cursor.as_deref(), limit).await?;
                let conversations: Vec<Value> = page
                    .items
                    .iter()
                    .map(|c| {
                        json!({"conversation_key": c.key(), "channel": c.channel, "conversation_id": c.conversation_id,
                               "first_seen_ms": c.first_seen_ms, "last_seen_ms": c.last_seen_ms})
                    })
                    .collect();
                ok(json!({"conversations": conversations, "next_cursor": page.next_cursor}))
            }
            ("GET", ["bots", bot, "conversations", key, "messages"]) => {
                let page = s.messages(acting, bot, key, cursor.as_deref(), limit).await?;
                ok(json!({"messages": page.items, "next_cursor": page.next_cursor}))
            }
            ("GET", ["usage"]) => {
                let month = query_param(request.query, "month");
                ok(json_of(&s.usage(acting, tenant, month.as_deref()).await?))
            }
            ("GET", ["quota"]) => {
                let q = s.quota(acting, tenant).await?;
                ok(quota_json(tenant, &q))
            }
            ("PUT", ["quota"]) => {
                let change: QuotaChange = parse_body(request.body)?;
                let q = s.set_quota(acting, tenant, change).await?;
                ok(quota_json(tenant, &q))
            }
            ("GET", ["users"]) => ok(json!({ "users": s.list_users(acting, tenant).await? })),
            ("POST", ["users"]) => {
                let u: NewUser = parse_body(request.body)?;
                let entry = s.add_user(acting, tenant, &u.email, &u.role, u.password.as_deref()).await?;
                Ok(answer(
                    201,
                    json!({"tenant_id": entry.tenant_id, "email": entry.email, "role": entry.role, "username": entry.username}),
                ))
            }
            ("DELETE", ["users", email]) => {
                let entry = s.remove_user(acting, tenant, email).await?;
                ok(json!({"email": entry.email, "removed": true}))
            }
            _ => Err(error(404, "no such route")),
        }
    }
}

/// Any answer as JSON (the answers are plain data; they always serialize).
fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn quota_json(tenant: &str, q: &crate::domain::usage::TenantQuota) -> Value {
    json!({
        "tenant_id": tenant,
        "monthly_tokens": q.monthly_tokens,
        "concurrent_runs": q.concurrent_runs,
        "messages_per_minute": q.messages_per_minute,
        "bot_messages_per_minute": q.bot_messages_per_minute,
    })
}

/// The route's shape for audit events: fixed words kept, ids replaced (`bots/{id}/channels`).
fn route_name(route: &[&str]) -> String {
    const WORDS: [&str; 17] = [
        "me",
        "bots",
        "channels",
        "rotate",
        "register",
        "profile",
        "users",
        "approver",
        "approvals",
        "decision",
        "tasks",
        "pause",
        "resume",
        "cancel",
        "conversations",
        "messages",
        "usage",
    ];
    route
        .iter()
        .map(|s| if WORDS.contains(s) || *s == "quota" { (*s).to_owned() } else { "{id}".to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_decoded_and_malformed_ones_refused() {
        assert_eq!(decode("telegram%3A4242").unwrap(), "telegram:4242");
        assert_eq!(decode("a%40b.test").unwrap(), "a@b.test");
        assert_eq!(decode("%zz").unwrap_err().status, 400);
        assert_eq!(decode("%").unwrap_err().status, 400);
        assert_eq!(decode("%ff").unwrap_err().status, 400, "not UTF-8");
    }

    #[test]
    fn a_patch_tells_a_cleared_field_from_an_absent_one() {
        let p: PatchBody = parse_body(br#"{"persona": null, "status": "disabled"}"#).unwrap();
        assert_eq!(p.persona, Some(None));
        assert_eq!(p.model_id, None);
        assert_eq!(p.status, Some(BotStatus::Disabled));
        assert_eq!(parse_body::<PatchBody>(br#"{"tenant_id": "t1"}"#).unwrap_err().status, 400, "no unknown fields");
        assert_eq!(parse_body::<PatchBody>(b"").unwrap().name, None, "an empty body is an empty object");
        assert_eq!(parse_body::<PatchBody>(&vec![b' '; MAX_BODY + 1]).unwrap_err().status, 400);
    }

    #[test]
    fn audit_routes_name_the_shape_not_the_ids() {
        assert_eq!(route_name(&["bots", "b123", "channels", "telegram", "rotate"]), "bots/{id}/channels/{id}/rotate");
        assert_eq!(route_name(&["approvals", "pr1", "decision"]), "approvals/{id}/decision");
        assert_eq!(route_name(&["quota"]), "quota");
    }

    #[test]
    fn errors_map_to_their_statuses_without_internals() {
        let status = |e: AdminError| AdminResponse::from(e).status;
        assert_eq!(status(AdminError::Invalid("x".into())), 400);
        assert_eq!(status(AdminError::NotFound("bot b1".into())), 404);
        assert_eq!(status(AdminError::Conflict("x".into())), 409);
        assert_eq!(status(AdminError::Forbidden("x".into())), 403);
        assert_eq!(status(AdminError::Tasks(crate::tasks::TaskError::NotFound("k1".into()))), 404);
        let internal = AdminResponse::from(AdminError::Store(crate::ports::StoreError::Aws {
            operation: "Query",
            detail: "arn:aws:dynamodb:…".into(),
        }));
        assert_eq!(internal.status, 500);
        assert!(!internal.body.to_string().contains("arn:"), "{}", internal.body);
    }
}
