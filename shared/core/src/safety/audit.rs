//! The response audit: claims in a final answer of having used a tool the profile does not allow.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::compile;
use super::normalise::normalise_lines;
use crate::domain::permissions::{ALWAYS_BLOCKED, KNOWN_TOOLS};

/// A claim in an answer of having used a tool the profile does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFinding {
    pub tool: String,
}

/// Claims in `text` of having used a tool not in `allowed`, each tool once (by name). A claim
/// is a first-person statement of a past tool action ("I ran `ls`", "I've saved the file",
/// "I searched the web"), a named tool with an action verb ("I used web_fetch", "using
/// `shell`, …"), or a result presented as a tool's ("here are the search results"). Sentences
/// with a negation or a need for approval ("I can't run commands", "this needs approval"),
/// questions, hypotheticals ("if you approve, I could run …") and code blocks are skipped.
pub fn audit_response(text: &str, allowed: &BTreeSet<String>) -> Vec<AuditFinding> {
    let mut found: BTreeSet<&'static str> = BTreeSet::new();
    for sentence in sentences(&strip_code_blocks(text)) {
        if sentence.ends_with('?') || NEGATION.is_match(&sentence) {
            continue;
        }
        for rule in CLAIM_RULES.iter() {
            if found.contains(rule.tool) || allowed.contains(rule.tool) {
                continue;
            }
            let Some(m) = rule.claim.find(&sentence) else { continue };
            // Up to the end of the claim: "I wrote this so you can paste it into a file" offers.
            if HYPOTHETICAL.is_match(&sentence[..m.end()]) {
                continue;
            }
            if rule.unless.as_ref().is_some_and(|u| u.is_match(&sentence)) {
                continue;
            }
            found.insert(rule.tool);
        }
    }
    found.into_iter().map(|tool| AuditFinding { tool: tool.to_owned() }).collect()
}

struct ClaimRule {
    tool: &'static str,
    claim: Regex,
    /// The claim does not count if this matches the sentence (it is about something else).
    unless: Option<Regex>,
}

/// A first-person subject with optional adverbs: "i", "i've just", "we then".
const SUBJECT: &str = r"\b(?:i|we)(?:'ve| have| had)?(?: (?:just|already|also|then|now|first|quickly|successfully|actually|finally|went ahead and))* ";
const COMMAND_OBJECT: &str = r"(?:`|\bcommands?\b|\bshell\b|\bterminal\b|\bbash\b|\bscripts?\b|\bsudo\b|\b(?:ls|cat|grep|curl|wget|git|python3?|npm|pip|df|du|ps|top|find|rm|mkdir|chmod|docker|kubectl|make|cargo|node|echo|uname|whoami|pwd|head|tail)\b)";
const FILE_OBJECT: &str = r"(?:\bfiles?\b|\bto disk\b|\bdirectory\b|\bfolder\b|\bworkspace\b|\b[\w-]+\.(?:txt|md|csv|json|ya?ml|py|js|ts|rs|html|xml|log|pdf|docx?|xlsx?|sh|toml|ini|conf|cfg)\b)";
const TASK_OBJECT: &str =
    r"\b(?:reminders?|scheduled (?:tasks?|jobs?|messages?)|tasks?|jobs?|schedules?|cron(?: jobs?)?|alarms?|timers?)\b";
const NOT_THE_WEB: &str = r"\b(?:memory|notes?|conversation|history|files?|folder|directory|workspace|inbox|emails?|messages?|records?|database|documents?|spreadsheet|calendar|logs?)\b";

/// Other names for tools, as regex fragments that carry their own word boundaries.
const TOOL_ALIASES: [(&str, &str); 6] = [
    ("shell", r"shell\b|terminal\b|bash\b|command[ -]line\b"),
    ("web_search", r"web search\b|search tool\b|search engine\b|google\b|bing\b"),
    ("web_fetch", r"fetch tool\b|(?:web )?browser\b|browsing tool\b"),
    ("schedule_task", r"scheduler\b|scheduling tool\b"),
    ("file", r"file tool\b|file reader\b"),
    ("file_write", r"file[ -]writ(?:ing|er) tool\b|file writer\b"),
];

static CLAIM_RULES: LazyLock<Vec<ClaimRule>> = LazyLock::new(|| {
    let phrases: Vec<(&'static str, &str, Option<&str>)> = vec![
        ("shell", r"{S}(?:ran|run|executed|invoked|launched|issued|typed|entered|piped)\b.{0,40}?{CMD}", None),
        ("shell", r"\boutput (?:of|from) (?:running |the command|the shell|the terminal|`)", None),
        (
            "file_write",
            r"{S}(?:wrote|written|saved|created|updated|modified|edited|overwrote|overwritten|appended|deleted|removed|renamed|moved|stored|exported|generated|changed)\b.{0,40}?{FILE}",
            None,
        ),
        (
            "file",
            r"{S}(?:read|opened|looked at|looked through|checked|inspected|examined|scanned|reviewed|listed|went through|loaded|parsed|viewed)\b.{0,40}?{FILE}",
            Some(
                r"\byou(?:'ve)? (?:sent|attached|shared|uploaded|pasted|provided|forwarded|gave)\b|\battach(?:ed|ment)\b",
            ),
        ),
        (
            "web_fetch",
            r"{S}(?:fetched|downloaded|retrieved|scraped|crawled|visited|browsed|loaded|pulled up|pulled)\b.{0,40}?(?:\b(?:web ?pages?|pages?|urls?|links?|sites?|websites?|articles?|homepage|feed|docs|documentation)\b|https?://|www\.)",
            None,
        ),
        (
            "web_fetch",
            r"{S}(?:opened|read|checked|looked at|went to|navigated to|clicked|accessed|reviewed|skimmed|consulted)\b.{0,40}?(?:\b(?:web ?pages?|urls?|links?|sites?|websites?|homepage)\b|https?://|www\.)",
            None,
        ),
        ("web_search", r"{S}(?:googled|binged)\b", None),
        (
            "web_search",
            r"{S}(?:searched|scoured|queried|checked|looked)\b.{0,20}?\b(?:the web|the internet|online|the news|google|bing|duckduckgo|search engines?)\b",
            None,
        ),
        ("web_search", r"{S}(?:searched for|looked (?:it |this |that |them |these |those )?up)\b", Some(NOT_THE_WEB)),
        (
            "web_search",
            r"{S}(?:did|ran|performed|conducted|tried|made)(?: a| an| some)?(?: quick| few| couple of| brief| new)*(?: web| google| online| internet)? search(?:es)?\b",
            Some(NOT_THE_WEB),
        ),
        (
            "web_search",
            r"\b(?:here are|these are|below are) (?:the |my |some )?(?:top |latest |recent )?(?:web |google |online )?search results\b|\baccording to (?:my|the) (?:web |google |online )?search\b|\b(?:my|the) (?:web |online |google )?search (?:returned|found|shows|showed|turned up|came back|results? (?:show|showed|indicate|suggest))\b",
            None,
        ),
        ("schedule_task", r"{S}scheduled\b", None),
        (
            "schedule_task",
            r"{S}(?:set up|set|created|added|made|booked|registered|configured|arranged)\b.{0,30}?\b(?:reminders?|recurring|cron(?: job)?|timers?|alarms?|scheduled (?:tasks?|jobs?|messages?)|(?:daily|weekly|monthly|hourly) (?:tasks?|jobs?|checks?|messages?|summary|summaries|reports?))\b",
            None,
        ),
        ("schedule_task", r"\breminder (?:has been |is |was |is now )?(?:set|scheduled|created|added)\b", None),
        (
            "cancel_task",
            r"{S}(?:cancell?ed|deleted|removed|stopped|turned off|disabled|cleared|unscheduled)\b.{0,30}?{TASK}",
            None,
        ),
        ("pause_task", r"{S}(?:paused|suspended|snoozed)\b.{0,30}?{TASK}", None),
        (
            "resume_task",
            r"{S}(?:resumed|unpaused|re-?enabled|reactivated|restarted|turned back on)\b.{0,30}?{TASK}",
            None,
        ),
        ("update_task", r"{S}rescheduled\b", None),
        ("update_task", r"{S}(?:updated|changed|moved|modified|edited|adjusted|renamed)\b.{0,30}?{TASK}", None),
        (
            "list_tasks",
            r"{S}(?:listed|checked|looked at|reviewed|pulled up|retrieved|went through)\b.{0,20}?\b(?:your |the |all )?(?:scheduled (?:tasks|jobs|messages)|reminders|tasks|schedules|cron jobs|alarms)\b",
            None,
        ),
        (
            "approve",
            r"{S}(?:approved|granted|rejected|denied|authori[sz]ed)\b.{0,30}?\b(?:requests?|permissions?|access|approvals?)\b",
            None,
        ),
        ("install_skill", r"{S}(?:installed|added|loaded|enabled|downloaded)\b.{0,20}?\b(?:skills?|plugins?)\b", None),
        ("load_extension", r"{S}(?:loaded|installed|enabled|activated)\b.{0,20}?\bextensions?\b", None),
        ("eval", r"{S}(?:evaluated|ran|run|executed)\b.{0,20}?\b(?:code|snippet|expression|javascript)\b", None),
    ];
    let expand = |p: &str| {
        p.replace("{S}", SUBJECT)
            .replace("{CMD}", COMMAND_OBJECT)
            .replace("{FILE}", FILE_OBJECT)
            .replace("{TASK}", TASK_OBJECT)
    };
    let mut rules: Vec<ClaimRule> = phrases
        .into_iter()
        .map(|(tool, claim, unless)| ClaimRule {
            tool,
            claim: compile(tool, &expand(claim)),
            unless: unless.map(|u| compile(tool, u)),
        })
        .collect();
    // A tool named with an action verb: "I used web_fetch", "using `shell`, …", "web_search returned …".
    for tool in KNOWN_TOOLS.iter().chain(ALWAYS_BLOCKED.iter()) {
        // Names with an underscore are unambiguous; "file" or "approve" only in backticks.
        let mut distinct = vec![format!("`{tool}`")];
        if tool.contains('_') || *tool == "eval" {
            distinct.push(format!(r"\b{tool}\b"));
        }
        let distinct = distinct.join("|");
        let mut names = distinct.clone();
        if let Some((_, alias)) = TOOL_ALIASES.iter().find(|(t, _)| t == tool) {
            names = format!("{names}|{alias}");
        }
        let pattern = format!(
            r"{SUBJECT}(?:used|called|invoked|ran|run|executed|triggered|tried|queried|hit)(?: the| my| a| an)? (?:{names})|\b(?:using|via|through) (?:the |my )?(?:{distinct})|(?:{distinct})(?: tool)? (?:returned|showed|shows|reported|gave|output|came back|responded|found|says|said)\b"
        );
        rules.push(ClaimRule { tool, claim: compile(tool, &pattern), unless: None });
    }
    rules
});

/// A negation, inability or missing approval anywhere in the sentence: not a claim.
static NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        "negation",
        r"\b(?:not|no|never|cannot|unable|lack|lacking|nor|neither)\b|n't\b|\bcan not\b|\b(?:need|needs|needed|require|requires|required|requesting|request|awaiting|pending|waiting for|ask(?:ed|ing)? for|until|once|without) (?:your |an? |the |admin |administrator |explicit |prior )?(?:approval|permission|authori[sz]ation|access)\b|\b(?:once|if|after|when) (?:it(?:'s| is)|you(?:'ve| have)?|this is|that's|an admin(?:istrator)?(?: has)?) ?(?:approved|granted|allowed|enabled)\b|\bpermission denied\b",
    )
});

/// In or before the claim: it is conditional or offered, not done.
static HYPOTHETICAL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        "hypothetical",
        r"\b(?:if|would|could|should|might|may|can|will|shall|unless|whether|want|wants|wish|let me|i'll|we'll|i'd|we'd|going to|able to|try to|tried to|plan to|about to|how to|ready to|happy to|glad to|like me to|offer to|once)\b",
    )
});

/// Fenced code blocks are content, not claims; they become a placeholder.
fn strip_code_blocks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            if !in_block {
                out.push_str("`code`\n");
            }
            in_block = !in_block;
            continue;
        }
        if !in_block {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Sentences, normalised: split at line ends and at `.`, `!`, `?`, `;` followed by a space (so
/// `a.txt` and URLs stay whole). A sentence keeps its final `?`.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in normalise_lines(text).lines() {
        let mut start = 0;
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at_end = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
            if matches!(c, '.' | '!' | '?' | ';') && at_end {
                let end = i + c.len_utf8();
                out.push(line[start..end].trim().to_owned());
                start = end;
            }
        }
        out.push(line[start..].trim().to_owned());
    }
    out.retain(|s| !s.is_empty());
    out
}
