//! Markup that several channels read the same way, made literal: Markdown masked links and
//! `@word` mass mentions. Each channel's [`super::Channel::neutralise`] picks what applies to it.

/// Unmasks Markdown masked links: `[text](https://…)` reads `text (https://…)`, so the target
/// is in sight and `[https://good.example](https://evil.example)` or `[Sign in to
/// Slack](https://evil.example)` cannot pass for what they are not. Only a link whose text is its
/// own target is kept. Every masked link rather than those whose text "looks like" an address:
/// lookalike dots, invisible characters and plain words defeat any such test.
///
/// Each `](` followed by an address is looked at, and a link is kept only when the text between
/// it and the nearest `[` before it has no bracket: then that `[` is where a Markdown parser
/// starts the link too, so the text judged is the text shown. Anything less plain is broken by a
/// space between `]` and `(`, which no parser reads as a link. Nothing here creates a new `](`,
/// and the work is linear in the text's length, whatever it holds.
pub fn unmask_links(text: &str) -> String {
    let bytes = text.as_bytes();
    // Found on the original text: each `](` to break, and whether its `[` is dropped too.
    let mut breaks: Vec<(usize, Option<usize>)> = Vec::new();
    let mut last_open: Option<usize> = None;
    // Whether a `]` came after `last_open` (kept rather than searched for: linear time).
    let mut closed_since_open = false;
    // The bytes read to judge what follows the latest `](` that is no link: a `[` dropped in
    // there could make it one (`](x[https://…` is no link, `](xhttps://…` would be).
    let mut inert_head = 0..0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'[' => (last_open, closed_since_open) = (Some(i), false),
            b']' => {
                let plain = !closed_since_open;
                closed_since_open = true;
                if bytes.get(i + 1) != Some(&b'(') {
                    continue;
                }
                let target = text[i + 2..].trim_start_matches(|c: char| c.is_whitespace() || c == '<');
                if !is_address(target) {
                    let start = text.len() - target.len();
                    let head = target.char_indices().nth(ADDRESS_HEAD).map_or(target.len(), |(at, _)| at);
                    inert_head = i + 2..start + head;
                    continue;
                }
                let Some(open) = last_open else { continue };
                if plain && is_own_target(&text[open + 1..i], target) {
                    continue;
                }
                // Dropping the `[` must change no other `](`: not join a `]` before it with a `(`
                // after it into a new one, nor alter what follows one that is no link. (A kept
                // link's own address holds no `[`, so no drop alters it.)
                let joins = open > 0 && bytes[open - 1] == b']' && bytes.get(open + 1) == Some(&b'(');
                let drop = plain && !joins && !inert_head.contains(&open);
                breaks.push((i, drop.then_some(open)));
            }
            _ => {}
        }
    }
    if breaks.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + breaks.len());
    let mut copied = 0;
    for (close, open) in breaks {
        if let Some(open) = open {
            out.push_str(&text[copied..open]);
            copied = open + 1;
        }
        out.push_str(&text[copied..close]);
        out.push_str(if open.is_some() { " " } else { "] " });
        copied = close + 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// How much of what follows `](` is read to tell an address from anything else.
const ADDRESS_HEAD: usize = 40;

/// Does `target` start with an address a link can lead to (`scheme:…`, `//…`, `www.…`)? Code
/// such as `handlers[0](event)` or `f[0](x: 1)` has brackets and parentheses too, and is left
/// alone.
fn is_address(target: &str) -> bool {
    let head: String = target.chars().take(ADDRESS_HEAD).collect::<String>().to_ascii_lowercase();
    let (scheme, after) = head.split_once(':').unwrap_or_default();
    head.starts_with("//")
        || head.starts_with("www.")
        || (scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && after.starts_with(|c: char| c != ':' && !c.is_whitespace()))
}

/// Is `shown` the address that `target` (what follows `](`) starts with, ignoring the scheme,
/// a trailing `/`, `<…>` and case? The address ends at whitespace, `>` or the `)` closing the
/// parenthesis. Only as much of `target` is read as could match `shown`.
fn is_own_target(shown: &str, target: &str) -> bool {
    fn plain(s: &str) -> String {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>').to_lowercase();
        let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(&s);
        s.trim_end_matches('/').to_owned()
    }
    let budget = shown.len() + "https://".len() + "/".len();
    let mut depth = 0usize;
    let mut end = None;
    for (i, c) in target.char_indices() {
        if i > budget {
            return false;
        }
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                end = Some(i);
                break;
            }
            ')' => depth -= 1,
            '>' => {
                end = Some(i);
                break;
            }
            c if c.is_whitespace() => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let address = &target[..end.unwrap_or(target.len())];
    !address.is_empty() && plain(shown) == plain(address)
}

/// Puts a zero-width space after the `@` of each `@word` (any case, as a whole word: not
/// `@heresy`), so it shows as typed but no longer reads as that mention.
pub fn break_mentions(text: &str, words: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let mention = words.iter().any(|word| {
            rest.get(..word.len()).is_some_and(|head| head.eq_ignore_ascii_case(word))
                && !rest[word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
        });
        if mention {
            out.push('\u{200B}');
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn masked_links_are_unmasked_unless_they_show_their_target() {
        let cases = [
            ("[https://good.example](https://evil.example)", "https://good.example (https://evil.example)"),
            ("see [the docs](https://docs.rs/x).", "see the docs (https://docs.rs/x)."),
            ("[https://a.example](https://a.example/)", "[https://a.example](https://a.example/)"),
            ("[a.example](<HTTPS://A.example>)", "[a.example](<HTTPS://A.example>)"),
            // Not a link (no address after `](`), or no brackets at all: unchanged.
            ("arr[i](x) f[0](x: 1) v[0](xs::y)", "arr[i](x) f[0](x: 1) v[0](xs::y)"),
            ("a] (https://x.example) and ](https://x.example)", "a] (https://x.example) and ](https://x.example)"),
            // A `]` inside the text is as a parser may read it (`[a] b](…)` is one link): broken.
            ("[a] b](https://x.example)", "[a] b] (https://x.example)"),
            // Without any `)`, a parser that needs one shows no link; breaking it anyway is harmless.
            ("[https://good.example](https://evil.example", "https://good.example (https://evil.example"),
            // A `[` right after a `]` stays, or dropping it would make a new `](`.
            ("x][(https://a.example](https://b.example)", "x][(https://a.example] (https://b.example)"),
            // A second link after the first one's `]` shares its `[`: broken, not trusted.
            ("[a](https://b.example) c](https://d.example)", "a (https://b.example) c] (https://d.example)"),
        ];
        for (input, expected) in cases {
            assert_eq!(unmask_links(input), expected, "{input}");
        }
    }

    /// Every `](` left after unmasking belongs to a link whose text is its own target.
    #[test]
    fn no_disguised_link_survives_unmasking() {
        let pieces = [
            "[",
            "]",
            "(",
            ")",
            "](",
            "https://e.example",
            "https://g.example",
            "https:",
            "//g",
            "www.e",
            ":",
            " ",
            "<",
            ">",
            "x",
            "\\",
            "\n",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..50_000 {
            let mut text = String::new();
            for _ in 0..14 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let out = unmask_links(&text);
            for (i, _) in out.match_indices("](") {
                let target = out[i + 2..].trim_start_matches(|c: char| c.is_whitespace() || c == '<');
                if !is_address(target) {
                    continue;
                }
                // With no `[` before it, no link.
                let Some(open) = out[..i].rfind('[') else { continue };
                let shown = &out[open + 1..i];
                assert!(!shown.contains(']') && is_own_target(shown, target), "{text:?} → {out:?}");
            }
        }
    }

    #[test]
    fn unmasking_is_linear_in_the_text() {
        let hostile = format!("[{}", "](https://e.example ".repeat(50_000));
        let started = std::time::Instant::now();
        let out = unmask_links(&hostile);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(!out.contains("]("));
        let one_open = format!("[{}](https://e.example)", "x".repeat(200_000));
        assert_eq!(unmask_links(&one_open), format!("{} (https://e.example)", "x".repeat(200_000)));
    }

    #[test]
    fn mention_words_are_broken_only_as_whole_words() {
        let out = break_mentions("@everyone @Here! @heresy a@here.example @here_x @", &["everyone", "here"]);
        assert_eq!(out, "@\u{200B}everyone @\u{200B}Here! @heresy a@\u{200B}here.example @here_x @");
    }
}
