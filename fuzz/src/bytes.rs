//! Reading a fuzz input as a few small fields: a flags byte, lines, and the rest. Seeds stay
//! readable files (a flags byte, then text), and the fuzzer can change any field.

pub struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self(data)
    }

    /// The next byte (0 once the input is used up).
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    /// Up to the next `\n` (which is consumed), or everything left.
    pub fn line(&mut self) -> &'a [u8] {
        match self.0.iter().position(|b| *b == b'\n') {
            Some(i) => {
                let line = &self.0[..i];
                self.0 = &self.0[i + 1..];
                line
            }
            None => std::mem::take(&mut self.0),
        }
    }

    pub fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// Bit `n` of `flags`.
pub fn bit(flags: u8, n: u8) -> bool {
    flags & (1 << n) != 0
}
