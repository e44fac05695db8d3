//! The write freeze: a bucket-policy statement denying new object writes to everyone while the bucket is emptied, so
//! a writer cannot refill it. It is merged into the bucket's policy (the stack's own statements stay) and is gone with
//! the bucket; a teardown that is interrupted leaves it in place until the re-run finishes the job.

use anyhow::{Context, Result};
use aws_sdk_s3::Client;
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::aws_error;

/// Sid of the freeze statement; a re-run finds it and does not add it twice.
pub const FREEZE_SID: &str = "ProvisionTeardownFreeze";

/// The statement: nobody may write objects (PutObject also covers multipart parts, their completion and copies).
pub fn freeze_statement(bucket_arn: &str) -> Value {
    json!({
        "Sid": FREEZE_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:PutObject"],
        "Resource": format!("{bucket_arn}/*"),
    })
}

/// `arn:<partition>:s3:::<bucket>`; the partition is that of the stack's ARN (aws, aws-cn, aws-us-gov, ...).
pub fn bucket_arn(stack_arn: &str, bucket: &str) -> String {
    let partition = stack_arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws");
    format!("arn:{partition}:s3:::{bucket}")
}

/// The bucket policy with the freeze statement merged in; None when it is already there as wanted.
pub fn frozen_policy(existing: Option<&str>, bucket_arn: &str) -> Result<Option<Value>> {
    let wanted = freeze_statement(bucket_arn);
    let mut policy = match existing.filter(|p| !p.trim().is_empty()) {
        Some(text) => serde_json::from_str::<Value>(text).context("the bucket policy is not JSON")?,
        None => json!({ "Version": "2012-10-17", "Statement": [] }),
    };
    let Some(document) = policy.as_object_mut() else { anyhow::bail!("the bucket policy is not a JSON object") };
    // `Statement` may be a single statement or a list of them.
    let statements = match document.remove("Statement") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(single) => vec![single],
    };
    if statements.contains(&wanted) {
        return Ok(None);
    }
    let mut statements: Vec<Value> =
        statements.into_iter().filter(|s| s.get("Sid").and_then(Value::as_str) != Some(FREEZE_SID)).collect();
    statements.push(wanted);
    document.entry("Version").or_insert_with(|| json!("2012-10-17"));
    document.insert("Statement".into(), Value::Array(statements));
    Ok(Some(policy))
}

/// What freezing found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Freeze {
    /// The statement was added now.
    Frozen,
    /// An earlier, interrupted teardown had added it.
    AlreadyFrozen,
    BucketGone,
}

/// Merges the freeze statement into the bucket's policy.
pub async fn freeze(s3: &Client, bucket: &str, bucket_arn: &str) -> Result<Freeze> {
    let existing = match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(output) => output.policy,
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchBucketPolicy") => None,
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchBucket") => return Ok(Freeze::BucketGone),
        Err(e) => {
            return Err(aws_error(e, "GetBucketPolicy"))
                .with_context(|| format!("cannot read the policy of bucket {bucket}"));
        }
    };
    let Some(policy) = frozen_policy(existing.as_deref(), bucket_arn)
        .with_context(|| format!("cannot add the write freeze to bucket {bucket}"))?
    else {
        return Ok(Freeze::AlreadyFrozen);
    };
    match s3.put_bucket_policy().bucket(bucket).policy(policy.to_string()).send().await {
        Ok(_) => Ok(Freeze::Frozen),
        Err(e) if crate::aws::error_code(&e) == Some("NoSuchBucket") => Ok(Freeze::BucketGone),
        Err(e) => {
            Err(aws_error(e, "PutBucketPolicy")).with_context(|| format!("cannot freeze writes to bucket {bucket}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:s3:::b";

    #[test]
    fn merges_into_the_stack_policy() {
        let existing = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        let merged = frozen_policy(Some(existing), ARN).unwrap().unwrap();
        let statements = merged["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0]["Sid"], "DenyInsecureTransport");
        assert_eq!(statements[1], freeze_statement(ARN));
        assert_eq!(statements[1]["Action"], json!(["s3:PutObject"]));
        assert_eq!(statements[1]["Resource"], "arn:aws:s3:::b/*");
        // Already frozen: nothing to write.
        assert_eq!(frozen_policy(Some(&merged.to_string()), ARN).unwrap(), None);
    }

    #[test]
    fn no_policy_single_statement_and_stale_freeze() {
        let fresh = frozen_policy(None, ARN).unwrap().unwrap();
        assert_eq!(fresh["Version"], "2012-10-17");
        assert_eq!(fresh["Statement"].as_array().unwrap().len(), 1);

        let single = r#"{"Version":"2012-10-17","Statement":{"Sid":"A","Effect":"Allow","Principal":{"AWS":"x"},"Action":"s3:GetObject","Resource":"*"}}"#;
        let merged = frozen_policy(Some(single), ARN).unwrap().unwrap();
        assert_eq!(merged["Statement"].as_array().unwrap().len(), 2);

        let stale = json!({ "Statement": [{ "Sid": FREEZE_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "old" }] });
        let merged = frozen_policy(Some(&stale.to_string()), ARN).unwrap().unwrap();
        assert_eq!(merged["Statement"], json!([freeze_statement(ARN)]));

        assert!(frozen_policy(Some("[1]"), ARN).is_err());
        assert!(frozen_policy(Some("{not json"), ARN).is_err());
    }

    #[test]
    fn bucket_arn_takes_the_stack_partition() {
        assert_eq!(bucket_arn("arn:aws-cn:cloudformation:cn-north-1:1:stack/s/id", "b"), "arn:aws-cn:s3:::b");
        assert_eq!(bucket_arn("arn:aws:cloudformation:us-east-1:1:stack/s/id", "b"), "arn:aws:s3:::b");
        assert_eq!(bucket_arn("", "b"), "arn:aws:s3:::b");
    }
}
