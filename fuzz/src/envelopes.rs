//! What trusted code decodes from queues, AgentCore and EventBridge Scheduler: the inbound
//! queue's envelope (dispatcher), the reply queue's messages (a reply or an agent's report,
//! reply function), the AgentCore invocation (agent), the scheduler's event (scheduler function)
//! and the agent's acknowledgement (dispatcher).
//!
//! Input: the JSON body, tried as each of them. Checked besides "no panic": whatever decodes
//! encodes to JSON that decodes to the same value (a message re-queued, or redriven from a DLQ,
//! reads as it did), and the ids derived from it can be computed.

use std::fmt::Debug;

use clawless_core::approvals::ReplyQueueMessage;
use clawless_core::domain::envelope::{AgentAck, AgentInvocation, InboundEnvelope};
use clawless_core::tasks::firing::SchedulerEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes `data` as a `T`; if it decodes, checks that it survives a second trip through JSON.
fn decode<T: DeserializeOwned + Serialize + PartialEq + Debug>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_string(&value).expect("a decoded value encodes");
    let again = serde_json::from_str::<T>(&json);
    assert_eq!(
        again.as_ref().ok(),
        Some(&value),
        "{} does not decode as it was encoded: {json}",
        std::any::type_name::<T>()
    );
    Some(value)
}

pub fn envelopes(data: &[u8]) {
    if let Some(inbound) = decode::<InboundEnvelope>(data) {
        let _ = inbound.dedup_id();
        let item = inbound.item();
        let _ = item.conversation.runtime_session_id();
        let _ = item.conversation.message_group_id();
    }
    if let Some(message) = decode::<ReplyQueueMessage>(data) {
        match message {
            ReplyQueueMessage::Reply(reply) => {
                let _ = reply.dedup_id();
                let _ = reply.reply_id();
            }
            ReplyQueueMessage::Report(report) => {
                let _ = report.claim();
            }
        }
    }
    if let Some(invocation) = decode::<AgentInvocation>(data) {
        let _ = invocation.item.conversation.runtime_session_id();
    }
    let _ = decode::<SchedulerEvent>(data);
    let _ = decode::<AgentAck>(data);
}
