//! The access entries' part of the template: a managed policy each, and a role for a service principal.

use std::collections::BTreeSet;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Collected, Output, bucket, pretty, render_policy, sub};
use crate::config::{Access, Config, Principal, QUEUE_CONSUMER_ACTIONS, Target, Verb};
use crate::ids::pascal;

#[derive(Serialize)]
pub(super) struct AccessContext {
    pub(super) role: Option<RoleContext>,
    pub(super) policy_logical_id: String,
    pub(super) policy_name: String,
    pub(super) description: String,
    pub(super) roles: Vec<Value>,
    pub(super) users: Vec<String>,
    pub(super) policy: String,
}

#[derive(Serialize)]
pub(super) struct RoleContext {
    pub(super) logical_id: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) trust_policy: String,
    /// Managed policies attached besides the entry's own (`ManagedPolicyArns`); empty: the property is left out.
    pub(super) managed_policy_arns: Vec<String>,
}

/// A queue an access entry consumes: the statement's Sid and the queue's ARN.
#[derive(Serialize)]
struct ConsumedQueue {
    sid: String,
    arn: Value,
}

/// The IAM actions an access entry gets: (S3 object actions, whether it may list, KMS actions).
pub fn entry_actions(config: &Config, verbs: &BTreeSet<Verb>) -> (Vec<&'static str>, bool, Vec<&'static str>) {
    let object: Vec<&str> =
        verbs.iter().filter(|v| !v.on_bucket()).flat_map(|v| v.s3_actions().iter().copied()).collect();
    let mut kms: Vec<&str> = match config.bucket.encryption.uses_kms() {
        true => verbs.iter().flat_map(|v| v.kms_actions().iter().copied()).collect(),
        false => Vec::new(),
    };
    kms.sort_unstable();
    kms.dedup();
    (object, verbs.contains(&Verb::List), kms)
}

/// The queues created for notifications that `entry` consumes: a statement each, on that queue only.
fn consumed_queues(config: &Config, entry: &Access) -> Vec<ConsumedQueue> {
    config
        .notifications
        .iter()
        .filter(|n| n.target == Target::Queue && n.consumers.contains(&entry.name))
        .map(|n| ConsumedQueue {
            sid: format!("Consume{}", pascal(&n.name)),
            arn: json!({ "Fn::GetAtt": [format!("{}Queue", pascal(&n.name)), "Arn"] }),
        })
        .collect()
}

/// The key may be used only through S3 in the env's region, and only for this bucket: the encryption context S3
/// sends with a bucket key is the bucket's ARN. Outside S3 (a direct `kms:Decrypt`) the statement grants nothing.
pub fn kms_condition(config: &Config) -> Value {
    json!({
        "StringEquals": {
            "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com"),
            "kms:EncryptionContext:aws:s3:arn": sub(&bucket::arn_string(config)),
        }
    })
}

/// The policy document of one access entry.
pub fn access_policy(config: &Config, entry: &Access) -> Result<Value> {
    let bucket = config.bucket_name_sub();
    let (object_actions, may_list, kms_actions) = entry_actions(config, &entry.verbs);
    let kms_key_arn = bucket::kms_key(config);
    let consumed = consumed_queues(config, entry);
    // Messages of a queue under the bucket's key are decrypted through SQS by whoever receives them.
    let decrypt_consumed = config.bucket.encrypt_notifications && !consumed.is_empty();
    let list_prefixes: Vec<String> =
        if may_list { entry.prefixes.iter().map(|p| format!("{p}*")).collect() } else { Vec::new() };
    render_policy(
        "access-policy.json",
        &json!({
            "object_actions": object_actions,
            "object_resources": entry.prefixes.iter()
                .map(|p| sub(&format!("arn:${{AWS::Partition}}:s3:::{bucket}/{p}*")))
                .collect::<Vec<_>>(),
            "bucket_arn": sub(&bucket::arn_string(config)),
            "list_prefixes": list_prefixes,
            "kms_actions": kms_actions,
            "kms_key_arn": kms_key_arn,
            "kms_condition": kms_condition(config),
            "decrypt_consumed": decrypt_consumed,
            "sqs_condition": { "StringEquals": { "kms:ViaService": sub("sqs.${AWS::Region}.amazonaws.com") } },
            "bucket_location": entry.verbs.contains(&Verb::Query),
            "consumer_actions": QUEUE_CONSUMER_ACTIONS,
            "consumed_queues": consumed,
        }),
    )
}

/// One template context per access entry, with their policy documents and outputs.
pub(super) fn contexts(config: &Config, collected: &mut Collected) -> Result<Vec<AccessContext>> {
    let mut access = Vec::new();
    for entry in &config.access {
        let id = pascal(&entry.name);
        let policy = access_policy(config, entry)?;
        collected.policies.insert(format!("access-{}.json", entry.name), policy.clone());
        // Static on purpose: a changed Description makes CloudFormation replace a managed policy, and a named
        // policy cannot be replaced ("already exists"). What it grants is in the document.
        let description = format!("provision access entry {} of {}", entry.name, config.stack_name());
        let (role, roles, users) = match &entry.principal {
            Principal::Service { service } => {
                let trust = super::trust::trust_policy(config, service)?;
                collected.policies.insert(format!("trust-{}.json", entry.name), trust.clone());
                let logical_id = format!("{id}Role");
                collected.outputs.push(Output {
                    name: format!("{id}RoleArn"),
                    description: format!("Role for access entry {}", entry.name),
                    value: json!({ "Fn::GetAtt": [logical_id, "Arn"] }),
                });
                let role = RoleContext {
                    logical_id: logical_id.clone(),
                    name: config.iam_name(&entry.name),
                    description: format!("Assumed by {service}: {description}"),
                    trust_policy: pretty(&trust),
                    managed_policy_arns: entry.managed_policies.clone(),
                };
                (Some(role), vec![json!({ "Ref": logical_id })], Vec::new())
            }
            Principal::Role { name, .. } => (None, vec![Value::String(name.clone())], Vec::new()),
            Principal::User { name } => (None, Vec::new(), vec![name.clone()]),
        };
        let policy_logical_id = format!("{id}Policy");
        collected.outputs.push(Output {
            name: format!("{id}PolicyArn"),
            description: format!("Managed policy for access entry {}", entry.name),
            value: json!({ "Ref": policy_logical_id }),
        });
        access.push(AccessContext {
            role,
            policy_logical_id,
            policy_name: config.iam_name(&entry.name),
            description,
            roles,
            users,
            policy: pretty(&policy),
        });
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use crate::config::Config;
    use crate::deploy::diff::resource_changes;
    use crate::render::render;

    const BASE: &str = "project: demo\nregion: us-west-1\naccess:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\n  transcriber:\n    principal: { service: ecs-tasks.amazonaws.com }\n    allow: [read]\n    prefixes: [recordings/]\n  analysts:\n    principal: { role_arn: \"arn:aws:iam::123456789012:role/analysts\" }\n    allow: [read, list, query]\n    prefixes: [sessions/]\nnotifications:\n  new-recording:\n    suffix: .wav\n    target: queue\n    consumers: [transcriber]\n  new-call:\n    suffix: .json\n    target: queue\n";

    fn config(src: &str) -> Config {
        crate::config::parse(src, Path::new("t.yaml"), "dev", None).unwrap()
    }

    fn statements(template: &serde_json::Value, policy: &str) -> Vec<serde_json::Value> {
        template["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"].as_array().unwrap().clone()
    }

    /// Issue 12.1: the transcriber (workload 3) could not receive from the queue its notification feeds.
    #[test]
    fn a_consumer_gets_the_consume_actions_on_its_own_queue_only() {
        let template = render(&config(BASE)).unwrap().template_value;
        let consume: Vec<_> =
            statements(&template, "TranscriberPolicy").into_iter().filter(|s| s.to_string().contains("sqs:")).collect();
        assert_eq!(
            consume,
            [json!({
                "Sid": "ConsumeNewRecording",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                           "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                "Resource": { "Fn::GetAtt": ["NewRecordingQueue", "Arn"] },
            })],
            "on new-recording's queue, not new-call's, nor its dead-letter queue"
        );
        for other in ["WriterPolicy", "AnalystsPolicy"] {
            assert!(!template["Resources"][other].to_string().contains("sqs:"), "{other} consumes nothing");
        }
    }

    /// Issue 12.4: Athena needs the bucket's location (s3:GetBucketLocation on the bucket), besides reading and
    /// listing the data it queries; nothing else.
    #[test]
    fn query_adds_only_the_bucket_location_on_the_bucket() {
        let template = render(&config(BASE)).unwrap().template_value;
        let location: Vec<_> =
            statements(&template, "AnalystsPolicy").into_iter().filter(|s| s["Sid"] == "BucketLocation").collect();
        assert_eq!(
            location,
            [json!({
                "Sid": "BucketLocation",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": { "Fn::Sub": "arn:${AWS::Partition}:s3:::demo-dev-${AWS::AccountId}-${AWS::Region}" },
            })]
        );
        let objects = &statements(&template, "AnalystsPolicy")[0];
        assert_eq!(objects["Action"], json!(["s3:GetObject", "s3:GetObjectVersion"]), "query adds no object action");
        assert!(!template["Resources"]["TranscriberPolicy"].to_string().contains("GetBucketLocation"));
    }

    /// Issue 12.3: a created role's extra managed policies are attached by the template (so drift expects them)
    /// and a change to them is a line of the plan.
    #[test]
    fn managed_policies_are_attached_by_the_role_and_shown_in_the_plan() {
        let logs = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
        let with = BASE.replacen(
            "    prefixes: [calls/]\n",
            &format!("    prefixes: [calls/]\n    managed_policies: [{logs}]\n"),
            1,
        );
        let before = render(&config(BASE)).unwrap().template_value;
        let after = render(&config(&with)).unwrap().template_value;
        assert_eq!(before["Resources"]["WriterRole"]["Properties"].get("ManagedPolicyArns"), None);
        assert_eq!(after["Resources"]["WriterRole"]["Properties"]["ManagedPolicyArns"], json!([logs]));
        let lines: Vec<String> =
            resource_changes(&before, &after)["WriterRole"].iter().map(ToString::to_string).collect();
        assert_eq!(lines, [format!("Properties.ManagedPolicyArns: added [\"{logs}\"]")]);
    }
}
