//! Human approval of tools outside a profile: an agent that needs a tool its profile does not
//! allow asks, the tenant's approver decides in chat, and every step is stored, so a decision
//! survives restarts, redeliveries and double clicks.
//!
//! 1. The agent puts a permission request on the reply queue (it cannot write requests itself);
//!    the reply function checks its scope token, stores a pending [`PermissionRequest`] built from
//!    what it trusts (`crate::reports`, 30 minutes), tells the tenant's approver
//!    ([`ApprovalFlow::notice`]) and creates the one-time timeout schedule.
//! 2. The approver answers in their chat with the bot: `/approve <id> [once [<hash>]|<n>h|always]`,
//!    `/reject <id> [reason]`, `/pending`, typed or by clicking a button under the notice
//!    ([`notice_buttons`]; a click arrives as a message whose text is the button's command). The
//!    notice shows the arguments in full with their hash ([`crate::approvals_notice`]); a request
//!    too long to show cannot be approved, and a hash that is not the request's refuses. The
//!    dispatcher recognises these ([`parse_command`]) and decides ([`ApprovalFlow::handle_command`])
//!    instead of invoking the agent; only the configured approver's verified identity may decide.
//! 3. A decision is one conditional write (`status = pending`, not expired), so double clicks and
//!    redeliveries decide once and a timeout that just fired wins or loses cleanly. Approve once:
//!    the request itself is the grant; the dispatcher marks it used when it hands it to the run
//!    the approval resumes ([`ApprovalStore::consume_once_grant`]), and that run may make exactly
//!    that call for exactly that requester, before the request's expiry. Temporary: a grant item
//!    (at most 24 h, TTL). Persistent: the tool joins the profile in SSM. The requester hears the
//!    outcome, and an approval resumes the run with a platform message in the conversation.
//! 4. The approval-timeout function expires a still-pending request ([`ApprovalFlow::expire`]).
//!
//! Keys: approver `TENANT#{t}`/`APPROVER`; requests `{t}#APPROVAL`/`REQ#{id}`; grants
//! `{t}#GRANT`/`TOOL#{tool}#USER#{channel}:{user}`. An agent's credentials may read its tenant's
//! grants and nothing else here: no approver, request or grant is written by an agent.

pub mod caps;
pub mod commands;
pub mod flow;
pub mod grants;
pub mod notice;
pub mod wording;

use serde::{Deserialize, Serialize};

pub use commands::{ApprovalCommand, ApproverConfig, Scope, USAGE, command_verb, parse_command};
pub use flow::{ApprovalFlow, ApprovalPorts, CommandOutcome};
pub use grants::{Decided, Grant, consume_once_grant, once_grant_usable};
pub use notice::{notice_buttons, notice_text};
pub use wording::{NoticeSettings, NoticeTemplate, NoticeWording};

use crate::domain::envelope::{AgentReport, ReplyEnvelope};
use crate::domain::profiles::ProfileStoreError;
use crate::domain::scope::ScopeError;
use crate::ports::{QueueError, StoreError};

/// Message ids of the platform messages that resume an approved run end with this.
pub const RESUME_SUFFIX: &str = "-resume";

/// Longest temporary approval.
pub const MAX_TEMPORARY_HOURS: u32 = 24;

/// Most requests `/pending` shows in full (oldest first), one message each.
pub const MAX_PENDING_LISTED: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Profiles(#[from] ProfileStoreError),
    #[error("EventBridge Scheduler {operation} failed: {detail}")]
    Schedule { operation: &'static str, detail: String },
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("{0}")]
    Invalid(String),
}

/// What the reply queue carries: an agent's report (tagged with `kind`), or a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplyQueueMessage {
    Report(AgentReport),
    Reply(ReplyEnvelope),
}
