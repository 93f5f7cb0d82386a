//! Text normalisation shared by the checks: invisible characters removed, NFKC, lowercase,
//! accents dropped, quotes straightened, whitespace collapsed.

use unicode_normalization::UnicodeNormalization;

/// Bidi embeddings, overrides and isolates: they reorder what a reader sees.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}')
}

/// Unicode tag characters: invisible, yet models read the ASCII they shadow ("ASCII smuggling").
/// The only ordinary use is inside an emoji flag of a region (black flag, tags, cancel tag).
fn is_tag(c: char) -> bool {
    matches!(c, '\u{E0000}'..='\u{E007F}')
}

/// The ASCII character a tag character shadows, if any.
fn tag_ascii(c: char) -> Option<char> {
    let code = u32::from(c);
    (0xE0020..=0xE007E).contains(&code).then(|| char::from_u32(code - 0xE0000)).flatten()
}

/// Bidi controls always; zero-width characters when they split a Latin word ("ig\u{200B}nore")
/// or come in runs (hidden encodings); tag characters in runs outside an emoji flag. A lone
/// joiner in an emoji sequence or a mark in right-to-left text is ordinary.
pub(super) fn hidden_characters(text: &str) -> Option<&'static str> {
    let mut prev: Option<char> = None;
    let mut run = 0usize;
    let mut tags = 0usize;
    let mut in_flag = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_bidi_control(c) {
            return Some("bidi_control_characters");
        }
        if is_tag(c) {
            in_flag = in_flag || (tags == 0 && prev == Some(BLACK_FLAG));
            tags += 1;
            if !in_flag && tags >= 3 {
                return Some("tag_characters");
            }
            if c == CANCEL_TAG {
                tags = 0;
                in_flag = false;
            }
            prev = Some(c);
            continue;
        }
        tags = 0;
        in_flag = false;
        if is_zero_width(c) {
            run += 1;
            let splits_word = prev.is_some_and(|p| p.is_ascii_alphanumeric())
                && chars.peek().is_some_and(|n| n.is_ascii_alphanumeric());
            if run >= 3 || splits_word {
                return Some("zero_width_characters");
            }
        } else {
            run = 0;
        }
        prev = Some(c);
    }
    None
}

const BLACK_FLAG: char = '\u{1F3F4}';
const CANCEL_TAG: char = '\u{E007F}';

/// Han ideographs, kana and the CJK compatibility ideographs: scripts written without spaces,
/// so a space between two of them is padding ("忽 略" reads as "忽略").
fn is_cjk(c: char) -> bool {
    matches!(
        c,
        '\u{3040}'..='\u{30FF}'
            | '\u{31F0}'..='\u{31FF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{20000}'..='\u{2FA1F}'
    )
}

/// One line made comparable with the rules: tag characters read as the ASCII they shadow, other
/// invisible characters removed, compatibility forms unified (NFKC: full-width letters,
/// ligatures, a full-width colon), lowercased, accents on Latin letters dropped (NFD, marks
/// U+0300–U+036F removed, NFC again, so kana keep their voicing marks), quotes straightened.
fn fold_line(line: &str) -> String {
    let mut visible = String::with_capacity(line.len());
    let mut in_tags = false;
    for c in line.chars() {
        if is_tag(c) {
            // Hidden text is read as a phrase of its own, not glued to the visible word before it.
            if !in_tags {
                visible.push(' ');
                in_tags = true;
            }
            visible.extend(tag_ascii(c));
            continue;
        }
        if in_tags {
            visible.push(' ');
            in_tags = false;
        }
        if !(is_zero_width(c) || is_bidi_control(c)) {
            visible.push(c);
        }
    }
    let lowered: String = visible.nfkc().flat_map(char::to_lowercase).collect();
    lowered
        .nfd()
        .filter(|c| !matches!(c, '\u{0300}'..='\u{036F}'))
        .nfc()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' => '"',
            c => c,
        })
        .collect()
}

/// [`fold_line`] on each line, spaces collapsed (and dropped between two CJK characters), each
/// line trimmed; empty lines dropped, newlines kept.
pub(super) fn normalise_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let folded = fold_line(line);
        let words: Vec<&str> = folded.split_whitespace().collect();
        let Some((first, rest)) = words.split_first() else { continue };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(first);
        let mut prev = *first;
        for word in rest {
            let joins = prev.chars().next_back().is_some_and(is_cjk) && word.chars().next().is_some_and(is_cjk);
            if !joins {
                out.push(' ');
            }
            out.push_str(word);
            prev = word;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Response audit
// ---------------------------------------------------------------------------------------------
