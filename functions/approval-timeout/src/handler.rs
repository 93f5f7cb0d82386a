//! Skeleton: validates the Scheduler input. Expiring the request (a conditional write that only
//! rejects a still-pending request) is not built yet; the handler says so instead of pretending.

use clawless_shared::ids::TenantId;
use lambda_runtime::{Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeoutEvent {
    ApprovalTimeout { tenant_id: TenantId, request_id: String },
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TimeoutOutcome {
    pub outcome: &'static str,
    pub request_id: String,
}

pub async fn handle(event: LambdaEvent<TimeoutEvent>) -> Result<TimeoutOutcome, Error> {
    let TimeoutEvent::ApprovalTimeout { tenant_id, request_id } = event.payload;
    if request_id.is_empty() || request_id.len() > 64 || !request_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("invalid request id {request_id:?}").into());
    }
    tracing::warn!(%tenant_id, %request_id, event = "approval_timeout_not_built", "approval requests are not implemented yet");
    Ok(TimeoutOutcome { outcome: "not_implemented", request_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sample_event_parses_and_is_reported_as_not_built() {
        let raw = include_str!("../../../events/approval-timeout.json");
        let event: TimeoutEvent = serde_json::from_str(raw).unwrap();
        let out = handle(LambdaEvent::new(event, Default::default())).await.unwrap();
        assert_eq!(out.outcome, "not_implemented");
    }

    #[test]
    fn forged_tenant_ids_do_not_parse() {
        let raw = r#"{"kind":"approval_timeout","tenant_id":"../x","request_id":"r1"}"#;
        assert!(serde_json::from_str::<TimeoutEvent>(raw).is_err());
    }
}
