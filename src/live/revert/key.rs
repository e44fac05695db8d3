//! Putting the bucket's own KMS key back as the template has it: enabled (a scheduled deletion cancelled first),
//! rotated, under its key policy.

use anyhow::Result;
use serde_json::Value;

use crate::aws::aws_error;

/// Enables a disabled key; cancels a scheduled deletion first (the key is then disabled).
pub(super) async fn state(kms: &aws_sdk_kms::Client, id: &str, actual: &Value) -> Result<&'static str> {
    let mut done = "EnableKey";
    if actual.as_str() == Some("PendingDeletion") {
        kms.cancel_key_deletion().key_id(id).send().await.map_err(|e| aws_error(e, "CancelKeyDeletion"))?;
        done = "CancelKeyDeletion, EnableKey";
    }
    kms.enable_key().key_id(id).send().await.map_err(|e| aws_error(e, "EnableKey"))?;
    Ok(done)
}

/// Turns automatic rotation back on (or off, where the template says so).
pub(super) async fn rotation(kms: &aws_sdk_kms::Client, id: &str, e: &Value) -> Result<&'static str> {
    if e.as_bool() == Some(false) {
        kms.disable_key_rotation().key_id(id).send().await.map_err(|e| aws_error(e, "DisableKeyRotation"))?;
        return Ok("DisableKeyRotation");
    }
    kms.enable_key_rotation().key_id(id).send().await.map_err(|e| aws_error(e, "EnableKeyRotation"))?;
    Ok("EnableKeyRotation")
}

/// Puts the expected key policy back.
pub(super) async fn policy(kms: &aws_sdk_kms::Client, id: &str, e: &Value) -> Result<&'static str> {
    kms.put_key_policy()
        .key_id(id)
        .policy_name("default")
        .policy(e.to_string())
        .send()
        .await
        .map_err(|e| aws_error(e, "PutKeyPolicy"))?;
    Ok("PutKeyPolicy")
}
