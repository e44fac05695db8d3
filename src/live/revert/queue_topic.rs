//! Putting a queue's and a topic's drifted settings back, through SQS and SNS.

use anyhow::Result;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::aws::{Aws, aws_error};
use crate::live::read::queue_url;

/// Puts the expected queue policy back; None when the queue is gone.
pub(super) async fn queue_policy(aws: &Aws, name: &str, e: &Value) -> Result<Option<&'static str>> {
    let set = set_queue_attribute(aws, name, QueueAttributeName::Policy, e.to_string()).await?;
    Ok(set.then_some("SetQueueAttributes Policy"))
}

/// Turns SQS-managed encryption back on; None when the queue is gone.
pub(super) async fn queue_encryption(aws: &Aws, name: &str) -> Result<Option<&'static str>> {
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
