//! Putting drifted settings back, directly through each service's API.
//! (Pending template changes go through the normal deploy path instead, with its data guard.)

use anyhow::{Context, Result};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;

use super::{Finding, Resource};
use crate::aws::{Aws, aws_error};

/// One setting put back.
#[derive(Debug, Clone, Serialize)]
pub struct Reverted {
    pub resource: Resource,
    pub property: &'static str,
    /// What was done, e.g. `PutBucketLifecycleConfiguration`.
    pub action: String,
}

/// Reverts every drifted finding that can be reverted; returns what was done. Findings of missing resources
/// (deleted out of band) are left to a deploy.
pub async fn revert(aws: &Aws, findings: &[Finding]) -> Result<Vec<Reverted>> {
    let mut done = Vec::new();
    for finding in findings.iter().filter(|f| !f.ok()) {
        if let Some(action) = revert_one(aws, finding)
            .await
            .with_context(|| format!("cannot revert {} {}", finding.resource, finding.property))?
        {
            done.push(Reverted { resource: finding.resource.clone(), property: finding.property, action });
        }
    }
    Ok(done)
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

async fn revert_one(aws: &Aws, f: &Finding) -> Result<Option<String>> {
    use aws_sdk_s3::types::*;
    let e = &f.expected;
    let action = match (&f.resource, f.property) {
        (Resource::Bucket(b), "versioning") => {
            let status = BucketVersioningStatus::from(e.as_str().unwrap_or("Enabled"));
            aws.s3
                .put_bucket_versioning()
                .bucket(b)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketVersioning"))?;
            "PutBucketVersioning"
        }
        (Resource::Bucket(b), "lifecycle") => {
            let rules = e.as_array().cloned().unwrap_or_default();
            if rules.is_empty() {
                aws.s3
                    .delete_bucket_lifecycle()
                    .bucket(b)
                    .send()
                    .await
                    .map_err(|e| aws_error(e, "DeleteBucketLifecycle"))?;
                return Ok(Some("DeleteBucketLifecycle".into()));
            }
            let mut built = Vec::new();
            for r in &rules {
                let int = |key: &str| r.get(key).and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok());
                let pairs = |key: &str| -> Vec<(String, i32)> {
                    r.get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|p| {
                            Some((p.get(0)?.as_str()?.to_string(), i32::try_from(p.get(1)?.as_i64()?).ok()?))
                        })
                        .collect()
                };
                let mut rule = LifecycleRule::builder()
                    .id(text(r, "id"))
                    .status(ExpirationStatus::Enabled)
                    .filter(LifecycleRuleFilter::builder().prefix(text(r, "prefix")).build());
                for (class, days) in pairs("transitions") {
                    rule = rule.transitions(
                        Transition::builder()
                            .storage_class(TransitionStorageClass::from(class.as_str()))
                            .days(days)
                            .build(),
                    );
                }
                for (class, days) in pairs("noncurrent_transitions") {
                    rule = rule.noncurrent_version_transitions(
                        NoncurrentVersionTransition::builder()
                            .storage_class(TransitionStorageClass::from(class.as_str()))
                            .noncurrent_days(days)
                            .build(),
                    );
                }
                if let Some(days) = int("expiration_days") {
                    rule = rule.expiration(LifecycleExpiration::builder().days(days).build());
                }
                if let Some(days) = int("noncurrent_expiration_days") {
                    let mut exp = NoncurrentVersionExpiration::builder().noncurrent_days(days);
                    if let Some(keep) = int("noncurrent_keep_newest") {
                        exp = exp.newer_noncurrent_versions(keep);
                    }
                    rule = rule.noncurrent_version_expiration(exp.build());
                }
                if let Some(days) = int("abort_incomplete_days") {
                    rule = rule.abort_incomplete_multipart_upload(
                        AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build(),
                    );
                }
                built.push(rule.build().context("building a lifecycle rule")?);
            }
            aws.s3
                .put_bucket_lifecycle_configuration()
                .bucket(b)
                .lifecycle_configuration(BucketLifecycleConfiguration::builder().set_rules(Some(built)).build()?)
                .transition_default_minimum_object_size(TransitionDefaultMinimumObjectSize::AllStorageClasses128K)
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketLifecycleConfiguration"))?;
            "PutBucketLifecycleConfiguration"
        }
        (Resource::Bucket(b), "encryption") => {
            let mut default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(text(e, "algorithm").as_str()));
            if let Some(key) = e.get("kms_key").and_then(Value::as_str) {
                default = default.kms_master_key_id(key);
            }
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(default.build()?)
                .bucket_key_enabled(e.get("bucket_key").and_then(Value::as_bool).unwrap_or(false))
                .build();
            aws.s3
                .put_bucket_encryption()
                .bucket(b)
                .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build()?)
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketEncryption"))?;
            "PutBucketEncryption"
        }
        (Resource::Bucket(b), "public_access_block") => {
            let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(true);
            aws.s3
                .put_public_access_block()
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
            "PutPublicAccessBlock"
        }
        (Resource::Bucket(b), "ownership") => {
            let rule = OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::from(e.as_str().unwrap_or("BucketOwnerEnforced")))
                .build()?;
            aws.s3
                .put_bucket_ownership_controls()
                .bucket(b)
                .ownership_controls(OwnershipControls::builder().rules(rule).build()?)
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketOwnershipControls"))?;
            "PutBucketOwnershipControls"
        }
        (Resource::Bucket(b), "public_grants") => {
            // With ACLs disabled (BucketOwnerEnforced) AWS accepts only the private canned ACL: exactly the goal.
            aws.s3
                .put_bucket_acl()
                .bucket(b)
                .acl(BucketCannedAcl::Private)
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketAcl"))?;
            "PutBucketAcl private"
        }
        (Resource::Bucket(b), "logging") => {
            let mut status = BucketLoggingStatus::builder();
            if !e.is_null() {
                status = status.logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket(text(e, "bucket"))
                        .target_prefix(text(e, "prefix"))
                        .build()?,
                );
            }
            aws.s3
                .put_bucket_logging()
                .bucket(b)
                .bucket_logging_status(status.build())
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketLogging"))?;
            "PutBucketLogging"
        }
        (Resource::Bucket(b), "notifications") => {
            let mut config = NotificationConfiguration::builder();
            for t in e.get("targets").and_then(Value::as_array).into_iter().flatten() {
                let mut rules = Vec::new();
                for (name, key) in [(FilterRuleName::Prefix, "prefix"), (FilterRuleName::Suffix, "suffix")] {
                    let value = text(t, key);
                    if !value.is_empty() {
                        rules.push(FilterRule::builder().name(name).value(value).build());
                    }
                }
                let filter = (!rules.is_empty()).then(|| {
                    NotificationConfigurationFilter::builder()
                        .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                        .build()
                });
                let event = Event::from(text(t, "event").as_str());
                let arn = text(t, "arn");
                config = match text(t, "kind").as_str() {
                    "queue" => config.queue_configurations(
                        QueueConfiguration::builder().queue_arn(arn).events(event).set_filter(filter).build()?,
                    ),
                    "topic" => config.topic_configurations(
                        TopicConfiguration::builder().topic_arn(arn).events(event).set_filter(filter).build()?,
                    ),
                    _ => config.lambda_function_configurations(
                        LambdaFunctionConfiguration::builder()
                            .lambda_function_arn(arn)
                            .events(event)
                            .set_filter(filter)
                            .build()?,
                    ),
                };
            }
            if e.get("eventbridge").and_then(Value::as_bool).unwrap_or(false) {
                config = config.event_bridge_configuration(EventBridgeConfiguration::builder().build());
            }
            aws.s3
                .put_bucket_notification_configuration()
                .bucket(b)
                .notification_configuration(config.build())
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketNotificationConfiguration"))?;
            "PutBucketNotificationConfiguration"
        }
        (Resource::Bucket(b), "tags") => {
            // PutBucketTagging replaces the whole set, and AWS refuses a set that drops its own `aws:` tags
            // (`InvalidTag`: system tags cannot be removed by requester): they go back unchanged.
            let current = match aws.s3.get_bucket_tagging().bucket(b).send().await {
                Ok(out) => out.tag_set,
                Err(err) if err.code() == Some("NoSuchTagSet") => Vec::new(),
                Err(err) => return Err(aws_error(err, "GetBucketTagging")),
            };
            let mut tags: Vec<Tag> = current.into_iter().filter(|t| super::is_aws_tag(&t.key)).collect();
            tags.extend(
                e.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| !super::is_aws_tag(k))
                    .filter_map(|(k, v)| Tag::builder().key(k).value(v.as_str().unwrap_or_default()).build().ok()),
            );
            aws.s3
                .put_bucket_tagging()
                .bucket(b)
                .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketTagging"))?;
            "PutBucketTagging"
        }
        (Resource::Bucket(b), "policy") => {
            aws.s3
                .put_bucket_policy()
                .bucket(b)
                .policy(e.to_string())
                .send()
                .await
                .map_err(|e| aws_error(e, "PutBucketPolicy"))?;
            "PutBucketPolicy"
        }
        (Resource::Role(name), "trust") => {
            aws.iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(e.to_string())
                .send()
                .await
                .map_err(|e| aws_error(e, "UpdateAssumeRolePolicy"))?;
            "UpdateAssumeRolePolicy"
        }
        (Resource::Role(name), "attached_policies") => {
            let list = |v: &Value| -> Vec<String> {
                v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
            };
            let (wanted, actual) = (list(e), list(&f.actual));
            for arn in actual.iter().filter(|a| !wanted.contains(a)) {
                aws.iam
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_error(e, "DetachRolePolicy"))?;
            }
            for arn in wanted.iter().filter(|w| !actual.contains(w)) {
                aws.iam
                    .attach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_error(e, "AttachRolePolicy"))?;
            }
            "DetachRolePolicy/AttachRolePolicy"
        }
        (Resource::Role(name), "inline_policies") => {
            for policy in f.actual.as_array().into_iter().flatten().filter_map(Value::as_str) {
                aws.iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(|e| aws_error(e, "DeleteRolePolicy"))?;
            }
            "DeleteRolePolicy"
        }
        (Resource::Policy(arn), "document") => {
            // A managed policy keeps at most 5 versions: make room by deleting the oldest non-default one.
            let versions: Vec<_> = aws
                .iam
                .list_policy_versions()
                .policy_arn(arn)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| aws_error(e, "ListPolicyVersions"))?;
            if versions.len() >= 5 {
                let mut old: Vec<_> = versions.iter().filter(|v| !v.is_default_version).collect();
                old.sort_by_key(|v| v.create_date.map(|d| d.secs()));
                if let Some(oldest) = old.first().and_then(|v| v.version_id.clone()) {
                    aws.iam
                        .delete_policy_version()
                        .policy_arn(arn)
                        .version_id(oldest)
                        .send()
                        .await
                        .map_err(|e| aws_error(e, "DeletePolicyVersion"))?;
                }
            }
            aws.iam
                .create_policy_version()
                .policy_arn(arn)
                .policy_document(e.to_string())
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| aws_error(e, "CreatePolicyVersion"))?;
            "CreatePolicyVersion (default)"
        }
        (Resource::Queue(name), "policy") => {
            let Some(url) = super::read::queue_url(aws, name).await? else { return Ok(None) };
            aws.sqs
                .set_queue_attributes()
                .queue_url(url)
                .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, e.to_string())
                .send()
                .await
                .map_err(|e| aws_error(e, "SetQueueAttributes"))?;
            "SetQueueAttributes Policy"
        }
        (Resource::Queue(name), "encryption") => {
            let Some(url) = super::read::queue_url(aws, name).await? else { return Ok(None) };
            aws.sqs
                .set_queue_attributes()
                .queue_url(url)
                .attributes(aws_sdk_sqs::types::QueueAttributeName::SqsManagedSseEnabled, "true")
                .send()
                .await
                .map_err(|e| aws_error(e, "SetQueueAttributes"))?;
            "SetQueueAttributes SqsManagedSseEnabled"
        }
        (Resource::Topic(arn), "policy") => {
            aws.sns
                .set_topic_attributes()
                .topic_arn(arn)
                .attribute_name("Policy")
                .attribute_value(e.to_string())
                .send()
                .await
                .map_err(|e| aws_error(e, "SetTopicAttributes"))?;
            "SetTopicAttributes Policy"
        }
        // Attachments of policies to existing roles/users are reverted through the role side or a deploy.
        _ => return Ok(None),
    };
    Ok(Some(action.to_string()))
}
