//! The comparable value of each setting: one shape, built both from what the template says and from what AWS
//! answers, so that the two compare with `==`.

use serde_json::{Value, json};

/// A lifecycle rule; transitions sorted, so that their order in the template or in S3's answer does not count.
pub fn lifecycle_rule(
    id: &str,
    prefix: &str,
    transitions: Vec<(String, i64)>,
    expiration_days: Option<i64>,
    noncurrent_transitions: Vec<(String, i64)>,
    noncurrent_expiration: (Option<i64>, Option<i64>),
    abort_days: Option<i64>,
) -> Value {
    let mut transitions = transitions;
    transitions.sort();
    let mut noncurrent_transitions = noncurrent_transitions;
    noncurrent_transitions.sort();
    json!({
        "id": id,
        "prefix": prefix,
        "transitions": transitions,
        "expiration_days": expiration_days,
        "noncurrent_transitions": noncurrent_transitions,
        "noncurrent_expiration_days": noncurrent_expiration.0,
        "noncurrent_keep_newest": noncurrent_expiration.1,
        "abort_incomplete_days": abort_days,
    })
}

/// One notification target per event: `{kind, arn, event, prefix, suffix}`.
pub fn notification_target(kind: &str, arn: &str, event: &str, prefix: &str, suffix: &str) -> Value {
    json!({ "kind": kind, "arn": arn, "event": event, "prefix": prefix, "suffix": suffix })
}

/// A bucket's default encryption; the key and bucket-key flag only matter for SSE-KMS.
pub fn encryption(algorithm: &str, kms_key: Option<&str>, bucket_key: bool) -> Value {
    if algorithm == "aws:kms" {
        json!({ "algorithm": algorithm, "kms_key": kms_key, "bucket_key": bucket_key })
    } else {
        json!({ "algorithm": algorithm })
    }
}

/// A bucket's four public access block flags.
pub fn public_access_block(
    block_public_acls: bool,
    ignore_public_acls: bool,
    block_public_policy: bool,
    restrict_public_buckets: bool,
) -> Value {
    json!({
        "block_public_acls": block_public_acls,
        "ignore_public_acls": ignore_public_acls,
        "block_public_policy": block_public_policy,
        "restrict_public_buckets": restrict_public_buckets,
    })
}

/// Where a bucket's access logs go (null when logging is off).
pub fn logging(bucket: &str, prefix: &str) -> Value {
    json!({ "bucket": bucket, "prefix": prefix })
}

/// A queue's encryption: only SQS-managed SSE is configurable.
pub fn queue_encryption(sqs_managed_sse: bool) -> Value {
    json!({ "sqs_managed_sse": sqs_managed_sse })
}
