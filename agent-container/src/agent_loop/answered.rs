//! The answers this process sent, per session, so a run's history shows them before the
//! conversation's lines do. The dispatcher reads a message's history when it hands the message
//! over, which can be before the reply function has written the line of the previous answer (it
//! is still on the reply queue, or being sent): without this, the model would see the previous
//! question unanswered and could answer it a second time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use clawless_core::domain::ids::RuntimeSessionId;
use clawless_core::domain::model::{HistoryEntry, Role};

/// Answers remembered per session: enough for the few lines a history can lag behind.
const KEPT: usize = 16;

#[derive(Default)]
pub struct AnsweredHere(Mutex<HashMap<String, VecDeque<(String, String)>>>);

impl AnsweredHere {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, VecDeque<(String, String)>>> {
        // Nothing half-written is worth refusing: each entry is pushed whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that this process answered `message_id` with `text` in `session`.
    pub fn remember(&self, session: &RuntimeSessionId, message_id: &str, text: &str) {
        let mut all = self.lock();
        let kept = all.entry(session.as_str().to_owned()).or_default();
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back((message_id.to_owned(), text.to_owned()));
    }

    /// The answer to put after `entry` in the model's view of `history`: this process's answer to
    /// it, if the history does not hold a reply line for it yet.
    pub fn missing_answer(
        &self,
        session: &RuntimeSessionId,
        entry: &HistoryEntry,
        history: &[HistoryEntry],
    ) -> Option<String> {
        if entry.role != Role::User {
            return None;
        }
        let prefix = format!("{}#r", entry.message_id);
        if history.iter().any(|h| h.role == Role::Assistant && h.message_id.starts_with(&prefix)) {
            return None;
        }
        let all = self.lock();
        all.get(session.as_str())?.iter().rev().find(|(id, _)| *id == entry.message_id).map(|(_, text)| text.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: Role, id: &str) -> HistoryEntry {
        HistoryEntry { role, message_id: id.into(), sender_name: "Ada".into(), text: "t".into(), at_ms: 1 }
    }

    #[test]
    fn fills_in_only_answers_the_history_does_not_hold_yet() {
        let id = |s: &str| serde_json::from_value::<RuntimeSessionId>(serde_json::json!(s.repeat(40))).unwrap();
        let (session, other) = (id("s"), id("o"));
        let answered = AnsweredHere::default();
        answered.remember(&session, "7", "answer to 7");
        answered.remember(&session, "8", "answer to 8");
        let history = vec![entry(Role::User, "7"), entry(Role::Assistant, "7#r001"), entry(Role::User, "8")];
        assert_eq!(answered.missing_answer(&session, &history[0], &history), None, "its reply line is there");
        assert_eq!(answered.missing_answer(&session, &history[1], &history), None, "not a question");
        assert_eq!(answered.missing_answer(&session, &history[2], &history).as_deref(), Some("answer to 8"));
        assert_eq!(answered.missing_answer(&other, &history[2], &history), None, "another session's");
        for n in 0..KEPT {
            answered.remember(&session, &format!("x{n}"), "later");
        }
        assert_eq!(answered.missing_answer(&session, &history[2], &history), None, "only the last 16 are kept");
    }
}
