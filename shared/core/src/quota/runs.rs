//! Agent runs under way at once per tenant (`concurrent_runs`).
//!
//! A run holds a slot from its invocation until its final answer or run report frees it (the
//! reply function, [`crate::ports::LimitRepo::release_run`]), or until the agent's run time limit
//! and a margin ([`RunSettings::slot`]) have passed, whichever comes first: a microVM that dies
//! mid-run frees its slot by time. Slots are kept per conversation: a message for a conversation
//! whose run is under way joins that run (its agent takes it next), so it takes no second slot,
//! and the slot then waits for the newest message handed over.
//!
//! All slots of a tenant are one item (`{tenant}#USAGE` / `RUNS`), read strongly consistent and
//! written whole on the version read, so two dispatchers never both take the last slot.
//!
//! At the cap a message is not dropped and not failed towards the DLQ: the dispatcher waits a
//! little for a slot ([`RunSettings::wait`], polling), then puts the message back at the end of
//! its FIFO group as a new queue message and acknowledges the old one. The conversation is marked
//! waiting with that message's sort key, so its later messages go round behind it instead of
//! overtaking it when a slot frees; a mark older than [`RunSettings::stale_wait`] (its message
//! was refused or lost meanwhile) holds nothing back. Conversations of one tenant get free slots
//! in no promised order.
//!
//! An agent can end its own conversation's slot early with a run report (its scope token names
//! only that conversation), never another's.

use std::time::Duration;

use super::Quotas;
use crate::approvals::ApprovalError;
use crate::domain::envelope::InboundEnvelope;
use crate::domain::ids::{ConversationRef, short_digest};
use crate::domain::model::now_ms;
use crate::domain::records::inbound_sort_key;
use crate::domain::usage::{RunSlot, RunSlots, WaitingRun};
use crate::observe::{audit, metrics};

/// How long slots are held and how a message at the cap waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// The longest a run holds its slot: the agent's run time limit and a margin.
    pub slot: Duration,
    /// How long the dispatcher waits for a slot before the message goes round its group.
    pub wait: Duration,
    /// How often it looks while it waits.
    pub poll: Duration,
    /// A waiting mark this old no longer holds back its conversation's later messages.
    pub stale_wait: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            slot: Duration::from_secs(330),
            wait: Duration::from_secs(4),
            poll: Duration::from_secs(1),
            stale_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// Whether a message may be handed to an agent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCheck {
    /// A slot is held for it (or the tenant has no cap).
    Go,
    /// At the cap: queued again at the end of its group; nothing stored, nothing run.
    Waiting,
}

/// The key of a conversation's slot in its tenant's item.
pub fn conversation_digest(conversation: &ConversationRef) -> String {
    short_digest(&[&conversation.partition_key()])
}

/// The message taking its turn: its conversation's digest, its id and its sort key.
struct Turn<'a> {
    conversation: &'a str,
    message_id: &'a str,
    key: &'a str,
}

/// What one look at the slots decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    Taken,
    Full,
    /// An earlier message of the conversation waits: this one goes behind it at once.
    Behind,
}

/// One message's turn at the slots, `now`: the decision, and whether `slots` changed (to write).
/// - an earlier message of the conversation waiting (a fresh mark) → `Behind`;
/// - the conversation holds a slot, or one is free → `Taken` (slot until `until`), its waiting
///   mark gone if it was this message's;
/// - else `Full`, and the conversation marked waiting with this message unless marked already.
///
/// Slots past their time and stale marks are dropped on the way.
fn take(slots: &mut RunSlots, turn: &Turn<'_>, until: i64, cap: u32, settings: &RunSettings, now: i64) -> (Take, bool) {
    let stale_ms = i64::try_from(settings.stale_wait.as_millis()).unwrap_or(i64::MAX);
    let before = (slots.runs.len(), slots.waiting.len());
    slots.runs.retain(|_, run| run.until_ms > now);
    slots.waiting.retain(|_, w| now.saturating_sub(w.since_ms) < stale_ms);
    let mut changed = before != (slots.runs.len(), slots.waiting.len());
    let waiting = slots.waiting.get(turn.conversation).map(|w| w.sort_key.clone());
    if waiting.as_deref().is_some_and(|w| w < turn.key) {
        return (Take::Behind, changed);
    }
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    if slots.runs.contains_key(turn.conversation) || slots.runs.len() < cap {
        slots
            .runs
            .insert(turn.conversation.to_owned(), RunSlot { message_id: turn.message_id.to_owned(), until_ms: until });
        if waiting.as_deref() == Some(turn.key) {
            slots.waiting.remove(turn.conversation);
        }
        return (Take::Taken, true);
    }
    if waiting.is_none() {
        slots.waiting.insert(turn.conversation.to_owned(), WaitingRun { sort_key: turn.key.to_owned(), since_ms: now });
        changed = true;
    }
    (Take::Full, changed)
}

/// Attempts at one look when other dispatchers keep writing the item first.
const CONFLICT_ATTEMPTS: usize = 8;

impl Quotas {
    /// Holds a run slot for `envelope`'s message, waiting a little at the cap; past the wait the
    /// message goes round its FIFO group ([`RunCheck::Waiting`]).
    pub async fn take_run_slot(&self, envelope: &InboundEnvelope) -> Result<RunCheck, ApprovalError> {
        let item = envelope.item();
        let c = &item.conversation;
        let Some(cap) = self.quota(&c.tenant_id).await?.concurrent_runs else { return Ok(RunCheck::Go) };
        let key = inbound_sort_key(item.message.sent_at_ms, item.message.message_id.as_str());
        let started = tokio::time::Instant::now();
        let outcome = loop {
            let outcome = self.look(c, item.message.message_id.as_str(), &key, cap).await?;
            if outcome != Take::Full || started.elapsed() + self.runs.poll > self.runs.wait {
                break outcome;
            }
            tokio::time::sleep(self.runs.poll).await;
        };
        if outcome == Take::Taken {
            return Ok(RunCheck::Go);
        }
        let Some(inbound) = &self.flow.ports().inbound else {
            return Err(ApprovalError::Invalid("no inbound queue to put a waiting message back on".into()));
        };
        inbound.send_inbound_again(envelope, &now_ms().to_string()).await?;
        tracing::info!(event = "run_waiting", tenant_id = %c.tenant_id, bot_id = %c.bot_id, message_id = %item.message.message_id, cap, behind = outcome == Take::Behind);
        metrics::count(metrics::Metric::RunsWaiting, &c.tenant_id);
        audit::emit(
            audit::AuditKind::RunWaiting,
            c,
            serde_json::json!({"message_id": item.message.message_id.as_str(), "concurrent_runs": cap}),
        );
        Ok(RunCheck::Waiting)
    }

    /// One look at the tenant's slots, written back when it changed them (retried on a conflict).
    async fn look(&self, c: &ConversationRef, message_id: &str, key: &str, cap: u32) -> Result<Take, ApprovalError> {
        let conversation = conversation_digest(c);
        let slot_ms = i64::try_from(self.runs.slot.as_millis()).unwrap_or(i64::MAX);
        for _ in 0..CONFLICT_ATTEMPTS {
            let mut slots = self.limits.run_slots(&c.tenant_id).await?;
            let now = now_ms();
            let turn = Turn { conversation: &conversation, message_id, key };
            let (outcome, changed) = take(&mut slots, &turn, now.saturating_add(slot_ms), cap, &self.runs, now);
            if !changed || self.limits.put_run_slots(&c.tenant_id, &slots).await? {
                return Ok(outcome);
            }
        }
        // Others kept writing first: the slots are busy, so this one waits.
        Ok(Take::Full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn settings() -> RunSettings {
        RunSettings::default()
    }

    fn turn(slots: &mut RunSlots, conversation: &str, key: &str, cap: u32) -> (Take, bool) {
        let message_id = format!("m-{key}");
        take(slots, &Turn { conversation, message_id: &message_id, key }, NOW + 330_000, cap, &settings(), NOW)
    }

    #[test]
    fn slots_are_taken_up_to_the_cap_and_a_running_conversation_needs_none() {
        let mut slots = RunSlots::default();
        assert_eq!(turn(&mut slots, "a", "1", 2), (Take::Taken, true));
        assert_eq!(turn(&mut slots, "b", "1", 2), (Take::Taken, true));
        assert_eq!(turn(&mut slots, "c", "1", 2), (Take::Full, true));
        assert_eq!(slots.waiting["c"].sort_key, "1");
        // Already marked: nothing to write.
        assert_eq!(turn(&mut slots, "c", "1", 2), (Take::Full, false));
        // `a` is running: its next message joins, and the slot waits for that message.
        assert_eq!(turn(&mut slots, "a", "2", 2), (Take::Taken, true));
        assert_eq!(slots.runs["a"].message_id, "m-2");
        assert_eq!(slots.runs.len(), 2);
    }

    #[test]
    fn a_later_message_waits_behind_an_earlier_one_even_when_a_slot_frees() {
        let mut slots = RunSlots::default();
        turn(&mut slots, "a", "1", 1);
        assert_eq!(turn(&mut slots, "b", "1", 1), (Take::Full, true));
        slots.runs.clear();
        // `b`'s second message finds a free slot but its first waits: behind it.
        assert_eq!(turn(&mut slots, "b", "2", 1), (Take::Behind, false));
        // The first takes it, and the mark goes.
        assert_eq!(turn(&mut slots, "b", "1", 1), (Take::Taken, true));
        assert!(slots.waiting.is_empty());
        assert_eq!(turn(&mut slots, "b", "2", 1), (Take::Taken, true));
    }

    #[test]
    fn slots_past_their_time_and_stale_marks_free_themselves() {
        let mut slots = RunSlots::default();
        slots.runs.insert("a".into(), RunSlot { message_id: "m".into(), until_ms: NOW });
        slots.waiting.insert("b".into(), WaitingRun { sort_key: "1".into(), since_ms: NOW - 15 * 60_000 });
        // `a`'s run is past its limit, `b`'s mark is stale: `b`'s later message runs.
        assert_eq!(turn(&mut slots, "b", "2", 1), (Take::Taken, true));
        assert_eq!(slots.runs.keys().collect::<Vec<_>>(), ["b"]);
        assert!(slots.waiting.is_empty());
    }

    #[test]
    fn a_cap_of_zero_runs_nothing() {
        let mut slots = RunSlots::default();
        assert_eq!(turn(&mut slots, "a", "1", 0), (Take::Full, true));
    }
}
