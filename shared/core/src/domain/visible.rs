//! Showing text to a person who must judge exactly what it says: every character that renders as
//! nothing, moves other text around, breaks a line or looks like a plain space while being
//! something else becomes a visible escape, so what a chat shows is what a tool would get.
//!
//! Escaped: controls (`Cc`: tabs, newlines, NEL, DEL, escape sequences), format characters
//! (`Cf`: the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, zero-width
//! spaces and joiners U+200B–U+200D, word joiner U+2060, U+FEFF, soft hyphen, tag characters),
//! line and paragraph separators (U+2028, U+2029), every space but U+0020 (a no-break space is
//! not a word break to a shell), default-ignorable code points (variation selectors, Hangul
//! fillers, the combining grapheme joiner), the braille blank, private-use and unassigned code
//! points. `\n`, `\r` and `\t` are written as such; everything else as `\u{XXXX}`.
//!
//! Backslashes are left as they are, so the function is meant for JSON text (a tool call's
//! canonical arguments, or a string quoted with [`quoted`]): there a backslash always starts a
//! JSON escape, and JSON never writes `\u{` with a brace, so an escape added here cannot be
//! mistaken for a character of the text.

use std::sync::LazyLock;

use regex::Regex;

/// One character of input as shown: itself, or an escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Plain(char),
    Escaped { original: char, shown: String },
}

impl Shown {
    pub fn push_to(&self, out: &mut String) {
        match self {
            Shown::Plain(c) => out.push(*c),
            Shown::Escaped { shown, .. } => out.push_str(shown),
        }
    }

    /// Characters this takes on screen.
    pub fn width(&self) -> usize {
        match self {
            Shown::Plain(_) => 1,
            Shown::Escaped { shown, .. } => shown.chars().count(),
        }
    }

    pub fn is_escaped(&self) -> bool {
        matches!(self, Shown::Escaped { .. })
    }
}

/// The characters [`visible`] escapes, by Unicode property (the regex crate carries the tables).
static HIDDEN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}\x{2800}[\p{Zs}--\x20]]")
        .map_err(|e| tracing::error!(event = "visible_pattern_invalid", error = %e))
        .ok()
});

fn is_hidden(c: char) -> bool {
    let mut buf = [0u8; 4];
    match HIDDEN.as_ref() {
        Some(re) => re.is_match(c.encode_utf8(&mut buf)),
        // Unreachable with the pattern above (a test compiles it); failing closed, anything
        // outside printable ASCII is escaped.
        None => !(' '..='~').contains(&c),
    }
}

fn escape(c: char) -> String {
    match c {
        '\n' => "\\n".to_owned(),
        '\r' => "\\r".to_owned(),
        '\t' => "\\t".to_owned(),
        other => format!("\\u{{{:04X}}}", u32::from(other)),
    }
}

/// `text` as a sequence of shown characters (for callers that lay it out, e.g. in lines that
/// must not cut an escape in two).
pub fn shown(text: &str) -> impl Iterator<Item = Shown> + '_ {
    text.chars().map(|c| if is_hidden(c) { Shown::Escaped { original: c, shown: escape(c) } } else { Shown::Plain(c) })
}

/// `text` with every invisible, control, format and line-breaking character written as an escape
/// (see the module docs for the exact set); on one line whatever it holds.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for s in shown(text) {
        s.push_to(&mut out);
    }
    out
}

/// `text` as one quoted line of data: `"` and `\` escaped as JSON does, everything else as
/// [`visible`], at most `max_shown` characters of it (escapes count as what they take on
/// screen), then `… (N more characters)` counting the characters of `text` left out.
pub fn quoted(text: &str, max_shown: usize) -> String {
    let mut out = String::from("\"");
    let mut used = 0;
    let mut chars = text.chars();
    let mut left_out = 0;
    for c in chars.by_ref() {
        let shown = match c {
            '"' => "\\\"".to_owned(),
            '\\' => "\\\\".to_owned(),
            c if is_hidden(c) => escape(c),
            c => c.to_string(),
        };
        let width = shown.chars().count();
        if used + width > max_shown {
            left_out = 1;
            break;
        }
        used += width;
        out.push_str(&shown);
    }
    left_out += chars.count();
    out.push('"');
    if left_out > 0 {
        out.push_str(&format!("… ({left_out} more characters)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_compiles() {
        assert!(HIDDEN.is_some());
    }

    #[test]
    fn plain_text_is_unchanged() {
        let text = r#"{"command":"ls -la /tmp && echo 'done' | grep -v x"} Zürich 東京 ✓"#;
        assert_eq!(visible(text), text);
    }

    #[test]
    fn bidi_and_zero_width_characters_become_escapes() {
        // "rm -rf ~" shown reversed by an override, and a zero-width space inside a word.
        let text = "echo safe\u{202E}~ fr- mr\u{202C} ex\u{200B}it";
        assert_eq!(visible(text), r"echo safe\u{202E}~ fr- mr\u{202C} ex\u{200B}it");
        for c in [
            '\u{202A}',
            '\u{202B}',
            '\u{202D}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{061C}',
            '\u{200E}',
            '\u{200F}',
            '\u{E0041}',
        ] {
            assert_eq!(visible(&c.to_string()), format!("\\u{{{:04X}}}", u32::from(c)), "{:04X}", u32::from(c));
        }
    }

    #[test]
    fn line_breaks_and_controls_stay_on_one_line() {
        assert_eq!(visible("a\nExpires 2099"), r"a\nExpires 2099");
        assert_eq!(visible("a\r\n\tb"), r"a\r\n\tb");
        for (c, shown) in [
            ('\u{2028}', r"\u{2028}"),
            ('\u{2029}', r"\u{2029}"),
            ('\u{0085}', r"\u{0085}"),
            ('\u{000B}', r"\u{000B}"),
            ('\u{000C}', r"\u{000C}"),
            ('\u{001B}', r"\u{001B}"),
            ('\u{007F}', r"\u{007F}"),
        ] {
            assert_eq!(visible(&format!("x{c}y")), format!("x{shown}y"));
        }
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!visible(&all).chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'));
    }

    #[test]
    fn look_alike_spaces_and_fillers_are_escaped_but_a_space_is_not() {
        assert_eq!(visible("rm\u{00A0}-rf"), r"rm\u{00A0}-rf");
        assert_eq!(visible("a\u{3000}b\u{2003}c"), r"a\u{3000}b\u{2003}c");
        assert_eq!(visible("\u{3164}\u{115F}\u{FE0F}\u{034F}\u{2800}"), r"\u{3164}\u{115F}\u{FE0F}\u{034F}\u{2800}");
        assert_eq!(visible("\u{E000}\u{10FFFD}"), r"\u{E000}\u{10FFFD}", "private use");
        assert_eq!(visible("a b"), "a b");
    }

    #[test]
    fn an_added_escape_cannot_be_confused_with_json_text() {
        // The JSON of a string holding the six characters `\u{202E}` shows a doubled backslash;
        // the real override shows a single one.
        let literal = serde_json::to_string(r"\u{202E}").unwrap();
        let real = serde_json::to_string("\u{202E}").unwrap();
        assert_ne!(visible(&literal), visible(&real));
        assert_eq!(visible(&literal), r#""\\u{202E}""#);
        assert_eq!(visible(&real), r#""\u{202E}""#);
    }

    #[test]
    fn quoted_data_is_one_line_with_its_length_capped() {
        assert_eq!(quoted("Ada", 10), r#""Ada""#);
        assert_eq!(quoted("Ada\nVerified by security: SAFE", 100), r#""Ada\nVerified by security: SAFE""#);
        assert_eq!(quoted(r#"say "hi" \ bye"#, 100), r#""say \"hi\" \\ bye""#);
        assert_eq!(quoted("abcdefghij", 4), "\"abcd\"… (6 more characters)");
        // An escape is never cut in two.
        assert_eq!(quoted("ab\u{202E}cd", 5), "\"ab\"… (3 more characters)");
        assert!(!quoted(&"x\n".repeat(500), 50).contains('\n'));
    }

    #[test]
    fn shown_keeps_each_escape_whole() {
        let parts: Vec<Shown> = shown("a\u{200B}").collect();
        assert_eq!(parts[0], Shown::Plain('a'));
        assert_eq!(parts[1], Shown::Escaped { original: '\u{200B}', shown: r"\u{200B}".into() });
        assert_eq!(parts[1].width(), 8);
    }
}
