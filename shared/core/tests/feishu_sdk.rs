//! Cross-checks the Feishu channel against lark-oapi, Feishu's official Python SDK (installed
//! into `.clawless/venv` by `scripts/bootstrap.sh`):
//! - payloads encrypted as the SDK reads them (checked with its own `AESCipher`) decrypt with ours,
//!   and ours decrypt with its `AESCipher`;
//! - events we encrypt and sign pass the SDK's `EventDispatcherHandler` (token, signature and
//!   parsing), a tampered signature fails there as it fails here, and we also refuse a correctly
//!   signed one replayed more than 5 minutes after its timestamp;
//! - the SDK answers an encrypted `url_verification` without signature headers, as we do.

mod support;

use clawless_core::channels::feishu::{self, Feishu};
use clawless_core::channels::{Channel, Inbound, ParseError, VerifyError, WebhookInput};
use clawless_core::domain::secrets::{ChannelSecrets, Secret};
use rand::Rng;
use serde_json::{Value, json};
use support::run_python;

const KEY: &str = "sdk-cross-check-encrypt-key";
const TOKEN: &str = "sdk-cross-check-verification-token";
/// The clock our side verifies at: the events' `create_time`, and the signatures' timestamps are
/// around it.
const NOW: i64 = 1_763_740_800;

const SCRIPT: &str = r#"
import base64, json, os, sys
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad
import lark_oapi as lark
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils import AESCipher
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

job = json.load(sys.stdin)
key, token = job["key"], job["token"]
cipher = AESCipher(key)
out = {"sdk_version": lark.__version__ if hasattr(lark, "__version__") else "?"}

# Encrypt with the SDK's key derivation; prove the SDK itself reads it back.
encrypted = []
for text in job["to_encrypt"]:
    iv = os.urandom(16)
    data = iv + AES.new(cipher.digest, AES.MODE_CBC, iv).encrypt(pad(text.encode("utf-8"), AES.block_size))
    enc = base64.b64encode(data).decode()
    assert cipher.decrypt_str(enc) == text
    encrypted.append(enc)
out["encrypted"] = encrypted

# Decrypt what we encrypted.
out["decrypted"] = [cipher.decrypt_str(enc) for enc in job["to_decrypt"]]

# Run whole requests through the SDK's event dispatcher.
received = []
def on_message(data):
    m = data.event.message
    received.append({"message_id": m.message_id, "chat_id": m.chat_id, "content": m.content,
                     "event_id": data.header.event_id, "open_id": data.event.sender.sender_id.open_id})
handler = EventDispatcherHandler.builder(key, token, lark.LogLevel.CRITICAL) \
    .register_p2_im_message_receive_v1(on_message).build()
results = []
for r in job["requests"]:
    req = RawRequest()
    req.uri = "/webhook"
    req.headers = r["headers"]
    req.body = r["body"].encode("utf-8")
    received.clear()
    resp = handler.do(req)
    results.append({"status": resp.status_code, "body": (resp.content or b"").decode("utf-8"),
                    "received": list(received)})
out["requests"] = results
json.dump(out, sys.stdout)
"#;

fn run_sdk(job: &Value) -> Value {
    run_python(SCRIPT, job)
}

/// Random text with the characters that break naive code: quotes, backslashes, newlines,
/// non-ASCII of every UTF-8 length, and lengths around block boundaries.
fn random_text(rng: &mut impl Rng) -> String {
    const ALPHABET: &[char] = &['a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '{', '}', 'é', '飞', '书', '🦀', '\u{7f}'];
    let len = match rng.random_range(0..4) {
        0 => rng.random_range(0..3),
        1 => rng.random_range(14..18),
        2 => rng.random_range(30..34),
        _ => rng.random_range(0..3000),
    };
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect()
}

fn secrets() -> ChannelSecrets {
    ChannelSecrets(
        [("app_id", "cli_a1b2c3d4e5f6"), ("app_secret", "s"), ("encrypt_key", KEY), ("verification_token", TOKEN)]
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect(),
    )
}

fn message_event(rng: &mut impl Rng, text: &str) -> Value {
    let hex = |rng: &mut dyn rand::RngCore| {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    };
    json!({
        "schema": "2.0",
        "header": {"event_id": hex(rng), "event_type": "im.message.receive_v1", "create_time": "1763740800000",
                   "token": TOKEN, "app_id": "cli_a1b2c3d4e5f6", "tenant_key": "t"},
        "event": {
            "sender": {"sender_id": {"open_id": format!("ou_{}", hex(rng))}, "sender_type": "user", "tenant_key": "t"},
            "message": {"message_id": format!("om_{}", hex(rng)), "create_time": "1763740800000",
                        "chat_id": format!("oc_{}", hex(rng)), "chat_type": "p2p", "message_type": "text",
                        "content": json!({"text": text}).to_string(), "mentions": []}
        }
    })
}

fn header_map(headers: &Value) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers.as_object().unwrap() {
        map.insert(http::HeaderName::try_from(k.as_str()).unwrap(), v.as_str().unwrap().parse().unwrap());
    }
    map
}

#[test]
fn lark_oapi_and_we_agree_on_encryption_signatures_and_the_challenge() {
    let mut rng = rand::rng();

    let theirs: Vec<String> = (0..40).map(|_| random_text(&mut rng)).collect();
    let ours: Vec<String> = (0..40).map(|_| random_text(&mut rng)).collect();
    let ours_encrypted: Vec<String> = ours.iter().map(|t| feishu::encrypt(KEY, rng.random(), t.as_bytes())).collect();

    // Whole requests: signed events, one with a tampered signature, and challenges.
    let mut requests = Vec::new();
    for _ in 0..8 {
        let text = random_text(&mut rng);
        let plain = message_event(&mut rng, &text);
        let body = json!({ "encrypt": feishu::encrypt(KEY, rng.random(), plain.to_string().as_bytes()) }).to_string();
        // Within 5 minutes of the clock the requests are verified at, either way.
        let timestamp = (NOW + rng.random_range(-300..=300)).to_string();
        let nonce = format!("{:x}", rng.random::<u64>());
        let signature = feishu::signature(&timestamp, &nonce, KEY, body.as_bytes());
        requests.push(json!({"headers": {
            "X-Lark-Request-Timestamp": timestamp, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": signature,
        }, "body": body, "expect": "accepted", "text": text, "plain": plain}));
    }
    let mut tampered = requests[0].clone();
    let sig = tampered["headers"]["X-Lark-Signature"].as_str().unwrap().to_owned();
    let first = if sig.starts_with('0') { '1' } else { '0' };
    let flipped = format!("{first}{}", &sig[1..]);
    tampered["headers"]["X-Lark-Signature"] = json!(flipped);
    tampered["expect"] = json!("rejected");
    requests.push(tampered);
    for (token, expect) in [(TOKEN, "challenge"), ("not-the-token", "rejected")] {
        let challenge =
            json!({"challenge": format!("c-{}", rng.random::<u32>()), "token": token, "type": "url_verification"});
        let body =
            json!({ "encrypt": feishu::encrypt(KEY, rng.random(), challenge.to_string().as_bytes()) }).to_string();
        requests.push(json!({"headers": {}, "body": body, "expect": expect, "plain": challenge}));
    }

    let job = json!({
        "key": KEY, "token": TOKEN,
        "to_encrypt": theirs, "to_decrypt": ours_encrypted,
        "requests": requests.iter().map(|r| json!({"headers": r["headers"], "body": r["body"]})).collect::<Vec<_>>(),
    });
    let sdk = run_sdk(&job);

    // 1. What the SDK's cipher reads, we read.
    for (text, enc) in theirs.iter().zip(sdk["encrypted"].as_array().unwrap()) {
        let plain = feishu::decrypt(KEY, enc.as_str().unwrap()).expect("we decrypt what lark-oapi decrypts");
        assert_eq!(String::from_utf8(plain).unwrap(), *text);
        assert_ne!(feishu::decrypt("another key", enc.as_str().unwrap()).ok(), Some(text.as_bytes().to_vec()));
    }
    // 2. What we encrypt, the SDK reads.
    let decrypted: Vec<String> =
        sdk["decrypted"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(decrypted, ours);

    // 3. Whole requests: the SDK and our verify + parse reach the same verdict.
    let results = sdk["requests"].as_array().unwrap();
    assert_eq!(results.len(), requests.len());
    for (i, (request, result)) in requests.iter().zip(results).enumerate() {
        let headers = header_map(&request["headers"]);
        let body = request["body"].as_str().unwrap().as_bytes();
        let input = WebhookInput { method: "POST", headers: &headers, query: "", body, now_secs: NOW };
        let ours = Feishu
            .verify(&secrets(), &input)
            .map_err(ParseError::Unauthorized)
            .and_then(|()| Feishu.parse(&secrets(), &input));
        match request["expect"].as_str().unwrap() {
            "accepted" => {
                assert_eq!(result["status"], 200, "request {i}: lark-oapi refused our signed event: {result}");
                let received = &result["received"][0];
                let plain = &request["plain"];
                assert_eq!(received["event_id"], plain["header"]["event_id"], "request {i}");
                assert_eq!(received["message_id"], plain["event"]["message"]["message_id"], "request {i}");
                let content: Value = serde_json::from_str(received["content"].as_str().unwrap()).unwrap();
                assert_eq!(content["text"], json!(request["text"]), "request {i}");
                let Ok(Inbound::Deliveries { messages, .. }) = ours else {
                    panic!("request {i}: we refused it: {ours:?}")
                };
                if request["text"].as_str().unwrap().trim().is_empty() {
                    assert!(messages.is_empty(), "request {i}: empty texts are ignored");
                } else {
                    assert_eq!(messages[0].message.text, request["text"].as_str().unwrap(), "request {i}");
                    assert_eq!(messages[0].message.message_id.as_str(), received["event_id"].as_str().unwrap());
                }
            }
            "rejected" => {
                assert_ne!(result["status"], 200, "request {i}: lark-oapi accepted it: {result}");
                assert!(result["received"].as_array().unwrap().is_empty());
                assert!(
                    matches!(ours, Err(ParseError::Unauthorized(VerifyError::Mismatch))),
                    "request {i}: we should refuse it too: {ours:?}"
                );
            }
            "challenge" => {
                assert_eq!(result["status"], 200, "request {i}: {result}");
                let theirs: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
                assert_eq!(theirs["challenge"], request["plain"]["challenge"]);
                let Ok(Inbound::Answer(answer)) = ours else { panic!("request {i}: we did not answer: {ours:?}") };
                let answer: Value = serde_json::from_slice(&answer.body).unwrap();
                assert_eq!(answer, theirs, "request {i}: the same challenge answer");
            }
            other => unreachable!("{other}"),
        }
    }

    // A signed event the SDK accepted, replayed more than 5 minutes after its timestamp: refused.
    let headers = header_map(&requests[0]["headers"]);
    let signed_at: i64 = requests[0]["headers"]["X-Lark-Request-Timestamp"].as_str().unwrap().parse().unwrap();
    let body = requests[0]["body"].as_str().unwrap().as_bytes();
    let replay = WebhookInput { method: "POST", headers: &headers, query: "", body, now_secs: signed_at + 301 };
    assert_eq!(Feishu.verify(&secrets(), &replay), Err(VerifyError::Stale));
}
