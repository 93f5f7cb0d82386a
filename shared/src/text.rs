//! Splitting an answer into pieces a channel accepts: at paragraph, then line, then word
//! boundaries, and by characters only when nothing else fits. Pieces keep their order.

/// Splits `text` into pieces of at most `max_chars` characters (Unicode scalar values).
pub fn split_message(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let mut pieces = Vec::new();
    let mut rest = text.trim_end();
    while rest.chars().count() > max_chars {
        let window_end = rest.char_indices().nth(max_chars).map(|(i, _)| i).unwrap_or(rest.len());
        // One character more, so a separator right after a full piece is found (and dropped).
        let lookahead_end = rest.char_indices().nth(max_chars + 1).map(|(i, _)| i).unwrap_or(rest.len());
        let window = &rest[..lookahead_end];
        let cut = ["\n\n", "\n", " "]
            .iter()
            .filter_map(|sep| window.rfind(sep).filter(|&i| i > 0 && i <= window_end).map(|i| (i, sep.len())))
            .next()
            .unwrap_or((window_end, 0));
        pieces.push(rest[..cut.0].trim_end().to_owned());
        rest = rest[cut.0 + cut.1..].trim_start_matches(['\n', ' ']);
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split_message("hello", 10), ["hello"]);
    }

    #[test]
    fn prefers_paragraphs_then_lines_then_words() {
        assert_eq!(split_message("aaaa\n\nbbbb", 8), ["aaaa", "bbbb"]);
        assert_eq!(split_message("aaaa\nbbbb cc", 9), ["aaaa", "bbbb cc"]);
        assert_eq!(split_message("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
        assert_eq!(split_message("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn counts_characters_not_bytes() {
        let text = "é".repeat(10);
        let pieces = split_message(&text, 4);
        assert!(pieces.iter().all(|p| p.chars().count() <= 4));
        assert_eq!(pieces.concat(), text);
    }
}
