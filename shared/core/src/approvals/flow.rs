//! The approval flow's side effects: decisions, grants, profile changes, notices, resumption.

use std::sync::{Arc, OnceLock};

use super::notice::{requester, reviewable, short_hash, too_long_text};
use super::wording::NoticeWording;
use super::*;
use crate::domain::envelope::{Button, ENVELOPE_VERSION, InboundEnvelope};
use crate::domain::ids::{MessageId, TenantId};
use crate::domain::model::{ConversationMessage, InboundMessage, Sender, now_ms};
use crate::domain::permissions::{DecisionRecord, PermissionRequest, RequestStatus, UserRef};
use crate::domain::scope::ScopeToken;
use crate::ports::{ApprovalRepo, InboundQueue, ProfileRepo, ReplyQueue, ScopeKeys, TimeoutScheduler};

/// What handling a command did, for the caller's logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    Decided { request_id: String, how: String },
    Refused(String),
    Listed(usize),
}

/// The approval flow's side effects: decisions, grants, profile changes, notices, resumption.
///
/// Its ports may be built on first use ([`ApprovalFlow::lazy`]): the dispatcher and the reply
/// function carry the flow for the rare approval command or notice, and building four SDK clients
/// they otherwise never call would be a fifth of their cold start.
#[derive(Clone)]
pub struct ApprovalFlow {
    inner: Arc<Inner>,
}

struct Inner {
    build: Box<dyn Fn() -> ApprovalPorts + Send + Sync>,
    ports: OnceLock<ApprovalPorts>,
    /// Every reply the flow sends carries its conversation's scope token, like an agent's.
    scope: Arc<dyn ScopeKeys>,
}

/// The flow's stores, queues and schedules.
#[derive(Clone)]
pub struct ApprovalPorts {
    pub approvals: Arc<dyn ApprovalRepo>,
    pub profiles: Arc<dyn ProfileRepo>,
    pub replies: Arc<dyn ReplyQueue>,
    /// Where a resumed run's platform message is enqueued (the inbound FIFO).
    pub inbound: Option<Arc<dyn InboundQueue>>,
    /// The schedules that expire pending requests.
    pub timeouts: Option<Arc<dyn TimeoutScheduler>>,
}

fn fmt_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

impl ApprovalFlow {
    /// A flow over ports built now.
    pub fn new(ports: ApprovalPorts, scope: Arc<dyn ScopeKeys>) -> Self {
        Self::lazy(scope, move || ports.clone())
    }

    /// A flow whose ports `build` makes on first use.
    pub fn lazy(scope: Arc<dyn ScopeKeys>, build: impl Fn() -> ApprovalPorts + Send + Sync + 'static) -> Self {
        Self { inner: Arc::new(Inner { build: Box::new(build), ports: OnceLock::new(), scope }) }
    }

    /// The scope key the flow mints its replies' tokens with (shared with the caller's checks).
    pub fn scope_key(&self) -> Arc<dyn ScopeKeys> {
        Arc::clone(&self.inner.scope)
    }

    /// Puts `reply` on the reply queue with its conversation's scope token.
    async fn send(&self, mut reply: ReplyEnvelope) -> Result<(), ApprovalError> {
        reply.scope = self.inner.scope.get().await?.mint(&reply.conversation);
        self.ports().replies.send_reply(&reply).await?;
        Ok(())
    }

    /// The flow's ports, built on the first call.
    pub fn ports(&self) -> &ApprovalPorts {
        self.inner.ports.get_or_init(|| (self.inner.build)())
    }

    /// Handles `item` if it is an approval command (the dispatcher calls this first). `None`:
    /// not a command, let the agent answer it.
    pub async fn handle_command(&self, item: &ConversationMessage) -> Result<Option<CommandOutcome>, ApprovalError> {
        let Some(parsed) = parse_command(&item.message.text) else { return Ok(None) };
        let c = &item.conversation;
        let sender = format!("{}:{}", c.channel, item.message.sender.id);
        if !self.sent_by_approver(item).await? {
            tracing::warn!(event = "approval_refused", tenant_id = %c.tenant_id, bot_id = %c.bot_id, sender = %sender, "an approval command from someone who is not the approver");
            let text = "Only this workspace's approver can decide permission requests.";
            self.answer(item, text).await?;
            return Ok(Some(CommandOutcome::Refused(text.into())));
        }
        let command = match parsed {
            Ok(c) => c,
            Err(usage) => {
                self.answer(item, &usage).await?;
                return Ok(Some(CommandOutcome::Refused(usage)));
            }
        };
        let outcome = match command {
            ApprovalCommand::Pending => {
                let pending = self.ports().approvals.pending_requests(&c.tenant_id, now_ms()).await?;
                let shown = pending.len().min(MAX_PENDING_LISTED);
                let head = match pending.len() {
                    0 => "No pending permission requests.".to_owned(),
                    n if n > shown => format!(
                        "{n} pending permission requests; the {shown} oldest follow in full, one message each. Decide them to see the rest."
                    ),
                    n => format!("{n} pending permission requests; each follows in full, one message each."),
                };
                self.answer_seq(item, 1, &head, Vec::new()).await?;
                // Each one as its own reply: the channel splits a long one, and its buttons come
                // under its last piece, after the whole of its arguments.
                for (seq, r) in (2..).zip(pending.iter().take(shown)) {
                    self.answer_seq(item, seq, &notice_text(r), notice_buttons(r)).await?;
                }
                CommandOutcome::Listed(pending.len())
            }
            ApprovalCommand::Approve { request_id, scope, hash } => {
                // The arguments never change once stored, so checking them before the decision
                // write is as good as checking them in it.
                if let Some(r) = self.ports().approvals.request(&c.tenant_id, &request_id).await? {
                    let refusal = if !reviewable(&r) {
                        Some(too_long_text(&r))
                    } else if let Some(hash) = hash.as_deref().filter(|h| !r.arguments_hash.starts_with(*h)) {
                        Some(format!(
                            "Nothing was approved: {hash} is not the hash of request {}'s arguments (theirs starts {}). Read the notice again, or /pending.",
                            r.request_id,
                            short_hash(&r)
                        ))
                    } else {
                        None
                    };
                    if let Some(text) = refusal {
                        tracing::warn!(event = "approval_refused", tenant_id = %c.tenant_id, request_id = %r.request_id, sender = %sender, reason = if reviewable(&r) { "hash_mismatch" } else { "too_long_to_review" });
                        self.answer(item, &text).await?;
                        return Ok(Some(CommandOutcome::Refused(text)));
                    }
                }
                let record = DecisionRecord {
                    how: scope.how().into(),
                    by: sender.clone(),
                    at_ms: now_ms(),
                    hours: match scope {
                        Scope::Hours(h) => Some(h),
                        _ => None,
                    },
                    reason: None,
                    message_id: Some(item.message.message_id.to_string()),
                };
                self.decide(item, &request_id, RequestStatus::Approved, record, Some(scope)).await?
            }
            ApprovalCommand::Reject { request_id, reason } => {
                let record = DecisionRecord {
                    how: "rejected".into(),
                    by: sender.clone(),
                    at_ms: now_ms(),
                    hours: None,
                    reason,
                    message_id: Some(item.message.message_id.to_string()),
                };
                self.decide(item, &request_id, RequestStatus::Rejected, record, None).await?
            }
        };
        Ok(Some(outcome))
    }

    async fn decide(
        &self,
        item: &ConversationMessage,
        request_id: &str,
        status: RequestStatus,
        record: DecisionRecord,
        scope: Option<Scope>,
    ) -> Result<CommandOutcome, ApprovalError> {
        let tenant = &item.conversation.tenant_id;
        let (request, record) = match self.ports().approvals.decide(tenant, request_id, status, &record, false).await? {
            Decided::Now(r) => (r, record),
            // The same approver's same decision again: a retry after a failure part-way. Every
            // step below is idempotent, so redo them.
            Decided::Already(r) if r.decision.as_ref().is_some_and(|d| d.message_id == record.message_id) => {
                let record = r.decision.clone().unwrap_or(record);
                (r, record)
            }
            Decided::NotFound => {
                let text = format!("There is no permission request {request_id}.");
                self.answer(item, &text).await?;
                return Ok(CommandOutcome::Refused(text));
            }
            Decided::Expired(r) => {
                let text = format!(
                    "Request {} expired at {}; it can no longer be decided.",
                    r.request_id,
                    fmt_time(r.expires_at_ms)
                );
                self.answer(item, &text).await?;
                return Ok(CommandOutcome::Refused(text));
            }
            Decided::Already(r) => {
                let how = r.decision.as_ref().map(|d| d.how.as_str()).unwrap_or("decided");
                let text = format!("Request {} was already decided ({how}); nothing changed.", r.request_id);
                self.answer(item, &text).await?;
                return Ok(CommandOutcome::Refused(text));
            }
        };
        let approver_text = self.carry_out(&request, &record, status, scope).await?;
        self.answer(item, &approver_text).await?;
        Ok(CommandOutcome::Decided { request_id: request.request_id.to_string(), how: record.how })
    }

    /// What a decision sets off, wherever it was made: the grant, the requester told, an approved
    /// run resumed. Every step is idempotent. Returns the text for the approver.
    async fn carry_out(
        &self,
        request: &PermissionRequest,
        record: &DecisionRecord,
        status: RequestStatus,
        scope: Option<Scope>,
    ) -> Result<String, ApprovalError> {
        let request = request.clone();
        let tenant = &request.conversation.tenant_id;
        tracing::info!(event = "approval_decision", tenant_id = %tenant, request_id = %request.request_id, tool = %request.tool, how = %record.how, by = %record.by, "permission request decided");
        audit_decision(&request, &record.how);
        match scope {
            Some(Scope::Hours(h)) => {
                self.ports().approvals.put_grant(&request, &record.by, record.at_ms + i64::from(h) * 3_600_000).await?;
            }
            Some(Scope::Always) => {
                let user = UserRef::new(request.conversation.channel, &request.requester_id).ok();
                // The tool joins the profile that applies to the requester.
                let level = match &user {
                    Some(u) if self.ports().profiles.get(tenant, Some(u)).await?.is_some() => user.as_ref(),
                    _ => None,
                };
                let mut profile = self.ports().profiles.get(tenant, level).await?.unwrap_or_default();
                profile.grant(&request.tool).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
                profile.updated_by = Some(record.by.clone());
                profile.updated_at_ms = Some(record.at_ms);
                self.ports().profiles.put(tenant, level, &profile).await?;
            }
            _ => {}
        }
        if let Some(schedules) = &self.ports().timeouts
            && let Err(e) = schedules.delete(&request.request_id).await
        {
            tracing::warn!(event = "approval_schedule_delete_failed", tenant_id = %tenant, request_id = %request.request_id, error = %e);
        }
        let (approver_text, requester_text) = match scope {
            None => (
                format!("Rejected {}: `{}` for {}.", request.request_id, request.tool, requester(&request)),
                format!(
                    "Your administrator rejected the use of `{}`{}.",
                    request.tool,
                    record.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                ),
            ),
            Some(scope) => {
                let how = match scope {
                    Scope::Once => "once".to_owned(),
                    Scope::Hours(h) => format!("for {h} hours"),
                    Scope::Always => "permanently".to_owned(),
                };
                (
                    format!("Approved {} {how}: `{}` for {}.", request.request_id, request.tool, requester(&request)),
                    format!("Your administrator approved `{}` {how}. Continuing.", request.tool),
                )
            }
        };
        self.tell_requester(&request, 200, &requester_text).await?;
        if status == RequestStatus::Approved {
            self.resume(&request).await?;
        }
        Ok(approver_text)
    }

    /// A decision made outside a chat (the admin API): the same single conditional write as
    /// `/approve` and `/reject`, so a chat decision and this one cannot both win. `record.by`
    /// names the actor; `record.message_id` names the attempt: the same attempt again redoes the
    /// idempotent steps, any other finds it `Already` decided.
    pub async fn decide_elsewhere(
        &self,
        tenant: &TenantId,
        request_id: &str,
        scope: Option<Scope>,
        record: DecisionRecord,
    ) -> Result<Decided, ApprovalError> {
        let status = if scope.is_some() { RequestStatus::Approved } else { RequestStatus::Rejected };
        match self.ports().approvals.decide(tenant, request_id, status, &record, false).await? {
            Decided::Now(request) => {
                self.carry_out(&request, &record, status, scope).await?;
                Ok(Decided::Now(request))
            }
            // The same attempt again (a retry after a failure part-way): redo the idempotent steps.
            Decided::Already(request)
                if request.decision.as_ref().is_some_and(|d| d.message_id == record.message_id) =>
            {
                let record = request.decision.clone().unwrap_or(record);
                self.carry_out(&request, &record, status, scope).await?;
                Ok(Decided::Now(request))
            }
            other => Ok(other),
        }
    }

    /// The approval-timeout function: rejects the request if it is still pending.
    pub async fn expire(&self, tenant: &TenantId, request_id: &str) -> Result<Decided, ApprovalError> {
        let record = DecisionRecord {
            how: "expired".into(),
            by: "timeout".into(),
            at_ms: now_ms(),
            hours: None,
            reason: None,
            message_id: None,
        };
        let decided = self.ports().approvals.decide(tenant, request_id, RequestStatus::Expired, &record, true).await?;
        if let Decided::Now(request) = &decided {
            tracing::info!(event = "approval_expired", tenant_id = %tenant, request_id = %request_id, tool = %request.tool, "permission request expired unanswered");
            audit_decision(request, "expired");
            self.tell_requester(
                request,
                201,
                &format!("Nobody approved `{}` in time, so it was not used.", request.tool),
            )
            .await?;
            if let Some(approver) = self.ports().approvals.approver(tenant).await? {
                let text =
                    format!("Request {request_id} (`{}` for {}) expired unanswered.", request.tool, requester(request));
                if let Err(e) = self.tell_approver(&approver, request, 2, &text, Vec::new()).await {
                    tracing::warn!(event = "approval_notice_failed", tenant_id = %tenant, request_id = %request_id, error = %e);
                }
            }
        }
        Ok(decided)
    }

    /// The reply function, once it stored a request: tells the approver and starts the timeout.
    /// `false` if nothing was sent (no approver, already decided, already told).
    pub async fn notice(&self, tenant: &TenantId, request_id: &str) -> Result<bool, ApprovalError> {
        self.notice_worded(tenant, request_id, None).await
    }

    /// [`ApprovalFlow::notice`], worded as the tenant asked (`None`: the platform's wording).
    pub async fn notice_worded(
        &self,
        tenant: &TenantId,
        request_id: &str,
        wording: Option<&NoticeWording>,
    ) -> Result<bool, ApprovalError> {
        let Some(request) = self.ports().approvals.request(tenant, request_id).await? else {
            tracing::warn!(event = "approval_notice_dropped", tenant_id = %tenant, request_id = %request_id, reason = "no such request");
            return Ok(false);
        };
        if let Some(schedules) = &self.ports().timeouts {
            schedules.create(&request).await?;
        }
        if request.status != RequestStatus::Pending {
            return Ok(false);
        }
        let Some(approver) = self.ports().approvals.approver(tenant).await? else {
            tracing::warn!(event = "approval_notice_dropped", tenant_id = %tenant, request_id = %request_id, reason = "the tenant has no approver; the request will expire");
            return Ok(false);
        };
        // Worded before the notice is marked sent (reading the wording and asking for a summary
        // are bounded and never fail), so no slow step sits between the mark and the send.
        let text = match wording {
            Some(wording) => wording.notice_text(&request).await,
            None => notice_text(&request),
        };
        if !self.ports().approvals.mark_noticed(tenant, &request.request_id).await? {
            return Ok(false);
        }
        self.tell_approver(&approver, &request, 1, &text, notice_buttons(&request)).await?;
        Ok(true)
    }

    pub(crate) async fn tell_approver(
        &self,
        approver: &ApproverConfig,
        request: &PermissionRequest,
        seq: u32,
        text: &str,
        buttons: Vec<Button>,
    ) -> Result<(), ApprovalError> {
        let route = approver
            .route()
            .ok_or_else(|| ApprovalError::Invalid(format!("notices on {} are not supported", approver.channel)))?;
        let reply = ReplyEnvelope {
            files: Vec::new(),
            v: ENVELOPE_VERSION,
            conversation: approver.conversation()?,
            in_reply_to: MessageId::parse(&request.request_id).map_err(|e| ApprovalError::Invalid(e.to_string()))?,
            in_reply_to_at_ms: request.created_at_ms,
            seq,
            text: text.to_owned(),
            route,
            buttons,
            scope: ScopeToken::default(),
            run: None,
            trace_id: None,
        };
        self.send(reply).await
    }

    async fn tell_requester(&self, request: &PermissionRequest, seq: u32, text: &str) -> Result<(), ApprovalError> {
        let reply = ReplyEnvelope {
            files: Vec::new(),
            v: ENVELOPE_VERSION,
            conversation: request.conversation.clone(),
            in_reply_to: request.in_reply_to.clone(),
            in_reply_to_at_ms: request.in_reply_to_at_ms,
            seq,
            text: text.to_owned(),
            route: request.route.clone(),
            buttons: Vec::new(),
            scope: ScopeToken::default(),
            run: None,
            trace_id: None,
        };
        self.send(reply).await
    }

    /// Answers `item` in its own chat through the reply queue, like any answer (the approver's
    /// commands; the access gate's pairing codes; the budget notice).
    /// Whether `item` comes from the tenant's approver, on the bot and channel they approve on.
    pub(crate) async fn sent_by_approver(&self, item: &ConversationMessage) -> Result<bool, ApprovalError> {
        let c = &item.conversation;
        let approver = self.ports().approvals.approver(&c.tenant_id).await?;
        Ok(approver
            .is_some_and(|a| a.bot_id == c.bot_id && a.channel == c.channel && a.user_id == item.message.sender.id))
    }

    pub(crate) async fn answer(&self, item: &ConversationMessage, text: &str) -> Result<(), ApprovalError> {
        self.answer_seq(item, 1, text, Vec::new()).await
    }

    /// Answer number `seq` to the approver's command (a command answered with several messages).
    pub(crate) async fn answer_seq(
        &self,
        item: &ConversationMessage,
        seq: u32,
        text: &str,
        buttons: Vec<Button>,
    ) -> Result<(), ApprovalError> {
        let reply = ReplyEnvelope {
            files: Vec::new(),
            v: ENVELOPE_VERSION,
            conversation: item.conversation.clone(),
            in_reply_to: item.message.message_id.clone(),
            in_reply_to_at_ms: item.message.sent_at_ms,
            seq,
            text: text.to_owned(),
            route: item.message.route.clone(),
            buttons,
            scope: ScopeToken::default(),
            run: None,
            trace_id: None,
        };
        self.send(reply).await
    }

    /// Resumes the run that asked: a platform message in the requester's conversation, queued
    /// like any message the bot answers (the dispatcher stores it as it hands it over), so the
    /// agent takes it up with the conversation's history.
    async fn resume(&self, request: &PermissionRequest) -> Result<(), ApprovalError> {
        let Some(inbound) = &self.ports().inbound else { return Ok(()) };
        let message_id = MessageId::parse(&format!("{}{RESUME_SUFFIX}", request.request_id))
            .map_err(|e| ApprovalError::Invalid(e.to_string()))?;
        let item = ConversationMessage {
            conversation: request.conversation.clone(),
            message: InboundMessage {
                attachments: Vec::new(),
                message_id,
                sent_at_ms: now_ms(),
                // On behalf of the requester: their profile and grants apply to the resumed run.
                sender: Sender { id: request.requester_id.clone(), name: "platform".into(), is_bot: false },
                text: format!(
                    "(platform) The administrator approved the tool `{}` for this request. Continue the task you were asked, now using the tool.",
                    request.tool
                ),
                is_direct: true,
                route: request.route.clone(),
            },
        };
        inbound.send_inbound(&InboundEnvelope::ChannelMessage { v: ENVELOPE_VERSION, item }).await?;
        Ok(())
    }
}

/// The audit event and metric of a decided request (approved, rejected or expired).
fn audit_decision(request: &PermissionRequest, how: &str) {
    let c = &request.conversation;
    crate::observe::metrics::count(crate::observe::metrics::Metric::ApprovalsDecided, &c.tenant_id);
    crate::observe::audit::emit(
        crate::observe::audit::AuditKind::ApprovalDecision,
        c,
        serde_json::json!({
            "request_id": request.request_id.as_str(),
            "tool": request.tool,
            "status": request.status,
            "how": how,
        }),
    );
}
