//! What operators see besides logs: CloudWatch metrics written as Embedded Metric Format lines
//! ([`metrics`]) and per-tenant audit events ([`audit`]). Both are single JSON lines on stdout,
//! which Lambda and AgentCore ship to CloudWatch Logs; CloudWatch turns the metric lines into
//! metrics without a `PutMetricData` call (nothing to wait for, nothing to grant).

pub mod audit;
pub mod metrics;

/// The current X-Ray trace id, as the Lambda runtime sets it for the invocation being handled
/// (`None` outside Lambda, or when tracing is off).
pub fn trace_id() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID").ok().filter(|v| !v.is_empty())
}
