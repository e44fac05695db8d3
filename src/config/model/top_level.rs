//! The env's own top-level keys: project, region, account, endpoint, and the kind of env (protected, ephemeral,
//! ttl, instance, allow_data_loss).

use std::time::Duration;

use super::super::limits;
use super::super::raw::RawConfig;
use super::checker::Checker;
use crate::names;

/// `project`, `region` and `account`: the parts of the derived names (stack, bucket, roles, queues).
pub(super) fn check_name_parts(c: &mut Checker, raw: &RawConfig) {
    if c.read(&["project"]) {
        check_project(c, &raw.project);
    }
    if c.read(&["region"]) && !names::is_region(&raw.region) {
        c.error(
            "region",
            format!("`{}` is not an AWS region name", raw.region),
            "use a region code such as us-west-1 or eu-central-1",
        );
    }
    if let Some(account) = &raw.account
        && c.read(&["account"])
        && !names::is_account_id(account)
    {
        c.error(
            "account",
            format!("`{account}` is not an AWS account id"),
            "an account id is exactly 12 digits; quote it so YAML keeps leading zeros: account: \"012345678901\"",
        );
    }
}

fn check_project(c: &mut Checker, project: &str) {
    let ok = (2..=40).contains(&project.len())
        && project.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && project.as_bytes()[0].is_ascii_lowercase()
        && !project.ends_with('-');
    if !ok {
        c.error(
            "project",
            format!("`{project}` is not a valid project name"),
            "use 2-40 lowercase letters, digits and hyphens, starting with a letter (it names the stack and bucket)",
        );
    }
}

pub(super) fn check_endpoint(c: &mut Checker, raw: &RawConfig) {
    let Some(endpoint) = raw.endpoint.as_ref().filter(|_| c.read(&["endpoint"])) else { return };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) || endpoint.len() < 10 {
        c.error(
            "endpoint",
            format!("`{endpoint}` is not an http(s) URL"),
            "write the emulator's URL, e.g. http://127.0.0.1:4566, or remove the key for real AWS",
        );
    }
    if raw.protected && c.read(&["protected"]) {
        c.error(
            "endpoint",
            "a protected env cannot point at a custom endpoint",
            "protected envs deploy to real AWS; remove `endpoint` or `protected`",
        );
    }
}

pub(super) fn check_protected_and_ephemeral(c: &mut Checker, raw: &RawConfig) {
    if raw.protected && raw.ephemeral && c.read(&["protected", "ephemeral"]) {
        c.error(
            "ephemeral",
            "an env cannot be both protected and ephemeral",
            "protected envs are never torn down; ephemeral ones always are: keep one of the two",
        );
    }
}

/// The life of an ephemeral env's instances; `None` when not set (or not valid, which is reported).
pub(super) fn check_ttl(c: &mut Checker, raw: &RawConfig) -> Option<Duration> {
    match &raw.ttl {
        None => None,
        Some(_) if !c.read(&["ttl", "ephemeral"]) => None,
        Some(_) if !raw.ephemeral => {
            c.error("ttl", "`ttl` only applies to ephemeral envs", "remove `ttl`, or set `ephemeral: true`");
            None
        }
        Some(text) => match limits::parse_duration(text, limits::MAX_TTL) {
            Ok(d) => Some(d),
            Err(e) if e.contains("longer than the maximum") => {
                c.error("ttl", e, "an ephemeral instance lives at most 365 days: write e.g. 24h, 7d or 30d");
                None
            }
            Err(e) => {
                c.error("ttl", e, "write a duration such as 30m, 12h or 7d");
                None
            }
        },
    }
}

/// A named instance (`--instance`) is only for an ephemeral env.
pub(super) fn check_instance(c: &mut Checker, raw: &RawConfig, env: &str, instance: Option<&str>) {
    if let Some(instance) = instance
        && !raw.ephemeral
        && c.read(&["ephemeral"])
    {
        c.error(
            "ephemeral",
            format!("instance `{instance}` given, but env `{env}` is not ephemeral"),
            "named instances exist only for ephemeral (test) envs: drop --instance, or set `ephemeral: true`",
        );
    }
}

pub(super) fn check_allow_data_loss(c: &mut Checker, raw: &RawConfig) {
    if raw.allow_data_loss && !raw.protected && c.read(&["allow_data_loss", "protected"]) {
        c.error(
            "allow_data_loss",
            "`allow_data_loss` only applies to protected envs",
            "other envs accept --allow-data-loss on the command line; remove the key",
        );
    }
}

/// The bucket settings an env's kind decides: a protected env keeps every version, and Object Lock is for envs
/// whose bucket lives on (compliance mode only where nothing may ever be torn down).
pub(super) fn check_bucket_for_env_kind(c: &mut Checker, raw: &RawConfig) {
    if raw.bucket.versioning == Some(false) && raw.protected && c.read(&["bucket.versioning", "protected"]) {
        c.error(
            "bucket.versioning",
            "a protected env cannot turn versioning off",
            "versions are what keeps an overwritten or deleted object: remove `versioning: false`",
        );
    }
    let Some(lock) = raw.bucket.object_lock.as_ref().filter(|_| c.read(&["bucket.object_lock"])) else { return };
    if raw.ephemeral && c.read(&["ephemeral"]) {
        c.error(
            "bucket.object_lock",
            "an ephemeral env cannot have Object Lock",
            "teardown refuses a bucket with Object Lock (its locked versions cannot be deleted), so instances would \
             pile up: try Object Lock in a non-ephemeral env, or remove it",
        );
    } else if lock.mode == "compliance" && !raw.protected && c.read(&["protected"]) {
        c.error(
            "bucket.object_lock.mode",
            "compliance mode is only for protected envs",
            "in compliance mode nobody, the account root included, can delete a locked version before its \
             retention ends: use governance here, or set `protected: true`",
        );
    }
}
