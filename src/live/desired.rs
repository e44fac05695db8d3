//! The desired live state, read off the rendered template (resolved as AWS would store it), so that what is
//! checked is exactly what is deployed.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::policy::{Names, normalize};
use super::{Expected, Resource};

fn get<'a>(value: &'a Value, path: &str) -> &'a Value {
    value.pointer(path).unwrap_or(&Value::Null)
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// Names of every resource the template creates, for resolving `Ref`/`GetAtt` and reading them back.
pub fn names(template: &Value, account: &str, region: &str) -> Names {
    let mut names = Names::new(account, region);
    let base = names.clone();
    let empty = serde_json::Map::new();
    let resources = template.get("Resources").and_then(Value::as_object).unwrap_or(&empty);
    for (id, resource) in resources {
        let props = get(resource, "/Properties");
        let name = |key: &str| text(&base.resolve(get(props, &format!("/{key}"))));
        let (p, a, r) = (&base.partition, account, region);
        let (reference, arn) = match get(resource, "/Type").as_str().unwrap_or_default() {
            "AWS::S3::Bucket" => {
                let n = name("BucketName");
                (n.clone(), format!("arn:{p}:s3:::{n}"))
            }
            "AWS::IAM::Role" => {
                let n = name("RoleName");
                (n.clone(), format!("arn:{p}:iam::{a}:role/{n}"))
            }
            "AWS::IAM::ManagedPolicy" => {
                let arn = format!("arn:{p}:iam::{a}:policy/{}", name("ManagedPolicyName"));
                (arn.clone(), arn)
            }
            "AWS::SQS::Queue" => {
                let n = name("QueueName");
                (n.clone(), format!("arn:{p}:sqs:{r}:{a}:{n}"))
            }
            "AWS::SNS::Topic" => {
                let arn = format!("arn:{p}:sns:{r}:{a}:{}", name("TopicName"));
                (arn.clone(), arn)
            }
            _ => continue,
        };
        names.refs.insert(id.clone(), reference);
        names.arns.insert(id.clone(), arn);
    }
    names
}

/// Lifecycle rules as comparable values (one shape for the template and for S3's answer).
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

fn template_rules(props: &Value) -> Value {
    let rules = get(props, "/LifecycleConfiguration/Rules").as_array().cloned().unwrap_or_default();
    let pairs = |list: &Value, days_key: &str| -> Vec<(String, i64)> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|t| (text(get(t, "/StorageClass")), get(t, &format!("/{days_key}")).as_i64().unwrap_or(0)))
            .collect()
    };
    let mut out: Vec<Value> = rules
        .iter()
        .map(|r| {
            lifecycle_rule(
                &text(get(r, "/Id")),
                get(r, "/Prefix").as_str().unwrap_or_default(),
                pairs(get(r, "/Transitions"), "TransitionInDays"),
                get(r, "/ExpirationInDays").as_i64(),
                pairs(get(r, "/NoncurrentVersionTransitions"), "TransitionInDays"),
                (
                    get(r, "/NoncurrentVersionExpiration/NoncurrentDays").as_i64(),
                    get(r, "/NoncurrentVersionExpiration/NewerNoncurrentVersions").as_i64(),
                ),
                get(r, "/AbortIncompleteMultipartUpload/DaysAfterInitiation").as_i64(),
            )
        })
        .collect();
    out.sort_by_key(|r| r["id"].to_string());
    Value::Array(out)
}

/// One notification target per event, sorted: `{kind, arn, event, prefix, suffix}`.
pub fn notification_target(kind: &str, arn: &str, event: &str, prefix: &str, suffix: &str) -> Value {
    json!({ "kind": kind, "arn": arn, "event": event, "prefix": prefix, "suffix": suffix })
}

fn template_notifications(props: &Value) -> Value {
    let config = get(props, "/NotificationConfiguration");
    let mut targets = Vec::new();
    for (list, kind, arn_key) in [
        ("QueueConfigurations", "queue", "Queue"),
        ("TopicConfigurations", "topic", "Topic"),
        ("LambdaConfigurations", "lambda", "Function"),
    ] {
        for n in get(config, &format!("/{list}")).as_array().into_iter().flatten() {
            let rule = |name: &str| {
                get(n, "/Filter/S3Key/Rules")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["Name"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(name)))
                    .map(|r| text(&r["Value"]))
                    .unwrap_or_default()
            };
            targets.push(notification_target(
                kind,
                &text(get(n, &format!("/{arn_key}"))),
                &text(get(n, "/Event")),
                &rule("prefix"),
                &rule("suffix"),
            ));
        }
    }
    targets.sort_by_key(|t| t.to_string());
    let eventbridge = get(config, "/EventBridgeConfiguration/EventBridgeEnabled").as_bool().unwrap_or(false);
    json!({ "targets": targets, "eventbridge": eventbridge })
}

/// Encryption as comparable value; the bucket-key flag only matters for SSE-KMS.
pub fn encryption(algorithm: &str, kms_key: Option<&str>, bucket_key: bool) -> Value {
    if algorithm == "aws:kms" {
        json!({ "algorithm": algorithm, "kms_key": kms_key, "bucket_key": bucket_key })
    } else {
        json!({ "algorithm": algorithm })
    }
}

/// CloudFormation propagates the stack's tags onto every taggable resource it creates; a tag the template sets on
/// the resource itself keeps the template's value. AWS's own `aws:` tags are never compared.
pub fn add_propagated_tags(expected: &mut [Expected], stack_tags: &BTreeMap<String, String>) {
    for e in expected.iter_mut().filter(|e| e.property == "tags") {
        if let Value::Object(tags) = &mut e.value {
            for (key, value) in stack_tags.iter().filter(|(k, _)| !super::is_aws_tag(k)) {
                tags.entry(key.clone()).or_insert_with(|| json!(value));
            }
        }
    }
}

/// Every expected (resource, property, value) of the stack.
pub fn expected(template: &Value, names: &Names) -> Vec<Expected> {
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let resources = template.get("Resources").and_then(Value::as_object).unwrap_or(&empty);
    let resolved: BTreeMap<&String, Value> = resources.iter().map(|(id, r)| (id, names.resolve(r))).collect();
    for (id, resource) in &resolved {
        let props = get(resource, "/Properties");
        let mut push =
            |resource: Resource, property: &'static str, value: Value| out.push(Expected { resource, property, value });
        match get(resource, "/Type").as_str().unwrap_or_default() {
            "AWS::S3::Bucket" => {
                let bucket = Resource::Bucket(names.refs.get(*id).cloned().unwrap_or_default());
                let sse = get(props, "/BucketEncryption/ServerSideEncryptionConfiguration/0");
                push(bucket.clone(), "versioning", get(props, "/VersioningConfiguration/Status").clone());
                push(
                    bucket.clone(),
                    "encryption",
                    encryption(
                        get(sse, "/ServerSideEncryptionByDefault/SSEAlgorithm").as_str().unwrap_or("AES256"),
                        get(sse, "/ServerSideEncryptionByDefault/KMSMasterKeyID").as_str(),
                        get(sse, "/BucketKeyEnabled").as_bool().unwrap_or(false),
                    ),
                );
                let pab = get(props, "/PublicAccessBlockConfiguration");
                push(
                    bucket.clone(),
                    "public_access_block",
                    json!({
                        "block_public_acls": get(pab, "/BlockPublicAcls").as_bool().unwrap_or(false),
                        "ignore_public_acls": get(pab, "/IgnorePublicAcls").as_bool().unwrap_or(false),
                        "block_public_policy": get(pab, "/BlockPublicPolicy").as_bool().unwrap_or(false),
                        "restrict_public_buckets": get(pab, "/RestrictPublicBuckets").as_bool().unwrap_or(false),
                    }),
                );
                push(bucket.clone(), "ownership", get(props, "/OwnershipControls/Rules/0/ObjectOwnership").clone());
                push(bucket.clone(), "public_grants", json!([]));
                push(bucket.clone(), "lifecycle", template_rules(props));
                let logging = get(props, "/LoggingConfiguration");
                push(
                    bucket.clone(),
                    "logging",
                    if logging.is_null() {
                        Value::Null
                    } else {
                        json!({ "bucket": text(get(logging, "/DestinationBucketName")), "prefix": text(get(logging, "/LogFilePrefix")) })
                    },
                );
                push(bucket.clone(), "notifications", template_notifications(props));
                let tags: BTreeMap<String, String> = get(props, "/Tags")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| (text(&t["Key"]), text(&t["Value"])))
                    .collect();
                push(bucket.clone(), "tags", json!(tags));
                let policy = resolved.values().find(|r| {
                    get(r, "/Type") == "AWS::S3::BucketPolicy"
                        && get(r, "/Properties/Bucket").as_str() == names.refs.get(*id).map(String::as_str)
                });
                push(
                    bucket,
                    "policy",
                    policy.map(|p| normalize(get(p, "/Properties/PolicyDocument"))).unwrap_or(Value::Null),
                );
            }
            "AWS::IAM::Role" => {
                let name = names.refs.get(*id).cloned().unwrap_or_default();
                let role = Resource::Role(name.clone());
                push(role.clone(), "trust", normalize(get(props, "/AssumeRolePolicyDocument")));
                let mut attached: Vec<String> = resolved
                    .iter()
                    .filter(|(_, r)| get(r, "/Type") == "AWS::IAM::ManagedPolicy")
                    .filter(|(_, r)| {
                        get(r, "/Properties/Roles")
                            .as_array()
                            .is_some_and(|roles| roles.iter().any(|v| v == &json!(name)))
                    })
                    .filter_map(|(pid, _)| names.arns.get(*pid).cloned())
                    .collect();
                attached.sort();
                push(role.clone(), "attached_policies", json!(attached));
                push(role, "inline_policies", json!([]));
            }
            "AWS::IAM::ManagedPolicy" => {
                let policy = Resource::Policy(names.arns.get(*id).cloned().unwrap_or_default());
                push(policy.clone(), "document", normalize(get(props, "/PolicyDocument")));
                let sorted = |v: &Value| {
                    let mut items: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
                    items.sort();
                    json!(items)
                };
                push(policy.clone(), "attached_roles", sorted(get(props, "/Roles")));
                push(policy, "attached_users", sorted(get(props, "/Users")));
            }
            "AWS::SQS::Queue" => {
                let name = names.refs.get(*id).cloned().unwrap_or_default();
                let queue = Resource::Queue(name);
                let policy = resolved.values().find(|r| {
                    get(r, "/Type") == "AWS::SQS::QueuePolicy"
                        && get(r, "/Properties/Queues").as_array().is_some_and(|q| {
                            q.iter().any(|v| {
                                v == &json!({ "Ref": *id }) || v.as_str() == names.refs.get(*id).map(String::as_str)
                            })
                        })
                });
                push(
                    queue.clone(),
                    "policy",
                    policy.map(|p| normalize(get(p, "/Properties/PolicyDocument"))).unwrap_or(Value::Null),
                );
                push(
                    queue,
                    "encryption",
                    json!({ "sqs_managed_sse": get(props, "/SqsManagedSseEnabled").as_bool().unwrap_or(false) }),
                );
            }
            "AWS::SNS::Topic" => {
                let arn = names.arns.get(*id).cloned().unwrap_or_default();
                let topic = Resource::Topic(arn.clone());
                let policy = resolved.values().find(|r| {
                    get(r, "/Type") == "AWS::SNS::TopicPolicy"
                        && get(r, "/Properties/Topics")
                            .as_array()
                            .is_some_and(|t| t.iter().any(|v| v.as_str() == Some(arn.as_str())))
                });
                push(
                    topic,
                    "policy",
                    policy.map(|p| normalize(get(p, "/Properties/PolicyDocument"))).unwrap_or(Value::Null),
                );
            }
            _ => {}
        }
    }
    out
}
