//! Replays every committed corpus file through its target, without instrumentation: each seed,
//! and each input a fuzzing run added to a corpus, keeps passing the target's checks.

use std::path::Path;

use crate::TARGETS;

#[test]
fn every_corpus_file_passes_its_target() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, target) in TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name} has no seeds in {}", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            eprintln!("{name}: {}", file.display());
            target(&data);
        }
    }
}

#[test]
fn every_target_has_a_binary() {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets");
    for (name, _) in TARGETS {
        assert!(targets.join(format!("{name}.rs")).is_file(), "fuzz_targets/{name}.rs is missing");
    }
}

/// The webhook seeds made from valid requests get past the signature to the parser: without
/// that the fuzzer would start from refusals only.
#[test]
fn signed_webhook_seeds_reach_the_parser() {
    use crate::webhooks::{self, Reached};
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let seed = |target: &str, name: &str| {
        std::fs::read(corpus.join(target).join(format!("seed-{name}")))
            .unwrap_or_else(|e| panic!("{target}/{name}: {e}"))
    };
    type Case = (&'static str, &'static str, fn(&[u8]) -> Reached, Reached);
    let cases: [Case; 18] = [
        ("webhook_telegram", "event-private-signed", webhooks::telegram, Reached::Delivered(1)),
        ("webhook_telegram", "event-callback-signed", webhooks::telegram, Reached::Delivered(1)),
        ("webhook_telegram", "group-mention-username", webhooks::telegram, Reached::Delivered(1)),
        ("webhook_telegram", "event-own-header", webhooks::telegram, Reached::Delivered(1)),
        ("webhook_telegram", "event-wrong-secret", webhooks::telegram, Reached::Refused),
        ("webhook_slack", "event-callback-own-headers", webhooks::slack, Reached::Delivered(1)),
        ("webhook_slack", "slash-command-doc-signed", webhooks::slack, Reached::Delivered(1)),
        ("webhook_slack", "slash-command-doc-stale", webhooks::slack, Reached::Refused),
        ("webhook_slack", "button-click-signed", webhooks::slack, Reached::Delivered(1)),
        ("webhook_discord", "slash-command-own-headers", webhooks::discord, Reached::Delivered(1)),
        ("webhook_discord", "ping-signed", webhooks::discord, Reached::Answered),
        ("webhook_feishu", "event-own-headers", webhooks::feishu, Reached::Delivered(1)),
        ("webhook_feishu", "event-encrypted-signed", webhooks::feishu, Reached::Delivered(1)),
        ("webhook_feishu", "event-token-only", webhooks::feishu, Reached::Delivered(1)),
        ("webhook_feishu", "challenge-encrypted-unsigned", webhooks::feishu, Reached::Answered),
        ("webhook_feishu", "challenge-token-only", webhooks::feishu, Reached::Answered),
        ("webhook_whatsapp", "event-own-header", webhooks::whatsapp, Reached::Delivered(1)),
        ("webhook_whatsapp", "verify-handshake-signed", webhooks::whatsapp, Reached::Answered),
    ];
    for (target, name, run, expected) in cases {
        assert_eq!(run(&seed(target, name)), expected, "{target}/{name}");
    }
}
