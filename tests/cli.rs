//! The `provision` binary as a new user meets it: exit codes CI can trust, errors that name their real cause (the
//! endpoint, the credentials, the profile), a refused connection that fails at once, and a hung endpoint that ends
//! at the deadline instead of hanging. No emulator needed: the endpoints are closed ports and loopback listeners
//! that never answer.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Run, env_file};

fn run(mut command: Command) -> (Run, Duration) {
    let started = Instant::now();
    let output = command.output().expect("provision runs");
    let took = started.elapsed();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (run, took)
}

fn dev_stacks(name: &str) -> PathBuf {
    common::stacks(name, &[("dev.yaml", &env_file("cli"))])
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An endpoint that accepts connections and never answers (nor reads): a hung emulator, as after SIGSTOP.
fn hung_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

/// A mistyped flag exits 64, not clap's 2, which is "drift found" to a CI job; nothing is run.
#[test]
fn a_mistyped_flag_is_a_usage_error_not_drift() {
    let stacks = dev_stacks("usage");
    let (typo, _) = run({
        let mut c = common::command_at("http://127.0.0.1:9", &stacks);
        c.args(["drift", "--env", "dev", "--outptu", "github"]);
        c
    });
    assert_eq!(typo.code, 64, "{typo:?}");
    assert!(typo.stderr.contains("unexpected argument '--outptu'"), "{}", typo.stderr);
    assert!(typo.stderr.contains("tip: a similar argument exists: '--output'"), "{}", typo.stderr);
    assert_eq!(typo.stdout, "");
    for args in [&["drift", "--help"][..], &["--version"], &["--help"]] {
        let (help, _) = run({
            let mut c = common::command_at("http://127.0.0.1:9", &stacks);
            c.args(args);
            c
        });
        assert_eq!(help.code, 0, "{args:?}: {help:?}");
        assert!(!help.stdout.is_empty(), "{args:?}: {help:?}");
    }
    let (nothing, _) = run(common::command_at("http://127.0.0.1:9", &stacks));
    assert_eq!(nothing.code, 64, "{nothing:?}");
}

/// A refused connection is not retried (the SDK's standard strategy retried it for 7-16 s): the binary exits 1 at
/// once, naming the endpoint.
#[test]
fn a_closed_port_fails_at_once_naming_the_endpoint() {
    let stacks = dev_stacks("closed");
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let (refused, took) = run({
        let mut c = common::command_at(&endpoint, &stacks);
        c.args(["plan", "--env", "dev"]);
        c
    });
    assert_eq!(refused.code, 1, "{refused:?}");
    let text = refused.stderr.replace(&endpoint, "http://127.0.0.1:PORT");
    assert_eq!(
        text,
        "error: cannot find out which AWS account the credentials belong to (endpoint http://127.0.0.1:PORT, region \
         us-east-1)\n  \
         Caused by: GetCallerIdentity connection failed: http://127.0.0.1:PORT refused the connection (is the \
         endpoint reachable?)\n  \
         Caused by: client error (Connect)\n  \
         Caused by: tcp connect error\n  \
         Caused by: Connection refused (os error 111)\n\
         hint: nothing listens at http://127.0.0.1:PORT: start the endpoint (the local emulator: `scripts/local-aws \
         up`), or fix --endpoint-url, AWS_ENDPOINT_URL or the env file's `endpoint:`\n"
    );
    // Measured: 0.06-0.08 s on 2 busy cores (10 s when the SDK retried it). Bounded loosely, for slow machines.
    assert!(took < Duration::from_secs(5), "a refused connection took {took:?}");
    eprintln!("closed port: exit 1 after {took:?}");
}

/// A home directory of a user without credentials: empty AWS config files, plus `files` (relative paths).
fn home(name: &str, config: &str, files: &[(&str, &str)]) -> PathBuf {
    let home = common::repo().join("target/it-home").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/config"), config).unwrap();
    std::fs::write(home.join(".aws/credentials"), "").unwrap();
    for (path, text) in files {
        let path = home.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    home
}

/// `provision plan` run as that user would: a clean environment (no AWS_* variables) but for `extra`.
fn plan_as(home: &Path, extra: &[(&str, &str)]) -> Run {
    let stacks = dev_stacks(&home.file_name().unwrap().to_string_lossy());
    let mut command = Command::new(env!("CARGO_BIN_EXE_provision"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        // No instance metadata service to ask on a developer's machine.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CI", "true")
        .envs(extra.iter().copied())
        .arg("--stacks-dir")
        .arg(&stacks)
        .args(["plan", "--env", "dev", "--endpoint-url", "http://127.0.0.1:9"]);
    run(command).0
}

fn redact(text: &str, home: &Path) -> String {
    text.replace(&home.display().to_string(), "HOME")
}

#[test]
fn no_credentials_says_so_and_how_to_give_them() {
    let home = home("nocreds", "", &[]);
    let run = plan_as(&home, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    insta::assert_snapshot!("no_credentials", redact(&run.stderr, &home));
}

#[test]
fn an_unknown_profile_is_named() {
    let home = home("noprofile", "[profile deploy]\nregion = us-west-1\n", &[]);
    let run = plan_as(&home, &[("AWS_PROFILE", "nope")]);
    assert_eq!(run.code, 1, "{run:?}");
    insta::assert_snapshot!("unknown_profile", redact(&run.stderr, &home));
}

/// An SSO profile whose cached token has expired (and cannot be refreshed): the hint is `aws sso login`.
#[test]
fn an_expired_sso_session_says_to_sign_in_again() {
    let config = "[profile corp]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Deployer\n\
                  region = us-west-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
                  sso_region = us-west-1\n";
    // The token cache of session `corp`: the file is named by the SHA-1 of the session's name.
    let token = r#"{"accessToken":"expired","expiresAt":"2020-01-01T00:00:00Z","region":"us-west-1","startUrl":"https://corp.awsapps.com/start"}"#;
    let home = home("sso", config, &[(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json", token)]);
    let run = plan_as(&home, &[("AWS_PROFILE", "corp")]);
    assert_eq!(run.code, 1, "{run:?}");
    insta::assert_snapshot!("expired_sso_session", redact(&run.stderr, &home));
}

/// An endpoint that accepts the connection and never answers: `--timeout` ends the command at its deadline, with
/// an error naming the deadline and the request it was waiting for, and notes on stderr while it waits.
#[test]
fn a_hung_endpoint_ends_at_the_deadline() {
    let stacks = dev_stacks("hung-deadline");
    let endpoint = hung_endpoint();
    let (hung, took) = run({
        let mut c = common::command_at(&endpoint, &stacks);
        c.args(["plan", "--env", "dev", "--timeout", "3s"]);
        c
    });
    assert_eq!(hung.code, 1, "{hung:?}");
    assert!(
        hung.stderr.contains(&format!(
            "error: plan did not finish within its deadline of 3s: still waiting for STS GetCallerIdentity at {endpoint}"
        )),
        "{}",
        hung.stderr
    );
    assert!(hung.stderr.contains("hint: --timeout sets the deadline"), "{}", hung.stderr);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    eprintln!("hung endpoint, --timeout 3s: exit 1 after {took:?}");
}

/// Without a deadline, each AWS call's own bound ends it: `--call-timeout` (2 minutes by default) covers every
/// attempt; a waiting note says what the command waits for every few seconds meanwhile.
#[test]
fn a_hung_endpoint_ends_at_the_call_timeout() {
    let stacks = dev_stacks("hung-call");
    let endpoint = hung_endpoint();
    let (hung, took) = run({
        let mut c = common::command_at(&endpoint, &stacks);
        // Long enough for a second note (at 10 s) even when the request started well after the command did.
        c.args(["list", "--env", "dev", "--timeout", "0", "--call-timeout", "12s"]);
        c
    });
    assert_eq!(hung.code, 1, "{hung:?}");
    assert!(hung.stderr.contains("DescribeStacks timed out"), "{}", hung.stderr);
    assert!(hung.stderr.contains("--call-timeout"), "{}", hung.stderr);
    assert!(
        // Notes come every 5 s of the command for requests unanswered that long; the exact count varies with load.
        hung.stderr.contains(&format!("still waiting for CloudFormation DescribeStacks at {endpoint} (")),
        "{}",
        hung.stderr
    );
    assert!(took >= Duration::from_secs(12) && took < Duration::from_secs(30), "took {took:?}");
}
