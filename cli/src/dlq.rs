//! The stack's dead-letter queues as an operator sees them: `clawless dlq list` (depths and a
//! look at the first messages) and `clawless dlq redrive` (back to the source queue once the
//! cause is fixed). Queues are found by the names template.yaml gives them, as the other verbs
//! find the table; the same code runs against AWS and the local stack.
//!
//! A message is shown by its SQS attributes and a summary of ids only. Bodies hold what must not
//! reach a terminal or a log: inbound envelopes carry a person's text, replies and task firings a
//! scope token, and reply bodies are written by agents, which are not trusted. So the summary
//! takes a fixed set of fields, each kept only if it parses as the id it claims to be.

use clawless_aws::sqs::SqsClient;
use clawless_aws::sqs_dlq::{DeadMessage, DlqError, MoveOutcome, NamedQueue};
use clawless_core::domain::ids::{BotId, MessageId, RequestId, TaskId, TenantId};
use clawless_core::domain::model::ChannelKind;
use serde::Serialize;
use serde_json::Value;

/// Most messages `dlq list` shows per queue, and `dlq redrive --dry-run` lists.
pub const MAX_SHOWN: usize = 100;

/// The stack's dead-letter queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlqKind {
    Inbound,
    Reply,
    Schedule,
}

impl DlqKind {
    pub const ALL: [DlqKind; 3] = [DlqKind::Inbound, DlqKind::Reply, DlqKind::Schedule];

    pub fn as_str(self) -> &'static str {
        match self {
            DlqKind::Inbound => "inbound",
            DlqKind::Reply => "reply",
            DlqKind::Schedule => "schedule",
        }
    }

    /// The DLQ's name (template.yaml's `QueueName`).
    pub fn name(self, stack: &str) -> String {
        match self {
            DlqKind::Inbound => format!("{stack}-inbound-dlq.fifo"),
            DlqKind::Reply => format!("{stack}-reply-dlq.fifo"),
            DlqKind::Schedule => format!("{stack}-schedule-dlq"),
        }
    }

    /// The queue whose redrive policy sends messages here. The schedule DLQ has none: EventBridge
    /// Scheduler and Lambda's asynchronous invocations put messages there.
    pub fn source_name(self, stack: &str) -> Option<String> {
        match self {
            DlqKind::Inbound => Some(RedriveQueue::Inbound.source_name(stack)),
            DlqKind::Reply => Some(RedriveQueue::Reply.source_name(stack)),
            DlqKind::Schedule => None,
        }
    }
}

/// The DLQs `dlq redrive` moves back: those with a source queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedriveQueue {
    Inbound,
    Reply,
}

impl RedriveQueue {
    pub fn kind(self) -> DlqKind {
        match self {
            RedriveQueue::Inbound => DlqKind::Inbound,
            RedriveQueue::Reply => DlqKind::Reply,
        }
    }

    fn source_name(self, stack: &str) -> String {
        match self {
            RedriveQueue::Inbound => format!("{stack}-inbound.fifo"),
            RedriveQueue::Reply => format!("{stack}-reply.fifo"),
        }
    }
}

/// Parses `dlq redrive --queue`.
pub fn parse_redrive_queue(raw: &str) -> Result<RedriveQueue, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "inbound" => Ok(RedriveQueue::Inbound),
        "reply" => Ok(RedriveQueue::Reply),
        "schedule" => Err("the schedule DLQ has no source queue to move its messages back to (task firings and \
             approval timeouts that did not run): read them with `clawless dlq list`; accepted values: inbound, reply"
            .into()),
        _ => Err("accepted values: inbound, reply".into()),
    }
}

/// The ids a queue body names, nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `channel_message`, `scheduled_task`, `reply`, `permission_request`, `run_report`,
    /// `approval_timeout`, `unknown`, or `unreadable` (not JSON).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The inbound message (a channel message or a task firing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The message a reply, report or permission request answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A failed asynchronous invocation (schedule DLQ): which function, and Lambda's condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

const KINDS: [&str; 5] = ["channel_message", "scheduled_task", "permission_request", "run_report", "approval_timeout"];

fn field<'a>(body: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(body, |v, key| v.get(key))?.as_str()
}

/// A short name made of letters, digits, `-` and `_` only (Lambda function names, conditions).
fn plain_name(value: Option<&str>) -> Option<String> {
    value
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
}

/// The summary of a queue body; never any of its text, tokens or names.
pub fn summarize(body: &str) -> Summary {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Summary { kind: "unreadable", ..Summary::default() };
    };
    // Lambda's record of a failed asynchronous invocation carries the event it was given.
    if let Some(payload) = value.get("requestPayload") {
        let mut summary = summarize_envelope(payload);
        let function = field(&value, &["requestContext", "functionArn"]).and_then(|arn| arn.split(':').nth(6));
        summary.failed_function = plain_name(function);
        summary.condition = plain_name(field(&value, &["requestContext", "condition"]));
        return summary;
    }
    summarize_envelope(&value)
}

fn summarize_envelope(value: &Value) -> Summary {
    let kind = match field(value, &["kind"]) {
        Some(kind) => KINDS.into_iter().find(|k| *k == kind).unwrap_or("unknown"),
        None if value.get("in_reply_to").is_some() && value.get("seq").is_some() => "reply",
        None => "unknown",
    };
    // A permission request names its conversation inside the request.
    let at = |key: &str| field(value, &[key]).or_else(|| field(value, &["request", key]));
    Summary {
        kind,
        tenant_id: at("tenant_id").and_then(|v| TenantId::parse(v).ok()).map(|v| v.to_string()),
        bot_id: at("bot_id").and_then(|v| BotId::parse(v).ok()).map(|v| v.to_string()),
        channel: at("channel").and_then(|v| v.parse::<ChannelKind>().ok()).map(|v| v.to_string()),
        message_id: field(value, &["message", "message_id"])
            .and_then(|v| MessageId::parse(v).ok())
            .map(|v| v.to_string()),
        in_reply_to: at("in_reply_to").and_then(|v| MessageId::parse(v).ok()).map(|v| v.to_string()),
        seq: value.get("seq").and_then(Value::as_u64),
        task_id: at("task_id").and_then(|v| TaskId::parse(v).ok()).map(|v| v.to_string()),
        request_id: at("request_id").and_then(|v| RequestId::parse(v).ok()).map(|v| v.to_string()),
        failed_function: None,
        condition: None,
    }
}

impl Summary {
    pub fn describe(&self) -> String {
        let mut parts = vec![self.kind.to_owned()];
        let named = [
            ("tenant", &self.tenant_id),
            ("bot", &self.bot_id),
            ("channel", &self.channel),
            ("message", &self.message_id),
            ("in reply to", &self.in_reply_to),
            ("task", &self.task_id),
            ("request", &self.request_id),
            ("failed in", &self.failed_function),
            ("condition", &self.condition),
        ];
        for (name, value) in named {
            if let Some(value) = value {
                parts.push(format!("{name} {value}"));
            }
        }
        if let Some(seq) = self.seq {
            parts.push(format!("seq {seq}"));
        }
        parts.join("  ")
    }
}

/// One message as `dlq list` and `dlq redrive` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownMessage {
    pub message_id: String,
    pub group_id: Option<String>,
    pub sent_at_ms: Option<i64>,
    /// `sent_at_ms` in RFC 3339 (UTC).
    pub sent_at: Option<String>,
    pub receive_count: Option<u32>,
    pub summary: Summary,
}

impl ShownMessage {
    fn of(m: &DeadMessage) -> Self {
        Self {
            message_id: m.message_id.clone(),
            group_id: m.group_id.clone(),
            sent_at_ms: m.sent_at_ms,
            sent_at: m.sent_at_ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()).map(|t| t.to_string()),
            receive_count: m.receive_count,
            summary: summarize(m.body()),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}  group {}  sent {}  received {}  {}",
            self.message_id,
            self.group_id.as_deref().unwrap_or("-"),
            self.sent_at.as_deref().unwrap_or("-"),
            self.receive_count.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            self.summary.describe()
        )
    }
}

/// One DLQ in `dlq list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownQueue {
    /// `inbound`, `reply` or `schedule`.
    pub queue: &'static str,
    pub name: String,
    /// The queue it is the DLQ of (none for the schedule DLQ).
    pub source: Option<String>,
    /// Approximate number of messages waiting (`ApproximateNumberOfMessages`).
    pub depth: u64,
    /// Approximate number hidden at the moment (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    pub messages: Vec<ShownMessage>,
}

/// One message in `dlq redrive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedrivenMessage {
    #[serde(flatten)]
    pub message: ShownMessage,
    /// `moved`, `would_move` (dry run), `not_sent`, `not_deleted` or `held_back`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `dlq redrive` did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redrive {
    pub queue: &'static str,
    pub name: String,
    pub source: String,
    pub dry_run: bool,
    /// Approximate number of messages waiting before the run.
    pub depth: u64,
    pub moved: usize,
    pub failed: usize,
    pub messages: Vec<RedrivenMessage>,
}

pub struct Dlq {
    client: SqsClient,
    stack: String,
}

impl Dlq {
    pub fn new(sdk: &aws_config::SdkConfig, stack: &str) -> Self {
        Self { client: SqsClient::new(sdk), stack: stack.to_owned() }
    }

    /// Each DLQ's depth and up to `limit` of its messages, left where they are.
    pub async fn list(&self, limit: usize) -> Result<Vec<ShownQueue>, DlqError> {
        let mut queues = Vec::new();
        for kind in DlqKind::ALL {
            let queue = NamedQueue::resolve(&self.client, &kind.name(&self.stack)).await?;
            let depth = queue.depth().await?;
            // An empty queue is not received from (a receive waits for the long-polling second).
            let messages = if depth.visible == 0 { Vec::new() } else { queue.peek(limit.min(MAX_SHOWN)).await? };
            queues.push(ShownQueue {
                queue: kind.as_str(),
                name: queue.name().to_owned(),
                source: kind.source_name(&self.stack),
                depth: depth.visible,
                in_flight: depth.in_flight,
                messages: messages.iter().map(ShownMessage::of).collect(),
            });
        }
        Ok(queues)
    }

    /// Moves every message of the `queue` DLQ back to its source queue; with `dry_run`, lists
    /// (up to [`MAX_SHOWN`]) what would move and changes nothing.
    pub async fn redrive(&self, queue: RedriveQueue, dry_run: bool) -> Result<Redrive, DlqError> {
        let kind = queue.kind();
        let dlq = NamedQueue::resolve(&self.client, &kind.name(&self.stack)).await?;
        let source = NamedQueue::resolve(&self.client, &queue.source_name(&self.stack)).await?;
        let depth = dlq.depth().await?.visible;
        let messages: Vec<RedrivenMessage> = if dry_run {
            let peeked = if depth == 0 { Vec::new() } else { dlq.peek(MAX_SHOWN).await? };
            peeked
                .iter()
                .map(|m| RedrivenMessage { message: ShownMessage::of(m), outcome: "would_move", error: None })
                .collect()
        } else {
            dlq.redrive_to(&source)
                .await?
                .iter()
                .map(|(m, outcome)| {
                    let (outcome, error) = match outcome {
                        MoveOutcome::Moved => ("moved", None),
                        MoveOutcome::NotSent(e) => ("not_sent", Some(e.clone())),
                        MoveOutcome::NotDeleted(e) => ("not_deleted", Some(e.clone())),
                        MoveOutcome::HeldBack => {
                            ("held_back", Some("an earlier message of its group was not sent".to_owned()))
                        }
                    };
                    RedrivenMessage { message: ShownMessage::of(m), outcome, error }
                })
                .collect()
        };
        let moved = messages.iter().filter(|m| m.outcome == "moved").count();
        let failed = messages.iter().filter(|m| !matches!(m.outcome, "moved" | "would_move")).count();
        Ok(Redrive {
            queue: kind.as_str(),
            name: dlq.name().to_owned(),
            source: source.name().to_owned(),
            dry_run,
            depth,
            moved,
            failed,
            messages,
        })
    }
}

pub fn describe_list(queues: &[ShownQueue]) -> String {
    let mut lines = Vec::new();
    for q in queues {
        lines.push(format!("{}  {}  depth {}  in flight {}", q.queue, q.name, q.depth, q.in_flight));
        lines.extend(q.messages.iter().map(|m| format!("  {}", m.describe())));
    }
    lines.join("\n")
}

pub fn describe_redrive(r: &Redrive) -> String {
    let mut lines: Vec<String> = r
        .messages
        .iter()
        .map(|m| match &m.error {
            Some(error) => format!("{}  {}: {error}", m.outcome, m.message.describe()),
            None => format!("{}  {}", m.outcome, m.message.describe()),
        })
        .collect();
    lines.push(if r.dry_run {
        format!(
            "dry run: {} message(s) in {} would move to {} ({} listed); nothing changed",
            r.depth,
            r.name,
            r.source,
            r.messages.len()
        )
    } else {
        format!("{} moved from {} to {}, {} failed", r.moved, r.name, r.source, r.failed)
    });
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "t0123456789abcdef0123";
    const BOT: &str = "b0123456789abcdef0123";

    #[test]
    fn an_inbound_message_is_summarised_without_its_text() {
        let body = serde_json::json!({"kind": "channel_message", "v": 1, "tenant_id": TENANT, "bot_id": BOT,
            "channel": "telegram", "conversation_id": "4242", "message": {"message_id": "100001", "sent_at_ms": 1,
            "sender": {"id": "4242", "name": "Ada", "is_bot": false}, "text": "my private words", "is_direct": true,
            "route": {"channel": "telegram", "chat_id": 4242}}});
        let summary = summarize(&body.to_string());
        assert_eq!(summary.kind, "channel_message");
        assert_eq!(summary.tenant_id.as_deref(), Some(TENANT));
        assert_eq!(summary.bot_id.as_deref(), Some(BOT));
        assert_eq!(summary.channel.as_deref(), Some("telegram"));
        assert_eq!(summary.message_id.as_deref(), Some("100001"));
        let shown = serde_json::to_string(&summary).unwrap() + &summary.describe();
        assert!(!shown.contains("private") && !shown.contains("Ada") && !shown.contains("4242"), "{shown}");
    }

    #[test]
    fn a_reply_is_summarised_without_its_token_and_forged_ids_are_dropped() {
        let body = serde_json::json!({"v": 1, "tenant_id": TENANT, "bot_id": "b-not-an-id-v1.secret",
            "channel": "telegram", "conversation_id": "4242", "in_reply_to": "100001", "in_reply_to_at_ms": 1,
            "seq": 2, "text": "the answer", "route": {"channel": "telegram", "chat_id": 4242},
            "scope": "v1.c2VjcmV0LXRva2Vu", "kind_of": "x"});
        let summary = summarize(&body.to_string());
        assert_eq!(summary.kind, "reply");
        assert_eq!((summary.in_reply_to.as_deref(), summary.seq), (Some("100001"), Some(2)));
        assert_eq!(summary.bot_id, None, "an id that does not parse is not shown");
        let shown = serde_json::to_string(&summary).unwrap() + &summary.describe();
        assert!(!shown.contains("secret") && !shown.contains("c2Vj") && !shown.contains("answer"), "{shown}");
    }

    #[test]
    fn schedule_dlq_bodies_are_summarised() {
        let firing = serde_json::json!({"kind": "scheduled_task", "v": 1, "tenant_id": TENANT, "bot_id": BOT,
            "task_id": "k0123456789abcdef0123", "scope": "v1.token"});
        let summary = summarize(&firing.to_string());
        assert_eq!((summary.kind, summary.task_id.as_deref()), ("scheduled_task", Some("k0123456789abcdef0123")));
        let failure = serde_json::json!({"version": "1.0", "requestContext": {"requestId": "r",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:clawless-approval-timeout:$LATEST",
            "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": {"kind": "approval_timeout", "tenant_id": TENANT, "request_id": "pr0123456789abcdef0123"},
            "responsePayload": {"errorMessage": "boom v1.token"}});
        let summary = summarize(&failure.to_string());
        assert_eq!(summary.kind, "approval_timeout");
        assert_eq!(summary.request_id.as_deref(), Some("pr0123456789abcdef0123"));
        assert_eq!(summary.failed_function.as_deref(), Some("clawless-approval-timeout"));
        assert_eq!(summary.condition.as_deref(), Some("RetriesExhausted"));
        assert!(!summary.describe().contains("boom"));
        assert_eq!(summarize("not json").kind, "unreadable");
        assert_eq!(summarize(r#"{"kind":"rm -rf"}"#).kind, "unknown");
    }

    #[test]
    fn redrive_queues_parse_with_clear_errors() {
        assert_eq!(parse_redrive_queue("inbound"), Ok(RedriveQueue::Inbound));
        assert_eq!(parse_redrive_queue("Reply"), Ok(RedriveQueue::Reply));
        assert!(parse_redrive_queue("schedule").unwrap_err().contains("no source queue"));
        assert!(parse_redrive_queue("outbound").unwrap_err().contains("inbound, reply"));
        assert_eq!(DlqKind::Inbound.name("s"), "s-inbound-dlq.fifo");
        assert_eq!(DlqKind::Reply.source_name("s").as_deref(), Some("s-reply.fifo"));
    }
}
