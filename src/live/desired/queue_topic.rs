//! A queue's and a topic's expected settings: the policy resources that list them, and a queue's encryption.

use serde_json::{Value, json};

use super::{Template, at, expected_of, policy_covering};
use crate::live::{Expected, Resource, comparable};

/// A queue's policy (the queue policy resource that lists it, by `Ref` or by name; null for none, as a dead-letter
/// queue has), its encryption, how long it keeps messages (SQS's default when the template says nothing) and its
/// redrive policy (null for none).
pub(super) fn queue(template: &Template, id: &str, props: &Value) -> Vec<Expected> {
    let name = template.names.refs.get(id);
    let policy = policy_covering(template, "AWS::SQS::QueuePolicy", |p| {
        at(p, "/Queues")
            .as_array()
            .is_some_and(|q| q.iter().any(|v| v == &json!({ "Ref": id }) || v.as_str() == name.map(String::as_str)))
    });
    let sse = at(props, "/SqsManagedSseEnabled").as_bool().unwrap_or(false);
    let retention =
        at(props, "/MessageRetentionPeriod").as_u64().unwrap_or(comparable::DEFAULT_QUEUE_RETENTION_SECONDS);
    expected_of(
        Resource::Queue(name.cloned().unwrap_or_default()),
        vec![
            ("policy", policy),
            (
                "encryption",
                match at(props, "/KmsMasterKeyId").as_str() {
                    Some(key) => comparable::queue_kms_encryption(key),
                    None => comparable::queue_encryption(sse),
                },
            ),
            ("retention", comparable::queue_retention(retention)),
            ("redrive", comparable::queue_redrive_of(at(props, "/RedrivePolicy"))),
        ],
    )
}

/// A topic's policy: the topic policy resource that lists its ARN.
pub(super) fn topic(template: &Template, id: &str) -> Vec<Expected> {
    let arn = template.names.arns.get(id).cloned().unwrap_or_default();
    let policy = policy_covering(template, "AWS::SNS::TopicPolicy", |p| {
        at(p, "/Topics").as_array().is_some_and(|t| t.iter().any(|v| v.as_str() == Some(arn.as_str())))
    });
    expected_of(Resource::Topic(arn), vec![("policy", policy)])
}
