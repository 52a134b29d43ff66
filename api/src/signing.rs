//! Documents the controller keeps and checks offline: receipts of completed data-subject
//! requests (and, later, certificates), signed with the deployment's Ed25519 key.
//!
//! A signed document is JSON: `{"type", "body", "keyId", "publicKey", "signature"}`. The
//! signature covers the canonical form of `{"type", "body"}` — keys sorted at every level,
//! no whitespace — so any JSON library can rebuild the signed bytes. `publicKey` says which
//! key signed; a verifier must compare it with the key it trusts (the deployment publishes
//! it at `/.well-known/custodian/signing-key`), not trust it because it is there.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The key's file in the data directory, created (mode 0600) on first use.
pub const KEY_FILE: &str = "signing-ed25519.key";

/// The deployment's signing key. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    key: Arc<SigningKey>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id())
            .finish()
    }
}

impl Signer {
    /// Loads the key from `path` (hex of the 32-byte seed), creating it the first time.
    ///
    /// # Errors
    /// When the file cannot be read, created or parsed.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let parse = |text: &str| -> anyhow::Result<Self> {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed)
                .map_err(|e| anyhow::anyhow!("{}: not a hex Ed25519 seed ({e})", path.display()))?;
            Ok(Self::from_seed(seed))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return parse(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                anyhow::bail!("{}: {e}", path.display())
            }
            Err(_) => {}
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        match crate::key_file::write_private(path, hex::encode(seed).as_bytes()) {
            Ok(()) => Ok(Self::from_seed(seed)),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                parse(&std::fs::read_to_string(path)?)
            }
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        }
    }

    /// Loads an existing key from `path`; never creates one (for verifiers).
    ///
    /// # Errors
    /// When the file is missing, unreadable or not a key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed)
            .map_err(|e| anyhow::anyhow!("{}: not a hex Ed25519 seed ({e})", path.display()))?;
        Ok(Self::from_seed(seed))
    }

    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: Arc::new(SigningKey::from_bytes(&seed)),
        }
    }

    /// The raw Ed25519 signature of `message`: for formats that frame it themselves (the
    /// ledger's signed-note checkpoints).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The public key's 32 bytes.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key, base64 (standard alphabet, padded).
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.key.verifying_key().as_bytes())
    }

    /// A short name for the key: the first 16 hex digits of the SHA-256 of its bytes.
    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }

    /// The published description of the key.
    pub fn published(&self) -> Value {
        json!({"algorithm": "Ed25519", "publicKey": self.public_key(), "keyId": self.key_id()})
    }

    /// Signs `body` as a document of `kind`, returning the document's text.
    pub fn sign(&self, kind: &str, body: Value) -> String {
        let signed = json!({"type": kind, "body": body});
        let signature = self.key.sign(canonical(&signed).as_bytes());
        json!({
            "type": kind,
            "body": signed["body"],
            "keyId": self.key_id(),
            "publicKey": self.public_key(),
            "signature": STANDARD.encode(signature.to_bytes()),
        })
        .to_string()
    }
}

fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Why a document does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a signed document: {0}")]
    Malformed(String),
    #[error("signed by another key than the one trusted")]
    UntrustedKey,
    #[error("the signature does not match the document")]
    BadSignature,
}

/// Checks `document` against the `trusted` public key (base64) and returns its type and
/// body.
///
/// # Errors
/// [`VerifyError`] naming what does not hold.
pub fn verify(document: &str, trusted: &str) -> Result<(String, Value), VerifyError> {
    let malformed = |m: &str| VerifyError::Malformed(m.to_owned());
    let doc: Value = serde_json::from_str(document).map_err(|e| malformed(&e.to_string()))?;
    let kind = doc["type"]
        .as_str()
        .ok_or_else(|| malformed("no type"))?
        .to_owned();
    let body = doc
        .get("body")
        .cloned()
        .ok_or_else(|| malformed("no body"))?;
    let claimed = doc["publicKey"]
        .as_str()
        .ok_or_else(|| malformed("no publicKey"))?;
    if claimed != trusted.trim() {
        return Err(VerifyError::UntrustedKey);
    }
    let key_bytes: [u8; 32] = STANDARD
        .decode(trusted.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("the trusted key is not a base64 Ed25519 key"))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| malformed("the trusted key is not an Ed25519 key"))?;
    let signature: [u8; 64] = doc["signature"]
        .as_str()
        .and_then(|s| STANDARD.decode(s).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("no base64 Ed25519 signature"))?;
    let signed = json!({"type": kind, "body": body});
    key.verify_strict(
        canonical(&signed).as_bytes(),
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| VerifyError::BadSignature)?;
    Ok((kind, body))
}

/// JSON with every object's keys sorted and no whitespace: the bytes a signature covers.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_document_verifies_with_its_key_and_nothing_else() {
        let signer = Signer::from_seed([7; 32]);
        let doc = signer.sign("test.v1", json!({"b": [1, {"z": 1, "a": 2}], "a": "x"}));
        let (kind, body) = verify(&doc, &signer.public_key()).unwrap();
        assert_eq!(kind, "test.v1");
        assert_eq!(body["a"], "x");
        let other = Signer::from_seed([8; 32]);
        assert_eq!(
            verify(&doc, &other.public_key()),
            Err(VerifyError::UntrustedKey)
        );
        let tampered = doc.replace("\"x\"", "\"y\"");
        assert_eq!(
            verify(&tampered, &signer.public_key()),
            Err(VerifyError::BadSignature)
        );
        // Swapping in another key's claim and signature still needs that key trusted.
        let forged = other.sign("test.v1", json!({"a": "y"}));
        assert_eq!(
            verify(&forged, &signer.public_key()),
            Err(VerifyError::UntrustedKey)
        );
    }

    #[test]
    fn the_canonical_form_sorts_keys_at_every_level() {
        let v = json!({"b": {"d": 1, "c": [true, null]}, "a": "é\"q"});
        assert_eq!(canonical(&v), r#"{"a":"é\"q","b":{"c":[true,null],"d":1}}"#);
    }
}
