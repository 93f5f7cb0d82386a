//! Grants: what a decision lets a run do, and handing an approve-once decision to exactly one run.

use super::ApprovalError;
use crate::domain::envelope::OnceGrant;
use crate::domain::ids::ConversationRef;
use crate::domain::permissions::{PermissionRequest, RequestStatus};
use crate::ports::ApprovalRepo;

/// A grant the agent found for a call outside the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The approve-once decision the dispatcher handed this run, for exactly these arguments.
    Once { request_id: String },
    /// A temporary approval of the tool for this user.
    Temporary { request_id: String, expires_at_ms: i64 },
}

/// Whether `request` is an approve-once decision that `requester` may still use: approved once,
/// not used by another message than `message_id`, and its request not expired. The grant is
/// the requester's alone, and it lasts no longer than the request it answers.
pub fn once_grant_usable(request: &PermissionRequest, requester: &str, message_id: &str, now: i64) -> bool {
    request.status == RequestStatus::Approved
        && request.decision.as_ref().is_some_and(|d| d.how == "once")
        && request.requester_id == requester
        && now < request.expires_at_ms
        && match (&request.used_at_ms, &request.used_by) {
            (None, _) => true,
            (Some(_), Some(by)) => by == message_id,
            (Some(_), None) => false,
        }
}

/// How a decision attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// This attempt decided it.
    Now(PermissionRequest),
    /// Decided before (double click, redelivery, timeout first).
    Already(PermissionRequest),
    /// Still pending but past its expiry: refused.
    Expired(PermissionRequest),
    NotFound,
}

/// Hands the approve-once decision of `request_id` to the run that answers `message_id` (the
/// platform message that resumes it, on behalf of `requester` in `conversation`): marks it used
/// by that message, in one conditional write, so it reaches one run however often the message
/// is redelivered. `None` if there is nothing usable.
pub async fn consume_once_grant(
    repo: &dyn ApprovalRepo,
    conversation: &ConversationRef,
    request_id: &str,
    requester: &str,
    message_id: &str,
    now: i64,
) -> Result<Option<OnceGrant>, ApprovalError> {
    let tenant = &conversation.tenant_id;
    let Some(request) = repo.request(tenant, request_id).await? else { return Ok(None) };
    if request.conversation != *conversation || !once_grant_usable(&request, requester, message_id, now) {
        return Ok(None);
    }
    if !repo.mark_once_used(tenant, request_id, message_id, now).await? {
        return Ok(None);
    }
    Ok(Some(OnceGrant {
        request_id: request.request_id.to_string(),
        tool: request.tool,
        arguments_hash: request.arguments_hash,
        requester_id: request.requester_id,
    }))
}
