//! Expires a permission request if it is still pending (a conditional write, so a decision that
//! just landed wins) and tells both sides. A request already decided, or gone, is left alone.

use clawless_core::approvals::{ApprovalFlow, Decided};
use clawless_core::config::PlatformConfig;
use clawless_core::domain::ids::TenantId;
use lambda_runtime::{Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeoutEvent {
    ApprovalTimeout { tenant_id: TenantId, request_id: String },
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TimeoutOutcome {
    /// `expired`, `already_decided` or `not_found`.
    pub outcome: &'static str,
    pub request_id: String,
}

pub async fn build() -> Result<ApprovalFlow, Error> {
    let platform = PlatformConfig::from_env()?;
    let aws = clawless_aws::sdk::load_sdk_config().await;
    let flow = clawless_aws::wiring::approval_flow_from_env(&aws, &platform)?;
    // Every event of this function uses the clients: build them during init, not on the first event.
    flow.ports();
    Ok(flow)
}

/// Checks the event before anything is read: a malformed id changes nothing.
pub fn validate(event: TimeoutEvent) -> Result<(TenantId, String), Error> {
    let TimeoutEvent::ApprovalTimeout { tenant_id, request_id } = event;
    if request_id.is_empty() || request_id.len() > 64 || !request_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("invalid request id {:?}", request_id.chars().take(80).collect::<String>()).into());
    }
    Ok((tenant_id, request_id))
}

pub async fn handle(flow: &ApprovalFlow, event: LambdaEvent<TimeoutEvent>) -> Result<TimeoutOutcome, Error> {
    let (tenant_id, request_id) = validate(event.payload)?;
    let outcome = match flow.expire(&tenant_id, &request_id).await? {
        Decided::Now(_) => "expired",
        Decided::Already(_) | Decided::Expired(_) => "already_decided",
        Decided::NotFound => {
            tracing::warn!(event = "approval_timeout_unknown", %tenant_id, %request_id, "no such request");
            "not_found"
        }
    };
    Ok(TimeoutOutcome { outcome, request_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_event_parses_and_bad_ids_are_refused() {
        let raw = include_str!("../../../events/approval-timeout.json");
        let event: TimeoutEvent = serde_json::from_str(raw).unwrap();
        let (tenant, id) = validate(event).unwrap();
        assert_eq!(tenant.as_str(), "t0123456789abcdef0123");
        assert_eq!(id, "pr0123456789abcdef0123");
        let bad: TimeoutEvent = serde_json::from_value(serde_json::json!({
            "kind": "approval_timeout", "tenant_id": "t0123456789abcdef0123", "request_id": "../x"
        }))
        .unwrap();
        assert!(validate(bad).is_err());
        let forged = serde_json::from_value::<TimeoutEvent>(serde_json::json!({
            "kind": "approval_timeout", "tenant_id": "other", "request_id": "pr1"
        }));
        assert!(forged.is_err(), "tenant ids are parsed");
    }
}
