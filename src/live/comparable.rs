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

/// A queue encrypted with a KMS key (`bucket.encrypt_notifications`): the key, as its ARN.
pub fn queue_kms_encryption(kms_key: &str) -> Value {
    json!({ "kms_key": kms_key })
}

/// SQS's own message retention when a queue sets none: 4 days.
pub const DEFAULT_QUEUE_RETENTION_SECONDS: u64 = 345_600;

/// How long a queue keeps a message, in seconds.
pub fn queue_retention(seconds: u64) -> Value {
    json!(seconds)
}

/// A queue's redrive policy: where a message goes after how many receives (null: no dead-letter queue).
pub fn queue_redrive(dead_letter_queue_arn: &str, max_receives: i64) -> Value {
    json!({ "dead_letter_queue": dead_letter_queue_arn, "max_receives": max_receives })
}

/// A redrive policy as written in a template (an object) or as SQS returns it (a JSON string); `maxReceiveCount`
/// is a number or a string of one (SQS takes both). Null for none; the value itself when it cannot be read.
pub fn queue_redrive_of(policy: &Value) -> Value {
    let parsed = match policy {
        Value::Null => return Value::Null,
        Value::String(text) if text.is_empty() => return Value::Null,
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| policy.clone()),
        other => other.clone(),
    };
    let arn = parsed.get("deadLetterTargetArn").and_then(Value::as_str);
    let count = parsed.get("maxReceiveCount").and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()));
    match (arn, count) {
        (Some(arn), Some(count)) => queue_redrive(arn, count),
        _ => parsed,
    }
}

/// A bucket's Object Lock: null when off; on, its default retention (mode and days or years, null where S3 has
/// none).
pub fn object_lock(mode: Option<&str>, days: Option<i64>, years: Option<i64>) -> Value {
    json!({ "mode": mode, "days": days, "years": years })
}
