//! Splitting answers into pieces a channel accepts (`domain::text::split_message`), alone at
//! small limits and as the reply function runs it per channel (`channels::outbound_pieces`:
//! the channel's neutralising, then its limit).
//!
//! Input: a flags byte, then the text. Flags below 0xF0: bit 0 counts bytes instead of
//! characters, bits 1-7 give the limit (1 to 120 characters, 4 to 123 bytes). From 0xF0: the channel `flags % 5` in
//! `ChannelKind::ALL` order.
//!
//! Checked besides "no panic": every piece is within the limit, and no visible character is
//! lost or reordered (the pieces hold the text's non-whitespace characters in order; a code
//! fence closed at the end of one piece and reopened in the next only adds some).

use clawless_core::channels::{self, outbound_pieces};
use clawless_core::domain::model::ChannelKind;
use clawless_core::domain::text::{TextLimit, split_message};

use crate::bytes::Bytes;

fn measure(limit: TextLimit, piece: &str) -> (usize, usize) {
    match limit {
        TextLimit::Chars(n) => (piece.chars().count(), n.max(1)),
        TextLimit::Bytes(n) => (piece.len(), n.max(1)),
    }
}

/// Whether `needle`'s characters all appear in `haystack`, in order.
fn is_subsequence(needle: impl Iterator<Item = char>, haystack: &str) -> bool {
    let mut hay = haystack.chars();
    needle.into_iter().all(|c| hay.any(|h| h == c))
}

fn check(text: &str, limit: TextLimit, pieces: &[String]) {
    assert!(!pieces.is_empty(), "no pieces at all for {text:?}");
    for piece in pieces {
        let (size, max) = measure(limit, piece);
        assert!(size <= max, "a piece of {size} over the limit {limit:?}: {piece:?}");
    }
    let joined = pieces.concat();
    let visible = text.chars().filter(|c| !c.is_whitespace());
    assert!(is_subsequence(visible, &joined), "text lost in splitting at {limit:?}: {text:?} became {pieces:?}");
}

pub fn text_split(data: &[u8]) {
    let mut input = Bytes::new(data);
    let flags = input.byte();
    let Ok(text) = std::str::from_utf8(input.rest()) else { return };
    if flags >= 0xF0 {
        let kind = ChannelKind::ALL[usize::from(flags) % ChannelKind::ALL.len()];
        let Some(channel) = channels::channel(kind) else { return };
        let neutral = channel.neutralise(text);
        let pieces = outbound_pieces(channel, text);
        check(&neutral, channel.text_limit(), &pieces);
        return;
    }
    let n = usize::from(flags >> 1) + 1;
    // A byte limit fits at least one character (up to 4 bytes), as every channel's does.
    let limit = if flags & 1 == 0 { TextLimit::Chars(n) } else { TextLimit::Bytes(n + 3) };
    check(text, limit, &split_message(text, limit));
}
