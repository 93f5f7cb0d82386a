//! The memory-poisoning check (`safety::check_memory_write`), which every memory write of the
//! agent passes, and the response audit that shares its normalising.
//!
//! Input: the text (invalid UTF-8 is read with replacement characters, as the agent's JSON
//! tool input could never carry it). Checked besides "no panic": a text refused is still
//! refused with harmless lines around it (a note cannot be slipped through by padding it).

use std::collections::BTreeSet;

use clawless_core::safety::{audit_response, check_memory_write};

pub fn memory_poison(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if check_memory_write(&text).is_err() {
        let wrapped = format!("A fact.\n\n{text}\n\nAnother fact.");
        assert!(check_memory_write(&wrapped).is_err(), "refused alone but allowed between two facts: {text:?}");
    }
    let allowed: BTreeSet<String> = ["memory".to_owned()].into();
    let _ = audit_response(&text, &allowed);
}
