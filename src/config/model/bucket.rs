//! `bucket`: its name pattern, encryption, access logs and tags (lifecycle has its own module).

use std::collections::BTreeMap;

use super::super::raw::{RawAccessLogs, RawBucket, RawEncryption, RawObjectLock};
use super::checker::{Checker, RegionAccount};
use super::lifecycle::check_lifecycle;
use super::prefixes::check_prefix;
use super::types::{AccessLogs, Bucket, Encryption, LockMode, ObjectLock, Retention};
use crate::ids::TAG_MANAGED_BY;
use crate::names;

pub(super) const DEFAULT_BUCKET_NAME: &str = "{stack}-{account}-{region}";
/// How many tags the tool adds to the bucket itself (managed-by, env, project, instance).
const MANAGED_BUCKET_TAGS: usize = 4;

pub(super) fn check_bucket(c: &mut Checker, raw: RawBucket, home: RegionAccount) -> Bucket {
    let encryption = c.judge(&["bucket.encryption"], |c| check_encryption(c, raw.encryption, home));
    let encrypt_notifications = c.judge(&["bucket.encrypt_notifications", "bucket.encryption"], |c| {
        check_encrypt_notifications(c, raw.encrypt_notifications, &encryption)
    });
    let versioning = raw.versioning.unwrap_or(true);
    let object_lock = c.judge(&["bucket.object_lock", "bucket.versioning"], |c| {
        raw.object_lock.and_then(|lock| check_object_lock(c, lock, versioning))
    });
    let lifecycle =
        c.judge(&["bucket.lifecycle", "bucket.versioning"], |c| check_lifecycle(c, raw.lifecycle, versioning));
    let access_logs = c.judge(&["bucket.access_logs"], |c| raw.access_logs.map(|logs| check_access_logs(c, logs)));
    c.judge(&["bucket.tags"], |c| check_tags(c, &raw.tags));
    Bucket {
        name_pattern: raw.name.unwrap_or_else(|| DEFAULT_BUCKET_NAME.to_string()),
        versioning,
        encryption,
        encrypt_notifications,
        object_lock,
        lifecycle,
        access_logs,
        tags: raw.tags,
    }
}

fn check_encryption(c: &mut Checker, raw: Option<RawEncryption>, home: RegionAccount) -> Encryption {
    match raw {
        None | Some(RawEncryption::SseS3) => Encryption::SseS3,
        Some(RawEncryption::Kms) => Encryption::Kms,
        Some(RawEncryption::KmsKeyArn(arn)) => {
            let path = "bucket.encryption.kms_key_arn";
            if !names::is_kms_key_arn(&arn) {
                c.error(
                    path,
                    format!("`{arn}` is not a KMS key ARN"),
                    "use arn:aws:kms:<region>:<account>:key/<key id> (an alias ARN cannot be used in key policies)",
                );
            } else {
                let why = "S3 encrypts a bucket only with a KMS key of the bucket's region";
                // A key of another account works only if that account's key policy admits every writer and reader
                // of this bucket, which the tool can neither write nor check.
                let other_account = "the tool scopes the key's use to principals of the env's account \
                                     (or write `encryption: kms` for a key of the stack's own)";
                home.check_arn(c, path, &arn, Some(why), Some(other_account));
            }
            Encryption::SseKms { key_arn: arn }
        }
    }
}

/// `encrypt_notifications`: only with a key the stack creates, whose key policy lets S3 send to the targets;
/// on by default with one.
fn check_encrypt_notifications(c: &mut Checker, raw: Option<bool>, encryption: &Encryption) -> bool {
    let own_key = *encryption == Encryption::Kms;
    if raw == Some(true) && !own_key {
        let hint = match encryption {
            Encryption::SseKms { .. } => {
                "S3 can send to a queue or topic under a key only if the key policy admits s3.amazonaws.com, which \
                 the tool writes only for a key of its own: write `encryption: kms`, or remove `encrypt_notifications`"
            }
            _ => {
                "queues and topics are encrypted with the bucket's own key: write `encryption: kms`, or remove \
                 `encrypt_notifications`"
            }
        };
        c.error("bucket.encrypt_notifications", "`encrypt_notifications` needs `encryption: kms`", hint);
    }
    raw.unwrap_or(own_key) && own_key
}

/// The most days and years of a default retention the tool accepts (S3 sets no lower maximum for days; 100 years
/// is the tool's bound, as for lifecycle days).
const MAX_LOCK_DAYS: u32 = 36_500;
const MAX_LOCK_YEARS: u32 = 100;

/// `object_lock`: a mode and a period of days or years; only with versioning (S3 locks versions).
fn check_object_lock(c: &mut Checker, raw: RawObjectLock, versioning: bool) -> Option<ObjectLock> {
    let before = c.found.len();
    let mode = match raw.mode.as_str() {
        "governance" => Some(LockMode::Governance),
        "compliance" => Some(LockMode::Compliance),
        other => {
            let meant = names::suggest(&other.to_ascii_lowercase(), ["governance", "compliance"]);
            c.error(
                "bucket.object_lock.mode",
                format!("`{other}` is not an Object Lock mode"),
                match meant {
                    Some(m) => format!("did you mean `{m}`? modes are governance and compliance"),
                    None => "write governance (who may bypass it is up to IAM) or compliance (nobody can)".into(),
                },
            );
            None
        }
    };
    let retention = match (raw.days, raw.years) {
        (Some(_), Some(_)) => {
            c.error(
                "bucket.object_lock.years",
                "`days` and `years` are both set",
                "S3 takes a default retention in days or in years: keep one of the two",
            );
            None
        }
        (None, None) => {
            c.error(
                "bucket.object_lock",
                "Object Lock needs a default retention: `days` or `years`",
                "write e.g. `object_lock: { mode: governance, days: 400 }`",
            );
            None
        }
        (Some(days), None) if !(1..=MAX_LOCK_DAYS).contains(&days) => {
            c.error(
                "bucket.object_lock.days",
                format!("{days} days is outside 1 to {MAX_LOCK_DAYS}"),
                "retain new versions 1 to 36500 days (100 years), or write `years`",
            );
            None
        }
        (None, Some(years)) if !(1..=MAX_LOCK_YEARS).contains(&years) => {
            c.error(
                "bucket.object_lock.years",
                format!("{years} years is outside 1 to {MAX_LOCK_YEARS}"),
                "retain new versions 1 to 100 years",
            );
            None
        }
        (Some(days), None) => Some(Retention::Days(days)),
        (None, Some(years)) => Some(Retention::Years(years)),
    };
    if !versioning {
        c.error(
            "bucket.object_lock",
            "Object Lock needs versioning, and `versioning` is false",
            "S3 locks object versions: remove `versioning: false` (versioning can never be suspended on an Object \
             Lock bucket)",
        );
    }
    let lock = ObjectLock { mode: mode?, retention: retention? };
    (c.found.len() == before).then_some(lock)
}

fn check_access_logs(c: &mut Checker, logs: RawAccessLogs) -> AccessLogs {
    if let Err(problem) = names::check_bucket_name(&logs.bucket) {
        c.error(
            "bucket.access_logs.bucket",
            format!("`{}` is not a valid bucket name: {problem}", logs.bucket),
            "name an existing bucket in the same region that accepts S3 server access logs",
        );
    }
    let prefix = logs.prefix.unwrap_or_default();
    check_prefix(c, "bucket.access_logs.prefix", &prefix, false);
    AccessLogs { bucket: logs.bucket, prefix }
}

fn check_tags(c: &mut Checker, tags: &BTreeMap<String, String>) {
    if tags.len() + MANAGED_BUCKET_TAGS > 50 {
        c.error(
            "bucket.tags",
            format!("{} tags, plus {MANAGED_BUCKET_TAGS} the tool adds, exceed S3's limit of 50", tags.len()),
            "merge or drop tags",
        );
    }
    for (key, value) in tags {
        let path = format!("bucket.tags.{key}");
        if key.is_empty() {
            c.error(&path, "tag key is empty", "tag keys have 1 to 128 characters");
        } else if key.chars().count() > 128 {
            let n = key.chars().count();
            c.error(&path, format!("tag key has {n} characters, over the limit of 128"), "shorten the key");
        }
        if value.chars().count() > 256 {
            c.error(
                &path,
                format!("tag value has {} characters, over the limit of 256", value.chars().count()),
                "shorten the value",
            );
        }
        if key.to_ascii_lowercase().starts_with("aws:") || key == TAG_MANAGED_BY || key.starts_with("provision:") {
            c.error(
                &path,
                format!("tag key `{key}` is reserved"),
                "`aws:` belongs to AWS and `managed-by`/`provision:` to this tool; choose another key",
            );
        }
    }
}
