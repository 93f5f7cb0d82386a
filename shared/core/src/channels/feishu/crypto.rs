//! Feishu's request signature and the AES-256-CBC encryption of callback bodies (with an
//! `encrypt_key` set).

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::channels::{ParseError, VerifyError};
use crate::domain::secrets::ChannelSecrets;

/// The hex (lowercase) SHA-256 of timestamp ‖ nonce ‖ encrypt_key ‖ body: Feishu's `X-Lark-Signature`.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(timestamp.as_bytes());
    hash.update(nonce.as_bytes());
    hash.update(encrypt_key.as_bytes());
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Encrypts as Feishu does: base64(iv ‖ AES-256-CBC(SHA-256(encrypt_key), iv, PKCS#7(plaintext))).
/// The platform only decrypts; this is here for tests, sample events and tools.
pub fn encrypt(encrypt_key: &str, iv: [u8; 16], plaintext: &[u8]) -> String {
    let key = Sha256::digest(encrypt_key.as_bytes());
    let cipher = cbc::Encryptor::<Aes256>::new_from_slices(&key, &iv).expect("SHA-256 is 32 bytes and the IV 16");
    let mut out = iv.to_vec();
    out.extend(cipher.encrypt_padded_vec::<Pkcs7>(plaintext));
    BASE64.encode(out)
}

/// Decrypts the `encrypt` field of a callback body.
pub fn decrypt(encrypt_key: &str, encrypted: &str) -> Result<Vec<u8>, String> {
    let data = BASE64.decode(encrypted.trim()).map_err(|_| "encrypt is not base64".to_owned())?;
    // The IV, then at least one block.
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err("encrypt has the wrong length".into());
    }
    let (iv, ciphertext) = data.split_at(16);
    let key = Sha256::digest(encrypt_key.as_bytes());
    let cipher = cbc::Decryptor::<Aes256>::new_from_slices(&key, iv).map_err(|_| "bad key or IV length".to_owned())?;
    cipher.decrypt_padded_vec::<Pkcs7>(ciphertext).map_err(|_| "encrypt does not decrypt with this key".to_owned())
}

#[derive(Debug, Deserialize)]
pub(super) struct Encrypted {
    pub(super) encrypt: String,
}

/// The callback as JSON: decrypted when the body is `{"encrypt": …}`.
pub(super) fn plaintext(secrets: &ChannelSecrets, body: &[u8]) -> Result<Value, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let Ok(Encrypted { encrypt }) = serde_json::from_value::<Encrypted>(value.clone()) else { return Ok(value) };
    let key = secrets.get("encrypt_key").ok_or(ParseError::Unauthorized(VerifyError::NotConfigured("encrypt_key")))?;
    let plain = decrypt(key.expose(), &encrypt).map_err(ParseError::Invalid)?;
    serde_json::from_slice(&plain).map_err(|e| ParseError::Json(format!("decrypted event: {e}")))
}

/// Is `body` encrypted with `encrypt_key` and a `url_verification` once decrypted?
pub(super) fn is_encrypted_challenge(encrypt_key: &str, body: &[u8]) -> bool {
    let Ok(Encrypted { encrypt }) = serde_json::from_slice::<Encrypted>(body) else { return false };
    let Ok(plain) = decrypt(encrypt_key, &encrypt) else { return false };
    serde_json::from_slice::<Value>(&plain)
        .is_ok_and(|v| v.get("type").and_then(Value::as_str) == Some("url_verification"))
}
