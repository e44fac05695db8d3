//! With `--output json`, every command prints one JSON document on stdout when it fails, as on success: tooling
//! never has to scrape stderr. No emulator needed: the failures come before any answer (a missing env file, a
//! refusal, an endpoint that refuses connections).

mod common;

use common::{Run, provision_at, stacks};
use serde_json::Value;

/// A port on 127.0.0.1 that refuses connections: bound, then closed.
fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn document(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {run:?}"))
}

/// Regression: `deploy`, `plan`, `smoke`, `teardown` and `list` printed nothing on stdout when they failed, so a
/// CI job reading their JSON got an empty document.
#[test]
fn every_command_prints_one_json_document_when_it_fails() {
    let dir = stacks("failures-json", &[("dev.yaml", &common::env_file("it-fail"))]);
    let endpoint = closed_endpoint();
    let cases: &[(&str, &[&str], i32, &str)] = &[
        ("deploy", &["--env", "missing", "--output", "json"], 1, "missing"),
        ("plan", &["plan", "--env", "missing", "--output", "json"], 1, "missing"),
        ("smoke", &["smoke", "--env", "missing", "--output", "json"], 1, "missing"),
        ("teardown", &["teardown", "--env", "missing", "--output", "json"], 1, "missing"),
        ("list", &["list", "--env", "missing", "--output", "json"], 1, "missing"),
        ("plan", &["plan", "--env", "dev", "--output", "json", "--max-attempts", "1"], 1, "GetCallerIdentity"),
        ("deploy", &["--env", "dev", "--yes", "--output", "json", "--max-attempts", "1"], 1, "GetCallerIdentity"),
    ];
    for (command, args, code, mentions) in cases {
        let run = provision_at(&endpoint, &dir, args);
        assert_eq!(run.code, *code, "{command} {args:?}: {run:?}");
        let doc = document(&run);
        assert_eq!(doc["command"], *command, "{doc}");
        assert_eq!(doc["ok"], false, "{doc}");
        assert_eq!(doc["exit_code"], *code, "{doc}");
        let error = doc["error"].as_str().unwrap_or_default();
        assert!(!error.starts_with("error:"), "the message without the `error: ` prefix: {error}");
        assert!(error.contains(mentions), "{command} {args:?}: {error}");
        assert!(run.stderr.contains("error: "), "stderr keeps the readable error: {}", run.stderr);
    }
}

/// A refusal is a failure with its own exit code (3), in the document too.
#[test]
fn a_teardown_refusal_is_a_json_document_with_exit_code_3() {
    let protected = "project: it-fail\nregion: us-east-1\nprotected: true\n";
    let dir = stacks("failures-json-refusal", &[("prod.yaml", protected)]);
    let run = provision_at(&closed_endpoint(), &dir, &["teardown", "--env", "prod", "--yes", "--output", "json"]);
    assert_eq!(run.code, 3, "{run:?}");
    let doc = document(&run);
    assert_eq!(
        (doc["command"].as_str(), doc["env"].as_str(), doc["exit_code"].as_i64()),
        (Some("teardown"), Some("prod"), Some(3))
    );
    assert!(doc["error"].as_str().unwrap_or_default().contains("protected"), "{doc}");
}
