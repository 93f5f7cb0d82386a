//! Splitting an answer into pieces a channel accepts: at paragraph, then line, then word
//! boundaries, outside code fences when possible (a fence that must be split is closed at the end
//! of one piece and reopened at the start of the next), by characters only when nothing else fits.

/// How a channel limits one message: in characters (Unicode scalar values) or in UTF-8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLimit {
    Chars(usize),
    Bytes(usize),
}

impl TextLimit {
    fn max(self) -> usize {
        match self {
            TextLimit::Chars(n) | TextLimit::Bytes(n) => n.max(1),
        }
    }

    fn measure(self, s: &str) -> usize {
        match self {
            TextLimit::Chars(_) => s.chars().count(),
            TextLimit::Bytes(_) => s.len(),
        }
    }

    /// Byte index of the end of the longest prefix of `s` within `budget` units.
    fn prefix_end(self, s: &str, budget: usize) -> usize {
        match self {
            TextLimit::Chars(_) => s.char_indices().nth(budget).map(|(i, _)| i).unwrap_or(s.len()),
            TextLimit::Bytes(_) => {
                let mut end = budget.min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                end
            }
        }
    }
}

const FENCE: &str = "```";

/// A code fence open at some point of a text.
struct OpenFence {
    /// Its language (the info string of its opening line).
    lang: String,
    /// Byte index just past its opening line: where its code starts.
    code_start: usize,
}

/// The code fence open at byte `at` of `text`, if one is open there.
fn open_fence_at(text: &str, at: usize) -> Option<OpenFence> {
    let mut open: Option<OpenFence> = None;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if line_start >= at {
            break;
        }
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix(FENCE) {
            open = match open {
                Some(_) => None,
                None => Some(OpenFence { lang: info.trim().to_owned(), code_start: line_start + line.len() }),
            };
        }
        line_start += line.len();
    }
    open
}

/// Where to cut `rest`: (byte index of the cut, separator length to drop, fence to reopen).
fn choose_cut(rest: &str, limit: TextLimit) -> (usize, usize, Option<String>) {
    let max = limit.max();
    let separators = ["\n\n", "\n", " "];
    let last_before = |window: &str, end: usize, sep: &str, outside_fence: bool| {
        let mut search = window;
        while let Some(i) = search.rfind(sep) {
            if i > 0 && i <= end && (!outside_fence || open_fence_at(rest, i).is_none()) {
                return Some(i);
            }
            search = &search[..i];
        }
        None
    };
    let window_end = limit.prefix_end(rest, max);
    // One unit more, so a separator right after a full piece is found (and dropped).
    let lookahead = limit.prefix_end(rest, max + 1);
    for sep in separators {
        if let Some(i) = last_before(&rest[..lookahead], window_end, sep, true) {
            return (i, sep.len(), None);
        }
    }
    // Every boundary is inside a fence: cut inside it, leaving room to close and reopen it.
    let lang = open_fence_at(rest, window_end).map(|f| f.lang).unwrap_or_default();
    let reserve = FENCE.len() + 1 + FENCE.len() + lang.len() + 1;
    let budget = if max > reserve * 2 { max - reserve } else { max };
    let end = limit.prefix_end(rest, budget);
    let lookahead = limit.prefix_end(rest, budget + 1);
    // The fence to close at `cut` and reopen after it, if the piece holds some of its code. A
    // piece cut at (or inside) the fence's opening line would hold nothing but that line, and
    // the next piece, reopened with it, would start with the same text again: the split would
    // never end. Reopening only after code means each piece takes more than the reopening adds.
    let reopened = |cut: usize| {
        open_fence_at(rest, cut)
            .filter(|f| budget < max && f.code_start < cut && !rest[f.code_start..cut].trim().is_empty())
    };
    let hard_cut = (end.max(rest.chars().next().map_or(1, char::len_utf8)), 0);
    let cut = separators
        .iter()
        .find_map(|sep| last_before(&rest[..lookahead], end, sep, false).map(|i| (i, sep.len())))
        .filter(|(i, _)| open_fence_at(rest, *i).is_none() || reopened(*i).is_some())
        .unwrap_or(hard_cut);
    (cut.0, cut.1, reopened(cut.0).map(|f| f.lang))
}

/// Splits `text` into pieces within `limit`, in order.
pub fn split_message(text: &str, limit: TextLimit) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text.trim_end().to_owned();
    while limit.measure(&rest) > limit.max() {
        let (cut, skip, fence) = choose_cut(&rest, limit);
        let mut piece = rest[..cut].trim_end().to_owned();
        let mut next = rest[cut + skip..].trim_start_matches([' ', '\n']).to_owned();
        if let Some(lang) = fence {
            piece.push('\n');
            piece.push_str(FENCE);
            next = format!("{FENCE}{lang}\n{next}");
        }
        if !piece.is_empty() {
            pieces.push(piece);
        }
        rest = next;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(n: usize) -> TextLimit {
        TextLimit::Chars(n)
    }

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split_message("hello", chars(10)), ["hello"]);
        assert_eq!(split_message("", chars(10)), [""]);
    }

    #[test]
    fn prefers_paragraphs_then_lines_then_words() {
        assert_eq!(split_message("aaaa\n\nbbbb", chars(8)), ["aaaa", "bbbb"]);
        assert_eq!(split_message("aaaa\nbbbb cc", chars(9)), ["aaaa", "bbbb cc"]);
        assert_eq!(split_message("aaa bbb ccc", chars(7)), ["aaa bbb", "ccc"]);
        assert_eq!(split_message("abcdefghij", chars(4)), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn counts_characters_or_bytes() {
        let text = "é".repeat(10);
        let pieces = split_message(&text, chars(4));
        assert!(pieces.iter().all(|p| p.chars().count() <= 4));
        assert_eq!(pieces.concat(), text);
        let pieces = split_message(&text, TextLimit::Bytes(5));
        assert!(pieces.iter().all(|p| p.len() <= 5), "{pieces:?}");
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn does_not_split_inside_a_code_fence_when_it_can_be_helped() {
        let text = "intro text\n\n```rust\nfn a() {}\nfn b() {}\n```\nafter";
        let pieces = split_message(text, chars(45));
        for p in &pieces {
            assert_eq!(p.matches("```").count() % 2, 0, "a piece with an unbalanced fence: {p:?}");
        }
        assert_eq!(pieces[0], "intro text");
    }

    #[test]
    fn a_fence_longer_than_the_limit_is_closed_and_reopened() {
        let code = (0..30).map(|i| format!("let x{i} = {i};")).collect::<Vec<_>>().join("\n");
        let text = format!("```rust\n{code}\n```");
        let pieces = split_message(&text, chars(100));
        assert!(pieces.len() > 1);
        for p in &pieces {
            assert!(p.chars().count() <= 100, "{p:?}");
            assert!(p.starts_with("```rust\n"), "{p:?}");
            assert!(p.ends_with("```"), "{p:?}");
        }
        let lines: Vec<&str> = pieces.iter().flat_map(|p| p.lines()).filter(|l| !l.starts_with("```")).collect();
        assert_eq!(lines.join("\n"), code, "no line lost or reordered");
    }

    /// Found by fuzzing (`fuzz/`, target `text_split`): a fence whose opening line is followed by
    /// a boundary, then by a line without one longer than the limit, split forever (each piece
    /// was the opening line alone, and reopening it gave back the same text).
    #[test]
    fn a_fence_cut_right_after_its_opening_line_still_ends() {
        let texts = [
            "intro text\n\n```rus\n\n```rus\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0t\nfn at\nfn a() {}\nfn b() {}\n```\nafter".to_owned(),
            format!("```{}\n\n```{}\nafter", "y".repeat(30), "\0".repeat(60)),
        ];
        for text in texts {
            // On another thread, so a split that never ends fails the test instead of hanging it.
            let (done, finished) = std::sync::mpsc::channel();
            let input = text.clone();
            std::thread::spawn(move || done.send(split_message(&input, chars(45))));
            let pieces = finished
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("splitting {text:?} did not end"));
            assert!(pieces.iter().all(|p| p.chars().count() <= 45), "{pieces:?}");
            assert!(pieces.len() <= 4, "{pieces:?}");
            // Nothing lost: the text's visible characters are in the pieces, in order (reopened
            // fences only add some).
            let mut joined = pieces.iter().flat_map(|p| p.chars());
            assert!(text.chars().filter(|c| !c.is_whitespace()).all(|c| joined.any(|j| j == c)), "{pieces:?}");
        }
    }

    #[test]
    fn long_answers_keep_every_word_in_order() {
        let text = (0..2000).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        let pieces = split_message(&text, chars(4096));
        assert!(pieces.len() > 1 && pieces.iter().all(|p| p.chars().count() <= 4096));
        assert_eq!(pieces.join(" "), text);
    }
}
