//! A queue's and a topic's live settings, from SQS and SNS.

use anyhow::Result;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use super::{none_if_missing, normalized_document};
use crate::aws::{Aws, aws_error};
use crate::live::comparable;

/// The URL of a queue by name; None when it does not exist.
pub async fn queue_url(aws: &Aws, name: &str) -> Result<Option<String>> {
    let answer = aws.sqs.get_queue_url().queue_name(name).send().await;
    let missing = ["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"];
    Ok(none_if_missing(answer, &missing, "GetQueueUrl")?.and_then(|out| out.queue_url))
}

/// Reads some properties of a queue (same order), its policy, encryption, retention and redrive policy, from one
/// GetQueueAttributes. A queue without a policy or redrive policy has null for it (SQS leaves the attribute out).
pub(super) async fn read_queue(aws: &Aws, name: &str, properties: &[&str]) -> Result<Vec<Option<Value>>> {
    let Some(url) = queue_url(aws, name).await? else { return Ok(vec![None; properties.len()]) };
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::Policy)
        .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
        .attribute_names(QueueAttributeName::KmsMasterKeyId)
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| aws_error(e, "GetQueueAttributes"))?;
    let attributes = out.attributes.unwrap_or_default();
    let attribute = |name: QueueAttributeName| attributes.get(&name).map(String::as_str);
    Ok(properties
        .iter()
        .map(|&p| match p {
            "policy" => Some(match attribute(QueueAttributeName::Policy).filter(|p| !p.is_empty()) {
                None => Value::Null,
                Some(text) => normalized_document(Some(text)).unwrap_or_else(|| Value::String(text.to_string())),
            }),
            "retention" => attribute(QueueAttributeName::MessageRetentionPeriod).map(|seconds| {
                seconds.parse().map(comparable::queue_retention).unwrap_or_else(|_| Value::String(seconds.into()))
            }),
            "redrive" => Some(comparable::queue_redrive_of(
                &attribute(QueueAttributeName::RedrivePolicy).map_or(Value::Null, |p| Value::String(p.to_string())),
            )),
            "encryption" => Some(match attribute(QueueAttributeName::KmsMasterKeyId).filter(|k| !k.is_empty()) {
                Some(key) => comparable::queue_kms_encryption(key),
                None => comparable::queue_encryption(
                    attributes.get(&QueueAttributeName::SqsManagedSseEnabled).is_some_and(|v| v == "true"),
                ),
            }),
            _ => None,
        })
        .collect())
}

/// Reads one setting of a topic (its policy, normalized); None when the topic is gone or the property unknown.
pub(super) async fn read_topic(aws: &Aws, arn: &str, property: &str) -> Result<Option<Value>> {
    let answer = aws.sns.get_topic_attributes().topic_arn(arn).send().await;
    let Some(out) = none_if_missing(answer, &["NotFound"], "GetTopicAttributes")? else { return Ok(None) };
    match property {
        "policy" => Ok(normalized_document(out.attributes.unwrap_or_default().get("Policy").map(String::as_str))),
        _ => Ok(None),
    }
}
