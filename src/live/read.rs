//! Reading live settings, one property at a time, concurrently. `Ok(None)` means the resource or setting does
//! not exist; AWS errors other than "not found" fail the read.

use anyhow::Result;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Value, json};

use super::desired::{encryption, lifecycle_rule, notification_target};
use super::policy::{normalize, parse_document};
use super::{Expected, Resource};
use crate::aws::{Aws, aws_error};

/// Reads the actual value of every expected property (same order).
pub async fn read_all(aws: &Aws, expected: &[Expected]) -> Result<Vec<Option<Value>>> {
    let reads = expected.iter().map(|e| read(aws, &e.resource, e.property));
    futures::future::join_all(reads).await.into_iter().collect()
}

/// Whether an SDK error carries one of `codes`.
fn is<E: ProvideErrorMetadata>(error: &E, codes: &[&str]) -> bool {
    error.code().is_some_and(|c| codes.contains(&c))
}

const NO_BUCKET: &[&str] = &["NoSuchBucket"];

async fn read(aws: &Aws, resource: &Resource, property: &str) -> Result<Option<Value>> {
    match resource {
        Resource::Bucket(bucket) => read_bucket(aws, bucket, property).await,
        Resource::Role(name) => read_role(aws, name, property).await,
        Resource::Policy(arn) => read_policy(aws, arn, property).await,
        Resource::Queue(name) => read_queue(aws, name, property).await,
        Resource::Topic(arn) => read_topic(aws, arn, property).await,
    }
}

macro_rules! or_missing {
    ($call:expr, $op:literal, $missing:expr, $absent:expr) => {
        match $call.await {
            Ok(output) => output,
            Err(e) if is(&e, NO_BUCKET) => return Ok(None),
            Err(e) if is(&e, $missing) => return Ok($absent),
            Err(e) => return Err(aws_error(e, $op)),
        }
    };
}

async fn read_bucket(aws: &Aws, bucket: &str, property: &str) -> Result<Option<Value>> {
    let s3 = &aws.s3;
    let value = match property {
        "versioning" => {
            let out = or_missing!(s3.get_bucket_versioning().bucket(bucket).send(), "GetBucketVersioning", &[], None);
            out.status.map(|s| json!(s.as_str())).unwrap_or(Value::Null)
        }
        "encryption" => {
            let out = or_missing!(
                s3.get_bucket_encryption().bucket(bucket).send(),
                "GetBucketEncryption",
                &["ServerSideEncryptionConfigurationNotFoundError"],
                Some(json!({ "algorithm": null }))
            );
            let rule = out.server_side_encryption_configuration.and_then(|c| c.rules.into_iter().next());
            match rule {
                None => json!({ "algorithm": null }),
                Some(rule) => {
                    let default = rule.apply_server_side_encryption_by_default;
                    encryption(
                        default.as_ref().map(|d| d.sse_algorithm.as_str()).unwrap_or_default(),
                        default.as_ref().and_then(|d| d.kms_master_key_id.as_deref()),
                        rule.bucket_key_enabled.unwrap_or(false),
                    )
                }
            }
        }
        "public_access_block" => {
            let off = json!({ "block_public_acls": false, "ignore_public_acls": false, "block_public_policy": false, "restrict_public_buckets": false });
            let out = or_missing!(
                s3.get_public_access_block().bucket(bucket).send(),
                "GetPublicAccessBlock",
                &["NoSuchPublicAccessBlockConfiguration"],
                Some(off)
            );
            let c = out.public_access_block_configuration;
            let flag = |get: fn(&aws_sdk_s3::types::PublicAccessBlockConfiguration) -> Option<bool>| {
                c.as_ref().and_then(get).unwrap_or(false)
            };
            json!({
                "block_public_acls": flag(|c| c.block_public_acls),
                "ignore_public_acls": flag(|c| c.ignore_public_acls),
                "block_public_policy": flag(|c| c.block_public_policy),
                "restrict_public_buckets": flag(|c| c.restrict_public_buckets),
            })
        }
        "ownership" => {
            let out = or_missing!(
                s3.get_bucket_ownership_controls().bucket(bucket).send(),
                "GetBucketOwnershipControls",
                &["OwnershipControlsNotFoundError"],
                Some(Value::Null)
            );
            out.ownership_controls
                .and_then(|c| c.rules.into_iter().next())
                .map(|r| json!(r.object_ownership.as_str()))
                .unwrap_or(Value::Null)
        }
        "public_grants" => {
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
            json!(public)
        }
        "lifecycle" => {
            let out = or_missing!(
                s3.get_bucket_lifecycle_configuration().bucket(bucket).send(),
                "GetBucketLifecycleConfiguration",
                &["NoSuchLifecycleConfiguration"],
                Some(json!([]))
            );
            let mut rules: Vec<Value> = out
                .rules
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let prefix = r
                        .filter
                        .as_ref()
                        .and_then(|f| f.prefix.clone().or_else(|| f.and.as_ref().and_then(|a| a.prefix.clone())))
                        // Rules written before filters existed carry the legacy top-level prefix.
                        .or_else(|| {
                            #[allow(deprecated)]
                            r.prefix.clone()
                        })
                        .unwrap_or_default();
                    let pairs = |list: Vec<(Option<String>, Option<i32>)>| {
                        list.into_iter().map(|(c, d)| (c.unwrap_or_default(), i64::from(d.unwrap_or(0)))).collect()
                    };
                    lifecycle_rule(
                        r.id.as_deref().unwrap_or_default(),
                        &prefix,
                        pairs(
                            r.transitions()
                                .iter()
                                .map(|t| (t.storage_class.as_ref().map(|c| c.as_str().to_string()), t.days))
                                .collect(),
                        ),
                        r.expiration.as_ref().and_then(|e| e.days).map(i64::from),
                        pairs(
                            r.noncurrent_version_transitions()
                                .iter()
                                .map(|t| (t.storage_class.as_ref().map(|c| c.as_str().to_string()), t.noncurrent_days))
                                .collect(),
                        ),
                        (
                            r.noncurrent_version_expiration.as_ref().and_then(|e| e.noncurrent_days).map(i64::from),
                            r.noncurrent_version_expiration
                                .as_ref()
                                .and_then(|e| e.newer_noncurrent_versions)
                                .map(i64::from),
                        ),
                        r.abort_incomplete_multipart_upload
                            .as_ref()
                            .and_then(|a| a.days_after_initiation)
                            .map(i64::from),
                    )
                })
                .collect();
            rules.sort_by_key(|r| r["id"].to_string());
            json!(rules)
        }
        "logging" => {
            let out = or_missing!(s3.get_bucket_logging().bucket(bucket).send(), "GetBucketLogging", &[], None);
            match out.logging_enabled {
                Some(l) => json!({ "bucket": l.target_bucket, "prefix": l.target_prefix }),
                None => Value::Null,
            }
        }
        "notifications" => {
            let out = or_missing!(
                s3.get_bucket_notification_configuration().bucket(bucket).send(),
                "GetBucketNotificationConfiguration",
                &[],
                None
            );
            let mut targets = Vec::new();
            let rule = |filter: Option<&aws_sdk_s3::types::NotificationConfigurationFilter>, name: &str| {
                filter
                    .and_then(|f| f.key.as_ref())
                    .and_then(|k| {
                        k.filter_rules()
                            .iter()
                            .find(|r| r.name.as_ref().is_some_and(|n| n.as_str().eq_ignore_ascii_case(name)))
                    })
                    .and_then(|r| r.value.clone())
                    .unwrap_or_default()
            };
            for q in out.queue_configurations() {
                for e in q.events() {
                    targets.push(notification_target(
                        "queue",
                        q.queue_arn(),
                        e.as_str(),
                        &rule(q.filter.as_ref(), "prefix"),
                        &rule(q.filter.as_ref(), "suffix"),
                    ));
                }
            }
            for t in out.topic_configurations() {
                for e in t.events() {
                    targets.push(notification_target(
                        "topic",
                        t.topic_arn(),
                        e.as_str(),
                        &rule(t.filter.as_ref(), "prefix"),
                        &rule(t.filter.as_ref(), "suffix"),
                    ));
                }
            }
            for l in out.lambda_function_configurations() {
                for e in l.events() {
                    targets.push(notification_target(
                        "lambda",
                        l.lambda_function_arn(),
                        e.as_str(),
                        &rule(l.filter.as_ref(), "prefix"),
                        &rule(l.filter.as_ref(), "suffix"),
                    ));
                }
            }
            targets.sort_by_key(|t| t.to_string());
            json!({ "targets": targets, "eventbridge": out.event_bridge_configuration.is_some() })
        }
        "tags" => {
            let out = or_missing!(
                s3.get_bucket_tagging().bucket(bucket).send(),
                "GetBucketTagging",
                &["NoSuchTagSet"],
                Some(json!({}))
            );
            // `aws:` tags belong to AWS (CloudFormation adds its own); they are not the config's business.
            let tags: serde_json::Map<String, Value> = out
                .tag_set
                .into_iter()
                .filter(|t| !t.key.starts_with("aws:"))
                .map(|t| (t.key, json!(t.value)))
                .collect();
            Value::Object(tags)
        }
        "policy" => {
            let out = or_missing!(
                s3.get_bucket_policy().bucket(bucket).send(),
                "GetBucketPolicy",
                &["NoSuchBucketPolicy"],
                None
            );
            out.policy.as_deref().and_then(parse_document).map(|d| normalize(&d)).unwrap_or(Value::Null)
        }
        _ => return Ok(None),
    };
    Ok(Some(value))
}

const NO_ENTITY: &[&str] = &["NoSuchEntity"];

async fn read_role(aws: &Aws, name: &str, property: &str) -> Result<Option<Value>> {
    let iam = &aws.iam;
    let value = match property {
        "trust" => match iam.get_role().role_name(name).send().await {
            Ok(out) => out
                .role
                .and_then(|r| r.assume_role_policy_document)
                .as_deref()
                .and_then(parse_document)
                .map(|d| normalize(&d))
                .unwrap_or(Value::Null),
            Err(e) if is(&e, NO_ENTITY) => return Ok(None),
            Err(e) => return Err(aws_error(e, "GetRole")),
        },
        "attached_policies" => match iam.list_attached_role_policies().role_name(name).max_items(1000).send().await {
            Ok(out) => {
                let mut arns: Vec<String> =
                    out.attached_policies.unwrap_or_default().into_iter().filter_map(|p| p.policy_arn).collect();
                arns.sort();
                json!(arns)
            }
            Err(e) if is(&e, NO_ENTITY) => return Ok(None),
            Err(e) => return Err(aws_error(e, "ListAttachedRolePolicies")),
        },
        "inline_policies" => match iam.list_role_policies().role_name(name).max_items(1000).send().await {
            Ok(out) => {
                let mut names = out.policy_names;
                names.sort();
                json!(names)
            }
            Err(e) if is(&e, NO_ENTITY) => return Ok(None),
            Err(e) => return Err(aws_error(e, "ListRolePolicies")),
        },
        _ => return Ok(None),
    };
    Ok(Some(value))
}

async fn read_policy(aws: &Aws, arn: &str, property: &str) -> Result<Option<Value>> {
    let iam = &aws.iam;
    let value = match property {
        "document" => {
            let policy = match iam.get_policy().policy_arn(arn).send().await {
                Ok(out) => out.policy,
                Err(e) if is(&e, NO_ENTITY) => return Ok(None),
                Err(e) => return Err(aws_error(e, "GetPolicy")),
            };
            let Some(version) = policy.and_then(|p| p.default_version_id) else { return Ok(None) };
            let out = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await
                .map_err(|e| aws_error(e, "GetPolicyVersion"))?;
            out.policy_version
                .and_then(|v| v.document)
                .as_deref()
                .and_then(parse_document)
                .map(|d| normalize(&d))
                .unwrap_or(Value::Null)
        }
        "attached_roles" | "attached_users" => {
            match iam.list_entities_for_policy().policy_arn(arn).max_items(1000).send().await {
                Ok(out) => {
                    let mut names: Vec<String> = if property == "attached_roles" {
                        out.policy_roles.unwrap_or_default().into_iter().filter_map(|r| r.role_name).collect()
                    } else {
                        out.policy_users.unwrap_or_default().into_iter().filter_map(|u| u.user_name).collect()
                    };
                    names.sort();
                    json!(names)
                }
                Err(e) if is(&e, NO_ENTITY) => return Ok(None),
                Err(e) => return Err(aws_error(e, "ListEntitiesForPolicy")),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(value))
}

/// The URL of a queue by name; None when it does not exist.
pub async fn queue_url(aws: &Aws, name: &str) -> Result<Option<String>> {
    match crate::aws::retry_throttled(|| aws.sqs.get_queue_url().queue_name(name).send()).await {
        Ok(out) => Ok(out.queue_url),
        Err(e) if is(&e, &["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"]) => Ok(None),
        Err(e) => Err(aws_error(e, "GetQueueUrl")),
    }
}

async fn read_queue(aws: &Aws, name: &str, property: &str) -> Result<Option<Value>> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let Some(url) = queue_url(aws, name).await? else { return Ok(None) };
    let out = crate::aws::retry_throttled(|| {
        aws.sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::Policy)
            .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
            .send()
    })
    .await
    .map_err(|e| aws_error(e, "GetQueueAttributes"))?;
    let attributes = out.attributes.unwrap_or_default();
    let value = match property {
        "policy" => match attributes.get(&QueueAttributeName::Policy).and_then(|p| parse_document(p)) {
            Some(doc) => normalize(&doc),
            None => return Ok(None),
        },
        "encryption" => json!({
            "sqs_managed_sse": attributes.get(&QueueAttributeName::SqsManagedSseEnabled).is_some_and(|v| v == "true")
        }),
        _ => return Ok(None),
    };
    Ok(Some(value))
}

async fn read_topic(aws: &Aws, arn: &str, property: &str) -> Result<Option<Value>> {
    let out = match crate::aws::retry_throttled(|| aws.sns.get_topic_attributes().topic_arn(arn).send()).await {
        Ok(out) => out,
        Err(e) if is(&e, &["NotFound"]) => return Ok(None),
        Err(e) => return Err(aws_error(e, "GetTopicAttributes")),
    };
    match property {
        "policy" => {
            Ok(out.attributes.unwrap_or_default().get("Policy").and_then(|p| parse_document(p)).map(|d| normalize(&d)))
        }
        _ => Ok(None),
    }
}
