//! A bucket's live settings, one S3 request per setting.

use anyhow::Result;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{LifecycleRule, NotificationConfigurationFilter, PublicAccessBlockConfiguration};
use serde_json::{Value, json};

use super::{has_code, normalized_document};
use crate::aws::aws_error;
use crate::live::comparable;

const NO_BUCKET: &[&str] = &["NoSuchBucket"];

/// The output of an S3 read; otherwise returns from the reader: None when the bucket is gone, `$absent` when the
/// error is one of `$missing` (the setting is not configured), the error itself for anything else.
macro_rules! or_missing {
    ($call:expr, $op:literal, $missing:expr, $absent:expr) => {
        match $call.await {
            Ok(output) => output,
            Err(e) if has_code(&e, NO_BUCKET) => return Ok(None),
            Err(e) if has_code(&e, $missing) => return Ok($absent),
            Err(e) => return Err(aws_error(e, $op)),
        }
    };
}

/// Reads one setting of a bucket; None for a property no reader knows.
pub(super) async fn read(aws: &crate::aws::Aws, bucket: &str, property: &str) -> Result<Option<Value>> {
    let s3 = &aws.s3;
    match property {
        "versioning" => versioning(s3, bucket).await,
        "object_lock" => object_lock(s3, bucket).await,
        "encryption" => encryption(s3, bucket).await,
        "public_access_block" => public_access_block(s3, bucket).await,
        "ownership" => ownership(s3, bucket).await,
        "public_grants" => public_grants(s3, bucket).await,
        "lifecycle" => lifecycle(s3, bucket).await,
        "logging" => logging(s3, bucket).await,
        "notifications" => notifications(s3, bucket).await,
        "tags" => tags(s3, bucket).await,
        "policy" => policy(s3, bucket).await,
        _ => Ok(None),
    }
}

/// Versioning status; null when versioning was never enabled.
async fn versioning(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(s3.get_bucket_versioning().bucket(bucket).send(), "GetBucketVersioning", &[], None);
    Ok(Some(out.status.map(|s| json!(s.as_str())).unwrap_or(Value::Null)))
}

/// Object Lock and its default retention; null when the bucket has none.
async fn object_lock(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(
        s3.get_object_lock_configuration().bucket(bucket).send(),
        "GetObjectLockConfiguration",
        &["ObjectLockConfigurationNotFoundError"],
        Some(Value::Null)
    );
    let Some(config) = out.object_lock_configuration.filter(|c| c.object_lock_enabled.is_some()) else {
        return Ok(Some(Value::Null));
    };
    let retention = config.rule.and_then(|r| r.default_retention);
    let retention = retention.as_ref();
    Ok(Some(comparable::object_lock(
        retention.and_then(|r| r.mode.as_ref()).map(|m| m.as_str()),
        retention.and_then(|r| r.days).map(i64::from),
        retention.and_then(|r| r.years).map(i64::from),
    )))
}

/// Default encryption (its first rule); no algorithm when none is configured.
async fn encryption(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(
        s3.get_bucket_encryption().bucket(bucket).send(),
        "GetBucketEncryption",
        &["ServerSideEncryptionConfigurationNotFoundError"],
        Some(json!({ "algorithm": null }))
    );
    let rule = out.server_side_encryption_configuration.and_then(|c| c.rules.into_iter().next());
    let Some(rule) = rule else { return Ok(Some(json!({ "algorithm": null }))) };
    let default = rule.apply_server_side_encryption_by_default;
    Ok(Some(comparable::encryption(
        default.as_ref().map(|d| d.sse_algorithm.as_str()).unwrap_or_default(),
        default.as_ref().and_then(|d| d.kms_master_key_id.as_deref()),
        rule.bucket_key_enabled.unwrap_or(false),
    )))
}

/// The four public access block flags; all off when there is no block.
async fn public_access_block(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let off = comparable::public_access_block(false, false, false, false);
    let out = or_missing!(
        s3.get_public_access_block().bucket(bucket).send(),
        "GetPublicAccessBlock",
        &["NoSuchPublicAccessBlockConfiguration"],
        Some(off)
    );
    let c = out.public_access_block_configuration;
    let flag = |get: fn(&PublicAccessBlockConfiguration) -> Option<bool>| c.as_ref().and_then(get).unwrap_or(false);
    Ok(Some(comparable::public_access_block(
        flag(|c| c.block_public_acls),
        flag(|c| c.ignore_public_acls),
        flag(|c| c.block_public_policy),
        flag(|c| c.restrict_public_buckets),
    )))
}

/// Object ownership; null when there are no ownership controls.
async fn ownership(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(
        s3.get_bucket_ownership_controls().bucket(bucket).send(),
        "GetBucketOwnershipControls",
        &["OwnershipControlsNotFoundError"],
        Some(Value::Null)
    );
    let rule = out.ownership_controls.and_then(|c| c.rules.into_iter().next());
    Ok(Some(rule.map(|r| json!(r.object_ownership.as_str())).unwrap_or(Value::Null)))
}

/// The ACL grants to everyone or to every AWS user.
async fn public_grants(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(s3.get_bucket_acl().bucket(bucket).send(), "GetBucketAcl", &[], None);
    let public: Vec<Value> = out
        .grants
        .unwrap_or_default()
        .into_iter()
        .filter_map(|g| {
            let uri = g.grantee.as_ref()?.uri.clone()?;
            (uri.ends_with("/AllUsers") || uri.ends_with("/AuthenticatedUsers"))
                .then(|| json!({ "grantee": uri, "permission": g.permission.map(|p| p.as_str().to_string()) }))
        })
        .collect();
    Ok(Some(json!(public)))
}

/// Lifecycle rules, sorted by id; none when there is no configuration.
async fn lifecycle(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(
        s3.get_bucket_lifecycle_configuration().bucket(bucket).send(),
        "GetBucketLifecycleConfiguration",
        &["NoSuchLifecycleConfiguration"],
        Some(json!([]))
    );
    let mut rules: Vec<Value> = out.rules.unwrap_or_default().iter().map(lifecycle_rule).collect();
    rules.sort_by_key(|r| r["id"].to_string());
    Ok(Some(json!(rules)))
}

/// One S3 lifecycle rule in the comparable shape.
fn lifecycle_rule(r: &LifecycleRule) -> Value {
    let class = |c: Option<&aws_sdk_s3::types::TransitionStorageClass>| c.map(|c| c.as_str().to_string());
    let class_days = |list: Vec<(Option<String>, Option<i32>)>| {
        list.into_iter().map(|(c, d)| (c.unwrap_or_default(), i64::from(d.unwrap_or(0)))).collect()
    };
    let days = |d: Option<i32>| d.map(i64::from);
    let noncurrent_expiration = r.noncurrent_version_expiration.as_ref();
    comparable::lifecycle_rule(
        r.id.as_deref().unwrap_or_default(),
        &rule_prefix(r),
        class_days(r.transitions().iter().map(|t| (class(t.storage_class.as_ref()), t.days)).collect()),
        days(r.expiration.as_ref().and_then(|e| e.days)),
        class_days(
            r.noncurrent_version_transitions()
                .iter()
                .map(|t| (class(t.storage_class.as_ref()), t.noncurrent_days))
                .collect(),
        ),
        (
            days(noncurrent_expiration.and_then(|e| e.noncurrent_days)),
            days(noncurrent_expiration.and_then(|e| e.newer_noncurrent_versions)),
        ),
        days(r.abort_incomplete_multipart_upload.as_ref().and_then(|a| a.days_after_initiation)),
    )
}

/// The prefix a lifecycle rule applies to: its filter's, its filter's `and`'s, or the legacy top-level one.
fn rule_prefix(r: &LifecycleRule) -> String {
    r.filter
        .as_ref()
        .and_then(|f| f.prefix.clone().or_else(|| f.and.as_ref().and_then(|a| a.prefix.clone())))
        // Rules written before filters existed carry the legacy top-level prefix.
        .or_else(|| {
            #[allow(deprecated)]
            r.prefix.clone()
        })
        .unwrap_or_default()
}

/// Where access logs go; null when logging is off.
async fn logging(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(s3.get_bucket_logging().bucket(bucket).send(), "GetBucketLogging", &[], None);
    Ok(Some(match out.logging_enabled {
        Some(l) => comparable::logging(&l.target_bucket, &l.target_prefix),
        None => Value::Null,
    }))
}

/// Event notifications: one target per queue, topic and function configuration and event, sorted, and whether
/// EventBridge gets them.
async fn notifications(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(
        s3.get_bucket_notification_configuration().bucket(bucket).send(),
        "GetBucketNotificationConfiguration",
        &[],
        None
    );
    let queues = out.queue_configurations().iter().map(|q| ("queue", q.queue_arn(), q.events(), q.filter.as_ref()));
    let topics = out.topic_configurations().iter().map(|t| ("topic", t.topic_arn(), t.events(), t.filter.as_ref()));
    let functions = out
        .lambda_function_configurations()
        .iter()
        .map(|l| ("lambda", l.lambda_function_arn(), l.events(), l.filter.as_ref()));
    let mut targets = Vec::new();
    for (kind, arn, events, filter) in queues.chain(topics).chain(functions) {
        for event in events {
            targets.push(comparable::notification_target(
                kind,
                arn,
                event.as_str(),
                &key_filter(filter, "prefix"),
                &key_filter(filter, "suffix"),
            ));
        }
    }
    targets.sort_by_key(|t| t.to_string());
    Ok(Some(json!({ "targets": targets, "eventbridge": out.event_bridge_configuration.is_some() })))
}

/// The value of a notification's `prefix` or `suffix` key filter rule (any case); empty when it has none.
fn key_filter(filter: Option<&NotificationConfigurationFilter>, name: &str) -> String {
    filter
        .and_then(|f| f.key.as_ref())
        .and_then(|k| {
            k.filter_rules().iter().find(|r| r.name.as_ref().is_some_and(|n| n.as_str().eq_ignore_ascii_case(name)))
        })
        .and_then(|r| r.value.clone())
        .unwrap_or_default()
}

/// The bucket's tags but AWS's own.
async fn tags(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out = or_missing!(
        s3.get_bucket_tagging().bucket(bucket).send(),
        "GetBucketTagging",
        &["NoSuchTagSet"],
        Some(json!({}))
    );
    // `aws:` tags belong to AWS (CloudFormation adds its own); they are not the config's business.
    let tags: serde_json::Map<String, Value> =
        out.tag_set.into_iter().filter(|t| !crate::live::is_aws_tag(&t.key)).map(|t| (t.key, json!(t.value))).collect();
    Ok(Some(Value::Object(tags)))
}

/// The bucket policy, normalized; None when there is none.
async fn policy(s3: &Client, bucket: &str) -> Result<Option<Value>> {
    let out =
        or_missing!(s3.get_bucket_policy().bucket(bucket).send(), "GetBucketPolicy", &["NoSuchBucketPolicy"], None);
    Ok(Some(normalized_document(out.policy.as_deref()).unwrap_or(Value::Null)))
}
