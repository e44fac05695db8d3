//! A bucket's expected settings, each read off its template properties by one function, and its bucket policy.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Template, at, expected_of, policy_covering, str_or_empty};
use crate::live::{Expected, Resource, comparable};

/// Reads one setting off a bucket's properties, as its comparable value.
type SettingReader = fn(&Value) -> Value;

/// The bucket settings read off its own properties, in the order they are checked and reported.
const BUCKET_SETTINGS: [(&str, SettingReader); 10] = [
    ("versioning", versioning),
    ("object_lock", object_lock),
    ("encryption", encryption),
    ("public_access_block", public_access_block),
    ("ownership", ownership),
    ("public_grants", no_public_grants),
    ("lifecycle", lifecycle),
    ("logging", logging),
    ("notifications", notifications),
    ("tags", tags),
];

/// A bucket's settings, then the bucket policy that names it.
pub(super) fn bucket(template: &Template, id: &str, props: &Value) -> Vec<Expected> {
    let name = template.names.refs.get(id);
    let mut values: Vec<(&'static str, Value)> =
        BUCKET_SETTINGS.iter().map(|(property, read)| (*property, read(props))).collect();
    let policy =
        policy_covering(template, "AWS::S3::BucketPolicy", |p| at(p, "/Bucket").as_str() == name.map(String::as_str));
    values.push(("policy", policy));
    expected_of(Resource::Bucket(name.cloned().unwrap_or_default()), values)
}

/// Versioning status (`Enabled`, `Suspended`; null when not configured).
fn versioning(props: &Value) -> Value {
    at(props, "/VersioningConfiguration/Status").clone()
}

/// Object Lock and its default retention; null when the template does not turn it on.
fn object_lock(props: &Value) -> Value {
    if at(props, "/ObjectLockEnabled").as_bool() != Some(true) {
        return Value::Null;
    }
    let retention = at(props, "/ObjectLockConfiguration/Rule/DefaultRetention");
    comparable::object_lock(
        at(retention, "/Mode").as_str(),
        at(retention, "/Days").as_i64(),
        at(retention, "/Years").as_i64(),
    )
}

/// Default encryption; S3 applies SSE-S3 (AES256) where the template names no algorithm.
fn encryption(props: &Value) -> Value {
    let sse = at(props, "/BucketEncryption/ServerSideEncryptionConfiguration/0");
    comparable::encryption(
        at(sse, "/ServerSideEncryptionByDefault/SSEAlgorithm").as_str().unwrap_or("AES256"),
        at(sse, "/ServerSideEncryptionByDefault/KMSMasterKeyID").as_str(),
        at(sse, "/BucketKeyEnabled").as_bool().unwrap_or(false),
    )
}

/// The four public access block flags; an unset flag is off.
fn public_access_block(props: &Value) -> Value {
    let pab = at(props, "/PublicAccessBlockConfiguration");
    let flag = |key: &str| at(pab, key).as_bool().unwrap_or(false);
    comparable::public_access_block(
        flag("/BlockPublicAcls"),
        flag("/IgnorePublicAcls"),
        flag("/BlockPublicPolicy"),
        flag("/RestrictPublicBuckets"),
    )
}

/// Object ownership (null when not configured).
fn ownership(props: &Value) -> Value {
    at(props, "/OwnershipControls/Rules/0/ObjectOwnership").clone()
}

/// No ACL grant to everyone or to every AWS user: the config never makes a bucket public.
fn no_public_grants(_props: &Value) -> Value {
    json!([])
}

/// Lifecycle rules, sorted by id.
fn lifecycle(props: &Value) -> Value {
    let rules = at(props, "/LifecycleConfiguration/Rules").as_array().cloned().unwrap_or_default();
    let mut out: Vec<Value> = rules.iter().map(lifecycle_rule).collect();
    out.sort_by_key(|r| r["id"].to_string());
    Value::Array(out)
}

/// One template lifecycle rule in the comparable shape.
fn lifecycle_rule(r: &Value) -> Value {
    let class_days = |list: &Value, days_key: &str| -> Vec<(String, i64)> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|t| (str_or_empty(at(t, "/StorageClass")), at(t, &format!("/{days_key}")).as_i64().unwrap_or(0)))
            .collect()
    };
    comparable::lifecycle_rule(
        &str_or_empty(at(r, "/Id")),
        at(r, "/Prefix").as_str().unwrap_or_default(),
        class_days(at(r, "/Transitions"), "TransitionInDays"),
        at(r, "/ExpirationInDays").as_i64(),
        class_days(at(r, "/NoncurrentVersionTransitions"), "TransitionInDays"),
        (
            at(r, "/NoncurrentVersionExpiration/NoncurrentDays").as_i64(),
            at(r, "/NoncurrentVersionExpiration/NewerNoncurrentVersions").as_i64(),
        ),
        at(r, "/AbortIncompleteMultipartUpload/DaysAfterInitiation").as_i64(),
    )
}

/// Where access logs go; null when logging is off.
fn logging(props: &Value) -> Value {
    let logging = at(props, "/LoggingConfiguration");
    if logging.is_null() {
        return Value::Null;
    }
    comparable::logging(
        &str_or_empty(at(logging, "/DestinationBucketName")),
        &str_or_empty(at(logging, "/LogFilePrefix")),
    )
}

/// Event notifications: one target per queue, topic and function configuration, sorted, and the EventBridge flag.
fn notifications(props: &Value) -> Value {
    let config = at(props, "/NotificationConfiguration");
    let mut targets = Vec::new();
    for (list, kind, arn_key) in [
        ("QueueConfigurations", "queue", "Queue"),
        ("TopicConfigurations", "topic", "Topic"),
        ("LambdaConfigurations", "lambda", "Function"),
    ] {
        for n in at(config, &format!("/{list}")).as_array().into_iter().flatten() {
            targets.push(comparable::notification_target(
                kind,
                &str_or_empty(at(n, &format!("/{arn_key}"))),
                &str_or_empty(at(n, "/Event")),
                &key_filter(n, "prefix"),
                &key_filter(n, "suffix"),
            ));
        }
    }
    targets.sort_by_key(|t| t.to_string());
    let eventbridge = at(config, "/EventBridgeConfiguration/EventBridgeEnabled").as_bool().unwrap_or(false);
    json!({ "targets": targets, "eventbridge": eventbridge })
}

/// The value of a notification's `prefix` or `suffix` key filter rule (any case); empty when it has none.
fn key_filter(notification: &Value, name: &str) -> String {
    at(notification, "/Filter/S3Key/Rules")
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["Name"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(name)))
        .map(|r| str_or_empty(&r["Value"]))
        .unwrap_or_default()
}

/// The template's own tags (the stack's are added by [`add_propagated_tags`]).
fn tags(props: &Value) -> Value {
    let tags: BTreeMap<String, String> = at(props, "/Tags")
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (str_or_empty(&t["Key"]), str_or_empty(&t["Value"])))
        .collect();
    json!(tags)
}
