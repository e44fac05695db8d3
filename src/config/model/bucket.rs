//! `bucket`: its name pattern, encryption, access logs and tags (lifecycle has its own module).

use std::collections::BTreeMap;

use super::super::raw::{RawAccessLogs, RawBucket, RawEncryption};
use super::checker::{Checker, RegionAccount};
use super::lifecycle::check_lifecycle;
use super::prefixes::check_prefix;
use super::types::{AccessLogs, Bucket, Encryption};
use crate::ids::TAG_MANAGED_BY;
use crate::names;

pub(super) const DEFAULT_BUCKET_NAME: &str = "{stack}-{account}-{region}";
/// How many tags the tool adds to the bucket itself (managed-by, env, project, instance).
const MANAGED_BUCKET_TAGS: usize = 4;

pub(super) fn check_bucket(c: &mut Checker, raw: RawBucket, home: RegionAccount) -> Bucket {
    let encryption = c.judge(&["bucket.encryption"], |c| check_encryption(c, raw.encryption, home));
    let versioning = raw.versioning.unwrap_or(true);
    let lifecycle =
        c.judge(&["bucket.lifecycle", "bucket.versioning"], |c| check_lifecycle(c, raw.lifecycle, versioning));
    let access_logs = c.judge(&["bucket.access_logs"], |c| raw.access_logs.map(|logs| check_access_logs(c, logs)));
    c.judge(&["bucket.tags"], |c| check_tags(c, &raw.tags));
    Bucket {
        name_pattern: raw.name.unwrap_or_else(|| DEFAULT_BUCKET_NAME.to_string()),
        versioning,
        encryption,
        lifecycle,
        access_logs,
        tags: raw.tags,
    }
}

fn check_encryption(c: &mut Checker, raw: Option<RawEncryption>, home: RegionAccount) -> Encryption {
    match raw {
        None | Some(RawEncryption::SseS3) => Encryption::SseS3,
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
                home.check_arn(c, path, &arn, Some(why), None);
            }
            Encryption::SseKms { key_arn: arn }
        }
    }
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
