//! Putting a bucket's drifted settings back, one S3 request (or two) per setting.

use anyhow::{Context, Result};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::*;
use serde_json::Value;

use crate::aws::aws_error;
use crate::live::is_aws_tag;
use crate::live::read::none_if_missing;

/// The string under `key` of a JSON object; empty when absent or not a string.
fn string_at(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Sets the versioning status (`Enabled` unless the config says otherwise).
pub(super) async fn versioning(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    let status = BucketVersioningStatus::from(e.as_str().unwrap_or("Enabled"));
    s3.put_bucket_versioning()
        .bucket(b)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketVersioning"))?;
    Ok("PutBucketVersioning")
}

/// Puts the expected Object Lock default retention back (`PutObjectLockConfiguration`, which also turns Object Lock
/// on for a versioned bucket: AWS's own path for an existing bucket). None where the config has no Object Lock: S3
/// cannot turn it off.
pub(super) async fn object_lock(s3: &Client, b: &str, e: &Value) -> Result<Option<&'static str>> {
    if e.is_null() {
        return Ok(None);
    }
    let mut retention = DefaultRetention::builder();
    if let Some(mode) = e.get("mode").and_then(Value::as_str) {
        retention = retention.mode(ObjectLockRetentionMode::from(mode));
    }
    let number = |key: &str| e.get(key).and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok());
    retention = retention.set_days(number("days")).set_years(number("years"));
    let config = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(ObjectLockRule::builder().default_retention(retention.build()).build())
        .build();
    s3.put_object_lock_configuration()
        .bucket(b)
        .object_lock_configuration(config)
        .send()
        .await
        .map_err(|e| aws_error(e, "PutObjectLockConfiguration"))?;
    Ok(Some("PutObjectLockConfiguration"))
}

/// Puts the expected lifecycle rules back, or deletes the configuration when none are expected.
pub(super) async fn lifecycle(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    let rules = e.as_array().map(Vec::as_slice).unwrap_or_default();
    if rules.is_empty() {
        s3.delete_bucket_lifecycle().bucket(b).send().await.map_err(|e| aws_error(e, "DeleteBucketLifecycle"))?;
        return Ok("DeleteBucketLifecycle");
    }
    let built = rules.iter().map(lifecycle_rule).collect::<Result<Vec<_>>>()?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(b)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().set_rules(Some(built)).build()?)
        .transition_default_minimum_object_size(TransitionDefaultMinimumObjectSize::AllStorageClasses128K)
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketLifecycleConfiguration"))?;
    Ok("PutBucketLifecycleConfiguration")
}

/// An enabled S3 lifecycle rule built from its comparable shape.
fn lifecycle_rule(r: &Value) -> Result<LifecycleRule> {
    let mut rule = LifecycleRule::builder()
        .id(string_at(r, "id"))
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(string_at(r, "prefix")).build());
    for (class, days) in class_days(r, "transitions") {
        rule = rule.transitions(
            Transition::builder().storage_class(TransitionStorageClass::from(class.as_str())).days(days).build(),
        );
    }
    for (class, days) in class_days(r, "noncurrent_transitions") {
        rule = rule.noncurrent_version_transitions(
            NoncurrentVersionTransition::builder()
                .storage_class(TransitionStorageClass::from(class.as_str()))
                .noncurrent_days(days)
                .build(),
        );
    }
    if let Some(days) = days_at(r, "expiration_days") {
        rule = rule.expiration(LifecycleExpiration::builder().days(days).build());
    }
    if let Some(days) = days_at(r, "noncurrent_expiration_days") {
        let mut expiration = NoncurrentVersionExpiration::builder().noncurrent_days(days);
        if let Some(keep) = days_at(r, "noncurrent_keep_newest") {
            expiration = expiration.newer_noncurrent_versions(keep);
        }
        rule = rule.noncurrent_version_expiration(expiration.build());
    }
    if let Some(days) = days_at(r, "abort_incomplete_days") {
        rule = rule.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build(),
        );
    }
    rule.build().context("building a lifecycle rule")
}

/// A whole number under `key` as S3 takes it (i32); None when absent or out of range.
fn days_at(r: &Value, key: &str) -> Option<i32> {
    r.get(key).and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok())
}

/// The `[storage class, days]` pairs under `key`; a pair that is malformed or out of range is skipped.
fn class_days(r: &Value, key: &str) -> Vec<(String, i32)> {
    r.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.get(0)?.as_str()?.to_string(), i32::try_from(p.get(1)?.as_i64()?).ok()?)))
        .collect()
}

/// Sets the default encryption: algorithm, KMS key if any, bucket-key flag.
pub(super) async fn encryption(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    let mut default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::from(string_at(e, "algorithm").as_str()));
    if let Some(key) = e.get("kms_key").and_then(Value::as_str) {
        default = default.kms_master_key_id(key);
    }
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default.build()?)
        .bucket_key_enabled(e.get("bucket_key").and_then(Value::as_bool).unwrap_or(false))
        .build();
    s3.put_bucket_encryption()
        .bucket(b)
        .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build()?)
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketEncryption"))?;
    Ok("PutBucketEncryption")
}

/// Sets the four public access block flags; a flag the config does not give is on.
pub(super) async fn public_access_block(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(true);
    s3.put_public_access_block()
        .bucket(b)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(flag("block_public_acls"))
                .ignore_public_acls(flag("ignore_public_acls"))
                .block_public_policy(flag("block_public_policy"))
                .restrict_public_buckets(flag("restrict_public_buckets"))
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error(e, "PutPublicAccessBlock"))?;
    Ok("PutPublicAccessBlock")
}

/// Sets object ownership (`BucketOwnerEnforced` unless the config says otherwise).
pub(super) async fn ownership(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    let rule = OwnershipControlsRule::builder()
        .object_ownership(ObjectOwnership::from(e.as_str().unwrap_or("BucketOwnerEnforced")))
        .build()?;
    s3.put_bucket_ownership_controls()
        .bucket(b)
        .ownership_controls(OwnershipControls::builder().rules(rule).build()?)
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketOwnershipControls"))?;
    Ok("PutBucketOwnershipControls")
}

/// Drops every public grant by putting the private canned ACL.
pub(super) async fn public_grants(s3: &Client, b: &str) -> Result<&'static str> {
    // With ACLs disabled (BucketOwnerEnforced) AWS accepts only the private canned ACL: exactly the goal.
    s3.put_bucket_acl()
        .bucket(b)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketAcl"))?;
    Ok("PutBucketAcl private")
}

/// Sets where access logs go, or turns logging off when the config has none.
pub(super) async fn logging(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    let mut status = BucketLoggingStatus::builder();
    if !e.is_null() {
        status = status.logging_enabled(
            LoggingEnabled::builder()
                .target_bucket(string_at(e, "bucket"))
                .target_prefix(string_at(e, "prefix"))
                .build()?,
        );
    }
    s3.put_bucket_logging()
        .bucket(b)
        .bucket_logging_status(status.build())
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketLogging"))?;
    Ok("PutBucketLogging")
}

/// Replaces the notification configuration with the expected targets and EventBridge flag.
pub(super) async fn notifications(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    let mut config = NotificationConfiguration::builder();
    for t in e.get("targets").and_then(Value::as_array).into_iter().flatten() {
        config = add_target(config, t)?;
    }
    if e.get("eventbridge").and_then(Value::as_bool).unwrap_or(false) {
        config = config.event_bridge_configuration(EventBridgeConfiguration::builder().build());
    }
    s3.put_bucket_notification_configuration()
        .bucket(b)
        .notification_configuration(config.build())
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketNotificationConfiguration"))?;
    Ok("PutBucketNotificationConfiguration")
}

/// Adds one notification target (`{kind, arn, event, prefix, suffix}`) as a queue, topic or function configuration.
fn add_target(
    config: aws_sdk_s3::types::builders::NotificationConfigurationBuilder,
    t: &Value,
) -> Result<aws_sdk_s3::types::builders::NotificationConfigurationBuilder> {
    let filter = key_filter(t);
    let event = Event::from(string_at(t, "event").as_str());
    let arn = string_at(t, "arn");
    Ok(match string_at(t, "kind").as_str() {
        "queue" => config.queue_configurations(
            QueueConfiguration::builder().queue_arn(arn).events(event).set_filter(filter).build()?,
        ),
        "topic" => config.topic_configurations(
            TopicConfiguration::builder().topic_arn(arn).events(event).set_filter(filter).build()?,
        ),
        _ => config.lambda_function_configurations(
            LambdaFunctionConfiguration::builder().lambda_function_arn(arn).events(event).set_filter(filter).build()?,
        ),
    })
}

/// The key filter of a notification target: its non-empty prefix and suffix rules; None when it has neither.
fn key_filter(t: &Value) -> Option<NotificationConfigurationFilter> {
    let mut rules = Vec::new();
    for (name, key) in [(FilterRuleName::Prefix, "prefix"), (FilterRuleName::Suffix, "suffix")] {
        let value = string_at(t, key);
        if !value.is_empty() {
            rules.push(FilterRule::builder().name(name).value(value).build());
        }
    }
    (!rules.is_empty()).then(|| {
        NotificationConfigurationFilter::builder()
            .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
            .build()
    })
}

/// Replaces the tag set with the expected tags, keeping AWS's own.
pub(super) async fn tags(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    // PutBucketTagging replaces the whole set, and AWS refuses a set that drops its own `aws:` tags
    // (`InvalidTag`: system tags cannot be removed by requester): they go back unchanged.
    let answer = s3.get_bucket_tagging().bucket(b).send().await;
    let current = none_if_missing(answer, &["NoSuchTagSet"], "GetBucketTagging")?.map(|out| out.tag_set);
    let mut tags: Vec<Tag> = current.unwrap_or_default().into_iter().filter(|t| is_aws_tag(&t.key)).collect();
    tags.extend(
        e.as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !is_aws_tag(k))
            .filter_map(|(k, v)| Tag::builder().key(k).value(v.as_str().unwrap_or_default()).build().ok()),
    );
    s3.put_bucket_tagging()
        .bucket(b)
        .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
        .send()
        .await
        .map_err(|e| aws_error(e, "PutBucketTagging"))?;
    Ok("PutBucketTagging")
}

/// Puts the expected bucket policy back.
pub(super) async fn policy(s3: &Client, b: &str, e: &Value) -> Result<&'static str> {
    s3.put_bucket_policy().bucket(b).policy(e.to_string()).send().await.map_err(|e| aws_error(e, "PutBucketPolicy"))?;
    Ok("PutBucketPolicy")
}
