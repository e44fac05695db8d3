//! The notifications' part of the template: queues and topics the tool creates (each with the policy that lets the
//! bucket send to it), permissions for Lambda functions, and the bucket's notification configuration.

use anyhow::Result;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Collected, Output, pretty, render_policy, sub};
use crate::config::{Config, Notification, Target};
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
    /// A created queue's retention and dead-letter queue (None for a topic).
    pub(super) queue: Option<QueueContext>,
}

/// A created queue's own settings: how long it keeps messages, and where they go after `max_receives` receives.
#[derive(Serialize)]
pub(super) struct QueueContext {
    pub(super) retention_seconds: u32,
    /// `RedrivePolicy`: `{deadLetterTargetArn, maxReceiveCount}`.
    pub(super) redrive_policy: Value,
    pub(super) dead_letter: DeadLetterContext,
}

/// The dead-letter queue of a created queue: encrypted like it, keeping messages longest.
#[derive(Serialize)]
pub(super) struct DeadLetterContext {
    pub(super) logical_id: String,
    pub(super) name: String,
    pub(super) retention_seconds: u32,
}

const SECONDS_PER_DAY: u32 = 86_400;

/// The settings of the queue created for notification `n` (None for another target), with its dead-letter queue's
/// outputs.
fn queue_context(config: &Config, n: &Notification, outputs: &mut Vec<Output>) -> Option<QueueContext> {
    let settings = n.queue?;
    let logical_id = format!("{}DeadLetterQueue", pascal(&n.name));
    outputs.push(Output {
        name: format!("{logical_id}Url"),
        description: format!("URL of the dead-letter queue for notification {}", n.name),
        value: json!({ "Ref": logical_id }),
    });
    outputs.push(Output {
        name: format!("{logical_id}Arn"),
        description: format!("ARN of the dead-letter queue for notification {}", n.name),
        value: json!({ "Fn::GetAtt": [logical_id, "Arn"] }),
    });
    Some(QueueContext {
        retention_seconds: settings.retention_days * SECONDS_PER_DAY,
        redrive_policy: json!({
            "deadLetterTargetArn": { "Fn::GetAtt": [logical_id, "Arn"] },
            "maxReceiveCount": settings.max_receives,
        }),
        dead_letter: DeadLetterContext {
            logical_id,
            name: config.dead_letter_queue_name(&n.name),
            retention_seconds: settings.dead_letter_retention_days * SECONDS_PER_DAY,
        },
    })
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
                let queue = if is_queue { queue_context(config, n, &mut collected.outputs) } else { None };
                let context = TargetContext {
                    logical_id: logical_id.clone(),
                    policy_logical_id,
                    name: config.target_name(&n.name),
                    policy: pretty(&policy),
                    queue,
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

#[cfg(test)]
mod queue_tests {
    use std::path::Path;

    use serde_json::json;

    use crate::render::render;

    fn template(notification: &str) -> serde_json::Value {
        let src = format!("project: demo\nregion: us-west-1\nnotifications:\n  new-recording:\n{notification}");
        let config = crate::config::parse(&src, Path::new("t.yaml"), "dev", None).unwrap();
        render(&config).unwrap().template_value
    }

    /// Issue 12.2: a failing or stopped consumer silently lost recordings' events (SQS's 4 days, then gone, and a
    /// message that failed forever was received forever). Each created queue now has a dead-letter queue, encrypted
    /// like it and keeping messages 14 days (a message keeps its first enqueue time there), and explicit retention.
    #[test]
    fn a_queue_has_a_dead_letter_queue_and_explicit_retention() {
        let t = template("    suffix: .wav\n    target: queue\n");
        let resources = &t["Resources"];
        assert_eq!(
            resources["NewRecordingDeadLetterQueue"],
            json!({ "Type": "AWS::SQS::Queue", "Properties": {
                "QueueName": "demo-dev-new-recording-dead-letter",
                "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": true,
            } })
        );
        let queue = &resources["NewRecordingQueue"]["Properties"];
        assert_eq!(queue["MessageRetentionPeriod"], 345_600);
        assert_eq!(
            queue["RedrivePolicy"],
            json!({ "deadLetterTargetArn": { "Fn::GetAtt": ["NewRecordingDeadLetterQueue", "Arn"] }, "maxReceiveCount": 5 })
        );
        assert_eq!(queue["SqsManagedSseEnabled"], true);
        // S3 sends to the queue only: the dead-letter queue has no policy.
        let policies = resources.as_object().unwrap().values().filter(|r| r["Type"] == "AWS::SQS::QueuePolicy");
        assert_eq!(policies.count(), 1);
        for output in ["NewRecordingDeadLetterQueueUrl", "NewRecordingDeadLetterQueueArn"] {
            assert!(t["Outputs"].get(output).is_some(), "{output}");
        }

        let t = template("    target: queue\n    max_receives: 3\n    retention_days: 14\n");
        let queue = &t["Resources"]["NewRecordingQueue"]["Properties"];
        assert_eq!(
            (queue["MessageRetentionPeriod"].clone(), queue["RedrivePolicy"]["maxReceiveCount"].clone()),
            (json!(1_209_600), json!(3))
        );
    }

    #[test]
    fn a_topic_has_no_dead_letter_queue() {
        let t = template("    target: topic\n");
        assert!(!t.to_string().contains("DeadLetter"), "{t:#}");
    }
}
