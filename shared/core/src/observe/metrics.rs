//! CloudWatch Embedded Metric Format. One line per metric:
//! `{"_aws":{"Timestamp":…,"CloudWatchMetrics":[{"Namespace":"Clawless","Dimensions":[["Service"]],
//! "Metrics":[{"Name":"MessagesIn","Unit":"Count"}]}]},"Service":"webhook","MessagesIn":1,"tenant_id":"t…"}`.
//!
//! The only dimension is the service (function or agent): a per-tenant dimension would make a
//! metric per tenant, whose number the platform does not bound. The tenant rides along as a
//! property, so Logs Insights can still sum a metric per tenant from the same lines.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::domain::ids::TenantId;
use crate::domain::model::now_ms;

/// The namespace every metric goes to (`CLAWLESS_METRICS_NAMESPACE` overrides it).
pub const DEFAULT_NAMESPACE: &str = "Clawless";

/// The metrics the platform writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A new channel message stored by the webhook.
    MessagesIn,
    /// A message handed to an agent by the dispatcher.
    AgentInvocations,
    /// A reply piece delivered to a channel.
    RepliesOut,
    /// A send to a channel API that failed (permanently or for now).
    ChannelSendErrors,
    /// An agent run finished, and how long it took.
    AgentRuns,
    AgentRunDuration,
    /// Model tokens a run used.
    InputTokens,
    OutputTokens,
    /// A tool call the permission profile refused.
    PermissionDenials,
    /// A permission request decided (approved, rejected or expired).
    ApprovalsDecided,
    /// A channel message the bot's access policy refused (not stored, no agent run).
    AccessRefused,
    /// A message the tenant's spent monthly token budget kept from an agent run.
    BudgetExhausted,
    /// Messages refused for a message rate.
    RateLimited,
    /// Times a message at the concurrent-run cap went round its group to wait.
    RunsWaiting,
    /// Bytes of files people sent, stored for their conversations.
    FileBytesIn,
    /// Bytes of files agents sent, uploaded to chats.
    FileBytesOut,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::MessagesIn => "MessagesIn",
            Metric::AgentInvocations => "AgentInvocations",
            Metric::RepliesOut => "RepliesOut",
            Metric::ChannelSendErrors => "ChannelSendErrors",
            Metric::AgentRuns => "AgentRuns",
            Metric::AgentRunDuration => "AgentRunDuration",
            Metric::InputTokens => "InputTokens",
            Metric::OutputTokens => "OutputTokens",
            Metric::PermissionDenials => "PermissionDenials",
            Metric::ApprovalsDecided => "ApprovalsDecided",
            Metric::AccessRefused => "AccessRefused",
            Metric::BudgetExhausted => "BudgetExhausted",
            Metric::RateLimited => "RateLimited",
            Metric::RunsWaiting => "RunsWaiting",
            Metric::FileBytesIn => "FileBytesIn",
            Metric::FileBytesOut => "FileBytesOut",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::AgentRunDuration => "Milliseconds",
            Metric::FileBytesIn | Metric::FileBytesOut => "Bytes",
            _ => "Count",
        }
    }
}

/// The service name metrics are written under: `CLAWLESS_SERVICE`, else the Lambda function's
/// name, else the program's.
pub fn service() -> &'static str {
    static SERVICE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SERVICE.get_or_init(|| {
        crate::config::optional("CLAWLESS_SERVICE")
            .or_else(|| crate::config::optional("AWS_LAMBDA_FUNCTION_NAME"))
            .or_else(|| std::env::args().next().and_then(|a| a.rsplit('/').next().map(str::to_owned)))
            .unwrap_or_else(|| "clawless".to_owned())
    })
}

/// The namespace, read once per process.
fn namespace() -> &'static str {
    static NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAMESPACE.get_or_init(|| {
        crate::config::optional("CLAWLESS_METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into())
    })
}

/// The EMF line for one value of `metric` at `at_ms`.
pub fn line(
    namespace: &str,
    service: &str,
    metric: Metric,
    value: f64,
    tenant: Option<&TenantId>,
    at_ms: i64,
) -> String {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Service"]],
                "Metrics": [{"Name": metric.name(), "Unit": metric.unit()}],
            }],
        }),
    );
    root.insert("Service".into(), Value::from(service));
    root.insert(metric.name().into(), json!(value));
    if let Some(t) = tenant {
        root.insert("tenant_id".into(), Value::from(t.as_str()));
    }
    Value::Object(root).to_string()
}

/// Writes one value of `metric` (for `tenant`, when it concerns one) as an EMF line on stdout.
pub fn record(metric: Metric, value: f64, tenant: Option<&TenantId>) {
    let line = line(namespace(), service(), metric, value, tenant, now_ms());
    // One write of the whole line, so lines from concurrent tasks never interleave.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Counts one occurrence of `metric`.
pub fn count(metric: Metric, tenant: &TenantId) {
    record(metric, 1.0, Some(tenant));
}

/// A run's model tokens.
pub fn tokens(tenant: &TenantId, input: u64, output: u64) {
    record(Metric::InputTokens, input as f64, Some(tenant));
    record(Metric::OutputTokens, output as f64, Some(tenant));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tenant;

    #[test]
    fn a_line_is_valid_emf_with_the_service_dimension_and_the_tenant_as_a_property() {
        let raw = line("Clawless", "webhook", Metric::MessagesIn, 1.0, Some(&tenant()), 1_763_740_800_000);
        let v: Value = serde_json::from_str(&raw).unwrap();
        let aws = &v["_aws"];
        assert_eq!(aws["Timestamp"], 1_763_740_800_000_i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Clawless");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "MessagesIn", "Unit": "Count"}]));
        // Every dimension and metric named in the directive is a member of the root object.
        assert_eq!(v["Service"], "webhook");
        assert_eq!(v["MessagesIn"], 1.0);
        assert_eq!(v["tenant_id"], tenant().as_str());
        assert!(!raw.contains('\n'), "one line");
    }

    #[test]
    fn durations_are_milliseconds_and_lines_without_a_tenant_have_none() {
        let raw = line("X", "agent", Metric::AgentRunDuration, 1234.0, None, 0);
        let v: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"], "Milliseconds");
        assert_eq!(v["AgentRunDuration"], 1234.0);
        assert!(v.get("tenant_id").is_none());
    }
}
