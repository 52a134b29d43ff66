//! Bearer tokens: verification at the edge into a typed [`Caller`], and minting for local
//! use (`custodian token`). Checks elsewhere read the `Caller`, never raw claims.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_graphql::{Enum, SimpleObject};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::config::{AuthSettings, KeyAlgorithm};
use crate::domain::instruction::Purpose;
use crate::domain::{InstructionId, PartnerTokenId, SubprocessorId, TenantId};

/// Seconds of clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECONDS: i64 = 30;
/// Longer tokens are refused unread (ours are a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Name of the development signing key kept in the data directory.
pub const DEV_KEY_FILE: &str = "jwt-hs256.key";

/// What a token holder is, which decides what it may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A user of the controller (the customer); acts under its standing direct-request
    /// instruction.
    Controller,
    /// The processor's support staff; acts only under a processing instruction.
    ProcessorStaff,
    /// The processor's platform operator.
    PlatformAdmin,
    /// A partner subprocessor, through a scoped token.
    Subprocessor,
    /// The processor's own scheduled jobs (the retention purge): no token, and only under a
    /// controller's instruction that names this actor kind.
    System,
}

impl ActorKind {
    /// The stored form (ledger records, instructions).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Controller => "CONTROLLER",
            Self::ProcessorStaff => "PROCESSOR_STAFF",
            Self::PlatformAdmin => "PLATFORM_ADMIN",
            Self::Subprocessor => "SUBPROCESSOR",
            Self::System => "SYSTEM",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        [
            Self::Controller,
            Self::ProcessorStaff,
            Self::PlatformAdmin,
            Self::Subprocessor,
            Self::System,
        ]
        .into_iter()
        .find(|k| k.as_str() == value)
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    ControllerAdmin,
    ControllerUser,
    ProcessorStaff,
    PlatformAdmin,
    /// A partner subprocessor's scoped token, minted by `mintPartnerToken`.
    Subprocessor,
}

impl Role {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "controller_admin" => Some(Self::ControllerAdmin),
            "controller_user" => Some(Self::ControllerUser),
            "processor_staff" => Some(Self::ProcessorStaff),
            "platform_admin" => Some(Self::PlatformAdmin),
            "subprocessor" => Some(Self::Subprocessor),
            _ => None,
        }
    }

    pub fn as_claim(self) -> &'static str {
        match self {
            Self::ControllerAdmin => "controller_admin",
            Self::ControllerUser => "controller_user",
            Self::ProcessorStaff => "processor_staff",
            Self::PlatformAdmin => "platform_admin",
            Self::Subprocessor => "subprocessor",
        }
    }

    pub fn actor_kind(self) -> ActorKind {
        match self {
            Self::ControllerAdmin | Self::ControllerUser => ActorKind::Controller,
            Self::ProcessorStaff => ActorKind::ProcessorStaff,
            Self::PlatformAdmin => ActorKind::PlatformAdmin,
            Self::Subprocessor => ActorKind::Subprocessor,
        }
    }

    /// Roles that act inside one tenant must name it.
    pub fn needs_tenant(self) -> bool {
        !matches!(self, Self::PlatformAdmin)
    }
}

/// The verified identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
    pub tenant: Option<TenantId>,
    /// The purpose of processing the caller acts for (staff, admins, partners).
    pub purpose: Option<Purpose>,
    /// The one instruction the caller may act under, when its token names one.
    pub instruction: Option<InstructionId>,
    pub scopes: Vec<String>,
    /// A partner token's id (`jti`): checked against its record on every request.
    pub token_id: Option<PartnerTokenId>,
    /// The subprocessor a partner token was minted for (its `sub`).
    pub subprocessor: Option<SubprocessorId>,
}

impl Caller {
    pub fn actor_kind(&self) -> ActorKind {
        self.role.actor_kind()
    }
}

/// Who the caller is, as `viewer` shows it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Viewer {
    pub subject: String,
    pub actor_kind: ActorKind,
    pub roles: Vec<Role>,
    pub tenant_id: Option<async_graphql::ID>,
    pub purpose: Option<Purpose>,
    pub instruction_id: Option<async_graphql::ID>,
    pub scopes: Vec<String>,
}

impl From<&Caller> for Viewer {
    fn from(c: &Caller) -> Self {
        Self {
            subject: c.subject.clone(),
            actor_kind: c.actor_kind(),
            roles: vec![c.role],
            tenant_id: c.tenant.map(|t| async_graphql::ID(t.to_string())),
            purpose: c.purpose,
            instruction_id: c.instruction.map(|i| async_graphql::ID(i.to_string())),
            scopes: c.scopes.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: serde_json::Value,
    exp: i64,
    iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instruction: Option<String>,
    /// Space-separated, as in OAuth 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("token key: {0}")]
    Key(String),
    #[error("this server verifies with a public key only; minting needs an HMAC secret")]
    CannotMint,
}

/// What a minted token says.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    pub role: Role,
    pub tenant: Option<TenantId>,
    pub purpose: Option<Purpose>,
    pub instruction: Option<InstructionId>,
    pub scopes: Vec<String>,
    pub ttl_seconds: i64,
    /// The token's id (`jti`), for tokens that can be revoked.
    pub token_id: Option<PartnerTokenId>,
}

/// Verifies (and, with an HMAC key, mints) tokens with one pinned algorithm, issuer and
/// audience.
#[derive(Clone)]
pub struct TokenAuthority {
    inner: Arc<Inner>,
}

struct Inner {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
    clock: SharedClock,
}

impl TokenAuthority {
    /// Builds from configuration: an HMAC secret, a public key file, or else the
    /// development key in `data_dir` (created, mode 0600, on first use).
    ///
    /// # Errors
    /// [`AuthError::Key`] when a key cannot be read, created or parsed.
    pub fn from_settings(
        settings: &AuthSettings,
        data_dir: &Path,
        clock: SharedClock,
    ) -> Result<Self, AuthError> {
        let key_err = |e: jsonwebtoken::errors::Error| AuthError::Key(e.to_string());
        let (algorithm, decoding, encoding) = if let Some(secret) = &settings.jwt_secret {
            let bytes = secret.expose_secret().as_bytes();
            if bytes.len() < 32 {
                return Err(AuthError::Key(
                    "--jwt-secret must be at least 32 bytes (256 bits)".into(),
                ));
            }
            (
                Algorithm::HS256,
                DecodingKey::from_secret(bytes).map_err(key_err)?,
                Some(EncodingKey::from_secret(bytes).map_err(key_err)?),
            )
        } else if let Some(path) = &settings.jwt_public_key_file {
            let pem = std::fs::read(path).map_err(|e| {
                AuthError::Key(format!(
                    "--jwt-public-key-file {}: cannot read it: {e}",
                    path.display()
                ))
            })?;
            let (alg, key) = match settings.jwt_algorithm {
                KeyAlgorithm::Rs256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
                KeyAlgorithm::Es256 => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
                KeyAlgorithm::EdDsa => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
            };
            let key = key.map_err(|e| {
                AuthError::Key(format!(
                    "--jwt-public-key-file {}: not a {:?} public key in PEM: {e}",
                    path.display(),
                    settings.jwt_algorithm
                ))
            })?;
            (alg, key, None)
        } else {
            let key = dev_key(data_dir)?;
            let bytes = key.expose_secret();
            (
                Algorithm::HS256,
                DecodingKey::from_secret(bytes).map_err(key_err)?,
                Some(EncodingKey::from_secret(bytes).map_err(key_err)?),
            )
        };
        Ok(Self {
            inner: Arc::new(Inner {
                algorithm,
                decoding,
                encoding,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                clock,
            }),
        })
    }

    /// Verifies a bearer token: signature with the pinned algorithm, `iss`, `aud`, and
    /// `exp`/`iat` against the injected clock; then the claims must make a whole caller.
    ///
    /// # Errors
    /// [`AuthError`] for any failure; callers answer `UNAUTHENTICATED` alike.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let inner = &self.inner;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("oversized".into()));
        }
        // Headers that name a key elsewhere are refused outright: the key is pinned, and
        // nothing in a token is ever fetched or trusted to choose it (`kid` is ignored).
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("header: {e}")))?;
        if header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(AuthError::Invalid("a key-locating header".into()));
        }
        let mut validation = Validation::new(inner.algorithm);
        validation.set_issuer(&[&inner.issuer]);
        validation.set_audience(&[&inner.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is checked below against the injectable clock.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &inner.decoding, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let now = inner.clock.now().timestamp();
        if claims.exp + LEEWAY_SECONDS <= now {
            return Err(AuthError::Expired);
        }
        if claims.iat > now + LEEWAY_SECONDS {
            return Err(AuthError::Invalid("issued in the future".into()));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECONDS) {
            return Err(AuthError::Invalid("not valid yet".into()));
        }
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("empty subject".into()));
        }
        let role = Role::parse(&claims.role)
            .ok_or_else(|| AuthError::Invalid(format!("unknown role {:?}", claims.role)))?;
        let tenant = claims
            .tenant
            .as_deref()
            .map(TenantId::parse)
            .transpose()
            .map_err(|_| AuthError::Invalid("tenant is not a UUID".into()))?;
        if role.needs_tenant() && tenant.is_none() {
            return Err(AuthError::Invalid(format!(
                "role {} requires a tenant claim",
                role.as_claim()
            )));
        }
        let purpose = claims
            .purpose
            .as_deref()
            .map(|p| {
                Purpose::parse(p)
                    .ok_or_else(|| AuthError::Invalid(format!("unknown purpose {p:?}")))
            })
            .transpose()?;
        let instruction = claims
            .instruction
            .as_deref()
            .map(InstructionId::parse)
            .transpose()
            .map_err(|_| AuthError::Invalid("instruction is not a UUID".into()))?;
        let token_id = claims
            .jti
            .as_deref()
            .map(PartnerTokenId::parse)
            .transpose()
            .map_err(|_| AuthError::Invalid("jti is not a UUID".into()))?;
        if role != Role::Subprocessor && token_id.is_some() {
            // Only partner tokens carry a record id: a token that does is one, whatever
            // role it claims.
            return Err(AuthError::Invalid("a jti on a non-partner token".into()));
        }
        let subprocessor = if role == Role::Subprocessor {
            if token_id.is_none() {
                return Err(AuthError::Invalid("a partner token needs its jti".into()));
            }
            Some(SubprocessorId::parse(&claims.sub).map_err(|_| {
                AuthError::Invalid("a partner token's sub is its subprocessor's id".into())
            })?)
        } else {
            None
        };
        Ok(Caller {
            token_id,
            subprocessor,
            subject: claims.sub,
            role,
            tenant,
            purpose,
            instruction,
            scopes: claims
                .scope
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }

    /// Signs a token for local use.
    ///
    /// # Errors
    /// [`AuthError::CannotMint`] when only a public key is configured.
    pub fn mint(&self, request: &TokenRequest) -> Result<String, AuthError> {
        let inner = &self.inner;
        let key = inner.encoding.as_ref().ok_or(AuthError::CannotMint)?;
        let now = inner.clock.now().timestamp();
        let claims = Claims {
            sub: request.subject.clone(),
            iss: inner.issuer.clone(),
            aud: serde_json::Value::String(inner.audience.clone()),
            exp: now + request.ttl_seconds,
            iat: now,
            nbf: None,
            role: request.role.as_claim().to_owned(),
            tenant: request.tenant.map(|t| t.to_string()),
            purpose: request.purpose.map(|p| p.as_str().to_ascii_lowercase()),
            instruction: request.instruction.map(|i| i.to_string()),
            scope: (!request.scopes.is_empty()).then(|| request.scopes.join(" ")),
            jti: request.token_id.map(|t| t.to_string()),
        };
        jsonwebtoken::encode(&Header::new(inner.algorithm), &claims, key)
            .map_err(|e| AuthError::Key(e.to_string()))
    }
}

/// The development HMAC key: 32 random bytes, hex in `data_dir/jwt-hs256.key`, created
/// with mode 0600 the first time and reused after, so `custodian token` and
/// `custodian serve` agree without configuration.
fn dev_key(data_dir: &Path) -> Result<SecretBox<Vec<u8>>, AuthError> {
    let path: PathBuf = data_dir.join(DEV_KEY_FILE);
    let io = |e: std::io::Error| AuthError::Key(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim())
                .map_err(|e| AuthError::Key(format!("{}: {e}", path.display())))?;
            return Ok(SecretBox::new(Box::new(bytes)));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let mut bytes = vec![0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex_key = SecretString::from(hex::encode(&bytes));
    match crate::key_file::write_private(&path, hex_key.expose_secret().as_bytes()) {
        Ok(()) => Ok(SecretBox::new(Box::new(bytes))),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => dev_key(data_dir),
        Err(e) => Err(io(e)),
    }
}
