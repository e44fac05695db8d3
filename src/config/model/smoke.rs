//! `smoke`: where the post-deploy probes write, whether and how long they wait for notifications, and whether the
//! created roles trust the deploying principal.

use std::time::Duration;

use super::super::raw::RawSmoke;
use super::checker::Checker;
use super::prefixes::{check_prefix, meant_prefix};
use super::types::Smoke;

const DEFAULT_PROBE_PREFIX: &str = "_probe/";

/// What kind of env the smoke settings are for.
#[derive(Clone, Copy)]
pub(super) struct EnvKind {
    pub(super) protected: bool,
    pub(super) ephemeral: bool,
    /// The file names a custom endpoint (an emulator).
    pub(super) emulator: bool,
}

pub(super) fn check_smoke(c: &mut Checker, raw: RawSmoke, kind: EnvKind) -> Smoke {
    let protected = kind.protected;
    let probe_prefix = raw.probe_prefix.unwrap_or_else(|| DEFAULT_PROBE_PREFIX.to_string());
    c.judge(&["smoke.probe_prefix"], |c| {
        check_prefix(c, "smoke.probe_prefix", &probe_prefix, true);
        if probe_prefix.is_empty() || !probe_prefix.ends_with('/') {
            let meant = match meant_prefix(&probe_prefix, true) {
                meant if meant == "/" => DEFAULT_PROBE_PREFIX.to_string(),
                meant => meant,
            };
            c.error(
                "smoke.probe_prefix",
                format!("probe prefix `{probe_prefix}` must be a folder-like prefix ending in `/`"),
                format!("probes stay under their own folder: write `{meant}`"),
            );
        }
    });
    if raw.trust_deployer && protected && c.read(&["smoke.trust_deployer", "protected"]) {
        c.error(
            "smoke.trust_deployer",
            "a protected env cannot trust the deploying account in its roles",
            "the smoke test of a protected env checks access with IAM's policy simulator instead; remove the key",
        );
    } else if raw.trust_deployer
        && !kind.ephemeral
        && !kind.emulator
        && c.read(&["smoke.trust_deployer", "ephemeral", "endpoint"])
    {
        c.error(
            "smoke.trust_deployer",
            "`trust_deployer` is only for ephemeral (test) envs and envs at a custom endpoint (an emulator)",
            "a long-lived env's roles trust only their service; its smoke test checks access with IAM's policy \
             simulator: remove the key, or set `ephemeral: true`",
        );
    }
    let timeout = raw.notification_timeout_secs.unwrap_or(20);
    if !(1..=300).contains(&timeout) && c.read(&["smoke.notification_timeout_secs"]) {
        c.error(
            "smoke.notification_timeout_secs",
            format!("{timeout} s is outside 1 to 300 seconds"),
            "wait 1 to 300 seconds (5 minutes), e.g. 20",
        );
    }
    Smoke {
        probe_prefix,
        check_notifications: raw.check_notifications.unwrap_or(!protected),
        notification_timeout: Duration::from_secs(timeout.into()),
        trust_deployer: raw.trust_deployer,
    }
}
