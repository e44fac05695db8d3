//! Whether S3 Object Lock protects a bucket's versions: read before emptying, so a refusal comes before any delete.

use anyhow::Result;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::DefaultRetention;
use serde::Serialize;

use super::errors::code_is;
use crate::aws::aws_error;

/// Whether S3 Object Lock is on for a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ObjectLock {
    Off,
    /// On; with the default retention, if any (e.g. `GOVERNANCE for 30 days`).
    On {
        default_retention: Option<String>,
    },
    BucketGone,
}

/// Reads a bucket's Object Lock configuration (read-only).
pub async fn object_lock(s3: &Client, bucket: &str) -> Result<ObjectLock> {
    let result = s3.get_object_lock_configuration().bucket(bucket).send().await;
    let output = match result {
        Ok(output) => output,
        Err(e) if code_is(&e, "ObjectLockConfigurationNotFoundError") => return Ok(ObjectLock::Off),
        Err(e) if code_is(&e, "NoSuchBucket") => return Ok(ObjectLock::BucketGone),
        Err(e) => {
            return Err(aws_error(e, "GetObjectLockConfiguration"))
                .map_err(|e| e.context(format!("cannot find out whether bucket {bucket} has S3 Object Lock")));
        }
    };
    let Some(config) = output.object_lock_configuration else { return Ok(ObjectLock::Off) };
    if config.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some("Enabled") {
        return Ok(ObjectLock::Off);
    }
    let default_retention = config.rule.and_then(|r| r.default_retention).map(retention_text);
    Ok(ObjectLock::On { default_retention })
}

/// A default retention as `GOVERNANCE for 30 days`.
fn retention_text(retention: DefaultRetention) -> String {
    let mode = retention.mode.map(|m| m.as_str().to_string()).unwrap_or_else(|| "retention".into());
    match (retention.days, retention.years) {
        (Some(days), _) => format!("{mode} for {days} days"),
        (_, Some(years)) => format!("{mode} for {years} years"),
        _ => mode,
    }
}
