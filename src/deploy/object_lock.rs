//! Object Lock is the one bucket setting a deploy may not change on an existing bucket: this tool turns it on only
//! when it creates the bucket, and nobody can turn it off.
//!
//! S3 can turn Object Lock on for an existing, versioned bucket (`PutObjectLockConfiguration`, since November 2023),
//! but CloudFormation still plans a change of `ObjectLockEnabled` as a replacement of the bucket
//! (cloudformation-coverage-roadmap#1929): a named bucket cannot be replaced, and a replacement would leave the
//! data behind. So a deploy that would turn it on for the deployed bucket, or off, is refused before any change set.

use serde_json::Value;

use crate::ids::BUCKET_ID;

/// Whether the bucket of `template` has Object Lock; None when the template has no bucket.
fn lock_of(template: &Value) -> Option<bool> {
    let bucket = template.pointer(&format!("/Resources/{BUCKET_ID}"))?;
    Some(bucket.pointer("/Properties/ObjectLockEnabled").and_then(Value::as_bool) == Some(true))
}

/// Why deploying `rendered` over the stack's `deployed` template is refused, if it is: it would turn the bucket's
/// Object Lock on or off. A new stack (no deployed template) makes a new bucket, which may have it.
pub fn refusal(env: &str, deployed: Option<&Value>, rendered: &Value) -> Option<String> {
    let (before, after) = (lock_of(deployed?)?, lock_of(rendered)?);
    match (before, after) {
        (false, true) => Some(format!(
            "env {env}: `bucket.object_lock` would turn S3 Object Lock on for the deployed bucket. This tool sets \
             Object Lock only when it creates the bucket: CloudFormation plans the change as a replacement of the \
             bucket, which a named bucket cannot have and which would leave its objects behind. AWS's path for an \
             existing bucket is PutObjectLockConfiguration on the versioned bucket (S3 console: Properties, Object \
             Lock), which the tool does not take for you, and which is for good (Object Lock cannot be turned off). \
             Remove `object_lock` from the env file, or give Object Lock to a new env's bucket"
        )),
        (true, false) => Some(format!(
            "env {env}: the deployed bucket has S3 Object Lock, which cannot be turned off: keep `bucket.object_lock` \
             in the env file (its mode and retention may change; they apply to new object versions)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(lock: Option<bool>) -> Value {
        let mut props = json!({ "BucketName": "b" });
        if let Some(lock) = lock {
            props["ObjectLockEnabled"] = json!(lock);
        }
        json!({ "Resources": { BUCKET_ID: { "Type": "AWS::S3::Bucket", "Properties": props } } })
    }

    /// Regression (AWS): CloudFormation plans `ObjectLockEnabled: false → true` as `Replacement: True` of the bucket
    /// (cloudformation-coverage-roadmap#1929) although S3 itself can enable Object Lock on a versioned bucket; and
    /// S3 can never disable it. Neither change reaches a change set.
    #[test]
    fn object_lock_is_refused_on_a_deployed_bucket_and_never_turned_off() {
        let (off, on) = (template(None), template(Some(true)));
        let turn_on = refusal("prod", Some(&off), &on).unwrap();
        assert!(turn_on.contains("only when it creates the bucket") && turn_on.contains("PutObjectLockConfiguration"));
        let turn_off = refusal("prod", Some(&on), &off).unwrap();
        assert!(turn_off.contains("cannot be turned off"), "{turn_off}");
        assert_eq!(refusal("prod", None, &on), None, "a new stack creates its bucket with Object Lock");
        assert_eq!(refusal("prod", Some(&on), &on), None);
        assert_eq!(refusal("prod", Some(&template(Some(false))), &off), None);
    }
}
