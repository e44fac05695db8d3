//! Validated configuration: what the rest of the tool works with.
//!
//! [`build`] turns a [`RawConfig`] into a [`Config`], applying the secure defaults and checking every rule it
//! can before any AWS call. All problems are collected, each located in the file, instead of stopping at the first.
//! The types are in `types`; each other module checks one section of the file, or the names derived from several.

mod access;
mod bucket;
mod checker;
mod deploy_role;
mod derived_names;
mod lifecycle;
mod logical_ids;
mod managed_policies;
mod notifications;
mod prefixes;
mod queues;
mod smoke;
mod top_level;
mod types;

use std::path::Path;

pub use types::*;

use super::error::Diagnostic;
use super::locate::Locator;
use super::raw::RawConfig;
use super::structure::Unread;
use checker::{Checker, RegionAccount};

/// Validates `raw` (read from `file`, indexed by `locator`) for `env`/`instance`. The parts of the file in
/// `unread` could not be read (they hold defaults): the rules that read them are not checked.
pub fn build(
    raw: RawConfig,
    env: &str,
    instance: Option<&str>,
    file: &Path,
    locator: &Locator,
    unread: &Unread,
) -> Result<Config, Vec<Diagnostic>> {
    let mut c = Checker::new(file, locator, unread);
    // Problems with the parts of derived names (bucket, role, queue) are reported once, at the part. A problem
    // with the endpoint, checked in the same stretch, holds the derived names back too.
    top_level::check_name_parts(&mut c, &raw);
    top_level::check_endpoint(&mut c, &raw);
    let name_parts_ok = c.found.is_empty() && c.read(&["project", "region", "account"]);
    top_level::check_protected_and_ephemeral(&mut c, &raw);
    let ttl = top_level::check_ttl(&mut c, &raw);
    top_level::check_instance(&mut c, &raw, env, instance);
    top_level::check_allow_data_loss(&mut c, &raw);
    top_level::check_bucket_for_env_kind(&mut c, &raw);

    let home = RegionAccount {
        region: c.read(&["region"]).then_some(raw.region.as_str()),
        account: raw.account.as_deref().filter(|_| c.read(&["account"])),
    };
    let deploy_role = deploy_role::check_deploy_role(&mut c, raw.deploy_role, raw.external_id, home);
    let bucket = bucket::check_bucket(&mut c, raw.bucket, home);
    let access = access::check_access(&mut c, raw.access, home);
    let notifications = notifications::check_notifications(&mut c, raw.notifications, home);
    queues::check_consumers(&mut c, &notifications, &access);
    let kind = smoke::EnvKind { protected: raw.protected, ephemeral: raw.ephemeral, emulator: raw.endpoint.is_some() };
    let smoke = smoke::check_smoke(&mut c, raw.smoke, kind);

    let config = Config {
        env: env.to_string(),
        instance: instance.map(str::to_string),
        project: raw.project,
        region: raw.region,
        account: raw.account,
        deploy_role,
        endpoint: raw.endpoint,
        protected: raw.protected,
        ephemeral: raw.ephemeral,
        ttl,
        allow_data_loss: raw.allow_data_loss,
        bucket,
        access,
        notifications,
        smoke,
        self_heal: raw.drift.self_heal,
    };
    derived_names::check_derived_names(&mut c, &config, name_parts_ok);
    logical_ids::check_logical_ids(&mut c, &config);
    if c.found.is_empty() { Ok(config) } else { Err(c.found) }
}
