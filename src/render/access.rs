//! The access entries' part of the template: a managed policy each, and a role for a service principal.

use std::collections::BTreeSet;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Collected, Output, bucket, pretty, render_policy, sub};
use crate::config::{Access, Config, Encryption, Principal, Verb};
use crate::ids::pascal;

#[derive(Serialize)]
pub(super) struct AccessContext {
    pub(super) role: Option<RoleContext>,
    pub(super) policy_logical_id: String,
    pub(super) policy_name: String,
    pub(super) description: String,
    pub(super) roles: Vec<Value>,
    pub(super) users: Vec<String>,
    pub(super) policy: String,
}

#[derive(Serialize)]
pub(super) struct RoleContext {
    pub(super) logical_id: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) trust_policy: String,
}

/// The IAM actions an access entry gets: (S3 object actions, whether it may list, KMS actions).
pub fn entry_actions(config: &Config, verbs: &BTreeSet<Verb>) -> (Vec<&'static str>, bool, Vec<&'static str>) {
    let object: Vec<&str> =
        verbs.iter().filter(|v| **v != Verb::List).flat_map(|v| v.s3_actions().iter().copied()).collect();
    let mut kms: Vec<&str> = match config.bucket.encryption {
        Encryption::SseKms { .. } => verbs.iter().flat_map(|v| v.kms_actions().iter().copied()).collect(),
        Encryption::SseS3 => Vec::new(),
    };
    kms.sort_unstable();
    kms.dedup();
    (object, verbs.contains(&Verb::List), kms)
}

/// The policy document of one access entry.
pub fn access_policy(config: &Config, entry: &Access) -> Result<Value> {
    let bucket = config.bucket_name_sub();
    let (object_actions, may_list, kms_actions) = entry_actions(config, &entry.verbs);
    let kms_key_arn = match &config.bucket.encryption {
        Encryption::SseKms { key_arn } => Some(key_arn.clone()),
        Encryption::SseS3 => None,
    };
    let list_prefixes: Vec<String> =
        if may_list { entry.prefixes.iter().map(|p| format!("{p}*")).collect() } else { Vec::new() };
    render_policy(
        "access-policy.json",
        &json!({
            "object_actions": object_actions,
            "object_resources": entry.prefixes.iter()
                .map(|p| sub(&format!("arn:${{AWS::Partition}}:s3:::{bucket}/{p}*")))
                .collect::<Vec<_>>(),
            "bucket_arn": sub(&bucket::arn_string(config)),
            "list_prefixes": list_prefixes,
            "kms_actions": kms_actions,
            "kms_key_arn": kms_key_arn,
        }),
    )
}

/// One template context per access entry, with their policy documents and outputs.
pub(super) fn contexts(config: &Config, collected: &mut Collected) -> Result<Vec<AccessContext>> {
    let mut access = Vec::new();
    for entry in &config.access {
        let id = pascal(&entry.name);
        let policy = access_policy(config, entry)?;
        collected.policies.insert(format!("access-{}.json", entry.name), policy.clone());
        // Static on purpose: a changed Description makes CloudFormation replace a managed policy, and a named
        // policy cannot be replaced ("already exists"). What it grants is in the document.
        let description = format!("provision access entry {} of {}", entry.name, config.stack_name());
        let (role, roles, users) = match &entry.principal {
            Principal::Service { service } => {
                let trust = render_policy(
                    "trust-policy.json",
                    &json!({
                        "service": service,
                        "deployer_account_root": config.smoke.trust_deployer
                            .then(|| sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                    }),
                )?;
                collected.policies.insert(format!("trust-{}.json", entry.name), trust.clone());
                let logical_id = format!("{id}Role");
                collected.outputs.push(Output {
                    name: format!("{id}RoleArn"),
                    description: format!("Role for access entry {}", entry.name),
                    value: json!({ "Fn::GetAtt": [logical_id, "Arn"] }),
                });
                let role = RoleContext {
                    logical_id: logical_id.clone(),
                    name: config.iam_name(&entry.name),
                    description: format!("Assumed by {service}: {description}"),
                    trust_policy: pretty(&trust),
                };
                (Some(role), vec![json!({ "Ref": logical_id })], Vec::new())
            }
            Principal::Role { name, .. } => (None, vec![Value::String(name.clone())], Vec::new()),
            Principal::User { name } => (None, Vec::new(), vec![name.clone()]),
        };
        let policy_logical_id = format!("{id}Policy");
        collected.outputs.push(Output {
            name: format!("{id}PolicyArn"),
            description: format!("Managed policy for access entry {}", entry.name),
            value: json!({ "Ref": policy_logical_id }),
        });
        access.push(AccessContext {
            role,
            policy_logical_id,
            policy_name: config.iam_name(&entry.name),
            description,
            roles,
            users,
            policy: pretty(&policy),
        });
    }
    Ok(access)
}
