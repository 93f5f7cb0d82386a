//! `SKILL.md`: front matter, then the instructions.
//!
//! ```text
//! ---
//! name: weekly-report
//! description: Writes the weekly status report from the team's notes.
//! ---
//! # Instructions …
//! ```
//!
//! The front matter is read as `key: value` lines, one line each (a value may be quoted with `"`
//! or `'`); `name` and `description` are required, other keys are ignored. A YAML parser would
//! accept far more (multi-line values, anchors) than two one-line fields need.

use super::SkillRefusal;
use super::{MAX_DESCRIPTION_CHARS, SkillName};

/// What `SKILL.md` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillManifest {
    pub name: SkillName,
    pub description: String,
    /// The instructions after the front matter.
    pub body: String,
}

fn bad(reason: impl Into<String>) -> SkillRefusal {
    SkillRefusal::Manifest { reason: reason.into() }
}

fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Parses `SKILL.md`.
pub fn parse_manifest(text: &str) -> Result<SkillManifest, SkillRefusal> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(first) if first.trim_end() == "---" => {}
        _ => {
            return Err(bad(
                "it must start with a front matter block: a line '---', 'name: …', 'description: …', '---'",
            ));
        }
    }
    let mut name = None;
    let mut description = None;
    let mut consumed = text.split_inclusive('\n').next().map_or(0, str::len);
    let mut closed = false;
    for line in lines {
        consumed += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            return Err(bad("front matter values must each be on one line"));
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(bad(format!(
                "front matter line {:?} is not 'key: value'",
                line.chars().take(60).collect::<String>()
            )));
        };
        match key.trim() {
            "name" => name = Some(unquote(value).to_owned()),
            "description" => description = Some(unquote(value).to_owned()),
            _ => {}
        }
    }
    if !closed {
        return Err(bad("the front matter is not closed by a '---' line"));
    }
    let name = name.ok_or_else(|| bad("the front matter has no 'name'"))?;
    let name = SkillName::parse(name.trim()).map_err(|e| bad(e.to_string()))?;
    let description = description.map(|d| d.trim().to_owned()).unwrap_or_default();
    if description.is_empty() {
        return Err(bad("the front matter has no 'description' (one line saying when to use the skill)"));
    }
    if description.chars().any(char::is_control) {
        return Err(bad("the description holds control characters"));
    }
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(bad(format!("the description has {chars} characters; at most {MAX_DESCRIPTION_CHARS}")));
    }
    let body = text.get(consumed..).unwrap_or_default().trim().to_owned();
    if body.is_empty() {
        return Err(bad("there are no instructions after the front matter"));
    }
    Ok(SkillManifest { name, description, body })
}
