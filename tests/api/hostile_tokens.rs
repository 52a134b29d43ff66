//! A corpus of forged, malformed and misplaced tokens (RFC 8725's catalogue and more):
//! every one is refused with the same `UNAUTHENTICATED` answer — same status, same
//! message, same shape — so a refusal says nothing about which check failed, and nothing
//! executes. Run against a server with the development HMAC key and against one that
//! verifies an identity provider's Ed25519 public key (where "HS256 signed with the public
//! key" is the classic confusion).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::on_both_backends!(a_corpus_of_hostile_tokens_is_refused_alike,);

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token from raw header and claims JSON and a signature computed over them by `sign`.
fn raw(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

fn hmac(key: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |input| {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
}

fn hs256(key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key).unwrap(),
    )
    .unwrap()
}

/// How a request carries its token.
enum Carry {
    Bearer(String),
    Query(String),
    Cookie(String),
    RawHeader(String),
}

async fn refused(app: &TestApp, name: &str, carry: Carry) -> Value {
    let mut url = format!("{}/graphql", app.address);
    let mut req = app.client.post(&url);
    match carry {
        Carry::Bearer(t) => req = req.bearer_auth(t),
        Carry::Query(t) => {
            url.push_str(&format!("?access_token={t}"));
            req = app.client.post(&url);
        }
        Carry::Cookie(t) => req = req.header("cookie", format!("session=x; access_token={t}")),
        Carry::RawHeader(h) => req = req.header("authorization", h),
    }
    let res = req
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "{ viewer { subject } contacts { totalCount } }"}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body: Value = res.json().await.unwrap();
    assert_eq!(status, 401, "{name}: {body}");
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer error=\"invalid_token\""),
        "{name}"
    );
    assert!(
        body.get("data").is_none(),
        "{name}: nothing executes: {body}"
    );
    body["errors"][0]["extensions"]
        .as_object_mut()
        .unwrap()
        .remove("requestId");
    body
}

async fn a_corpus_of_hostile_tokens_is_refused_alike(app: TestApp) {
    let tenant = app.create_tenant("Acme").await;
    let key = {
        let text = std::fs::read_to_string(app._data_dir.path().join("jwt-hs256.key")).unwrap();
        hex::decode(text.trim()).unwrap()
    };
    let now = app.clock.now_secs();
    let good = json!({"sub": "bob", "iss": "custodian", "aud": "custodian", "iat": now,
        "exp": now + 600, "role": "controller_admin", "tenant": tenant});
    let ok = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(hs256(&key, &good))
        .json(&json!({"query": "{ viewer { subject } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the untampered token works");

    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let with_header = |k: &str, v: Value| {
        let mut h = hs.clone();
        h[k] = v;
        raw(&h, &good, hmac(&key))
    };
    let attacker = b"an attacker's own HMAC key, 32 bytes or more";
    let valid = hs256(&key, &good);
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let flip = |s: &str, at: usize| {
        let mut b = s.as_bytes().to_vec();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };

    let mut corpus: Vec<(&str, Carry)> = Vec::new();
    let mut bearer = |name, token: String| corpus.push((name, Carry::Bearer(token)));
    for (name, alg) in [
        ("alg none", "none"),
        ("alg None", "None"),
        ("alg NONE", "NONE"),
        ("alg nOnE", "nOnE"),
    ] {
        let h = json!({"alg": alg, "typ": "JWT"});
        bearer(name, raw(&h, &good, |_| Vec::new()));
    }
    bearer(
        "alg none with a signature",
        raw(&json!({"alg": "none"}), &good, hmac(&key)),
    );
    bearer(
        "alg HS384",
        raw(&json!({"alg": "HS384"}), &good, hmac(&key)),
    );
    bearer(
        "alg HS512",
        raw(&json!({"alg": "HS512"}), &good, hmac(&key)),
    );
    bearer(
        "alg RS256 with garbage",
        raw(&json!({"alg": "RS256"}), &good, |_| vec![7; 256]),
    );
    bearer(
        "alg ES256 with garbage",
        raw(&json!({"alg": "ES256"}), &good, |_| vec![7; 64]),
    );
    bearer(
        "alg EdDSA with garbage",
        raw(&json!({"alg": "EdDSA"}), &good, |_| vec![7; 64]),
    );
    bearer("no alg", raw(&json!({"typ": "JWT"}), &good, hmac(&key)));
    bearer("another key", hs256(attacker, &good));
    bearer(
        "expired past the leeway",
        hs256(&key, &with("exp", json!(now - 31))),
    );
    bearer("exp a string", hs256(&key, &with("exp", json!("tomorrow"))));
    bearer("exp a float", hs256(&key, &with("exp", json!(1.5e12))));
    bearer("iat a string", hs256(&key, &with("iat", json!("now"))));
    bearer("nbf a string", hs256(&key, &with("nbf", json!("later"))));
    bearer(
        "nbf in the future",
        hs256(&key, &with("nbf", json!(now + 3600))),
    );
    bearer(
        "iat in the future",
        hs256(&key, &with("iat", json!(now + 3600))),
    );
    for claim in ["sub", "iss", "aud", "exp", "iat", "role", "tenant"] {
        let name: &'static str = Box::leak(format!("no {claim}").into_boxed_str());
        bearer(name, hs256(&key, &without(claim)));
    }
    bearer("empty sub", hs256(&key, &with("sub", json!(" "))));
    bearer("wrong issuer", hs256(&key, &with("iss", json!("evil"))));
    bearer(
        "wrong audience",
        hs256(&key, &with("aud", json!("someone-else"))),
    );
    bearer(
        "audiences without ours",
        hs256(&key, &with("aud", json!(["a", "b"]))),
    );
    bearer("unknown role", hs256(&key, &with("role", json!("root"))));
    bearer(
        "tenant not a uuid",
        hs256(&key, &with("tenant", json!("acme"))),
    );
    bearer(
        "instruction not a uuid",
        hs256(&key, &with("instruction", json!("all"))),
    );
    let partner = json!({"sub": uuid::Uuid::now_v7().to_string(), "iss": "custodian",
        "aud": "custodian", "iat": now, "exp": now + 600, "role": "subprocessor",
        "tenant": tenant, "jti": uuid::Uuid::now_v7().to_string(), "scope": "contacts:read"});
    let mut no_jti = partner.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    bearer(
        "a partner token without its record id",
        hs256(&key, &no_jti),
    );
    let mut sub_not_id = partner.clone();
    sub_not_id["sub"] = json!("mailer");
    bearer(
        "a partner token whose sub is no subprocessor",
        hs256(&key, &sub_not_id),
    );
    let mut as_admin = partner.clone();
    as_admin["role"] = json!("controller_admin");
    bearer(
        "a partner token's claims as a controller's",
        hs256(&key, &as_admin),
    );
    bearer(
        "a controller token carrying a partner record id",
        hs256(&key, &with("jti", json!(uuid::Uuid::now_v7().to_string()))),
    );
    bearer(
        "jku header",
        with_header("jku", json!("https://attacker.example/jwks.json")),
    );
    bearer(
        "x5u header",
        with_header("x5u", json!("https://attacker.example/cert.pem")),
    );
    bearer(
        "jwk header with the attacker's key",
        raw(
            &json!({"alg": "HS256", "jwk": {"kty": "oct", "k": b64(attacker)}}),
            &good,
            hmac(attacker),
        ),
    );
    bearer(
        "kid naming a file, signed with its contents",
        raw(
            &json!({"alg": "HS256", "kid": "../../../../dev/null"}),
            &good,
            hmac(b""),
        ),
    );
    bearer("x5c header", with_header("x5c", json!(["MIIB"])));
    bearer(
        "a bit flipped in the payload",
        format!("{head}.{}.{signature}", flip(payload, 10)),
    );
    bearer(
        "a bit flipped in the signature",
        format!("{head}.{payload}.{}", flip(signature, 5)),
    );
    bearer(
        "a bit flipped in the header",
        format!("{}.{payload}.{signature}", flip(head, 3)),
    );
    bearer(
        "signature truncated",
        format!("{head}.{payload}.{}", &signature[..signature.len() - 4]),
    );
    bearer(
        "signature padded",
        format!("{head}.{payload}.{signature}AAAA"),
    );
    bearer(
        "signature with base64 padding",
        format!("{head}.{payload}.{signature}="),
    );
    bearer("no signature", format!("{head}.{payload}."));
    bearer("four segments", format!("{valid}.{signature}"));
    bearer("two segments", format!("{head}.{payload}"));
    bearer("not base64", "a.b.c".to_owned());
    bearer("not a jwt", "garbage".to_owned());
    bearer(
        "oversized",
        hs256(&key, &with("padding", json!("x".repeat(16 * 1024)))),
    );
    corpus.push(("token in the query string", Carry::Query(valid.clone())));
    corpus.push(("token in a cookie", Carry::Cookie(valid.clone())));
    corpus.push((
        "Basic instead of Bearer",
        Carry::RawHeader(format!("Basic {valid}")),
    ));
    corpus.push(("Bearer and nothing", Carry::RawHeader("Bearer ".to_owned())));
    corpus.push(("the token alone", Carry::RawHeader(valid.clone())));
    assert!(corpus.len() >= 30, "{}", corpus.len());

    let mut answers = std::collections::BTreeMap::new();
    let tried = corpus.len();
    for (name, carry) in corpus {
        let body = refused(&app, name, carry).await;
        answers
            .entry(body.to_string())
            .or_insert_with(Vec::new)
            .push(name);
    }
    // One answer for every token refused, and one for every header that is no token.
    let token_answer = json!({"errors": [{"message": "the token is not valid for this server",
        "extensions": {"code": "UNAUTHENTICATED"}}]})
    .to_string();
    let kinds: Vec<&String> = answers.keys().collect();
    assert!(
        answers.len() <= 3 && answers.contains_key(&token_answer),
        "{tried} tokens, answers: {kinds:#?}\n{answers:#?}"
    );
    assert!(answers[&token_answer].len() >= 45, "{answers:#?}");
}

#[tokio::test]
async fn a_server_pinned_to_an_identity_providers_ed25519_key_refuses_every_confusion() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("idp.pem");
    let public = dir.path().join("idp.pub.pem");
    let gen_key = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&private)
        .status()
        .unwrap();
    assert!(gen_key.success());
    let gen_pub = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(gen_pub.success());
    let other = dir.path().join("other.pem");
    let gen_other = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(gen_other.success());
    let public_for_server = public.clone();
    let app = TestApp::spawn_configured(move |s| {
        s.auth.jwt_public_key_file = Some(public_for_server);
        s.auth.jwt_algorithm = custodian_api::config::KeyAlgorithm::EdDsa;
    })
    .await;
    let now = app.clock.now_secs();
    let claims = json!({"sub": "alice", "iss": "custodian", "aud": "custodian", "iat": now,
        "exp": now + 600, "role": "platform_admin"});
    let private_pem = std::fs::read(&private).unwrap();
    let public_pem = std::fs::read(&public).unwrap();
    let good = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_pem(&private_pem).unwrap(),
    )
    .unwrap();
    let ok = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&good)
        .json(&json!({"query": "{ viewer { subject } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the identity provider's token works");
    let mut with_kid = Header::new(Algorithm::EdDSA);
    with_kid.kid = Some("idp-2026".into());
    let kid = jsonwebtoken::encode(
        &with_kid,
        &claims,
        &EncodingKey::from_ed_pem(&private_pem).unwrap(),
    )
    .unwrap();
    let ok = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&kid)
        .json(&json!({"query": "{ viewer { subject } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "a kid is ignored, never looked up");
    let forged = [
        (
            "HS256 signed with the public key's PEM",
            raw(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &claims,
                hmac(&public_pem),
            ),
        ),
        (
            "alg none",
            raw(&json!({"alg": "none"}), &claims, |_| Vec::new()),
        ),
        (
            "another Ed25519 key",
            jsonwebtoken::encode(
                &Header::new(Algorithm::EdDSA),
                &claims,
                &EncodingKey::from_ed_pem(&std::fs::read(&other).unwrap()).unwrap(),
            )
            .unwrap(),
        ),
    ];
    for (name, token) in forged {
        refused(&app, name, Carry::Bearer(token)).await;
    }
}
