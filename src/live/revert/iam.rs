//! Putting a role's and a managed policy's drifted settings back, through IAM.

use anyhow::Result;
use aws_sdk_iam::Client;
use serde_json::Value;

use crate::aws::aws_error;

/// Puts the expected trust policy back.
pub(super) async fn trust(iam: &Client, name: &str, e: &Value) -> Result<&'static str> {
    iam.update_assume_role_policy()
        .role_name(name)
        .policy_document(e.to_string())
        .send()
        .await
        .map_err(|e| aws_error(e, "UpdateAssumeRolePolicy"))?;
    Ok("UpdateAssumeRolePolicy")
}

/// The strings of a JSON list; other items skipped.
fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
}

/// Detaches the managed policies the config does not attach, then attaches the ones it does that are missing.
pub(super) async fn attached_policies(iam: &Client, name: &str, e: &Value, actual: &Value) -> Result<&'static str> {
    let (wanted, actual) = (strings(e), strings(actual));
    for arn in actual.iter().filter(|a| !wanted.contains(a)) {
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error(e, "DetachRolePolicy"))?;
    }
    for arn in wanted.iter().filter(|w| !actual.contains(w)) {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error(e, "AttachRolePolicy"))?;
    }
    Ok("DetachRolePolicy/AttachRolePolicy")
}

/// Deletes every inline policy the role has: the config never gives it one.
pub(super) async fn inline_policies(iam: &Client, name: &str, actual: &Value) -> Result<&'static str> {
    for policy in actual.as_array().into_iter().flatten().filter_map(Value::as_str) {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| aws_error(e, "DeleteRolePolicy"))?;
    }
    Ok("DeleteRolePolicy")
}

/// Makes the expected document the managed policy's default version.
pub(super) async fn policy_document(iam: &Client, arn: &str, e: &Value) -> Result<&'static str> {
    make_room_for_a_version(iam, arn).await?;
    iam.create_policy_version()
        .policy_arn(arn)
        .policy_document(e.to_string())
        .set_as_default(true)
        .send()
        .await
        .map_err(|e| aws_error(e, "CreatePolicyVersion"))?;
    Ok("CreatePolicyVersion (default)")
}

/// A managed policy keeps at most 5 versions: at 5, deletes the oldest non-default one.
async fn make_room_for_a_version(iam: &Client, arn: &str) -> Result<()> {
    let versions: Vec<_> = iam
        .list_policy_versions()
        .policy_arn(arn)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| aws_error(e, "ListPolicyVersions"))?;
    if versions.len() < 5 {
        return Ok(());
    }
    let mut old: Vec<_> = versions.iter().filter(|v| !v.is_default_version).collect();
    old.sort_by_key(|v| v.create_date.map(|d| d.secs()));
    if let Some(oldest) = old.first().and_then(|v| v.version_id.clone()) {
        iam.delete_policy_version()
            .policy_arn(arn)
            .version_id(oldest)
            .send()
            .await
            .map_err(|e| aws_error(e, "DeletePolicyVersion"))?;
    }
    Ok(())
}
