//! The data bucket's part of the template: its properties, lifecycle rules, tags and notification configuration.

use serde::Serialize;
use serde_json::{Value, json};

use super::notifications::BucketNotifications;
use super::{Output, Tag, sub};
use crate::config::{Config, Encryption, Retention};
use crate::ids::{BUCKET_ID, BUCKET_KEY_ID};

#[derive(Serialize)]
pub(super) struct BucketContext {
    pub(super) name: Value,
    pub(super) deletion_policy: &'static str,
    pub(super) update_replace_policy: &'static str,
    pub(super) depends_on: Vec<String>,
    pub(super) versioning_status: &'static str,
    pub(super) sse_algorithm: &'static str,
    pub(super) kms_key_arn: Option<Value>,
    pub(super) object_lock: Option<ObjectLockContext>,
    pub(super) transition_minimum_size: &'static str,
    pub(super) lifecycle_rules: Vec<LifecycleRuleContext>,
    pub(super) access_logs: Option<crate::config::AccessLogs>,
    pub(super) has_notifications: bool,
    pub(super) queue_configurations: Vec<super::notifications::NotificationContext>,
    pub(super) topic_configurations: Vec<super::notifications::NotificationContext>,
    pub(super) lambda_configurations: Vec<super::notifications::NotificationContext>,
    pub(super) eventbridge: bool,
    pub(super) tags: Vec<Tag>,
}

/// The bucket's Object Lock default retention, as CloudFormation takes it: a mode and days or years.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct ObjectLockContext {
    pub mode: &'static str,
    pub days: Option<u32>,
    pub years: Option<u32>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct LifecycleRuleContext {
    pub id: String,
    pub prefix: Option<String>,
    pub transitions: Vec<TransitionContext>,
    pub expiration_days: Option<u32>,
    pub noncurrent_transitions: Vec<TransitionContext>,
    pub noncurrent_expiration_days: Option<u32>,
    pub noncurrent_keep_newest: Option<u32>,
    pub abort_incomplete_days: Option<u32>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct TransitionContext {
    pub storage_class: &'static str,
    pub days: u32,
}

/// ARN of the bucket as a CloudFormation value (built from the name, not `Ref`, so that policies of queues the
/// bucket depends on do not depend on the bucket in turn).
pub(super) fn arn_string(config: &Config) -> String {
    format!("arn:${{AWS::Partition}}:s3:::{}", config.bucket_name_sub())
}

/// The bucket's KMS key as a CloudFormation value: the existing key's ARN, or the ARN of the key the stack
/// creates; None with SSE-S3.
pub fn kms_key(config: &Config) -> Option<Value> {
    match &config.bucket.encryption {
        Encryption::SseS3 => None,
        Encryption::SseKms { key_arn } => Some(Value::String(key_arn.clone())),
        Encryption::Kms => Some(json!({ "Fn::GetAtt": [BUCKET_KEY_ID, "Arn"] })),
    }
}

/// Object Lock as the template writes it (`ObjectLockEnabled` and the default retention); None without.
pub fn object_lock(config: &Config) -> Option<ObjectLockContext> {
    config.bucket.object_lock.map(|lock| {
        let (days, years) = match lock.retention {
            Retention::Days(days) => (Some(days), None),
            Retention::Years(years) => (None, Some(years)),
        };
        ObjectLockContext { mode: lock.mode.s3_name(), days, years }
    })
}

/// A statement of the bucket policy that denies a `PutObject` (and so a multipart upload's start, and a copy)
/// whose request asks for other encryption than the bucket's.
#[derive(Serialize, Debug)]
pub struct EncryptionDenial {
    pub sid: &'static str,
    pub condition: Value,
}

/// The denials that keep every object under the bucket's encryption: a writer cannot name another algorithm or
/// another KMS key, nor bring its own key (SSE-C, which the bucket's account could not read). A request without
/// these headers gets the bucket's default encryption, so each denial applies only when its header is present
/// (`Null: false`): S3 has no value for an absent header, and `StringNotEquals` alone would deny it.
pub fn encryption_denials(config: &Config) -> Vec<EncryptionDenial> {
    let present = |key: &str| json!({ key: "false" });
    let algorithm = "s3:x-amz-server-side-encryption";
    let key_id = "s3:x-amz-server-side-encryption-aws-kms-key-id";
    let customer = "s3:x-amz-server-side-encryption-customer-algorithm";
    let kms_key = kms_key(config);
    let wanted = if kms_key.is_some() { "aws:kms" } else { "AES256" };
    let mut denials = vec![EncryptionDenial {
        sid: "DenyOtherEncryption",
        condition: json!({ "StringNotEquals": { algorithm: wanted }, "Null": present(algorithm) }),
    }];
    if let Some(key) = kms_key {
        denials.push(EncryptionDenial {
            sid: "DenyOtherKmsKey",
            condition: json!({ "StringNotEquals": { key_id: key }, "Null": present(key_id) }),
        });
    }
    denials.push(EncryptionDenial { sid: "DenyCustomerProvidedKeys", condition: json!({ "Null": present(customer) }) });
    denials
}

/// What happens to the bucket when the stack goes. Kept (with its data) unless the env is ephemeral, except when
/// the create that made it is rolled back: a `Retain` bucket would survive a rolled-back create, and the retried
/// create would then fail on its name, forever. A new bucket holds no data yet.
pub fn deletion_policy(config: &Config) -> &'static str {
    if config.ephemeral { "Delete" } else { "RetainExceptOnCreate" }
}

/// The lifecycle rules S3 gets: one bucket-wide rule from the top-level settings, then each extra rule.
pub fn lifecycle_rules(config: &Config) -> Vec<LifecycleRuleContext> {
    let l = &config.bucket.lifecycle;
    let transitions = |ia: Option<u32>, glacier: Option<u32>| {
        let mut out = Vec::new();
        if let Some(days) = ia {
            out.push(TransitionContext { storage_class: "STANDARD_IA", days });
        }
        if let Some(days) = glacier {
            out.push(TransitionContext { storage_class: "GLACIER", days });
        }
        out
    };
    let noncurrent = l.noncurrent.clone().unwrap_or_default();
    let mut rules = vec![LifecycleRuleContext {
        id: "provision-default".into(),
        prefix: None,
        transitions: transitions(l.infrequent_access_after_days, l.glacier_after_days),
        expiration_days: l.expire_after_days,
        noncurrent_transitions: transitions(noncurrent.infrequent_access_after_days, noncurrent.glacier_after_days),
        noncurrent_expiration_days: noncurrent.expire_after_days,
        noncurrent_keep_newest: noncurrent.keep_newest,
        abort_incomplete_days: l.abort_incomplete_uploads_after_days,
    }];
    let default_is_empty = {
        let r = &rules[0];
        r.transitions.is_empty()
            && r.expiration_days.is_none()
            && r.noncurrent_transitions.is_empty()
            && r.noncurrent_expiration_days.is_none()
            && r.abort_incomplete_days.is_none()
    };
    if default_is_empty {
        rules.clear();
    }
    rules.extend(l.rules.iter().map(|rule| LifecycleRuleContext {
        id: rule.id.clone(),
        prefix: Some(rule.prefix.clone()),
        transitions: transitions(rule.infrequent_access_after_days, rule.glacier_after_days),
        expiration_days: rule.expire_after_days,
        noncurrent_transitions: Vec::new(),
        noncurrent_expiration_days: None,
        noncurrent_keep_newest: None,
        abort_incomplete_days: None,
    }));
    rules
}

/// The bucket's outputs: its name and ARN, and the ARN of the key the stack creates for it.
pub(super) fn outputs(config: &Config) -> Vec<Output> {
    let key = (config.bucket.encryption == Encryption::Kms).then(|| Output {
        name: "BucketKeyArn".into(),
        description: "ARN of the KMS key of the data bucket".into(),
        value: json!({ "Fn::GetAtt": [BUCKET_KEY_ID, "Arn"] }),
    });
    let mut outputs = vec![
        Output {
            name: "BucketName".into(),
            description: "Name of the data bucket".into(),
            value: json!({ "Ref": BUCKET_ID }),
        },
        Output {
            name: "BucketArn".into(),
            description: "ARN of the data bucket".into(),
            value: json!({ "Fn::GetAtt": [BUCKET_ID, "Arn"] }),
        },
    ];
    outputs.extend(key);
    outputs
}

/// The bucket's template context.
pub(super) fn context(config: &Config, notifications: BucketNotifications) -> BucketContext {
    let mut tags: Vec<Tag> = config.bucket.tags.iter().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect();
    tags.extend(config.stack_tags().into_iter().map(|(key, value)| Tag { key, value }));
    let kms_key_arn = kms_key(config);
    let sse_algorithm = if kms_key_arn.is_some() { "aws:kms" } else { "AES256" };
    let BucketNotifications { depends_on, queue_configs, topic_configs, lambda_configs, eventbridge } = notifications;
    BucketContext {
        name: sub(&config.bucket_name_sub()),
        deletion_policy: deletion_policy(config),
        update_replace_policy: if config.ephemeral { "Delete" } else { "Retain" },
        depends_on,
        versioning_status: if config.bucket.versioning { "Enabled" } else { "Suspended" },
        sse_algorithm,
        kms_key_arn,
        object_lock: object_lock(config),
        // Objects under 128 KiB cost more in IA/GLACIER than in STANDARD; S3's default, set explicitly.
        transition_minimum_size: "all_storage_classes_128K",
        lifecycle_rules: lifecycle_rules(config),
        access_logs: config.bucket.access_logs.clone(),
        has_notifications: !(queue_configs.is_empty() && topic_configs.is_empty() && lambda_configs.is_empty())
            || eventbridge,
        queue_configurations: queue_configs,
        topic_configurations: topic_configs,
        lambda_configurations: lambda_configs,
        eventbridge,
        tags,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(src: &str) -> Config {
        crate::config::parse(src, Path::new("t.yaml"), "dev", None).unwrap()
    }

    /// A writer cannot choose other encryption than the bucket's: another algorithm, another KMS key, its own key
    /// (SSE-C). Regression guard (AWS): each denial applies only when its header is sent, since `StringNotEquals`
    /// on an absent header is true and would deny every upload that relies on the default encryption.
    #[test]
    fn a_writer_cannot_override_the_buckets_encryption() {
        let s3 = encryption_denials(&config("project: demo\nregion: us-west-1\n"));
        let sids: Vec<&str> = s3.iter().map(|d| d.sid).collect();
        assert_eq!(sids, ["DenyOtherEncryption", "DenyCustomerProvidedKeys"]);
        assert_eq!(
            s3[0].condition,
            json!({
                "StringNotEquals": { "s3:x-amz-server-side-encryption": "AES256" },
                "Null": { "s3:x-amz-server-side-encryption": "false" }
            })
        );
        let kms = encryption_denials(&config("project: demo\nregion: us-west-1\nbucket:\n  encryption: kms\n"));
        assert_eq!(kms[0].condition["StringNotEquals"]["s3:x-amz-server-side-encryption"], "aws:kms");
        assert_eq!(kms[1].sid, "DenyOtherKmsKey");
        assert_eq!(
            kms[1].condition,
            json!({
                "StringNotEquals": { "s3:x-amz-server-side-encryption-aws-kms-key-id": { "Fn::GetAtt": [BUCKET_KEY_ID, "Arn"] } },
                "Null": { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" }
            })
        );
        for denial in s3.iter().chain(&kms) {
            assert!(
                denial.condition.get("Null").is_some(),
                "{} applies only to requests that send the header",
                denial.sid
            );
        }
    }

    /// Object Lock is set as CloudFormation takes it at the bucket's creation: `ObjectLockEnabled` and a default
    /// retention of a mode and days or years.
    #[test]
    fn object_lock_renders_a_mode_and_days_or_years() {
        let lock =
            |src: &str| object_lock(&config(&format!("project: demo\nregion: us-west-1\nprotected: true\n{src}")));
        assert_eq!(
            lock("bucket:\n  object_lock: { mode: compliance, years: 7 }\n"),
            Some(ObjectLockContext { mode: "COMPLIANCE", days: None, years: Some(7) })
        );
        assert_eq!(
            lock("bucket:\n  object_lock: { mode: governance, days: 30 }\n"),
            Some(ObjectLockContext { mode: "GOVERNANCE", days: Some(30), years: None })
        );
        assert_eq!(lock(""), None);
        let src = "project: demo\nregion: us-west-1\nbucket:\n  object_lock: { mode: governance, days: 30 }\n";
        let bucket = &crate::render::render(&config(src)).unwrap().template_value["Resources"][BUCKET_ID]["Properties"];
        assert_eq!(bucket["ObjectLockEnabled"], true);
        assert_eq!(
            bucket["ObjectLockConfiguration"],
            json!({ "ObjectLockEnabled": "Enabled", "Rule": { "DefaultRetention": { "Mode": "GOVERNANCE", "Days": 30 } } })
        );
    }
}
