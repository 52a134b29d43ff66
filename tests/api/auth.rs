//! Token verification: signature, pinned algorithm, issuer, audience, expiry (against the
//! server's clock), required claims, and a tenant for tenant roles.

use custodian_api::auth::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    bad_tokens_are_unauthenticated_and_good_ones_identify_the_caller,
    a_token_expires_when_the_clock_passes_its_expiry,
);

fn dev_key(app: &TestApp) -> Vec<u8> {
    let text = std::fs::read_to_string(app._data_dir.path().join("jwt-hs256.key")).unwrap();
    hex_decode(text.trim())
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sign(key: &[u8], alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(key).unwrap(),
    )
    .unwrap()
}

async fn status_and_code(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({"query": "{ viewer { subject actorKind roles tenantId } }"}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn bad_tokens_are_unauthenticated_and_good_ones_identify_the_caller(app: TestApp) {
    let tenant = app.create_tenant("Acme").await;
    let key = dev_key(&app);
    let now = app.clock.now_secs();
    let good = json!({"sub": "bob", "iss": "custodian", "aud": "custodian", "iat": now, "exp": now + 600, "role": "controller_admin", "tenant": tenant});
    let (status, body) = status_and_code(&app, &sign(&key, Algorithm::HS256, &good)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["viewer"],
        json!({"subject": "bob", "actorKind": "CONTROLLER", "roles": ["CONTROLLER_ADMIN"], "tenantId": tenant})
    );

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
    let cases: Vec<(&str, String)> = vec![
        (
            "controller without tenant",
            sign(&key, Algorithm::HS256, &without("tenant")),
        ),
        (
            "wrong audience",
            sign(&key, Algorithm::HS256, &with("aud", json!("someone-else"))),
        ),
        (
            "wrong issuer",
            sign(&key, Algorithm::HS256, &with("iss", json!("evil"))),
        ),
        (
            "expired",
            sign(&key, Algorithm::HS256, &with("exp", json!(now - 120))),
        ),
        (
            "issued in the future",
            sign(&key, Algorithm::HS256, &with("iat", json!(now + 3600))),
        ),
        ("no iat", sign(&key, Algorithm::HS256, &without("iat"))),
        ("no exp", sign(&key, Algorithm::HS256, &without("exp"))),
        ("no sub", sign(&key, Algorithm::HS256, &without("sub"))),
        ("no aud", sign(&key, Algorithm::HS256, &without("aud"))),
        (
            "unknown role",
            sign(&key, Algorithm::HS256, &with("role", json!("root"))),
        ),
        (
            "tenant not a uuid",
            sign(&key, Algorithm::HS256, &with("tenant", json!("acme"))),
        ),
        (
            "other key",
            sign(
                b"an-entirely-different-secret-of-32-bytes!",
                Algorithm::HS256,
                &good,
            ),
        ),
        ("other algorithm", sign(&key, Algorithm::HS512, &good)),
        ("not a jwt", "garbage".to_owned()),
    ];
    for (name, token) in cases {
        let (status, body) = status_and_code(&app, &token).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{name}");
        assert!(body.get("data").is_none(), "{name}: nothing executes");
    }
    // An unsigned token ("alg": "none") is refused.
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(good.to_string().as_bytes());
    let (status, _) = status_and_code(&app, &format!("{header}.{payload}.")).await;
    assert_eq!(status, 401);
    // A malformed Authorization header is refused too, not treated as anonymous.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("authorization", "Token abc")
        .json(&json!({"query": "{ viewer { subject } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // Without any token, `viewer` is null and contact data needs authentication.
    let anon = app.gql(None, "{ viewer { subject } }", json!({})).await;
    assert_eq!(anon["data"]["viewer"], Value::Null);
    let anon = app
        .gql(None, "{ contacts { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&anon), "UNAUTHENTICATED");
}

async fn a_token_expires_when_the_clock_passes_its_expiry(app: TestApp) {
    let tenant = app.create_tenant("Acme").await;
    let token = app.token(Role::ControllerUser, Some(&tenant), "carol");
    let (status, _) = status_and_code(&app, &token).await;
    assert_eq!(status, 200);
    app.clock
        .advance(crate::helpers::TEST_TOKEN_TTL as u64 + 31);
    let (status, body) = status_and_code(&app, &token).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["message"], "the token is not valid for this server",
        "an expired token is refused like any other: no hint which check failed"
    );
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
