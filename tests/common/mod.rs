//! Shared fixtures for integration tests: the local emulator, scratch env directories, and running the CLI.
#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";
/// Root credentials of the emulator with IAM enforcement (the key id selects root; secrets are not checked).
pub const ACCESS_KEY: &str = "000000000000";
pub const SECRET_KEY: &str = "localemu-root-secret";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator the tests of this binary talk to: the one `scripts/test` started (PROVISION_TEST_ENDPOINT), or
/// one started here through `scripts/local-aws`, which a watchdog stops when this test process ends, whatever way.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("PROVISION_TEST_ENDPOINT") {
            return endpoint;
        }
        start_emulator(&emulator_dir(), &[])
    })
}

/// The state directory of the emulator [`endpoint`] talks to (`LOCAL_AWS_DIR` of `scripts/local-aws`).
pub fn emulator_dir() -> PathBuf {
    if std::env::var_os("PROVISION_TEST_ENDPOINT").is_some() {
        // scripts/test exports its emulator's state dir along with the endpoint.
        return std::env::var_os("LOCAL_AWS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target/local-aws/test-run"));
    }
    let exe = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    repo().join("target/local-aws").join(format!("{}-{}", exe.unwrap_or_default(), std::process::id()))
}

/// The test emulator's HTTPS endpoint: the same port serves HTTP and HTTPS.
pub fn https_endpoint() -> String {
    endpoint().replacen("http://", "https://", 1)
}

/// A PEM CA bundle that verifies [`https_endpoint`] (for `--ca-bundle`), from `scripts/local-aws ca-bundle`.
pub fn ca_bundle() -> PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE
        .get_or_init(|| {
            endpoint();
            ca_bundle_at(&emulator_dir())
        })
        .clone()
}

/// The PEM CA bundle of the emulator whose state directory is `dir` (one started with [`start_emulator`]).
pub fn ca_bundle_at(dir: &Path) -> PathBuf {
    let output = Command::new(repo().join("scripts/local-aws"))
        .arg("ca-bundle")
        .env("LOCAL_AWS_DIR", dir)
        .output()
        .expect("scripts/local-aws runs");
    assert!(output.status.success(), "no CA bundle: {}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Starts a separate emulator in `dir` (stopped by a watchdog when this process ends); returns its endpoint.
pub fn start_emulator(dir: &Path, env: &[(&str, &str)]) -> String {
    let script = repo().join("scripts/local-aws");
    let output = Command::new(&script)
        .arg("up")
        .env("LOCAL_AWS_DIR", dir)
        .envs(env.iter().copied())
        .output()
        .expect("scripts/local-aws runs");
    assert!(output.status.success(), "emulator did not start: {}", String::from_utf8_lossy(&output.stderr));
    let watchdog = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; LOCAL_AWS_DIR='{}' '{}' down >/dev/null 2>&1",
        std::process::id(),
        dir.display(),
        script.display()
    );
    // `setsid -f` forks the watchdog into its own session and returns at once.
    let started = Command::new("setsid").args(["-f", "sh", "-c", &watchdog]).status().expect("watchdog starts");
    assert!(started.success(), "watchdog did not start");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Stops an emulator started with [`start_emulator`].
pub fn stop_emulator(dir: &Path) {
    let _ = Command::new(repo().join("scripts/local-aws")).arg("down").env("LOCAL_AWS_DIR", dir).output();
}

/// A scratch stacks directory holding the given env files.
pub fn stacks(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = repo().join("target/it-stacks").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

/// A project name unique to this test run, so runs against a long-lived emulator do not meet old stacks.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id() % 100_000)
}

/// An ephemeral env file for the emulator with one writer and one queue notification.
pub fn env_file(project: &str) -> String {
    format!(
        "project: {project}\nregion: {REGION}\naccount: \"{ACCOUNT}\"\nephemeral: true\n\
         access:\n  writer:\n    principal: {{ service: lambda.amazonaws.com }}\n    allow: [write, read]\n    prefixes: [calls/]\n\
         notifications:\n  wav:\n    suffix: .wav\n    target: queue\n"
    )
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// The `provision` binary set up for `endpoint` with root credentials, as CI would run it (not a terminal).
pub fn command_at(endpoint: &str, stacks: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provision"));
    command
        .arg("--stacks-dir")
        .arg(stacks)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", REGION)
        .env("CI", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_SESSION_TOKEN");
    command
}

/// Runs the `provision` binary against `endpoint` (see [`command_at`]).
pub fn provision_at(endpoint: &str, stacks: &Path, args: &[&str]) -> Run {
    let output = command_at(endpoint, stacks).args(args).output().expect("provision runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn provision(stacks: &Path, args: &[&str]) -> Run {
    provision_at(endpoint(), stacks, args)
}

/// SDK clients for checking what the tool did.
pub async fn aws() -> provision::aws::Aws {
    let credentials = aws_sdk_cloudformation::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(credentials)
        .load()
        .await;
    provision::aws::Aws::from_sdk(sdk, REGION.to_string(), Some(endpoint().to_string()))
}
