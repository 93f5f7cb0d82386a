//! Cross-check of Slack request signing against Slack's own Python SDK (`slack_sdk.signature`,
//! installed in `.clawless/venv` by `scripts/bootstrap.sh`): signatures the SDK makes for random
//! bodies must verify here, a flipped byte must not, and the SDK must accept the signatures our
//! test helper makes.

mod support;

use clawless_core::channels::slack::{SIGNATURE_HEADER, Slack, TIMESTAMP_HEADER, sign_request};
use clawless_core::channels::{Channel, VerifyError, WebhookInput};
use clawless_core::domain::secrets::{ChannelSecrets, Secret};
use rand::Rng;
use serde_json::{Value, json};
use support::run_python;

const SCRIPT: &str = r#"
import json, sys
from slack_sdk.signature import SignatureVerifier
out = []
for case in json.load(sys.stdin):
    verifier = SignatureVerifier(case["secret"])
    out.append({
        "signature": verifier.generate_signature(timestamp=str(case["timestamp"]), body=case["body"]),
        "accepts_ours": verifier.is_valid(body=case["body"], timestamp=str(case["timestamp"]), signature=case["ours"]),
    })
print(json.dumps(out))
"#;

fn random_text(rng: &mut impl Rng, max_len: usize) -> String {
    const POOL: [char; 16] = ['a', 'Z', '0', ' ', '&', '=', '%', '+', '{', '"', ':', '\n', 'é', '日', '🦀', '\u{200B}'];
    let len = rng.random_range(0..=max_len);
    (0..len).map(|_| POOL[rng.random_range(0..POOL.len())]).collect()
}

fn random_secret(rng: &mut impl Rng) -> String {
    (0..32).map(|_| char::from(b"0123456789abcdefghijklmnopqrstuvwxyz"[rng.random_range(0..36)])).collect()
}

fn verify(secret: &str, timestamp: i64, signature: &str, body: &[u8], now_secs: i64) -> Result<(), VerifyError> {
    let mut headers = http::HeaderMap::new();
    headers.insert(TIMESTAMP_HEADER, timestamp.to_string().parse().unwrap());
    headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
    let secrets = ChannelSecrets([("signing_secret".to_owned(), Secret::new(secret))].into_iter().collect());
    Slack.verify(&secrets, &WebhookInput { method: "POST", headers: &headers, query: "", body, now_secs })
}

#[test]
fn signatures_made_by_slack_sdk_verify_and_tampering_is_caught() {
    let mut rng = rand::rng();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let cases: Vec<(String, i64, String)> = (0..24)
        .map(|i| {
            let body = if i == 0 { String::new() } else { random_text(&mut rng, 400) };
            (random_secret(&mut rng), now - rng.random_range(0..200), body)
        })
        .collect();
    let input: Vec<Value> = cases
        .iter()
        .map(|(secret, ts, body)| {
            json!({"secret": secret, "timestamp": ts, "body": body, "ours": sign_request(secret, *ts, body.as_bytes())})
        })
        .collect();
    let answers = run_python(SCRIPT, &Value::Array(input));
    let answers = answers.as_array().expect("one answer per case");
    assert_eq!(answers.len(), cases.len());

    for ((secret, ts, body), answer) in cases.iter().zip(answers) {
        let theirs = answer["signature"].as_str().expect("a signature");
        assert!(theirs.starts_with("v0="), "{theirs}");
        assert_eq!(verify(secret, *ts, theirs, body.as_bytes(), now), Ok(()), "body {body:?}");
        assert_eq!(answer["accepts_ours"], true, "slack_sdk rejects our signature of {body:?}");

        // A flipped byte in the body, a neighbouring timestamp, another secret: refused.
        let mut tampered = body.clone().into_bytes();
        if tampered.is_empty() {
            tampered.push(b'x');
        } else {
            let i = rng.random_range(0..tampered.len());
            tampered[i] ^= 1 << rng.random_range(0..8);
        }
        assert_eq!(verify(secret, *ts, theirs, &tampered, now), Err(VerifyError::Mismatch), "body {body:?}");
        assert_eq!(verify(secret, ts + 1, theirs, body.as_bytes(), now), Err(VerifyError::Mismatch));
        let other = format!("{secret}x");
        assert_eq!(verify(&other, *ts, theirs, body.as_bytes(), now), Err(VerifyError::Mismatch));
        // Still signed correctly, but replayed too late.
        assert_eq!(verify(secret, *ts, theirs, body.as_bytes(), ts + 301), Err(VerifyError::Stale));
    }
}
