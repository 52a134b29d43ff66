//! The short fault run in CI: `tests/faults/run.py` kills the real server with SIGKILL at
//! random moments and stops PostgreSQL under a concurrent mixed load, then checks the
//! client's journal of acknowledged responses against the database — nothing lost, no
//! record twice, every chain verifying. The full run (50 kills, 2 restarts) is
//! `python3 tests/faults/run.py`. It needs the local PostgreSQL cluster. Stopping and
//! starting that cluster is left to CI (`CUSTODIAN_REQUIRE_POSTGRES=1`) or to whoever asks
//! for it (`CUSTODIAN_FAULTS_RESTART_POSTGRES=1`): a developer's `cargo test` never stops
//! their database. It runs alone in this test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn nothing_acknowledged_is_lost_across_kills_and_a_postgres_restart() {
    let required = std::env::var("CUSTODIAN_REQUIRE_POSTGRES").as_deref() == Ok("1");
    let reachable = Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
        .status()
        .is_ok_and(|s| s.success());
    if !reachable {
        assert!(
            !required,
            "PostgreSQL is required (CUSTODIAN_REQUIRE_POSTGRES=1)"
        );
        eprintln!("SKIPPED: fault run needs PostgreSQL on 127.0.0.1:5432");
        return;
    }
    let kills = std::env::var("CUSTODIAN_FAULT_KILLS").unwrap_or_else(|_| "6".into());
    let restart =
        required || std::env::var("CUSTODIAN_FAULTS_RESTART_POSTGRES").as_deref() == Ok("1");
    if !restart {
        eprintln!(
            "NOTE: PostgreSQL is not stopped in this run (set CUSTODIAN_FAULTS_RESTART_POSTGRES=1)"
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/faults/run.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            "--kills",
            &kills,
            "--pg-restarts",
            if restart { "1" } else { "0" },
        ])
        .env("CUSTODIAN_BIN", env!("CARGO_BIN_EXE_custodian"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    eprintln!("fault run: {summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert!(
        summary["acknowledgedCreates"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(summary["recordsChecked"].as_u64().unwrap() > 0, "{summary}");
}
