//! Reading live settings, one property at a time, concurrently. `Ok(None)` means the resource or setting does
//! not exist; AWS errors other than "not found" fail the read.

use anyhow::Result;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Value, json};

use super::desired::{encryption, lifecycle_rule, notification_target};
use super::policy::{normalize, parse_document};
use super::{Expected, Resource};
use crate::aws::{Aws, aws_error};

/// Reads the actual value of every expected property (same order), all resources at once. Properties of one
/// resource that come from the same answer (a queue's attributes, a policy's entities) share one request.
#[cfg(test)]
pub async fn read_all(aws: &Aws, expected: &[Expected]) -> Result<Vec<Option<Value>>> {
    Ok(read_all_timed(aws, expected).await?.into_iter().map(|(value, _)| value).collect())
}

/// [`read_all`], with how long the read of each property's resource took (properties read by one request share it).
pub async fn read_all_timed(aws: &Aws, expected: &[Expected]) -> Result<Vec<(Option<Value>, u64)>> {
    let mut by_resource: Vec<(&Resource, Vec<usize>)> = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        match by_resource.iter_mut().find(|(r, _)| **r == e.resource) {
            Some((_, indices)) => indices.push(i),
            None => by_resource.push((&e.resource, vec![i])),
        }
    }
    let reads = by_resource.iter().map(|(resource, indices)| async move {
        let properties: Vec<&str> = indices.iter().map(|&i| expected[i].property).collect();
        let started = std::time::Instant::now();
        let values = read_resource(aws, resource, &properties).await;
        (indices, values, u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX))
    });
    let mut actual = vec![(None, 0); expected.len()];
    for (indices, values, millis) in futures::future::join_all(reads).await {
        for (&i, value) in indices.iter().zip(values?) {
            actual[i] = (value, millis);
        }
    }
    Ok(actual)
}

async fn read_resource(aws: &Aws, resource: &Resource, properties: &[&str]) -> Result<Vec<Option<Value>>> {
    use futures::future::join_all;
    let each = |values: Vec<Result<Option<Value>>>| values.into_iter().collect();
    match resource {
        Resource::Bucket(bucket) => each(join_all(properties.iter().map(|p| read_bucket(aws, bucket, p))).await),
        Resource::Role(name) => each(join_all(properties.iter().map(|p| read_role(aws, name, p))).await),
        Resource::Topic(arn) => each(join_all(properties.iter().map(|p| read_topic(aws, arn, p))).await),
        Resource::Queue(name) => read_queue(aws, name, properties).await,
        Resource::Policy(arn) => read_policy(aws, arn, properties).await,
    }
}

/// Whether an SDK error carries one of `codes`.
fn is<E: ProvideErrorMetadata>(error: &E, codes: &[&str]) -> bool {
    error.code().is_some_and(|c| codes.contains(&c))
}

const NO_BUCKET: &[&str] = &["NoSuchBucket"];

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
                .filter(|t| !super::is_aws_tag(&t.key))
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
        "attached_policies" => {
            let pages = iam.list_attached_role_policies().role_name(name).into_paginator().items().send();
            match pages.collect::<Result<Vec<_>, _>>().await {
                Ok(attached) => {
                    let mut arns: Vec<String> = attached.into_iter().filter_map(|p| p.policy_arn).collect();
                    arns.sort();
                    json!(arns)
                }
                Err(e) if is(&e, NO_ENTITY) => return Ok(None),
                Err(e) => return Err(aws_error(e, "ListAttachedRolePolicies")),
            }
        }
        "inline_policies" => {
            let pages = iam.list_role_policies().role_name(name).into_paginator().items().send();
            match pages.collect::<Result<Vec<String>, _>>().await {
                Ok(mut names) => {
                    names.sort();
                    json!(names)
                }
                Err(e) if is(&e, NO_ENTITY) => return Ok(None),
                Err(e) => return Err(aws_error(e, "ListRolePolicies")),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(value))
}

async fn read_policy(aws: &Aws, arn: &str, properties: &[&str]) -> Result<Vec<Option<Value>>> {
    let wants = |p: &str| properties.contains(&p);
    let (document, entities) = futures::future::try_join(
        async { if wants("document") { policy_document(aws, arn).await } else { Ok(None) } },
        async {
            if wants("attached_roles") || wants("attached_users") { policy_entities(aws, arn).await } else { Ok(None) }
        },
    )
    .await?;
    Ok(properties
        .iter()
        .map(|&p| match p {
            "document" => document.clone(),
            "attached_roles" => entities.as_ref().map(|(roles, _)| json!(roles)),
            "attached_users" => entities.as_ref().map(|(_, users)| json!(users)),
            _ => None,
        })
        .collect())
}

/// The default version's document, normalised; None when the policy does not exist.
async fn policy_document(aws: &Aws, arn: &str) -> Result<Option<Value>> {
    let iam = &aws.iam;
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
    Ok(Some(
        out.policy_version
            .and_then(|v| v.document)
            .as_deref()
            .and_then(parse_document)
            .map(|d| normalize(&d))
            .unwrap_or(Value::Null),
    ))
}

/// The roles and users a policy is attached to, sorted, across every page; None when the policy does not exist.
async fn policy_entities(aws: &Aws, arn: &str) -> Result<Option<(Vec<String>, Vec<String>)>> {
    let mut pages = aws.iam.list_entities_for_policy().policy_arn(arn).into_paginator().send();
    let (mut roles, mut users) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if is(&e, NO_ENTITY) => return Ok(None),
            Err(e) => return Err(aws_error(e, "ListEntitiesForPolicy")),
        };
        roles.extend(page.policy_roles.unwrap_or_default().into_iter().filter_map(|r| r.role_name));
        users.extend(page.policy_users.unwrap_or_default().into_iter().filter_map(|u| u.user_name));
    }
    roles.sort();
    users.sort();
    Ok(Some((roles, users)))
}

/// The URL of a queue by name; None when it does not exist.
pub async fn queue_url(aws: &Aws, name: &str) -> Result<Option<String>> {
    match aws.sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e) if is(&e, &["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"]) => Ok(None),
        Err(e) => Err(aws_error(e, "GetQueueUrl")),
    }
}

async fn read_queue(aws: &Aws, name: &str, properties: &[&str]) -> Result<Vec<Option<Value>>> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let Some(url) = queue_url(aws, name).await? else { return Ok(vec![None; properties.len()]) };
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::Policy)
        .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
        .send()
        .await
        .map_err(|e| aws_error(e, "GetQueueAttributes"))?;
    let attributes = out.attributes.unwrap_or_default();
    Ok(properties
        .iter()
        .map(|&p| match p {
            "policy" => attributes.get(&QueueAttributeName::Policy).and_then(|p| parse_document(p)).map(|d| normalize(&d)),
            "encryption" => Some(json!({
                "sqs_managed_sse": attributes.get(&QueueAttributeName::SqsManagedSseEnabled).is_some_and(|v| v == "true")
            })),
            _ => None,
        })
        .collect())
}

async fn read_topic(aws: &Aws, arn: &str, property: &str) -> Result<Option<Value>> {
    let out = match aws.sns.get_topic_attributes().topic_arn(arn).send().await {
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

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, SdkConfig};
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
    use aws_sdk_iam::types::{Policy, PolicyRole, PolicyUser, PolicyVersion};
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::types::QueueAttributeName;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn expected(resource: Resource, property: &'static str) -> Expected {
        Expected { resource, property, value: Value::Null }
    }

    /// A queue's two properties come from one GetQueueAttributes, a policy's roles and users from one
    /// ListEntitiesForPolicy: fewer requests per env, which is what the emulator (one process) is bound by.
    #[tokio::test]
    async fn properties_from_one_answer_share_one_request() {
        let url = mock!(aws_sdk_sqs::Client::get_queue_url)
            .then_output(|| GetQueueUrlOutput::builder().queue_url("https://sqs/q").build());
        let attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_output(|| {
            GetQueueAttributesOutput::builder()
                .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
                .attributes(QueueAttributeName::Policy, r#"{"Version":"2012-10-17","Statement":[]}"#)
                .build()
        });
        let policy = mock!(aws_sdk_iam::Client::get_policy).then_output(|| {
            GetPolicyOutput::builder().policy(Policy::builder().default_version_id("v2").build()).build()
        });
        let document = mock!(aws_sdk_iam::Client::get_policy_version).then_output(|| {
            let doc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
            GetPolicyVersionOutput::builder().policy_version(PolicyVersion::builder().document(doc).build()).build()
        });
        let entities = mock!(aws_sdk_iam::Client::list_entities_for_policy).then_output(|| {
            ListEntitiesForPolicyOutput::builder()
                .policy_roles(PolicyRole::builder().role_name("writer").build())
                .policy_roles(PolicyRole::builder().role_name("reader").build())
                .policy_users(PolicyUser::builder().user_name("ops").build())
                .build()
        });
        let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let mut aws = Aws::from_sdk(sdk, "eu-west-1".into(), None);
        aws.sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &attributes]);
        aws.iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&policy, &document, &entities]);

        let queue = || Resource::Queue("q".into());
        let arn = || Resource::Policy("arn:aws:iam::111111111111:policy/p".into());
        let wanted = [
            expected(queue(), "policy"),
            expected(arn(), "attached_roles"),
            expected(queue(), "encryption"),
            expected(arn(), "document"),
            expected(arn(), "attached_users"),
        ];
        let actual = read_all(&aws, &wanted).await.unwrap();
        assert_eq!(
            actual,
            [
                Some(json!({ "Statement": [], "Version": "2012-10-17" })),
                Some(json!(["reader", "writer"])),
                Some(json!({ "sqs_managed_sse": true })),
                Some(json!({ "Statement": [], "Version": "2012-10-17" })),
                Some(json!(["ops"])),
            ]
        );
        let calls = [url.num_calls(), attributes.num_calls(), policy.num_calls(), document.num_calls()];
        assert_eq!(calls, [1, 1, 1, 1]);
        assert_eq!(entities.num_calls(), 1);
    }
}
