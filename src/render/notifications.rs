//! The notifications' part of the template: queues and topics the tool creates (each with the policy that lets the
//! bucket send to it), permissions for Lambda functions, and the bucket's notification configuration.

use anyhow::Result;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Collected, Output, pretty, render_policy, sub};
use crate::config::{Config, Target};
use crate::ids::pascal;

#[derive(Serialize)]
pub(super) struct NotificationContext {
    pub(super) event: &'static str,
    pub(super) target: Value,
    pub(super) filter_rules: Vec<Value>,
}

#[derive(Serialize)]
pub(super) struct TargetContext {
    pub(super) logical_id: String,
    pub(super) policy_logical_id: String,
    pub(super) name: String,
    pub(super) policy: String,
}

#[derive(Serialize)]
pub(super) struct LambdaPermission {
    pub(super) logical_id: String,
    pub(super) function_arn: String,
}

/// The bucket's own notification configuration, by kind of target.
#[derive(Default)]
pub(super) struct BucketNotifications {
    /// What the bucket must wait for: S3 checks that it may send to a target when the configuration is set.
    pub depends_on: Vec<String>,
    pub queue_configs: Vec<NotificationContext>,
    pub topic_configs: Vec<NotificationContext>,
    pub lambda_configs: Vec<NotificationContext>,
    pub eventbridge: bool,
}

/// What the notifications add to the template.
#[derive(Default)]
pub(super) struct Notifications {
    pub queues: Vec<TargetContext>,
    pub topics: Vec<TargetContext>,
    pub lambda_permissions: Vec<LambdaPermission>,
    pub bucket: BucketNotifications,
}

/// The template contexts of every notification, with their targets' policy documents and outputs.
pub(super) fn contexts(config: &Config, bucket_arn: &str, collected: &mut Collected) -> Result<Notifications> {
    let mut queues = Vec::new();
    let mut topics = Vec::new();
    let mut lambda_permissions = Vec::new();
    let mut depends_on = Vec::new();
    let (mut queue_configs, mut topic_configs, mut lambda_configs) = (Vec::new(), Vec::new(), Vec::new());
    let mut eventbridge = false;
    for n in &config.notifications {
        let id = pascal(&n.name);
        let filter_rules: Vec<Value> = [("prefix", &n.prefix), ("suffix", &n.suffix)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, v)| json!({ "Name": name, "Value": v }))
            .collect();
        let (target, configs) = match &n.target {
            Target::Eventbridge => {
                eventbridge = true;
                continue;
            }
            Target::Queue | Target::Topic => {
                let is_queue = n.target == Target::Queue;
                let logical_id = format!("{id}{}", if is_queue { "Queue" } else { "Topic" });
                let target_arn =
                    if is_queue { json!({ "Fn::GetAtt": [logical_id, "Arn"] }) } else { json!({ "Ref": logical_id }) };
                let policy = render_policy(
                    "target-policy.json",
                    &json!({
                        "action": if is_queue { "sqs:SendMessage" } else { "sns:Publish" },
                        "target_arn": target_arn,
                        "bucket_arn": sub(bucket_arn),
                    }),
                )?;
                let kind = if is_queue { "queue" } else { "topic" };
                collected.policies.insert(format!("{kind}-{}.json", n.name), policy.clone());
                let policy_logical_id = format!("{logical_id}Policy");
                depends_on.push(policy_logical_id.clone());
                let context = TargetContext {
                    logical_id: logical_id.clone(),
                    policy_logical_id,
                    name: config.target_name(&n.name),
                    policy: pretty(&policy),
                };
                if is_queue {
                    collected.outputs.push(Output {
                        name: format!("{logical_id}Url"),
                        description: format!("URL of the queue for notification {}", n.name),
                        value: json!({ "Ref": logical_id }),
                    });
                    collected.outputs.push(Output {
                        name: format!("{logical_id}Arn"),
                        description: format!("ARN of the queue for notification {}", n.name),
                        value: target_arn.clone(),
                    });
                    queues.push(context);
                    (target_arn, &mut queue_configs)
                } else {
                    collected.outputs.push(Output {
                        name: format!("{logical_id}Arn"),
                        description: format!("ARN of the topic for notification {}", n.name),
                        value: target_arn.clone(),
                    });
                    topics.push(context);
                    (target_arn, &mut topic_configs)
                }
            }
            Target::Lambda { arn } => {
                let logical_id = format!("{id}InvokePermission");
                depends_on.push(logical_id.clone());
                lambda_permissions.push(LambdaPermission { logical_id, function_arn: arn.clone() });
                (Value::String(arn.clone()), &mut lambda_configs)
            }
            // Another owner's target: no policy and no dependency here. S3 checks that it may send when the
            // configuration is set, so its owner's policy must allow this bucket first.
            Target::ExistingQueue { arn } => (Value::String(arn.clone()), &mut queue_configs),
            Target::ExistingTopic { arn } => (Value::String(arn.clone()), &mut topic_configs),
        };
        for event in &n.events {
            configs.push(NotificationContext {
                event: event.s3_event(),
                target: target.clone(),
                filter_rules: filter_rules.clone(),
            });
        }
    }
    Ok(Notifications {
        queues,
        topics,
        lambda_permissions,
        bucket: BucketNotifications { depends_on, queue_configs, topic_configs, lambda_configs, eventbridge },
    })
}
