//! Signed checkpoints and the proofs a controller checks without trusting us.
//!
//! Each tenant's chain is the leaf sequence of a Merkle tree hashed as RFC 9162 says
//! (leaf `SHA-256(0x00 || entry)`, node `SHA-256(0x01 || left || right)`); a record's entry
//! is the 32 bytes of its chain hash, so the leaf commits to the record's canonical form.
//! A checkpoint is the tree's size and root in the C2SP `tlog-checkpoint` text, signed as a
//! C2SP `signed-note` with the deployment's Ed25519 key:
//!
//! ```text
//! <ledger name>/<tenant id>
//! <tree size>
//! <root hash, base64>
//! time <RFC 3339, UTC>
//!
//! — <ledger name> <base64(key id || signature)>
//! ```
//!
//! The proofs travel as JSON bundles (see [`InclusionBundle`], [`ConsistencyBundle`]); this
//! module checks them offline, with nothing but the verifier key
//! (`<name>+<key id>+<base64(0x01 || public key)>`). The tree arithmetic is
//! `tlog_tiles` (Cloudflare's port of Go's `sumdb/tlog`), the note signatures are checked
//! by `signed_note`: neither is our code, so a bug of ours in building a proof cannot
//! hide behind the same bug in checking it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tlog_tiles::{Checkpoint, Hash, check_record, check_tree, record_hash};

use crate::domain::TenantId;
use crate::signing::Signer;

pub const INCLUSION_TYPE: &str = "custodian.inclusion-proof.v1";
pub const CONSISTENCY_TYPE: &str = "custodian.consistency-proof.v1";

/// The deployment's ledger key: its name (the origin prefix of every tenant's log, and
/// the signed-note key name) and the Ed25519 key that signs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogKey {
    name: String,
    signer: Signer,
}

/// signed-note's algorithm byte for Ed25519.
const ED25519: u8 = 1;

impl LogKey {
    /// # Errors
    /// When `name` is not a valid signed-note key name (empty, or with spaces or `+`).
    pub fn new(name: &str, signer: Signer) -> anyhow::Result<Self> {
        if !signed_note::is_key_name_valid(name) || name.ends_with('/') {
            anyhow::bail!("--ledger-name {name:?}: a key name has no spaces or '+'");
        }
        Ok(Self {
            name: name.to_owned(),
            signer,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn encoded_key(&self) -> Vec<u8> {
        let mut key = vec![ED25519];
        key.extend_from_slice(&self.signer.public_key_bytes());
        key
    }

    fn key_id(&self) -> u32 {
        signed_note::key_id(&self.name, &self.encoded_key())
    }

    /// The verifier key, as C2SP signed-note writes it: what a controller keeps and gives
    /// to `custodian ledger verify-proof` or `examples/python/verify_proof.py`.
    pub fn verifier_key(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id(),
            STANDARD.encode(self.encoded_key())
        )
    }

    /// A tenant's log's origin line.
    pub fn origin(&self, tenant: TenantId) -> String {
        format!("{}/{tenant}", self.name)
    }

    /// The signed checkpoint of `tenant`'s tree of `size` records with root `root`.
    pub fn sign(
        &self,
        tenant: TenantId,
        size: u64,
        root: [u8; 32],
        at: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let time = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let text = format!(
            "{}\n{size}\n{}\ntime {time}\n",
            self.origin(tenant),
            STANDARD.encode(root)
        );
        let mut signature = self.key_id().to_be_bytes().to_vec();
        signature.extend_from_slice(&self.signer.sign_bytes(text.as_bytes()));
        format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            STANDARD.encode(signature)
        )
    }
}

/// Why a proof or checkpoint is refused. Every variant is a refusal: there is no partial
/// acceptance.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("not a proof bundle: {0}")]
    Malformed(String),
    #[error("the verifier key is not a signed-note Ed25519 key")]
    BadKey,
    #[error("the checkpoint is not signed by the trusted key: {0}")]
    BadSignature(String),
    #[error("the checkpoint is not a checkpoint of this deployment's ledger: {0}")]
    WrongOrigin(String),
    #[error("the proof is for another tenant's log")]
    OtherTenant,
    #[error("the record does not match its hash")]
    RecordAltered,
    #[error("the proof's {0} does not match the checkpoint's")]
    Mismatch(&'static str),
    #[error("the record is not in the tree the checkpoint signs")]
    NotIncluded,
    #[error("the newer checkpoint is smaller: the log was rolled back")]
    RolledBack,
    #[error("the two checkpoints are not of one append-only log (forked or rewritten)")]
    Inconsistent,
}

/// A checkpoint whose signature held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub tenant: TenantId,
    pub size: u64,
    pub root: [u8; 32],
    pub time: Option<String>,
}

/// Checks `note`'s signature against `vkey` and reads it as a checkpoint of a tenant's log
/// of the key's ledger.
///
/// # Errors
/// [`ProofError`].
pub fn open(note: &str, vkey: &str) -> Result<Opened, ProofError> {
    let verifier =
        signed_note::StandardVerifier::new(vkey.trim()).map_err(|_| ProofError::BadKey)?;
    let name = signed_note::Verifier::name(&verifier).to_owned();
    let note = signed_note::Note::from_bytes(note.as_bytes())
        .map_err(|e| ProofError::BadSignature(e.to_string()))?;
    note.verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| ProofError::BadSignature(e.to_string()))?;
    let checkpoint = Checkpoint::from_bytes(note.text())
        .map_err(|e| ProofError::Malformed(format!("the signed text: {e}")))?;
    let tenant = checkpoint
        .origin()
        .strip_prefix(&name)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|id| TenantId::parse(id).ok())
        .ok_or_else(|| ProofError::WrongOrigin(checkpoint.origin().to_owned()))?;
    let time = checkpoint
        .extension()
        .lines()
        .find_map(|l| l.strip_prefix("time "))
        .map(str::to_owned);
    Ok(Opened {
        tenant,
        size: checkpoint.size(),
        root: checkpoint.hash().0,
        time,
    })
}

/// The proof that a record is in a tenant's tree as a checkpoint signs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionBundle {
    #[serde(rename = "type")]
    pub kind: String,
    /// The signed checkpoint, as issued.
    pub checkpoint: String,
    /// The record as `custodian ledger export` writes it: its canonical object plus `hash`.
    pub record: Value,
    /// The record's position among the tree's leaves: its `seq` minus one.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The audit path, leaf to root, base64.
    pub hashes: Vec<String>,
}

/// The proof that a tenant's later checkpoint extends its earlier one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyBundle {
    #[serde(rename = "type")]
    pub kind: String,
    pub old: String,
    pub new: String,
    /// RFC 9162's consistency path, base64.
    pub hashes: Vec<String>,
}

fn hashes(encoded: &[String]) -> Result<Vec<Hash>, ProofError> {
    encoded
        .iter()
        .map(|h| {
            STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(Hash)
                .ok_or_else(|| {
                    ProofError::Malformed("a proof hash is not 32 bytes of base64".into())
                })
        })
        .collect()
}

/// A record's leaf: its chain hash recomputed from its canonical form (every field but
/// `hash`, keys sorted, compact JSON) and compared with the `hash` it carries.
///
/// # Errors
/// `Malformed` or `RecordAltered`.
pub fn leaf_of(record: &Value) -> Result<([u8; 32], TenantId, u64), ProofError> {
    let malformed = |m: &str| ProofError::Malformed(m.to_owned());
    let mut canonical = record
        .as_object()
        .cloned()
        .ok_or_else(|| malformed("the record is not an object"))?;
    let claimed = canonical
        .remove("hash")
        .and_then(|h| h.as_str().map(str::to_owned))
        .ok_or_else(|| malformed("the record has no hash"))?;
    let bytes = crate::signing::canonical(&Value::Object(canonical));
    let hash: [u8; 32] = Sha256::digest(bytes.as_bytes()).into();
    if hex::encode(hash) != claimed {
        return Err(ProofError::RecordAltered);
    }
    let tenant = record["tenant_id"]
        .as_str()
        .and_then(|t| TenantId::parse(t).ok())
        .ok_or_else(|| malformed("the record has no tenant_id"))?;
    let seq = record["seq"]
        .as_u64()
        .filter(|s| *s >= 1)
        .ok_or_else(|| malformed("the record has no seq"))?;
    Ok((record_hash(&hash).0, tenant, seq))
}

/// What a bundle proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proved {
    /// The record at `seq` is in `tenant`'s log of `size` records.
    Included {
        tenant: TenantId,
        seq: u64,
        size: u64,
    },
    /// `tenant`'s log of `new` records extends its log of `old`.
    Consistent {
        tenant: TenantId,
        old: u64,
        new: u64,
    },
}

/// Checks a bundle (either kind, told apart by its `type`) against the verifier key and,
/// when given, the tenant whose log it must be.
///
/// # Errors
/// [`ProofError`] naming the first thing that does not hold.
pub fn verify_bundle(
    bundle: &str,
    vkey: &str,
    tenant: Option<TenantId>,
) -> Result<Proved, ProofError> {
    let value: Value =
        serde_json::from_str(bundle).map_err(|e| ProofError::Malformed(e.to_string()))?;
    let proved = match value["type"].as_str() {
        Some(INCLUSION_TYPE) => {
            let b: InclusionBundle =
                serde_json::from_value(value).map_err(|e| ProofError::Malformed(e.to_string()))?;
            verify_inclusion(&b, vkey)?
        }
        Some(CONSISTENCY_TYPE) => {
            let b: ConsistencyBundle =
                serde_json::from_value(value).map_err(|e| ProofError::Malformed(e.to_string()))?;
            let old = open(&b.old, vkey)?;
            verify_consistency(&old, &b.new, &b.hashes, vkey)?
        }
        _ => return Err(ProofError::Malformed("unknown bundle type".into())),
    };
    let of = match &proved {
        Proved::Included { tenant, .. } | Proved::Consistent { tenant, .. } => *tenant,
    };
    if tenant.is_some_and(|t| t != of) {
        return Err(ProofError::OtherTenant);
    }
    Ok(proved)
}

/// # Errors
/// [`ProofError`].
pub fn verify_inclusion(b: &InclusionBundle, vkey: &str) -> Result<Proved, ProofError> {
    let checkpoint = open(&b.checkpoint, vkey)?;
    let (leaf, tenant, seq) = leaf_of(&b.record)?;
    if tenant != checkpoint.tenant {
        return Err(ProofError::OtherTenant);
    }
    if b.tree_size != checkpoint.size {
        return Err(ProofError::Mismatch("tree size"));
    }
    if b.leaf_index != seq - 1 {
        return Err(ProofError::Mismatch("leaf index"));
    }
    check_record(
        &hashes(&b.hashes)?,
        checkpoint.size,
        Hash(checkpoint.root),
        b.leaf_index,
        Hash(leaf),
    )
    .map_err(|_| ProofError::NotIncluded)?;
    Ok(Proved::Included {
        tenant,
        seq,
        size: checkpoint.size,
    })
}

/// Checks that `new` (a signed note) extends `old`, an already trusted checkpoint — the
/// one a watcher kept, never a copy the server sends back.
///
/// # Errors
/// [`ProofError`].
pub fn verify_consistency(
    old: &Opened,
    new: &str,
    proof: &[String],
    vkey: &str,
) -> Result<Proved, ProofError> {
    let new = open(new, vkey)?;
    if new.tenant != old.tenant {
        return Err(ProofError::OtherTenant);
    }
    if new.size < old.size {
        return Err(ProofError::RolledBack);
    }
    let proof = hashes(proof)?;
    if old.size == 0 || old.size == new.size {
        // Nothing to prove from an empty log; a log of the same size must be the same log.
        if !proof.is_empty() || old.size != 0 && old.root != new.root {
            return Err(ProofError::Inconsistent);
        }
    } else {
        check_tree(&proof, new.size, Hash(new.root), old.size, Hash(old.root))
            .map_err(|_| ProofError::Inconsistent)?;
    }
    Ok(Proved::Consistent {
        tenant: new.tenant,
        old: old.size,
        new: new.size,
    })
}

pub fn encode_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h.0)).collect()
}
