//! Cross-check of Discord request signatures against PyNaCl (libsodium, the library Discord's own
//! examples verify with; installed in `.clawless/venv` by `scripts/bootstrap.sh`): signatures
//! PyNaCl makes over timestamp + body for random keys and bodies must verify here, a flipped byte
//! must not (nor a correct one replayed more than 5 minutes later), and PyNaCl must accept the
//! signatures our test helper makes.

mod support;

use clawless_core::channels::discord::{Discord, SIGNATURE_HEADER, TIMESTAMP_HEADER, public_key_hex, sign_request};
use clawless_core::channels::{Channel, VerifyError, WebhookInput};
use clawless_core::domain::secrets::{ChannelSecrets, Secret};
use rand::Rng;
use serde_json::{Value, json};
use support::run_python;

const SCRIPT: &str = r#"
import json, sys
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey
out = []
for case in json.load(sys.stdin):
    key = SigningKey(bytes.fromhex(case["seed"]))
    message = case["timestamp"].encode() + bytes.fromhex(case["body"])
    try:
        key.verify_key.verify(message, bytes.fromhex(case["ours"]))
        accepts_ours = True
    except BadSignatureError:
        accepts_ours = False
    out.append({
        "public_key": key.verify_key.encode().hex(),
        "signature": key.sign(message).signature.hex(),
        "accepts_ours": accepts_ours,
    })
print(json.dumps(out))
"#;

/// The clock the requests are verified at (the signatures are made for times around it).
const NOW: i64 = 1_763_740_800;

fn verify(public_key: &str, timestamp: &str, signature: &str, body: &[u8], now_secs: i64) -> Result<(), VerifyError> {
    let mut headers = http::HeaderMap::new();
    headers.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
    headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
    let secrets = ChannelSecrets([("public_key".to_owned(), Secret::new(public_key))].into_iter().collect());
    Discord.verify(&secrets, &WebhookInput { method: "POST", headers: &headers, query: "", body, now_secs })
}

#[test]
fn signatures_made_by_pynacl_verify_and_tampering_is_caught() {
    let mut rng = rand::rng();
    let cases: Vec<([u8; 32], String, Vec<u8>)> = (0..24)
        .map(|i| {
            let len = if i == 0 { 0 } else { rng.random_range(0..600) };
            let body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            (rng.random(), (NOW - rng.random_range(0..200)).to_string(), body)
        })
        .collect();
    let input: Vec<Value> = cases
        .iter()
        .map(|(seed, ts, body)| {
            json!({"seed": hex::encode(seed), "timestamp": ts, "body": hex::encode(body),
                   "ours": sign_request(seed, ts, body)})
        })
        .collect();
    let answers = run_python(SCRIPT, &Value::Array(input));
    let answers = answers.as_array().expect("one answer per case");
    assert_eq!(answers.len(), cases.len());

    for ((seed, ts, body), answer) in cases.iter().zip(answers) {
        let public = answer["public_key"].as_str().expect("a public key");
        let theirs = answer["signature"].as_str().expect("a signature");
        assert_eq!(public_key_hex(seed), public, "the same public key from the same seed");
        assert_eq!(verify(public, ts, theirs, body, NOW), Ok(()));
        assert_eq!(answer["accepts_ours"], true, "PyNaCl rejects our signature");

        let mut tampered = body.clone();
        if tampered.is_empty() {
            tampered.push(0);
        } else {
            let i = rng.random_range(0..tampered.len());
            tampered[i] ^= 1 << rng.random_range(0..8);
        }
        assert_eq!(verify(public, ts, theirs, &tampered, NOW), Err(VerifyError::Mismatch));
        let mut bad_signature = hex::decode(theirs).unwrap();
        let i = rng.random_range(0..bad_signature.len());
        bad_signature[i] ^= 1 << rng.random_range(0..8);
        assert_eq!(verify(public, ts, &hex::encode(bad_signature), body, NOW), Err(VerifyError::Mismatch));
        let later = (ts.parse::<i64>().unwrap() + 1).to_string();
        assert_eq!(verify(public, &later, theirs, body, NOW), Err(VerifyError::Mismatch));
        let other_key = public_key_hex(&rng.random());
        assert_eq!(verify(&other_key, ts, theirs, body, NOW), Err(VerifyError::Mismatch));
        // Still signed correctly, but replayed too late.
        let too_late = ts.parse::<i64>().unwrap() + 301;
        assert_eq!(verify(public, ts, theirs, body, too_late), Err(VerifyError::Stale));
    }
}
