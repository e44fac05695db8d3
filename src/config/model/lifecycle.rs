//! `bucket.lifecycle`: the bucket-wide transitions and expiration, noncurrent versions, incomplete uploads and
//! the extra per-prefix rules, each held to S3's ordering rules.

use std::collections::BTreeSet;

use super::super::limits::{self, MAX_LIFECYCLE_DAYS};
use super::super::raw::{RawLifecycle, RawLifecycleRule, RawNoncurrent, Setting};
use super::checker::Checker;
use super::prefixes::check_prefix;
use super::types::{Lifecycle, LifecycleRule, Noncurrent};

const DEFAULT_IA_DAYS: u32 = 30;
const DEFAULT_GLACIER_DAYS: u32 = 90;
const DEFAULT_NONCURRENT_EXPIRE_DAYS: u32 = 365;
const DEFAULT_ABORT_DAYS: u32 = 7;
const BASE: &str = "bucket.lifecycle";

pub(super) fn check_lifecycle(c: &mut Checker, raw: RawLifecycle, versioning: bool) -> Lifecycle {
    let ia = raw.infrequent_access_after_days.unwrap_or(Some(DEFAULT_IA_DAYS));
    let glacier = raw.glacier_after_days.unwrap_or(Some(DEFAULT_GLACIER_DAYS));
    check_transitions(c, BASE, ia, glacier, raw.expire_after_days);
    let noncurrent = check_noncurrent(c, raw.noncurrent_versions, versioning);
    let abort = check_abort(c, raw.abort_incomplete_uploads_after_days);
    let rules = check_rules(c, raw.rules);
    Lifecycle {
        infrequent_access_after_days: ia,
        glacier_after_days: glacier,
        expire_after_days: raw.expire_after_days,
        noncurrent,
        abort_incomplete_uploads_after_days: abort,
        rules,
    }
}

/// `noncurrent_versions`: by default (with versioning) old versions expire after a year; `~` keeps them.
fn check_noncurrent(c: &mut Checker, raw: Setting<RawNoncurrent>, versioning: bool) -> Option<Noncurrent> {
    let n = match raw {
        None => {
            return versioning.then_some(Noncurrent {
                expire_after_days: Some(DEFAULT_NONCURRENT_EXPIRE_DAYS),
                ..Noncurrent::default()
            });
        }
        Some(None) => return None,
        Some(Some(n)) => n,
    };
    let path = format!("{BASE}.noncurrent_versions");
    if !versioning {
        c.error(
            &path,
            "noncurrent-version rules need versioning, which is off",
            "remove `noncurrent_versions`, or turn `bucket.versioning` on",
        );
    }
    check_transitions(c, &path, n.infrequent_access_after_days, n.glacier_after_days, n.expire_after_days);
    if n.keep_newest.is_some() && n.expire_after_days.is_none() {
        c.error(
            &format!("{path}.keep_newest"),
            "`keep_newest` only applies together with `expire_after_days`",
            "add expire_after_days, or remove keep_newest",
        );
    }
    if let Some(k) = n.keep_newest
        && !(1..=100).contains(&k)
    {
        c.error(
            &format!("{path}.keep_newest"),
            format!("{k} is outside 1 to 100"),
            "S3 keeps 1 to 100 newer noncurrent versions",
        );
    }
    if n == RawNoncurrent::default() {
        c.error(
            &path,
            "no noncurrent-version action is set",
            "set expire_after_days, or write `noncurrent_versions: ~` to keep old versions forever",
        );
    }
    Some(Noncurrent {
        infrequent_access_after_days: n.infrequent_access_after_days,
        glacier_after_days: n.glacier_after_days,
        expire_after_days: n.expire_after_days,
        keep_newest: n.keep_newest,
    })
}

/// `abort_incomplete_uploads_after_days`: a week by default, `~` to keep incomplete uploads.
fn check_abort(c: &mut Checker, raw: Setting<u32>) -> Option<u32> {
    let path = format!("{BASE}.abort_incomplete_uploads_after_days");
    let abort = raw.unwrap_or(Some(DEFAULT_ABORT_DAYS));
    bounded_days(c, &path, abort);
    if abort == Some(0) {
        c.error(&path, "0 days is not allowed", "use 1 or more days, or `~` to keep incomplete uploads");
    }
    abort
}

/// The extra per-prefix rules.
fn check_rules(c: &mut Checker, raw: Vec<RawLifecycleRule>) -> Vec<LifecycleRule> {
    // S3 takes 1,000 rules, one of which is the bucket-wide rule made from the keys above.
    if raw.len() >= limits::MAX_LIFECYCLE_RULES {
        c.error(
            &format!("{BASE}.rules"),
            format!(
                "{} rules, over S3's limit of {} per bucket (the bucket-wide rule included)",
                raw.len() + 1,
                limits::MAX_LIFECYCLE_RULES
            ),
            "merge rules that share a prefix or a retention",
        );
    }
    let mut ids = BTreeSet::new();
    raw.into_iter().enumerate().map(|(i, rule)| check_rule(c, &format!("{BASE}.rules[{i}]"), rule, &mut ids)).collect()
}

/// One extra rule at `path`; `ids` holds the ids of the rules before it.
fn check_rule(c: &mut Checker, path: &str, rule: RawLifecycleRule, ids: &mut BTreeSet<String>) -> LifecycleRule {
    if !ids.insert(rule.id.clone()) {
        c.error(&format!("{path}.id"), format!("rule id `{}` is used twice", rule.id), "give each rule its own id");
    }
    if rule.id.is_empty() || rule.id.len() > 200 || rule.id.starts_with("provision-") {
        c.error(
            &format!("{path}.id"),
            format!("`{}` is not a usable rule id", rule.id),
            "use 1-200 characters, not starting with `provision-` (reserved for the default rules)",
        );
    }
    check_prefix(c, &format!("{path}.prefix"), &rule.prefix, false);
    if rule.prefix.is_empty() {
        c.error(
            &format!("{path}.prefix"),
            "extra rules need a prefix",
            "the bucket-wide rule is set by the keys above; give this rule a prefix such as recordings/",
        );
    }
    if rule.infrequent_access_after_days.is_none()
        && rule.glacier_after_days.is_none()
        && rule.expire_after_days.is_none()
    {
        c.error(
            path,
            "the rule has no action",
            "set infrequent_access_after_days, glacier_after_days or expire_after_days",
        );
    }
    check_transitions(c, path, rule.infrequent_access_after_days, rule.glacier_after_days, rule.expire_after_days);
    LifecycleRule {
        id: rule.id,
        prefix: rule.prefix,
        infrequent_access_after_days: rule.infrequent_access_after_days,
        glacier_after_days: rule.glacier_after_days,
        expire_after_days: rule.expire_after_days,
    }
}

/// A number of days within [`MAX_LIFECYCLE_DAYS`]; a larger one is reported and left out of the other checks.
fn bounded_days(c: &mut Checker, path: &str, days: Option<u32>) -> Option<u32> {
    match days {
        Some(n) if n > MAX_LIFECYCLE_DAYS => {
            c.error(
                path,
                format!("{n} days is over the limit of {MAX_LIFECYCLE_DAYS} days (100 years)"),
                "use a number of days up to 36500, or `~` where the setting can be turned off",
            );
            None
        }
        other => other,
    }
}

/// S3's ordering rules for one set of transitions and an expiration.
fn check_transitions(c: &mut Checker, path: &str, ia: Option<u32>, glacier: Option<u32>, expire: Option<u32>) {
    let ia = bounded_days(c, &format!("{path}.infrequent_access_after_days"), ia);
    let glacier = bounded_days(c, &format!("{path}.glacier_after_days"), glacier);
    let expire = bounded_days(c, &format!("{path}.expire_after_days"), expire);
    if let Some(days) = ia
        && days < 30
    {
        c.error(
            &format!("{path}.infrequent_access_after_days"),
            format!("STANDARD_IA at {days} days is too early"),
            "S3 moves objects to STANDARD_IA no earlier than 30 days after creation: use 30 or more",
        );
    }
    if let (Some(ia), Some(glacier)) = (ia, glacier)
        && glacier < ia.saturating_add(30)
    {
        c.error(
            &format!("{path}.glacier_after_days"),
            format!("GLACIER at {glacier} days is less than 30 days after STANDARD_IA ({ia} days)"),
            format!("objects must stay 30 days in STANDARD_IA: use {} or more", ia.saturating_add(30)),
        );
    }
    if glacier == Some(0) && ia.is_none() {
        c.error(&format!("{path}.glacier_after_days"), "0 days is not allowed", "use 1 or more days");
    }
    if let Some(expire) = expire {
        let last = glacier.or(ia);
        if expire == 0 {
            c.error(&format!("{path}.expire_after_days"), "0 days is not allowed", "use 1 or more days");
        } else if let Some(last) = last.filter(|last| expire <= *last) {
            // The transitions at or after the expiration never happen; they may be defaults, not in the file.
            let never: Vec<String> = [("infrequent_access_after_days", ia), ("glacier_after_days", glacier)]
                .into_iter()
                .filter(|(_, days)| days.is_some_and(|days| days >= expire))
                .map(|(key, _)| format!("`{key}: ~`"))
                .collect();
            c.error(
                &format!("{path}.expire_after_days"),
                format!("expiration at {expire} days is not after the last transition ({last} days)"),
                format!(
                    "expire after more than {last} days, or turn off the transitions at or after day {expire}: {}",
                    never.join(" and ")
                ),
            );
        }
    }
}
