//! The memory-poisoning check: memory is put into every later system prompt, so a note that
//! reads as an instruction would outlive the conversation that planted it.

use std::sync::LazyLock;

use regex::Regex;

use super::normalise::{hidden_characters, normalise_lines};
use super::{compile, i18n};

/// Why a memory write was refused: the short name of the rule that matched (never the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoisonFinding {
    pub pattern: &'static str,
}

/// Refuses memory text that reads as an instruction to the model rather than a fact: attempts
/// to override its rules or role, fake role markers, requests to exfiltrate secrets or the
/// system prompt, claimed tool permissions, and invisible characters used to hide text.
pub fn check_memory_write(text: &str) -> Result<(), PoisonFinding> {
    let lines = normalise_lines(text);
    let flat = lines.replace('\n', " ");
    for rule in POISON_RULES.iter() {
        let haystack = match rule.scope {
            Scope::Flat => &flat,
            Scope::Lines => &lines,
        };
        if rule.regex.is_match(haystack) {
            return Err(PoisonFinding { pattern: rule.name });
        }
    }
    hidden_characters(text).map_or(Ok(()), |pattern| Err(PoisonFinding { pattern }))
}

#[derive(Clone, Copy)]
pub(super) enum Scope {
    /// All lines joined with spaces: phrases split over lines still match.
    Flat,
    /// Line structure kept: for line-anchored markers and sentence-scoped rules.
    Lines,
}

pub(super) struct PoisonRule {
    pub(super) name: &'static str,
    pub(super) scope: Scope,
    pub(super) regex: Regex,
}

/// Words that may sit between "ignore" and "instructions" ("ignore all of your previous …").
const FILLER: &str = "the|of|my|your|these|those|that|its|all|any|every|and|or|other|previous|prior|above|earlier|\
                      preceding|former|original|initial|foregoing|system|safety|existing|old|current|developer|\
                      default|you|were|have|been|given|i|gave|'ve";
/// At least one of these must be there: "ignore the rules" alone is an ordinary sentence.
const QUALIFIER: &str = "previous|prior|above|earlier|preceding|former|original|initial|foregoing|all|any|every|\
                         your|system|safety|existing|old|current|developer|default";
const RULE_NOUNS: &str = "instructions?|rules?|guidelines?|directives?|prompts?|constraints?|polic(?:y|ies)|\
                          guardrails?|restrictions?|programming|guidance";
/// Anything but a sentence end (a dot inside `a.txt` or a URL does not end a sentence).
const SENTENCE_CHAR: &str = r"(?:[^.!?\n]|[.!?]\S)";
const SECRET_NOUNS: &str = "secrets?|credentials?|creds|api[ _-]?keys?|access[ _-]?keys?|secret[ _-]?keys?|\
                            private[ _-]?keys?|ssh[ _-]?keys?|tokens?|passwords?|passwd|passphrases?|env|\\.env|\
                            environment(?: variables?)?|env[ _-]?vars?|cookies?|session ids?|\
                            aws_secret_access_key|system prompt|conversation history|chat history";
const TOOL_WORDS: &str = "shell|terminal|bash|commands?|command line|code|scripts?|tools?|any tool|all tools|\
                          file_write|file_?system|files|web_fetch|web_search|schedule_task|internet|network|sudo|\
                          root|eval|install_skill|load_extension|skills?|extensions?|plugins?";

pub(super) static POISON_RULES: LazyLock<Vec<PoisonRule>> = LazyLock::new(|| {
    let exfil_target = r"(?:<)?(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w|(?:(?:this|that|my|the|our|an?|external|remote)(?: following)? |following )(?:url|link|address|e-?mail(?: address)?|endpoint|webhook|server|site|website|domain|inbox)\b|[\w-]+\.(?:com|net|org|io|ru|cn|xyz|top|site|app|dev)\b)";
    let rules: Vec<(&'static str, Scope, String)> = vec![
        // Fake turns and role markers of chat templates, and our own prompt delimiters.
        (
            "hidden_role_marker",
            Scope::Lines,
            [
                r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>",
                r"\[/?inst\]|<</?sys>>",
                r"(?m:^#{2,6} ?(?:system|system prompt|system message)\s*:?\s*$)",
                r"(?m:^(?:system|developer) ?: ?(?:you\b|your\b|ignore|forget|disregard|the assistant|assistant\b|from now on|new (?:rules|instructions)|override|always\b|never\b|do not\b|don't\b|must\b))",
                r"</?(?:system|system_prompt|system-prompt|sys|instructions|developer|function_calls|tool_call|tool_result|tool_use)(?:\s[^>]*)?>",
            ]
            .join("|"),
        ),
        ("delimiter_injection", Scope::Lines, r"</?(?:memory|untrusted(?:_group_message)?)\b".to_owned()),
        (
            "ignore_previous_instructions",
            Scope::Flat,
            format!(
                r"\b(?:ignore|forget|disregard|override|bypass|discard|abandon|drop|skip)(?: (?:{FILLER})){{0,4}} (?:{QUALIFIER})(?: (?:{FILLER})){{0,4}} (?:{RULE_NOUNS})\b|\b(?:ignore|forget|disregard)(?: (?:all|everything|anything|of|the|that|what|whatever))* (?:above|before this|before now|previously|so far|until now|up to now|you(?: were|'ve been| have been) (?:told|given))(?:$|[.,;:!?)]| and\b| then\b)"
            ),
        ),
        // Before role_change: "you are now allowed to use the shell" is an escalation.
        (
            "tool_permission_escalation",
            Scope::Flat,
            [
                format!(
                    r"\b(?:you|the (?:assistant|agent|bot|ai)|assistant|agent)(?: are| is|'re)?(?: now| hereby| also| always| fully)* (?:allowed|permitted|authori[sz]ed|cleared|free|approved|entitled|granted permission|given permission) to (?:use|run|call|execute|access|invoke|install|load|bypass|skip|ignore)(?: the| any| all| every| a)? (?:{TOOL_WORDS}|approvals?|permissions?)\b"
                ),
                r"\byou(?: now)? (?:have|'ve got|have been granted|have been given|were granted|were given|are granted|are given)(?: full| unrestricted| unlimited| admin| administrator| root| sudo| elevated)*(?: permissions?| access| rights| privileges)? (?:to use |to run |to |for |on |over )?(?:the |all |any |every )?(?:shell|terminal|root|sudo|admin(?:istrator)? (?:rights|access|privileges)|all tools|any tools?|every tool|file_write|web_fetch|web_search|schedule_task|install_skill|load_extension|eval)\b".to_owned(),
                format!(
                    r"\b(?:approval|permission|authori[sz]ation|clearance)(?: has been| was| is| been)? (?:granted|given|approved|confirmed)\b{SENTENCE_CHAR}{{0,60}}?\b(?:tools?|shell|terminal|commands?|run|execute|install|sudo|root|admin|without|no (?:need|further|more)|file_write|web_fetch|web_search|schedule_task|eval|install_skill|load_extension)\b"
                ),
                r"\b(?:admin(?:istrator)?|root|sudo|system|operator|developer|owner) (?:override|bypass)\b|\boverride (?:mode|authori[sz]ation|enabled|activated|granted)\b".to_owned(),
                r"\b(?:enable|enter|activate|switch to|turn on|unlock)(?: the)? (?:dan|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|sudo|root|admin) mode\b".to_owned(),
                r"\b(?:bypass|skip|disable|turn off|ignore|circumvent|evade|get around)(?: the| any| all| your| these)? (?:(?:approval|permission|sandbox|allowlist|whitelist)s?|(?:safety|tool|security) (?:checks?|gates?|restrictions?|filters?|guardrails?|polic(?:y|ies)|rules))\b".to_owned(),
                r"\bwithout (?:asking|requesting|needing|waiting|seeking|getting)(?: for)?(?: any| the| an| user| admin| administrator)? (?:approval|permission|authori[sz]ation)\b".to_owned(),
            ]
            .join("|"),
        ),
        (
            "role_change",
            Scope::Flat,
            [
                r"\b(?:new|updated|revised|real|actual|true|secret|hidden|override) system (?:prompt|message|instructions?)\b",
                r"\byour (?:new|real|true|actual|updated) (?:instructions?|rules?|role|purpose|persona|identity|directives?|goal|task|objective|programming) (?:is|are|will be)\b",
                r"\byou(?: are|'re) now (?:a|an|the|my|no longer|free|allowed|permitted|unrestricted|unfiltered|uncensored|jailbroken|operating|acting|called|named|known as|in \w+ mode|dan)\b",
                r"\bfrom now on,? (?:you are|you're|you will be|you'll be|you act|you must act|act as|you behave|behave as|pretend|you have no|you no longer|you ignore|ignore)\b",
                r"\b(?:act|behave|respond|roleplay|role-play) as (?:if|though) (?:you|there) (?:are|were|have|had) no (?:rules|restrictions|limits|limitations|filters|guidelines|instructions)\b",
                r"\b(?:act as|behave as|roleplay as|role-play as|pretend to be|pretend you are|pretend you're) (?:an? |the )?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|malicious|rogue|root|superuser|dan|different ai|different assistant|another ai|system)\b",
                r"\bdo anything now\b",
            ]
            .join("|"),
        ),
        (
            "secret_exfiltration",
            Scope::Lines,
            [
                format!(
                    r"\b(?:send|post|upload|forward|e-?mail|mail|transmit|exfiltrate|leak|share|submit|paste|copy|curl|wget|report|deliver|dm|text|message)\b{SENTENCE_CHAR}{{0,80}}?\b(?:{SECRET_NOUNS})\b{SENTENCE_CHAR}{{0,120}}?\b(?:to|into|at|via|on)\b\s*{exfil_target}"
                ),
                format!(
                    r"\b(?:include|append|attach|embed|add|insert|put|leak)\b{SENTENCE_CHAR}{{0,40}}?\b(?:{SECRET_NOUNS})\b{SENTENCE_CHAR}{{0,40}}?\b(?:in|into|to|at the end of)\b (?:every|each|all|your|any) (?:repl(?:y|ies)|responses?|answers?|messages?|outputs?)\b"
                ),
            ]
            .join("|"),
        ),
        (
            "prompt_exfiltration",
            Scope::Flat,
            r"\b(?:print|reveal|show|output|repeat|display|dump|leak|disclose|expose|recite|echo|tell (?:me|us|the user|everyone)|give (?:me|us)|send|share|copy|paste|write out|spell out)\b(?: (?:me|us|out|back|the|your|all|of|full|entire|complete|whole|exact|verbatim|original|initial|hidden|secret|current|raw)){0,5} (?:system prompt|system message|system instructions|initial instructions|hidden instructions|secret instructions|original instructions|developer (?:message|instructions|prompt)|prompt you were given|instructions you were given|(?:your|the) (?:instructions|prompt|rules) verbatim)\b".to_owned(),
        ),
        // Where credentials live in the microVM; a note naming them is a plan to read them.
        (
            "secret_access",
            Scope::Flat,
            r"/proc/self/environ|\.aws/credentials|\.ssh/id_[a-z0-9]+|aws_secret_access_key|\bprintenv\b|\$aws_[a-z_]+|169\.254\.169\.254|169\.254\.170\.2\b".to_owned(),
        ),
    ];
    let mut rules: Vec<(&'static str, Scope, String)> = rules.into_iter().chain(i18n::rules()).collect();
    // Each language's rules right after the English rule of their family, so a text reports the
    // family's name whatever language it is in, and families keep their order of precedence.
    let family = |name: &str| FAMILIES.iter().position(|f| *f == name).unwrap_or(FAMILIES.len());
    rules.sort_by_key(|(name, _, _)| family(name));
    rules.into_iter().map(|(name, scope, pattern)| PoisonRule { name, scope, regex: compile(name, &pattern) }).collect()
});

/// The rule families in the order they are tried.
pub(super) const FAMILIES: [&str; 8] = [
    "hidden_role_marker",
    "delimiter_injection",
    "ignore_previous_instructions",
    "tool_permission_escalation",
    "role_change",
    "secret_exfiltration",
    "prompt_exfiltration",
    "secret_access",
];
