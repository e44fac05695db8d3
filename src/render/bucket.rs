//! The data bucket's part of the template: its properties, lifecycle rules, tags and notification configuration.

use serde::Serialize;
use serde_json::{Value, json};

use super::notifications::BucketNotifications;
use super::{Output, Tag, sub};
use crate::config::{Config, Encryption};
use crate::ids::BUCKET_ID;

#[derive(Serialize)]
pub(super) struct BucketContext {
    pub(super) name: Value,
    pub(super) deletion_policy: &'static str,
    pub(super) update_replace_policy: &'static str,
    pub(super) depends_on: Vec<String>,
    pub(super) versioning_status: &'static str,
    pub(super) sse_algorithm: &'static str,
    pub(super) kms_key_arn: Option<String>,
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

/// The bucket's outputs: its name and ARN.
pub(super) fn outputs() -> Vec<Output> {
    vec![
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
    ]
}

/// The bucket's template context.
pub(super) fn context(config: &Config, notifications: BucketNotifications) -> BucketContext {
    let mut tags: Vec<Tag> = config.bucket.tags.iter().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect();
    tags.extend(config.stack_tags().into_iter().map(|(key, value)| Tag { key, value }));
    let (sse_algorithm, kms_key_arn) = match &config.bucket.encryption {
        Encryption::SseS3 => ("AES256", None),
        Encryption::SseKms { key_arn } => ("aws:kms", Some(key_arn.clone())),
    };
    let BucketNotifications { depends_on, queue_configs, topic_configs, lambda_configs, eventbridge } = notifications;
    BucketContext {
        name: sub(&config.bucket_name_sub()),
        deletion_policy: deletion_policy(config),
        update_replace_policy: if config.ephemeral { "Delete" } else { "Retain" },
        depends_on,
        versioning_status: if config.bucket.versioning { "Enabled" } else { "Suspended" },
        sse_algorithm,
        kms_key_arn,
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
