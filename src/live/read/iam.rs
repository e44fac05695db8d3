//! A role's and a managed policy's live settings, from IAM; every list followed across its pages.

use anyhow::Result;
use serde_json::{Value, json};

use super::{none_if_missing, normalized_document};
use crate::aws::{Aws, aws_error};

const NO_ENTITY: &[&str] = &["NoSuchEntity"];

/// Reads one setting of a role; None when the role is gone or the property unknown.
pub(super) async fn read_role(aws: &Aws, name: &str, property: &str) -> Result<Option<Value>> {
    match property {
        "trust" => trust(aws, name).await,
        "attached_policies" => attached_policies(aws, name).await,
        "inline_policies" => inline_policies(aws, name).await,
        _ => Ok(None),
    }
}

/// The role's trust policy, normalized.
async fn trust(aws: &Aws, name: &str) -> Result<Option<Value>> {
    let answer = aws.iam.get_role().role_name(name).send().await;
    let Some(out) = none_if_missing(answer, NO_ENTITY, "GetRole")? else { return Ok(None) };
    let document = out.role.and_then(|r| r.assume_role_policy_document);
    Ok(Some(normalized_document(document.as_deref()).unwrap_or(Value::Null)))
}

/// The ARNs of the managed policies attached to the role, sorted.
async fn attached_policies(aws: &Aws, name: &str) -> Result<Option<Value>> {
    let pages = aws.iam.list_attached_role_policies().role_name(name).into_paginator().items().send();
    let answer = pages.collect::<Result<Vec<_>, _>>().await;
    let Some(attached) = none_if_missing(answer, NO_ENTITY, "ListAttachedRolePolicies")? else { return Ok(None) };
    let mut arns: Vec<String> = attached.into_iter().filter_map(|p| p.policy_arn).collect();
    arns.sort();
    Ok(Some(json!(arns)))
}

/// The names of the role's inline policies, sorted.
async fn inline_policies(aws: &Aws, name: &str) -> Result<Option<Value>> {
    let pages = aws.iam.list_role_policies().role_name(name).into_paginator().items().send();
    let answer = pages.collect::<Result<Vec<String>, _>>().await;
    let Some(mut names) = none_if_missing(answer, NO_ENTITY, "ListRolePolicies")? else { return Ok(None) };
    names.sort();
    Ok(Some(json!(names)))
}

/// Reads some properties of a managed policy (same order): its document, and the roles and users it is
/// attached to from one listing.
pub(super) async fn read_policy(aws: &Aws, arn: &str, properties: &[&str]) -> Result<Vec<Option<Value>>> {
    let wants = |p: &str| properties.contains(&p);
    let (document, entities) = futures::future::try_join(
        async { if wants("document") { policy_document(aws, arn).await } else { Ok(None) } },
        async {
            if wants("attached_roles") || wants("attached_users") { policy_entities(aws, arn).await } else { Ok(None) }
        },
    )
    .await?;
    Ok(properties
        .iter()
        .map(|&p| match p {
            "document" => document.clone(),
            "attached_roles" => entities.as_ref().map(|(roles, _)| json!(roles)),
            "attached_users" => entities.as_ref().map(|(_, users)| json!(users)),
            _ => None,
        })
        .collect())
}

/// The default version's document, normalised; None when the policy does not exist.
async fn policy_document(aws: &Aws, arn: &str) -> Result<Option<Value>> {
    let iam = &aws.iam;
    let Some(out) = none_if_missing(iam.get_policy().policy_arn(arn).send().await, NO_ENTITY, "GetPolicy")? else {
        return Ok(None);
    };
    let Some(version) = out.policy.and_then(|p| p.default_version_id) else { return Ok(None) };
    let out = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| aws_error(e, "GetPolicyVersion"))?;
    let document = out.policy_version.and_then(|v| v.document);
    Ok(Some(normalized_document(document.as_deref()).unwrap_or(Value::Null)))
}

/// The roles and users a policy is attached to, sorted, across every page; None when the policy does not exist.
async fn policy_entities(aws: &Aws, arn: &str) -> Result<Option<(Vec<String>, Vec<String>)>> {
    let mut pages = aws.iam.list_entities_for_policy().policy_arn(arn).into_paginator().send();
    let (mut roles, mut users) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let Some(page) = none_if_missing(page, NO_ENTITY, "ListEntitiesForPolicy")? else { return Ok(None) };
        roles.extend(page.policy_roles.unwrap_or_default().into_iter().filter_map(|r| r.role_name));
        users.extend(page.policy_users.unwrap_or_default().into_iter().filter_map(|u| u.user_name));
    }
    roles.sort();
    users.sort();
    Ok(Some((roles, users)))
}
