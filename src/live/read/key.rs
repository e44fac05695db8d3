//! The bucket's own KMS key, from KMS: found through its alias (its id is KMS's), then its state, rotation and key
//! policy.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::{none_if_missing, normalized_document};
use crate::aws::{Aws, aws_error};

/// KMS's code for a key or alias that does not exist.
const NOT_FOUND: &[&str] = &["NotFoundException"];

/// The ARNs of the keys `template` creates, by logical id, found through the aliases it gives them; a key whose
/// alias names no key is left out (it is then reported missing).
pub async fn key_arns(aws: &Aws, template: &Value) -> Result<BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    let resources = template.get("Resources").and_then(Value::as_object).into_iter().flatten();
    for (_, alias) in resources.filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::KMS::Alias")) {
        let props = alias.get("Properties");
        let name = props.and_then(|p| p.get("AliasName")).and_then(Value::as_str);
        let key = props.and_then(|p| p.pointer("/TargetKeyId/Ref")).and_then(Value::as_str);
        let (Some(name), Some(key)) = (name, key) else { continue };
        let answer = aws.kms.describe_key().key_id(name).send().await;
        let metadata = none_if_missing(answer, NOT_FOUND, "DescribeKey")?.and_then(|out| out.key_metadata);
        if let Some(arn) = metadata.and_then(|m| m.arn) {
            found.insert(key.to_string(), arn);
        }
    }
    Ok(found)
}

/// Reads some properties of a key (same order): `state` (`Enabled`, `Disabled`, `PendingDeletion`...), `rotation`
/// and `policy`. All None when there is no such key.
pub(super) async fn read_key(aws: &Aws, id: &str, properties: &[&str]) -> Result<Vec<Option<Value>>> {
    let answer = aws.kms.describe_key().key_id(id).send().await;
    let Some(metadata) = none_if_missing(answer, NOT_FOUND, "DescribeKey")?.and_then(|out| out.key_metadata) else {
        return Ok(vec![None; properties.len()]);
    };
    let key_id = metadata.key_id.clone();
    let mut values = Vec::with_capacity(properties.len());
    for property in properties {
        values.push(match *property {
            "state" => {
                Some(Value::String(metadata.key_state.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default()))
            }
            "rotation" => {
                let out = aws
                    .kms
                    .get_key_rotation_status()
                    .key_id(&key_id)
                    .send()
                    .await
                    .map_err(|e| aws_error(e, "GetKeyRotationStatus"))?;
                Some(Value::Bool(out.key_rotation_enabled))
            }
            "policy" => {
                let out = aws
                    .kms
                    .get_key_policy()
                    .key_id(&key_id)
                    .policy_name("default")
                    .send()
                    .await
                    .map_err(|e| aws_error(e, "GetKeyPolicy"))?;
                Some(normalized_document(out.policy.as_deref()).unwrap_or(Value::Null))
            }
            _ => None,
        });
    }
    Ok(values)
}
