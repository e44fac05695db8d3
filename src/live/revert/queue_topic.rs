//! Putting a queue's and a topic's drifted settings back, through SQS and SNS.

use anyhow::Result;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::aws::{Aws, aws_error};
use crate::live::read::queue_url;

/// Puts the expected queue policy back (removes it where none is expected: an empty value removes an attribute);
/// None when the queue is gone.
pub(super) async fn queue_policy(aws: &Aws, name: &str, e: &Value) -> Result<Option<&'static str>> {
    let value = if e.is_null() { String::new() } else { e.to_string() };
    let set = set_queue_attribute(aws, name, QueueAttributeName::Policy, value).await?;
    Ok(set.then_some("SetQueueAttributes Policy"))
}

/// Puts the expected message retention back; None when the queue is gone.
pub(super) async fn queue_retention(aws: &Aws, name: &str, e: &Value) -> Result<Option<&'static str>> {
    let seconds = e.as_u64().map_or_else(|| e.to_string(), |s| s.to_string());
    let set = set_queue_attribute(aws, name, QueueAttributeName::MessageRetentionPeriod, seconds).await?;
    Ok(set.then_some("SetQueueAttributes MessageRetentionPeriod"))
}

/// Puts the expected redrive policy back (`{deadLetterTargetArn, maxReceiveCount}`), or removes one where none is
/// expected (an empty value); None when the queue is gone.
pub(super) async fn queue_redrive(aws: &Aws, name: &str, e: &Value) -> Result<Option<&'static str>> {
    let value = match (e.get("dead_letter_queue"), e.get("max_receives")) {
        (Some(arn), Some(count)) => json!({ "deadLetterTargetArn": arn, "maxReceiveCount": count }).to_string(),
        _ => String::new(),
    };
    let set = set_queue_attribute(aws, name, QueueAttributeName::RedrivePolicy, value).await?;
    Ok(set.then_some("SetQueueAttributes RedrivePolicy"))
}

/// Turns SQS-managed encryption back on, or puts a queue's KMS key back; None when the queue is gone.
pub(super) async fn queue_encryption(aws: &Aws, name: &str, e: &Value) -> Result<Option<&'static str>> {
    // A queue under the bucket's key (`bucket.encrypt_notifications`) gets its key back.
    if let Some(key) = e.get("kms_key").and_then(Value::as_str) {
        let set = set_queue_attribute(aws, name, QueueAttributeName::KmsMasterKeyId, key.to_string()).await?;
        return Ok(set.then_some("SetQueueAttributes KmsMasterKeyId"));
    }
    let set = set_queue_attribute(aws, name, QueueAttributeName::SqsManagedSseEnabled, "true".into()).await?;
    Ok(set.then_some("SetQueueAttributes SqsManagedSseEnabled"))
}

/// Sets one attribute of a queue by name; false when the queue does not exist.
async fn set_queue_attribute(aws: &Aws, name: &str, attribute: QueueAttributeName, value: String) -> Result<bool> {
    let Some(url) = queue_url(aws, name).await? else { return Ok(false) };
    aws.sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(attribute, value)
        .send()
        .await
        .map_err(|e| aws_error(e, "SetQueueAttributes"))?;
    Ok(true)
}

/// Puts the expected topic policy back.
pub(super) async fn topic_policy(sns: &aws_sdk_sns::Client, arn: &str, e: &Value) -> Result<&'static str> {
    sns.set_topic_attributes()
        .topic_arn(arn)
        .attribute_name("Policy")
        .attribute_value(e.to_string())
        .send()
        .await
        .map_err(|e| aws_error(e, "SetTopicAttributes"))?;
    Ok("SetTopicAttributes Policy")
}
