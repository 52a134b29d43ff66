//! What the binary's tests share: starting `custodian serve` as a user would, minting
//! tokens with `custodian token`, a loopback HTTP receiver.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_custodian");

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The token is the last word `custodian token` prints on stdout.
pub fn token(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["token", "--data-dir", dir.to_str().unwrap()])
        .args(args)
        .env_remove("CUSTODIAN_JWT_SECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned()
}

/// An HTTP client that keeps no connection idle past 2 s: the server closes an idle
/// connection after its 5 s keep-alive, and a request sent on one it is closing (after a
/// long `custodian import`, say) fails with `IncompleteMessage`.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

pub async fn gql(client: &reqwest::Client, base: &str, token: &str, query: &str) -> Value {
    let body: Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Starts `custodian serve` on a free port with its data in `data`; waits until ready.
pub async fn start_server(data: &std::path::Path) -> (Server, String) {
    start_server_with(data, &[]).await
}

/// As [`start_server`], with these environment variables set.
pub async fn start_server_with(data: &std::path::Path, env: &[(&str, &str)]) -> (Server, String) {
    start_server_logging(data, env, Stdio::null()).await
}

/// As [`start_server_with`], its stderr (the logs) going to `stderr`.
pub async fn start_server_logging(
    data: &std::path::Path,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (Server, String) {
    let port = free_port();
    let server = Server(
        Command::new(BIN)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
                data.to_str().unwrap(),
            ])
            .env_remove("CUSTODIAN_DATABASE_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, base)
}

/// One request a [`receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request line and headers, lower-cased.
    pub head: String,
    pub body: Vec<u8>,
}

/// A receiver on loopback answering 200 to every request; returns its address and what
/// it got.
pub async fn receiver() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                // Headers, then as many body bytes as content-length says.
                let received = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length: usize = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break Some(Received {
                                head: text[..end].to_owned(),
                                body: buf[end + 4..end + 4 + length].to_vec(),
                            });
                        }
                    }
                    if n == 0 {
                        break None;
                    }
                };
                if let Some(r) = received {
                    log.lock().unwrap().push(r);
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await;
            });
        }
    });
    (address, seen)
}

/// A webhook receiver: its URL, and a function listing the `Custodian-Delivery` id of
/// each request it got.
pub async fn webhook_receiver() -> (String, impl Fn() -> Vec<String>) {
    let (address, seen) = receiver().await;
    let ids = move || {
        seen.lock()
            .unwrap()
            .iter()
            .filter_map(|r| {
                r.head
                    .lines()
                    .find_map(|l| l.strip_prefix("custodian-delivery: "))
                    .map(|id| id.trim().to_owned())
            })
            .collect()
    };
    (format!("http://{address}/hooks"), ids)
}
