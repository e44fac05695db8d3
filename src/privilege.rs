//! The least-privilege check over a rendered template.
//!
//! It reads the template as CloudFormation will (not the config), so an edit to `templates/` or `policies/`
//! that widens access fails `provision validate` instead of slipping through review.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::config::{Config, Encryption, Verb};
use crate::ids::pascal;

/// What each verb may grant on objects under the entry's prefixes. Kept here, apart from the renderer's table
/// (`Verb::s3_actions`) on purpose: a check that read the renderer's table would agree with every widening of it.
fn allowed_object_actions(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::Write => &["s3:PutObject", "s3:AbortMultipartUpload"],
        Verb::Read => &["s3:GetObject", "s3:GetObjectVersion"],
        Verb::Delete => &["s3:DeleteObject"],
        Verb::List => &[],
    }
}

/// What each verb may grant on the bucket's KMS key (SSE-KMS only).
fn allowed_kms_actions(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::Write => &["kms:GenerateDataKey", "kms:Decrypt"],
        Verb::Read => &["kms:Decrypt"],
        Verb::List | Verb::Delete => &[],
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
                if props.is_some_and(|p| p.get("Policies").is_some() || p.get("ManagedPolicyArns").is_some()) {
                    flag("roles get permissions only from the entry's managed policy, not inline Policies or ManagedPolicyArns".into());
                }
                for (i, s) in statements(props.and_then(|p| p.get("AssumeRolePolicyDocument"))).iter().enumerate() {
                    if wildcard_principal(s) {
                        flag(format!("trust statement {i} lets any principal assume the role"));
                    }
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
    let may_list = entry.verbs.contains(&Verb::List);
    let kms_actions: Vec<&str> = match config.bucket.encryption {
        Encryption::SseKms { .. } => entry.verbs.iter().flat_map(|v| allowed_kms_actions(*v)).copied().collect(),
        Encryption::SseS3 => Vec::new(),
    };
    let object_arns: BTreeSet<String> = entry.prefixes.iter().map(|p| format!("{bucket}/{p}*")).collect();
    let list_values: BTreeSet<String> = entry.prefixes.iter().map(|p| format!("{p}*")).collect();
    let kms_key = match &config.bucket.encryption {
        Encryption::SseKms { key_arn } => Some(key_arn.as_str()),
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
        let resources: Vec<&str> = list(s.get("Resource")).into_iter().filter_map(string_or_sub).collect();
        for action in &actions {
            if action.contains('*') {
                problems.push(format!("statement {i} has the wildcard action `{action}`"));
            } else if action.to_ascii_lowercase().contains("acl") {
                problems.push(format!("statement {i} grants the ACL action `{action}`"));
            } else if !(object_actions.contains(action)
                || (may_list && *action == "s3:ListBucket")
                || kms_actions.contains(action))
            {
                let verbs: Vec<&str> = entry.verbs.iter().map(|v| v.name()).collect();
                problems
                    .push(format!("statement {i} grants `{action}`, which verbs [{}] do not need", verbs.join(", ")));
            }
        }
        for resource in &resources {
            let is_object = object_arns.contains(*resource);
            let is_bucket = *resource == bucket;
            let is_key = kms_key == Some(*resource);
            if !(is_object || is_bucket || is_key) {
                problems.push(format!("statement {i} reaches `{resource}`, outside the prefixes {:?}", entry.prefixes));
                continue;
            }
            let wrong_actions = actions.iter().any(|a| {
                (is_object && !object_actions.contains(a))
                    || (is_bucket && *a != "s3:ListBucket")
                    || (is_key && !kms_actions.contains(a))
            });
            if wrong_actions {
                problems.push(format!("statement {i} applies {actions:?} to `{resource}`, where they do not belong"));
            }
            if is_bucket {
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

    #[test]
    fn open_trust_and_inline_policies_are_caught() {
        let (config, mut template) = setup();
        let role = template.pointer_mut("/Resources/WriterRole/Properties").unwrap();
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = json!({ "AWS": "*" });
        role["Policies"] = json!([]);
        let found = check(&config, &template);
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
