//! A run's signs of life: what the agent reports while it works ([`RunProgress`], on the reply
//! queue as [`crate::domain::envelope::AgentReport::Progress`]), what the reply function keeps
//! about it ([`RunStatus`], one item per run in the conversation's partition) and the words the
//! user sees. The agent holds no channel token, so it only reports; trusted code decides what
//! the channel shows, with text it writes itself (a tool's name is the one word the agent
//! chooses, and only a well-formed one is shown).

use serde::{Deserialize, Serialize};

use crate::domain::ids::{ConversationRef, MessageId};
use crate::domain::model::ReplyRoute;
use crate::domain::permissions::is_valid_tool_name;
use crate::domain::scope::ScopeToken;

/// How often a run reports while it lasts (the agent's `CLAWLESS_PROGRESS_SECS` default): a
/// Telegram chat action shows for about 5 s, so every 4 s keeps it up without a gap.
pub const DEFAULT_PROGRESS_SECS: u64 = 4;
/// A report older than this when the reply function takes it is dropped: a typing indicator
/// after the fact is noise, and a backlog of them should cost nothing but the invocation.
pub const PROGRESS_MAX_AGE_MS: i64 = 6_000;
/// A run this long that has used a tool gets a status message; shorter runs only type.
pub const STATUS_AFTER_MS: u64 = 4_000;
/// The status message is edited at most this often (channels rate-limit edits: Feishu 5 a
/// second per message, Telegram and Slack about one a second per chat).
pub const STATUS_EDIT_GAP_MS: i64 = 3_000;
/// How long a run's status item is kept: a run ends within 15 minutes; a day leaves room for a
/// late redelivery to find it closed.
pub const RUN_STATUS_TTL_SECS: i64 = 24 * 3600;

/// What the run is doing as it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProgressPhase {
    /// Waiting for the model.
    Thinking,
    /// Running this tool (the latest one started).
    Tool { name: String },
}

/// A run's report that it is still working: once it has lasted 1.5 s (a quicker answer needs
/// none), every few seconds while it lasts, and when a tool starts; none after its final
/// answer. The reply function checks its scope token (and its route) like a reply's; everything
/// else in it only shapes what the user sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    pub v: u32,
    /// Missing reads as no token: refused like a wrong one (not unreadable, so not retried).
    #[serde(default)]
    pub scope: ScopeToken,
    #[serde(flatten)]
    pub conversation: ConversationRef,
    /// The message the run answers, and when it was sent: the run's key.
    pub in_reply_to: MessageId,
    pub in_reply_to_at_ms: i64,
    /// Where the run's answer goes (the typing indicator and the status message go there too).
    pub route: ReplyRoute,
    /// 1-based position of this report in its run: with the run, its queue deduplication id.
    pub seq: u32,
    /// When the agent sent it (Unix ms).
    pub sent_at_ms: i64,
    /// How long the run has been working.
    pub elapsed_ms: u64,
    /// Tool calls started so far in the run.
    #[serde(default)]
    pub tools_used: u32,
    pub phase: ProgressPhase,
}

impl RunProgress {
    /// Whether it is still worth showing at `now_ms`: not older than [`PROGRESS_MAX_AGE_MS`] and
    /// not from the future (beyond a minute of clock skew).
    pub fn is_fresh(&self, now_ms: i64) -> bool {
        let age = now_ms.saturating_sub(self.sent_at_ms);
        (-60_000..=PROGRESS_MAX_AGE_MS).contains(&age)
    }

    /// Whether the run has gone on long enough, with tools, to earn a status message.
    pub fn wants_status(&self) -> bool {
        self.elapsed_ms >= STATUS_AFTER_MS && (self.tools_used > 0 || matches!(self.phase, ProgressPhase::Tool { .. }))
    }

    /// The status message's text, written here: the agent's only word in it is a tool's name,
    /// shown only if it is a well-formed one (`[a-zA-Z0-9_]{1,64}`).
    pub fn status_text(&self) -> String {
        let calls = match self.tools_used {
            0 => String::new(),
            1 => " 1 tool call so far".to_owned(),
            n => format!(" {n} tool calls so far"),
        };
        match &self.phase {
            ProgressPhase::Tool { name } if is_valid_tool_name(name) => {
                format!("Working on it…{calls}, now: {name}")
            }
            _ => format!("Working on it…{calls}"),
        }
    }
}

/// The line a status message ends with once its run has answered (the answer itself is a
/// message of its own, after it).
pub const STATUS_DONE_TEXT: &str = "Done: the answer is below.";
/// The same, for a run that ended without an answer.
pub const STATUS_ENDED_TEXT: &str = "Done.";

/// What the reply function keeps about one run's signs of life, in the conversation's
/// partition (`STATUS#{sent_ms}#{message_id}`): the status message and the reaction it put up,
/// so later reports edit the one message and the run's end takes them down, and whether the run
/// has ended, so a late report shows nothing. Written with a version condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStatus {
    pub conversation: ConversationRef,
    pub in_reply_to: String,
    pub in_reply_to_at_ms: i64,
    /// The channel's id of the status message (what `edit_status` takes).
    pub status_id: Option<String>,
    /// Its text as last shown (an edit to the same text is not made).
    pub status_text: Option<String>,
    /// When it was last posted or edited (Unix ms).
    pub edited_at_ms: i64,
    /// What takes the "working" reaction down again (the channel's handle).
    pub reaction: Option<String>,
    /// The run has answered (or ended): nothing more is shown for it.
    pub closed: bool,
    /// 1 when first written, one more on each write; a write expects the one before.
    pub version: u64,
}

impl RunStatus {
    /// A run's status before anything is stored for it (version 0: the first write creates it).
    pub fn new(conversation: &ConversationRef, in_reply_to: &str, in_reply_to_at_ms: i64) -> Self {
        Self {
            conversation: conversation.clone(),
            in_reply_to: in_reply_to.to_owned(),
            in_reply_to_at_ms,
            status_id: None,
            status_text: None,
            edited_at_ms: 0,
            reaction: None,
            closed: false,
            version: 0,
        }
    }

    /// The item's sort key: beside the conversation's lines, outside their `MSG#` range.
    pub fn sort_key(&self) -> String {
        run_status_sort_key(self.in_reply_to_at_ms, &self.in_reply_to)
    }
}

pub fn run_status_sort_key(in_reply_to_at_ms: i64, in_reply_to: &str) -> String {
    format!("STATUS#{in_reply_to_at_ms:013}#{in_reply_to}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{BotId, ConversationId, TenantId};
    use crate::domain::model::ChannelKind;

    fn progress(phase: ProgressPhase, tools_used: u32, elapsed_ms: u64) -> RunProgress {
        RunProgress {
            v: 1,
            scope: ScopeToken::default(),
            conversation: ConversationRef {
                tenant_id: TenantId::parse("t0123456789abcdef0123").unwrap(),
                bot_id: BotId::parse("b0123456789abcdef0123").unwrap(),
                channel: ChannelKind::Telegram,
                conversation_id: ConversationId::parse("4242").unwrap(),
            },
            in_reply_to: MessageId::parse("1001").unwrap(),
            in_reply_to_at_ms: 1_700_000_000_000,
            route: ReplyRoute::Telegram { chat_id: 4242, message_thread_id: None, reply_to_message_id: Some(7) },
            seq: 1,
            sent_at_ms: 1_700_000_001_000,
            elapsed_ms,
            tools_used,
            phase,
        }
    }

    #[test]
    fn status_text_shows_only_well_formed_tool_names() {
        let tool = |name: &str| ProgressPhase::Tool { name: name.into() };
        assert_eq!(
            progress(tool("web_fetch"), 2, 5_000).status_text(),
            "Working on it… 2 tool calls so far, now: web_fetch"
        );
        assert_eq!(progress(tool("file"), 1, 5_000).status_text(), "Working on it… 1 tool call so far, now: file");
        for forged in ["@everyone", "<!here>", "a b", "", &"x".repeat(65), "ok\nSecond line"] {
            assert_eq!(
                progress(tool(forged), 1, 5_000).status_text(),
                "Working on it… 1 tool call so far",
                "{forged:?}"
            );
        }
        assert_eq!(progress(ProgressPhase::Thinking, 0, 5_000).status_text(), "Working on it…");
    }

    #[test]
    fn a_status_message_needs_a_long_run_with_a_tool() {
        let tool = ProgressPhase::Tool { name: "file".into() };
        assert!(!progress(tool.clone(), 1, STATUS_AFTER_MS - 1).wants_status());
        assert!(progress(tool, 1, STATUS_AFTER_MS).wants_status());
        assert!(!progress(ProgressPhase::Thinking, 0, 60_000).wants_status(), "thinking alone only types");
        assert!(progress(ProgressPhase::Thinking, 2, 60_000).wants_status(), "thinking after tools keeps it");
    }

    #[test]
    fn freshness_drops_old_and_future_reports() {
        let p = progress(ProgressPhase::Thinking, 0, 0);
        assert!(p.is_fresh(p.sent_at_ms));
        assert!(p.is_fresh(p.sent_at_ms + PROGRESS_MAX_AGE_MS));
        assert!(!p.is_fresh(p.sent_at_ms + PROGRESS_MAX_AGE_MS + 1));
        assert!(!p.is_fresh(p.sent_at_ms - 60_001));
        let extreme = RunProgress { sent_at_ms: i64::MIN, ..p.clone() };
        assert!(!extreme.is_fresh(i64::MAX));
    }

    #[test]
    fn progress_round_trips_with_its_phase() {
        let p = progress(ProgressPhase::Tool { name: "file".into() }, 1, 4_000);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["phase"], serde_json::json!({"state": "tool", "name": "file"}));
        assert_eq!(json["tenant_id"], "t0123456789abcdef0123");
        assert_eq!(serde_json::from_value::<RunProgress>(json).unwrap(), p);
    }

    #[test]
    fn the_status_item_sorts_outside_the_conversation_lines() {
        let key = run_status_sort_key(1_700_000_000_000, "1001");
        assert_eq!(key, "STATUS#1700000000000#1001");
        assert!(!key.starts_with("MSG#"));
    }
}
