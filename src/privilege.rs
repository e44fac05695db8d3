//! The least-privilege check over a rendered template.
//!
//! It reads the template as CloudFormation will (not the config), so an edit to `templates/` or `policies/`
//! that widens access fails `provision validate` instead of slipping through review.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::config::{Config, Encryption, Verb};
use crate::ids::{BUCKET_KEY_ID, DEPLOYER_PARAMETER, pascal};

/// What each verb may grant on objects under the entry's prefixes. Kept here, apart from the renderer's table
/// (`Verb::s3_actions`) on purpose: a check that read the renderer's table would agree with every widening of it.
fn allowed_object_actions(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::Write => &["s3:PutObject", "s3:AbortMultipartUpload"],
        Verb::Read => &["s3:GetObject", "s3:GetObjectVersion"],
        Verb::Delete => &["s3:DeleteObject"],
        Verb::List | Verb::Query => &[],
    }
}

/// What each verb may grant on the bucket itself (its ARN, no key): listing under the prefixes (with an `s3:prefix`
/// condition), and for Athena the bucket's region.
fn allowed_bucket_actions(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::List => &["s3:ListBucket"],
        Verb::Query => &["s3:GetBucketLocation"],
        Verb::Write | Verb::Read | Verb::Delete => &[],
    }
}

/// What a consumer may do on the queue it consumes, and nothing else: no SendMessage, PurgeQueue,
/// SetQueueAttributes, and no other queue (its own table, apart from `config::QUEUE_CONSUMER_ACTIONS`).
const CONSUMER_ACTIONS: [&str; 5] = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
];

/// Whether an AWS managed policy (by name) would defeat the entries' least privilege: everything, every bucket's
/// objects, or IAM/KMS in full. Its own list, apart from the config's.
fn defeats_least_privilege(policy_name: &str) -> bool {
    let full = policy_name.ends_with("FullAccess");
    matches!(policy_name, "AdministratorAccess" | "PowerUserAccess" | "ReadOnlyAccess" | "ViewOnlyAccess")
        || policy_name.starts_with("AdministratorAccess-")
        || ((full || policy_name.ends_with("ReadOnlyAccess")) && policy_name.contains("S3"))
        || (full
            && (policy_name.starts_with("IAM") || policy_name.contains("KMS") || policy_name.contains("KeyManagement")))
}

/// What each verb may grant on the bucket's KMS key (SSE-KMS only).
fn allowed_kms_actions(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::Write => &["kms:GenerateDataKey", "kms:Decrypt"],
        Verb::Read => &["kms:Decrypt"],
        Verb::List | Verb::Delete | Verb::Query => &[],
    }
}

/// One way a rendered template grants more than the config asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub resource: String,
    pub problem: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.resource, self.problem)
    }
}

/// A policy string as written: plain, or the text of `Fn::Sub`.
fn string_or_sub(value: &Value) -> Option<&str> {
    value.as_str().or_else(|| value.get("Fn::Sub").and_then(Value::as_str))
}

/// A resource as written: plain, the text of `Fn::Sub`, or `${Id.Arn}` for `Fn::GetAtt [Id, Arn]` (as `Fn::Sub`
/// writes it).
fn resource_text(value: &Value) -> Option<String> {
    if let Some(text) = string_or_sub(value) {
        return Some(text.to_string());
    }
    match value.get("Fn::GetAtt").and_then(Value::as_array).map(Vec::as_slice) {
        Some([id, attribute]) if attribute == "Arn" => id.as_str().map(|id| format!("${{{id}.Arn}}")),
        _ => None,
    }
}

fn list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

fn statements(document: Option<&Value>) -> Vec<&Value> {
    list(document.and_then(|d| d.get("Statement")))
}

/// Checks every IAM-relevant resource of `template` against `config`.
pub fn check(config: &Config, template: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return vec![Violation { resource: "Resources".into(), problem: "the template has no Resources".into() }];
    };
    let bucket = format!("arn:${{AWS::Partition}}:s3:::{}", config.bucket_name_sub());
    for (id, resource) in resources {
        let mut flag = |problem: String| found.push(Violation { resource: id.clone(), problem });
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = resource.get("Properties");
        let document = props.and_then(|p| p.get("PolicyDocument"));
        match kind {
            "AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy" => {
                match config.access.iter().find(|e| format!("{}Policy", pascal(&e.name)) == *id) {
                    None => flag("an IAM policy that belongs to no access entry".into()),
                    Some(entry) => {
                        for problem in check_entry_policy(config, entry, &bucket, document) {
                            flag(problem);
                        }
                    }
                }
            }
            "AWS::IAM::Role" => {
                if props.is_some_and(|p| p.get("Policies").is_some()) {
                    flag("roles get permissions only from managed policies, not inline Policies".into());
                }
                let entry = config.access.iter().find(|e| format!("{}Role", pascal(&e.name)) == *id);
                for problem in check_managed_policy_arns(entry, props.and_then(|p| p.get("ManagedPolicyArns"))) {
                    flag(problem);
                }
                for (i, s) in statements(props.and_then(|p| p.get("AssumeRolePolicyDocument"))).iter().enumerate() {
                    if wildcard_principal(s) {
                        flag(format!("trust statement {i} lets any principal assume the role"));
                    }
                    for problem in check_trust_statement(config, entry, i, s) {
                        flag(problem);
                    }
                }
            }
            "AWS::KMS::Key" => {
                for problem in check_key_policy(config, &bucket, props.and_then(|p| p.get("KeyPolicy"))) {
                    flag(problem);
                }
            }
            "AWS::S3::BucketPolicy" => {
                for (i, s) in statements(document).iter().enumerate() {
                    if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
                        flag(format!("bucket policy statement {i} allows access; grants belong in access entries"));
                    }
                }
            }
            "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
                for (i, s) in statements(document).iter().enumerate() {
                    let service = s.pointer("/Principal/Service").and_then(Value::as_str);
                    let source_arn = s.pointer("/Condition/ArnEquals/aws:SourceArn").and_then(string_or_sub);
                    let source_account = s.pointer("/Condition/StringEquals/aws:SourceAccount");
                    if service != Some("s3.amazonaws.com") || source_arn != Some(&bucket) || source_account.is_none() {
                        flag(format!(
                            "statement {i} must admit only s3.amazonaws.com with aws:SourceArn = this bucket and aws:SourceAccount"
                        ));
                    }
                }
            }
            "AWS::IAM::User"
            | "AWS::IAM::AccessKey"
            | "AWS::IAM::Group"
            | "AWS::IAM::UserToGroupAddition"
            | "AWS::IAM::InstanceProfile"
            | "AWS::S3::AccessPoint"
            | "AWS::S3::MultiRegionAccessPoint" => {
                flag(format!("{kind} is outside what this tool manages"));
            }
            _ => {}
        }
    }
    found
}

/// The `ManagedPolicyArns` of the role of `entry` (None: a role of no entry): exactly the entry's `managed_policies`,
/// none of them one that defeats least privilege.
fn check_managed_policy_arns(entry: Option<&crate::config::Access>, arns: Option<&Value>) -> Vec<String> {
    let listed: BTreeSet<String> = list(arns).into_iter().filter_map(resource_text).collect();
    let configured: BTreeSet<String> = entry.map(|e| e.managed_policies.iter().cloned().collect()).unwrap_or_default();
    let mut problems = Vec::new();
    if let Some(extra) = listed.iter().find(|arn| !configured.contains(*arn)) {
        problems.push(format!("ManagedPolicyArns attaches `{extra}`, which the entry's managed_policies do not list"));
    }
    for arn in &listed {
        let aws_managed = arn.split(':').nth(4) == Some("aws");
        let name = arn.rsplit('/').next().unwrap_or_default();
        if aws_managed && defeats_least_privilege(name) {
            problems.push(format!("ManagedPolicyArns attaches `{arn}`, which defeats least privilege"));
        }
    }
    problems
}

fn wildcard_principal(statement: &Value) -> bool {
    let principal = statement.get("Principal");
    principal.is_some_and(|p| p == "*" || list(p.get("AWS")).iter().any(|v| string_or_sub(v) == Some("*")))
}

fn check_entry_policy(
    config: &Config,
    entry: &crate::config::Access,
    bucket: &str,
    document: Option<&Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let object_actions: Vec<&str> = entry.verbs.iter().flat_map(|v| allowed_object_actions(*v)).copied().collect();
    let bucket_actions: Vec<&str> = entry.verbs.iter().flat_map(|v| allowed_bucket_actions(*v)).copied().collect();
    // The queues created for the notifications the entry consumes, as their ARNs are written (`Fn::GetAtt`).
    let consumed: BTreeSet<String> = config
        .notifications
        .iter()
        .filter(|n| n.target == crate::config::Target::Queue && n.consumers.contains(&entry.name))
        .map(|n| format!("${{{}Queue.Arn}}", pascal(&n.name)))
        .collect();
    let mut kms_actions: Vec<&str> = match config.bucket.encryption {
        Encryption::SseKms { .. } | Encryption::Kms => {
            entry.verbs.iter().flat_map(|v| allowed_kms_actions(*v)).copied().collect()
        }
        Encryption::SseS3 => Vec::new(),
    };
    // A consumer of a queue under the bucket's key decrypts its messages, through SQS only.
    let decrypts_messages = config.bucket.encrypt_notifications && !consumed.is_empty();
    if decrypts_messages {
        kms_actions.push("kms:Decrypt");
    }
    let object_arns: BTreeSet<String> = entry.prefixes.iter().map(|p| format!("{bucket}/{p}*")).collect();
    let list_values: BTreeSet<String> = entry.prefixes.iter().map(|p| format!("{p}*")).collect();
    let own_key = format!("${{{BUCKET_KEY_ID}.Arn}}");
    let kms_key = match &config.bucket.encryption {
        Encryption::SseKms { key_arn } => Some(key_arn.as_str()),
        Encryption::Kms => Some(own_key.as_str()),
        Encryption::SseS3 => None,
    };
    let statements = statements(document);
    if statements.is_empty() {
        problems.push("the policy has no statements".into());
    }
    for (i, s) in statements.iter().enumerate() {
        if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if s.get("NotAction").is_some() || s.get("NotResource").is_some() {
            problems.push(format!("statement {i} uses NotAction/NotResource, which grants everything else"));
        }
        let actions: Vec<&str> = list(s.get("Action")).into_iter().filter_map(Value::as_str).collect();
        let resources: Vec<String> = list(s.get("Resource")).into_iter().filter_map(resource_text).collect();
        for action in &actions {
            if action.contains('*') {
                problems.push(format!("statement {i} has the wildcard action `{action}`"));
            } else if action.to_ascii_lowercase().contains("acl") {
                problems.push(format!("statement {i} grants the ACL action `{action}`"));
            } else if !(object_actions.contains(action)
                || bucket_actions.contains(action)
                || kms_actions.contains(action)
                || (!consumed.is_empty() && CONSUMER_ACTIONS.contains(action)))
            {
                let verbs: Vec<&str> = entry.verbs.iter().map(|v| v.name()).collect();
                problems
                    .push(format!("statement {i} grants `{action}`, which verbs [{}] do not need", verbs.join(", ")));
            }
        }
        for resource in &resources {
            let resource = resource.as_str();
            let is_object = object_arns.contains(resource);
            let is_bucket = resource == bucket;
            let is_key = kms_key == Some(resource);
            let is_queue = consumed.contains(resource);
            if !(is_object || is_bucket || is_key || is_queue) {
                problems.push(format!("statement {i} reaches `{resource}`, outside the prefixes {:?}", entry.prefixes));
                continue;
            }
            let wrong_actions = actions.iter().any(|a| {
                (is_object && !object_actions.contains(a))
                    || (is_bucket && !bucket_actions.contains(a))
                    || (is_key && !kms_actions.contains(a))
                    || (is_queue && !CONSUMER_ACTIONS.contains(a))
            });
            if wrong_actions {
                problems.push(format!("statement {i} applies {actions:?} to `{resource}`, where they do not belong"));
            }
            if is_key {
                problems.extend(check_key_use_in_identity(i, s, &actions, bucket, decrypts_messages));
            }
            if is_bucket && actions.contains(&"s3:ListBucket") {
                let values = list(s.pointer("/Condition/StringLike/s3:prefix"));
                let scoped =
                    !values.is_empty() && values.iter().all(|v| v.as_str().is_some_and(|v| list_values.contains(v)));
                if !scoped {
                    problems.push(format!(
                        "statement {i} lists the bucket without an s3:prefix condition on the entry's prefixes"
                    ));
                }
            }
        }
        if resources.is_empty() {
            problems.push(format!("statement {i} names no resource"));
        }
    }
    problems
}

/// The confused-deputy conditions each service's trust statement must carry: `aws:SourceAccount`, and the
/// `aws:SourceArn` pattern where the service sends one. Its own table, apart from the renderer's
/// (`render::source_conditions`): a trust policy that drops them fails here.
fn required_source_conditions(service: &str) -> Option<(bool, Option<&'static str>)> {
    match service {
        "lambda.amazonaws.com" => Some((true, None)),
        "ecs-tasks.amazonaws.com" => Some((true, Some("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"))),
        "states.amazonaws.com" => {
            Some((true, Some("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:*")))
        }
        _ => None,
    }
}

/// One statement of a created role's trust policy: its entry's service, held to the account where the service
/// sends it, or the deploying principal (the `DeployerArn` parameter), and that only with `smoke.trust_deployer`.
fn check_trust_statement(
    config: &Config,
    entry: Option<&crate::config::Access>,
    i: usize,
    statement: &Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    // An open trust is reported on its own (`wildcard_principal`).
    if statement.get("Effect").and_then(Value::as_str) != Some("Allow") || wildcard_principal(statement) {
        return problems;
    }
    let service = statement.pointer("/Principal/Service").and_then(Value::as_str);
    let aws = list(statement.pointer("/Principal/AWS"));
    let deployer = json!({ "Ref": DEPLOYER_PARAMETER });
    if !aws.is_empty() {
        if !config.smoke.trust_deployer {
            problems.push(format!(
                "trust statement {i} lets an AWS principal assume the role without smoke.trust_deployer"
            ));
        } else if aws.iter().any(|p| **p != deployer) {
            problems.push(format!(
                "trust statement {i} trusts {}: only the deploying principal (the {DEPLOYER_PARAMETER} parameter) may be",
                aws.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
        return problems;
    }
    let wanted = entry.and_then(|e| match &e.principal {
        crate::config::Principal::Service { service } => Some(service.as_str()),
        _ => None,
    });
    if service.is_none() || service != wanted {
        problems.push(format!("trust statement {i} trusts {service:?}, not the entry's service {wanted:?}"));
        return problems;
    }
    let Some((account, source_arn)) = service.and_then(required_source_conditions) else { return problems };
    if account
        && statement.pointer("/Condition/StringEquals/aws:SourceAccount") != Some(&json!({ "Ref": "AWS::AccountId" }))
    {
        problems.push(format!(
            "trust statement {i} lets {} act for any account: it needs aws:SourceAccount",
            service.unwrap_or_default()
        ));
    }
    if let Some(pattern) = source_arn
        && statement.pointer("/Condition/ArnLike/aws:SourceArn").and_then(string_or_sub) != Some(pattern)
    {
        problems.push(format!("trust statement {i} needs aws:SourceArn `{pattern}`"));
    }
    problems
}

/// A statement of an access entry's policy that reaches the bucket's key: only through S3 in the env's region and
/// for this bucket's encryption context, or (a consumer of a queue under the key) `kms:Decrypt` through SQS.
fn check_key_use_in_identity(
    i: usize,
    s: &Value,
    actions: &[&str],
    bucket: &str,
    decrypts_messages: bool,
) -> Vec<String> {
    let via = s.pointer("/Condition/StringEquals/kms:ViaService").and_then(string_or_sub);
    let context = s.pointer("/Condition/StringEquals/kms:EncryptionContext:aws:s3:arn").and_then(string_or_sub);
    match via {
        Some("s3.${AWS::Region}.amazonaws.com") if context == Some(bucket) => Vec::new(),
        Some("s3.${AWS::Region}.amazonaws.com") => {
            vec![format!(
                "statement {i} uses the key through S3 without this bucket's encryption context (kms:EncryptionContext:aws:s3:arn)"
            )]
        }
        Some("sqs.${AWS::Region}.amazonaws.com") if decrypts_messages && actions == ["kms:Decrypt"] => Vec::new(),
        _ => vec![format!(
            "statement {i} uses the key outside S3: it needs kms:ViaService s3.${{AWS::Region}}.amazonaws.com and this bucket's encryption context"
        )],
    }
}

/// What the account may do with the bucket's own key (through IAM): manage it, never use it. Its own table, apart
/// from the renderer's (`render::ADMIN_ACTIONS`).
const KEY_ADMINISTRATION: [&str; 22] = [
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListKeyRotations",
    "kms:RotateKeyOnDemand",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ListGrants",
    "kms:RevokeGrant",
];

/// The `aws:PrincipalArn` values by which an entry's principal may be named in the key policy.
fn entry_principal_arns(config: &Config, entry: &crate::config::Access) -> Vec<String> {
    let account = "arn:${AWS::Partition}:iam::${AWS::AccountId}";
    match &entry.principal {
        crate::config::Principal::Service { .. } => vec![format!("{account}:role/{}", config.iam_name(&entry.name))],
        crate::config::Principal::Role { arn, .. } => vec![arn.clone()],
        crate::config::Principal::User { name } => {
            vec![format!("{account}:user/{name}"), format!("{account}:user/*/{name}")]
        }
    }
}

/// The key policy of the bucket's own key: administration for the account root only, without any use of the key;
/// each use only through its service (S3 for this bucket; SQS for consumers), by principals whose verbs need it, or
/// S3 itself for this bucket's notifications. No grant, no wildcard.
fn check_key_policy(config: &Config, bucket: &str, policy: Option<&Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let root = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root";
    let deployer = json!({ "Ref": DEPLOYER_PARAMETER });
    let names = |verb: Verb| -> BTreeSet<String> {
        config.access.iter().filter(|e| e.verbs.contains(&verb)).flat_map(|e| entry_principal_arns(config, e)).collect()
    };
    let (writers, readers) = (names(Verb::Write), names(Verb::Read));
    let consumers: BTreeSet<String> = config
        .access
        .iter()
        .filter(|e| {
            config
                .notifications
                .iter()
                .any(|n| n.target == crate::config::Target::Queue && n.consumers.contains(&e.name))
        })
        .flat_map(|e| entry_principal_arns(config, e))
        .collect();
    let statements = statements(policy);
    if statements.is_empty() {
        problems.push("the key has no key policy statements".into());
    }
    for (i, s) in statements.iter().enumerate() {
        if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if wildcard_principal(s) {
            problems.push(format!("key policy statement {i} lets any principal use the key"));
            continue;
        }
        let actions: Vec<&str> = list(s.get("Action")).into_iter().filter_map(Value::as_str).collect();
        if s.get("NotAction").is_some() || s.get("NotPrincipal").is_some() || actions.iter().any(|a| a.contains('*')) {
            problems.push(format!("key policy statement {i} uses a wildcard action, NotAction or NotPrincipal"));
            continue;
        }
        if actions.contains(&"kms:CreateGrant") {
            problems
                .push(format!("key policy statement {i} allows kms:CreateGrant, which hands out use past the policy"));
        }
        let aws = s.pointer("/Principal/AWS").and_then(string_or_sub);
        let service = s.pointer("/Principal/Service").and_then(Value::as_str);
        let uses: Vec<&&str> = actions.iter().filter(|a| !KEY_ADMINISTRATION.contains(a)).collect();
        if uses.is_empty() {
            if aws != Some(root) {
                problems.push(format!("key policy statement {i} gives administration to {aws:?}, not the account"));
            }
            continue;
        }
        let via = s.pointer("/Condition/StringEquals/kms:ViaService").and_then(string_or_sub);
        let context = s.pointer("/Condition/StringEquals/kms:EncryptionContext:aws:s3:arn").and_then(string_or_sub);
        let named: Vec<&Value> = list(s.pointer("/Condition/ArnLike/aws:PrincipalArn"));
        let named_ok = |allowed: &BTreeSet<String>| {
            !named.is_empty()
                && named.iter().all(|p| **p == deployer || string_or_sub(p).is_some_and(|p| allowed.contains(p)))
        };
        let admin_mixed = actions.iter().any(|a| KEY_ADMINISTRATION.contains(a));
        let ok = match (aws, service, via) {
            _ if admin_mixed => false,
            (Some(a), None, Some("s3.${AWS::Region}.amazonaws.com")) if a == root && context == Some(bucket) => {
                let generates = uses.iter().any(|a| **a != "kms:Decrypt");
                uses.iter().all(|a| ["kms:GenerateDataKey", "kms:Decrypt"].contains(*a))
                    && if generates {
                        named_ok(&writers)
                    } else {
                        named_ok(&writers.union(&readers).cloned().collect())
                    }
            }
            (Some(a), None, Some("sqs.${AWS::Region}.amazonaws.com")) if a == root => {
                config.bucket.encrypt_notifications && uses.iter().all(|a| **a == "kms:Decrypt") && named_ok(&consumers)
            }
            (None, Some("s3.amazonaws.com"), None) => {
                config.bucket.encrypt_notifications
                    && uses.iter().all(|a| ["kms:GenerateDataKey", "kms:Decrypt"].contains(*a))
                    && s.pointer("/Condition/StringEquals/aws:SourceAccount")
                        == Some(&json!({ "Ref": "AWS::AccountId" }))
                    && s.pointer("/Condition/ArnLike/aws:SourceArn").and_then(string_or_sub) == Some(bucket)
            }
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "key policy statement {i} allows {uses:?} beyond use through S3 for this bucket (or SQS for consumers, or S3's \
                 own notifications) by the principals whose verbs need it"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    const SRC: &str = "project: demo\nregion: us-west-1\naccess:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write, list]\n    prefixes: [calls/]\nnotifications:\n  wav:\n    suffix: .wav\n    target: queue\n";

    fn setup() -> (Config, Value) {
        let config = crate::config::parse(SRC, Path::new("t.yaml"), "dev", None).unwrap();
        let rendered = crate::render::render(&config).unwrap();
        (config, rendered.template_value)
    }

    fn statement<'a>(template: &'a mut Value, id: &str, index: usize) -> &'a mut Value {
        template.pointer_mut(&format!("/Resources/{id}/Properties/PolicyDocument/Statement/{index}")).unwrap()
    }

    #[test]
    fn rendered_template_passes() {
        let (config, template) = setup();
        assert_eq!(check(&config, &template), vec![]);
    }

    #[test]
    fn wildcard_action_is_caught() {
        let (config, mut template) = setup();
        statement(&mut template, "WriterPolicy", 0)["Action"] = json!(["s3:*"]);
        assert!(check(&config, &template)[0].problem.contains("wildcard action `s3:*`"));
    }

    #[test]
    fn acl_action_is_caught() {
        let (config, mut template) = setup();
        statement(&mut template, "WriterPolicy", 0)["Action"] = json!(["s3:PutObject", "s3:PutObjectAcl"]);
        assert!(check(&config, &template)[0].problem.contains("ACL action"));
    }

    #[test]
    fn extra_action_is_caught() {
        let (config, mut template) = setup();
        statement(&mut template, "WriterPolicy", 0)["Action"] = json!(["s3:PutObject", "s3:GetObject"]);
        assert!(check(&config, &template)[0].problem.contains("grants `s3:GetObject`"));
    }

    #[test]
    fn the_check_has_its_own_table_of_what_a_verb_may_grant() {
        let (config, mut template) = setup();
        let actions = statement(&mut template, "WriterPolicy", 0)["Action"].clone();
        assert_eq!(actions, json!(["s3:PutObject", "s3:AbortMultipartUpload"]), "write may abort its own uploads");
        // What no verb grants, even where the renderer's table said so: the check does not read that table.
        for widened in ["s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:RestoreObject"] {
            statement(&mut template, "WriterPolicy", 0)["Action"] = json!(["s3:PutObject", widened]);
            let problems = check(&config, &template);
            assert!(problems[0].problem.contains(&format!("grants `{widened}`")), "{problems:?}");
        }
    }

    #[test]
    fn broader_resource_is_caught() {
        let (config, mut template) = setup();
        statement(&mut template, "WriterPolicy", 0)["Resource"] =
            json!([{ "Fn::Sub": "arn:${AWS::Partition}:s3:::demo-dev-${AWS::AccountId}-${AWS::Region}/*" }]);
        assert!(check(&config, &template)[0].problem.contains("outside the prefixes"));
        statement(&mut template, "WriterPolicy", 0)["Resource"] = json!("*");
        assert!(check(&config, &template)[0].problem.contains("reaches `*`"));
    }

    #[test]
    fn unscoped_listing_is_caught() {
        let (config, mut template) = setup();
        statement(&mut template, "WriterPolicy", 1).as_object_mut().unwrap().remove("Condition");
        assert!(check(&config, &template)[0].problem.contains("without an s3:prefix condition"));
    }

    #[test]
    fn allow_in_bucket_policy_is_caught() {
        let (config, mut template) = setup();
        statement(&mut template, "DataBucketPolicy", 0)["Effect"] = json!("Allow");
        assert!(check(&config, &template)[0].problem.contains("allows access"));
    }

    #[test]
    fn queue_policy_without_source_is_caught() {
        let (config, mut template) = setup();
        statement(&mut template, "WavQueuePolicy", 0).as_object_mut().unwrap().remove("Condition");
        assert!(check(&config, &template)[0].problem.contains("aws:SourceArn"));
    }

    const WORKLOADS: &str = "project: demo\nregion: us-west-1\naccess:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\n    managed_policies: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]\n  transcriber:\n    principal: { service: ecs-tasks.amazonaws.com }\n    allow: [read]\n    prefixes: [recordings/]\n  analysts:\n    principal: { user: analyst }\n    allow: [read, list, query]\n    prefixes: [sessions/]\nnotifications:\n  wav:\n    suffix: .wav\n    target: queue\n    consumers: [transcriber]\n  json:\n    suffix: .json\n    target: queue\n";

    fn workloads() -> (Config, Value) {
        let config = crate::config::parse(WORKLOADS, Path::new("t.yaml"), "dev", None).unwrap();
        let rendered = crate::render::render(&config).unwrap();
        (config, rendered.template_value)
    }

    /// The statement of `policy` with the Sid `sid`.
    fn by_sid<'a>(template: &'a mut Value, policy: &str, sid: &str) -> &'a mut Value {
        let pointer = format!("/Resources/{policy}/Properties/PolicyDocument/Statement");
        let statements = template.pointer_mut(&pointer).unwrap().as_array_mut().unwrap();
        statements.iter_mut().find(|s| s["Sid"] == sid).unwrap()
    }

    fn problems(config: &Config, template: &Value) -> String {
        check(config, template).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn consumers_query_and_managed_policies_pass() {
        let (config, template) = workloads();
        assert_eq!(check(&config, &template), vec![]);
    }

    /// Issue 12.1: a consumer gets the five consume actions on its own queue, nothing more.
    #[test]
    fn a_widened_consumer_statement_is_caught() {
        let (config, mut template) = workloads();
        let statement = by_sid(&mut template, "TranscriberPolicy", "ConsumeWav");
        statement["Action"].as_array_mut().unwrap().push(json!("sqs:SendMessage"));
        assert!(problems(&config, &template).contains("grants `sqs:SendMessage`"), "{}", problems(&config, &template));

        let (config, mut template) = workloads();
        by_sid(&mut template, "TranscriberPolicy", "ConsumeWav")["Action"] = json!(["sqs:PurgeQueue"]);
        assert!(problems(&config, &template).contains("grants `sqs:PurgeQueue`"));

        // Another notification's queue, or its dead-letter queue: not the entry's.
        for other in ["JsonQueue", "WavDeadLetterQueue"] {
            let (config, mut template) = workloads();
            by_sid(&mut template, "TranscriberPolicy", "ConsumeWav")["Resource"] =
                json!({ "Fn::GetAtt": [other, "Arn"] });
            assert!(problems(&config, &template).contains(&format!("reaches `${{{other}.Arn}}`")), "{other}");
        }

        // An entry that consumes nothing gets no queue action at all.
        let (config, mut template) = workloads();
        let consume = by_sid(&mut template, "TranscriberPolicy", "ConsumeWav").clone();
        let pointer = "/Resources/WriterPolicy/Properties/PolicyDocument/Statement";
        template.pointer_mut(pointer).unwrap().as_array_mut().unwrap().push(consume);
        let found = problems(&config, &template);
        assert!(found.starts_with("WriterPolicy: statement 1 grants `sqs:ReceiveMessage`"), "{found}");
    }

    /// Issue 12.4: `query` adds s3:GetBucketLocation on the bucket; no other verb does, and it reaches no object.
    #[test]
    fn bucket_location_only_for_query_and_only_on_the_bucket() {
        let (config, mut template) = workloads();
        let location = by_sid(&mut template, "AnalystsPolicy", "BucketLocation").clone();
        let pointer = "/Resources/TranscriberPolicy/Properties/PolicyDocument/Statement";
        template.pointer_mut(pointer).unwrap().as_array_mut().unwrap().push(location);
        assert!(problems(&config, &template).contains("grants `s3:GetBucketLocation`"));

        let (config, mut template) = workloads();
        let objects =
            json!({ "Fn::Sub": "arn:${AWS::Partition}:s3:::demo-dev-${AWS::AccountId}-${AWS::Region}/sessions/*" });
        by_sid(&mut template, "AnalystsPolicy", "BucketLocation")["Resource"] = objects;
        assert!(problems(&config, &template).contains("where they do not belong"));

        let (config, mut template) = workloads();
        by_sid(&mut template, "AnalystsPolicy", "BucketLocation")["Action"] =
            json!(["s3:GetBucketLocation", "s3:GetBucketPolicy"]);
        assert!(problems(&config, &template).contains("grants `s3:GetBucketPolicy`"));
    }

    /// Issue 12.3: a role's ManagedPolicyArns are exactly its entry's `managed_policies`, and never one that
    /// defeats least privilege, even if the config were to list it (the check keeps its own list).
    #[test]
    fn managed_policy_arns_are_the_entrys_and_never_too_broad() {
        let (config, mut template) = workloads();
        let arns = template.pointer_mut("/Resources/WriterRole/Properties/ManagedPolicyArns").unwrap();
        arns.as_array_mut().unwrap().push(json!("arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"));
        assert!(problems(&config, &template).contains(
            "`arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess`, which the entry's managed_policies do not list"
        ));

        let (config, mut template) = workloads();
        let role = template.pointer_mut("/Resources/TranscriberRole/Properties").unwrap();
        role["ManagedPolicyArns"] = json!(["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]);
        assert!(problems(&config, &template).starts_with("TranscriberRole: ManagedPolicyArns attaches"));

        let (mut config, mut template) = workloads();
        for broad in ["AdministratorAccess", "AmazonS3FullAccess", "IAMFullAccess", "AmazonS3ReadOnlyAccess"] {
            let arn = format!("arn:aws:iam::aws:policy/{broad}");
            template["Resources"]["WriterRole"]["Properties"]["ManagedPolicyArns"] = json!([arn]);
            let writer = config.access.iter_mut().find(|e| e.name == "writer").unwrap();
            writer.managed_policies = vec![arn.clone()];
            assert!(problems(&config, &template).contains("which defeats least privilege"), "{broad}");
        }
    }

    #[test]
    fn open_trust_and_inline_policies_are_caught() {
        let (config, mut template) = setup();
        let role = template.pointer_mut("/Resources/WriterRole/Properties").unwrap();
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = json!({ "AWS": "*" });
        role["Policies"] = json!([]);
        let found = check(&config, &template);
        assert_eq!(found.len(), 2, "{found:?}");
    }

    /// An env with the bucket's own key, a writer, a reader (a user), a consumer of an encrypted queue and a topic.
    const KMS: &str = "project: demo\nregion: us-west-1\nephemeral: true\nbucket:\n  encryption: kms\naccess:\n  \
        writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\n  \
        reader:\n    principal: { user: analyst }\n    allow: [read]\n    prefixes: [calls/]\n  \
        worker:\n    principal: { service: ecs-tasks.amazonaws.com }\n    allow: [read]\n    prefixes: [calls/]\n\
        notifications:\n  wav:\n    prefix: calls/\n    suffix: .wav\n    target: queue\n    consumers: [worker]\n  \
        alerts:\n    prefix: alerts/\n    target: topic\nsmoke:\n  trust_deployer: true\n";

    fn with_key() -> (Config, Value) {
        let config = crate::config::parse(KMS, Path::new("t.yaml"), "dev", None).unwrap();
        let rendered = crate::render::render(&config).unwrap();
        (config, rendered.template_value)
    }

    fn key_statement<'a>(template: &'a mut Value, sid: &str) -> &'a mut Value {
        let statements = template.pointer_mut("/Resources/DataBucketKey/Properties/KeyPolicy/Statement").unwrap();
        statements.as_array_mut().unwrap().iter_mut().find(|s| s["Sid"] == sid).unwrap()
    }

    fn violations(config: &Config, template: &Value) -> Vec<String> {
        check(config, template).into_iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn the_key_policy_of_the_buckets_own_key_passes() {
        let (config, template) = with_key();
        assert_eq!(violations(&config, &template), Vec::<String>::new());
        let sids: Vec<&str> = template
            .pointer("/Resources/DataBucketKey/Properties/KeyPolicy/Statement")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(
            sids,
            ["KeyAdministration", "WriteThroughS3", "ReadThroughS3", "ReceiveThroughSqs", "S3SendsNotifications"]
        );
    }

    /// Every way of widening the key policy fails the check: use for the administrators, a grant, a wildcard, use
    /// outside S3 or for another bucket, a data key for a reader, anyone as principal, S3 for any bucket.
    #[test]
    fn a_widened_key_policy_is_caught() {
        type Widen = Box<dyn Fn(&mut Value)>;
        let widenings: Vec<(&str, Widen)> = vec![
            (
                "administration with use",
                Box::new(|t| {
                    key_statement(t, "KeyAdministration")["Action"].as_array_mut().unwrap().push(json!("kms:Decrypt"))
                }),
            ),
            (
                "a grant",
                Box::new(|t| {
                    key_statement(t, "KeyAdministration")["Action"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!("kms:CreateGrant"))
                }),
            ),
            ("a wildcard", Box::new(|t| key_statement(t, "KeyAdministration")["Action"] = json!("kms:*"))),
            (
                "use outside S3",
                Box::new(|t| {
                    key_statement(t, "WriteThroughS3")["Condition"]["StringEquals"]
                        .as_object_mut()
                        .unwrap()
                        .remove("kms:ViaService");
                }),
            ),
            (
                "another bucket",
                Box::new(|t| {
                    key_statement(t, "ReadThroughS3")["Condition"]["StringEquals"]["kms:EncryptionContext:aws:s3:arn"] =
                        json!("arn:aws:s3:::other")
                }),
            ),
            (
                "a data key for a reader",
                Box::new(|t| {
                    key_statement(t, "ReadThroughS3")["Action"] = json!(["kms:GenerateDataKey", "kms:Decrypt"])
                }),
            ),
            (
                "a principal outside the entries",
                Box::new(|t| {
                    key_statement(t, "WriteThroughS3")["Condition"]["ArnLike"]["aws:PrincipalArn"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!("arn:aws:iam::123456789012:role/other"))
                }),
            ),
            ("anyone", Box::new(|t| key_statement(t, "WriteThroughS3")["Principal"] = json!({ "AWS": "*" }))),
            (
                "S3 for any bucket",
                Box::new(|t| {
                    key_statement(t, "S3SendsNotifications")["Condition"].as_object_mut().unwrap().remove("ArnLike");
                }),
            ),
            (
                "administration for someone else",
                Box::new(|t| {
                    key_statement(t, "KeyAdministration")["Principal"] =
                        json!({ "AWS": "arn:aws:iam::123456789012:role/other" })
                }),
            ),
        ];
        for (what, widen) in widenings {
            let (config, mut template) = with_key();
            widen(&mut template);
            let found = violations(&config, &template);
            assert!(found.iter().any(|p| p.starts_with("DataBucketKey: ")), "{what}: {found:?}");
        }
    }

    /// An entry's key statement without kms:ViaService (use outside S3) or without the bucket's encryption context
    /// fails the check; so does a consumer's decrypt through anything but SQS.
    #[test]
    fn key_use_in_identity_policies_is_held_to_s3_and_this_bucket() {
        let (config, mut template) = with_key();
        let writer = template.pointer_mut("/Resources/WriterPolicy/Properties/PolicyDocument/Statement").unwrap();
        let key = writer.as_array_mut().unwrap().iter_mut().find(|s| s["Sid"] == "BucketKey").unwrap();
        key.as_object_mut().unwrap().remove("Condition");
        assert!(violations(&config, &template).iter().any(|p| p.contains("uses the key outside S3")));

        let (config, mut template) = with_key();
        let writer = template.pointer_mut("/Resources/WriterPolicy/Properties/PolicyDocument/Statement").unwrap();
        let key = writer.as_array_mut().unwrap().iter_mut().find(|s| s["Sid"] == "BucketKey").unwrap();
        key["Condition"]["StringEquals"].as_object_mut().unwrap().remove("kms:EncryptionContext:aws:s3:arn");
        assert!(violations(&config, &template).iter().any(|p| p.contains("encryption context")));

        let (config, mut template) = with_key();
        let worker = template.pointer_mut("/Resources/WorkerPolicy/Properties/PolicyDocument/Statement").unwrap();
        let decrypt =
            worker.as_array_mut().unwrap().iter_mut().find(|s| s["Sid"] == "DecryptConsumedMessages").unwrap();
        decrypt["Condition"]["StringEquals"]["kms:ViaService"] = json!("sns.us-west-1.amazonaws.com");
        assert!(violations(&config, &template).iter().any(|p| p.contains("uses the key outside S3")));
    }

    /// A service's trust statement loses its confused-deputy conditions, or the deployer statement trusts the whole
    /// account: both fail the check.
    #[test]
    fn trust_is_held_to_the_account_and_to_the_deploying_principal() {
        let (config, mut template) = with_key();
        let trust = "/Resources/WriterRole/Properties/AssumeRolePolicyDocument/Statement";
        template.pointer_mut(trust).unwrap()[0].as_object_mut().unwrap().remove("Condition");
        assert!(violations(&config, &template).iter().any(|p| p.contains("it needs aws:SourceAccount")));

        let (config, mut template) = with_key();
        let trust = "/Resources/WorkerRole/Properties/AssumeRolePolicyDocument/Statement";
        template.pointer_mut(trust).unwrap()[0]["Condition"].as_object_mut().unwrap().remove("ArnLike");
        assert!(violations(&config, &template).iter().any(|p| p.contains("needs aws:SourceArn")));

        let (config, mut template) = with_key();
        let trust = "/Resources/WriterRole/Properties/AssumeRolePolicyDocument/Statement";
        template.pointer_mut(trust).unwrap()[1]["Principal"] =
            json!({ "AWS": { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" } });
        assert!(violations(&config, &template).iter().any(|p| p.contains("only the deploying principal")));

        let (config, mut template) = setup();
        let trust = "/Resources/WriterRole/Properties/AssumeRolePolicyDocument/Statement";
        template.pointer_mut(trust).unwrap().as_array_mut().unwrap().push(
            json!({ "Effect": "Allow", "Principal": { "AWS": { "Ref": "DeployerArn" } }, "Action": "sts:AssumeRole" }),
        );
        assert!(violations(&config, &template).iter().any(|p| p.contains("without smoke.trust_deployer")));
    }
}
