//! A principal's identity policies, read from IAM and evaluated here for one request: a listing of the bucket under
//! a prefix, over TLS. Used only where the policy simulator is known not to evaluate conditions (localemu's
//! `SimulatePrincipalPolicy` ignores `Condition` blocks and context entries, so it allows a prefix-scoped listing
//! under any prefix): there, a simulated "allow" that the entry's verbs do not grant is accepted only when the
//! principal's own policies, evaluated with the request's context, do not allow it.
//!
//! The evaluation follows IAM's for identity policies: a matching Deny wins, then a matching Allow, otherwise the
//! request is implicitly denied. A statement matches when its `Action`/`NotAction`, `Resource`/`NotResource` and
//! every condition match. The request context holds `s3:prefix` and `aws:SecureTransport` (as the simulator is
//! given); a condition on any other key sees it missing, as IAM would. A condition operator this module does not
//! know makes the answer unknown (an error), never a guess.

use serde_json::Value;

use crate::aws::aws_error;

/// The request being evaluated: `s3:ListBucket` on `bucket_arn`, listing under `prefix`, over TLS.
#[derive(Debug, Clone, Copy)]
pub(super) struct Listing<'a> {
    pub bucket_arn: &'a str,
    pub prefix: &'a str,
}

impl Listing<'_> {
    const ACTION: &'static str = "s3:ListBucket";

    /// The value of a context key, if the request has it (key names are case-insensitive).
    fn context(&self, key: &str) -> Option<&str> {
        match key.to_ascii_lowercase().as_str() {
            "s3:prefix" => Some(self.prefix),
            "aws:securetransport" => Some("true"),
            _ => None,
        }
    }
}

/// Whether `documents` (identity policies, parsed) allow `request`. Err when a statement that could apply has a
/// condition that cannot be evaluated here.
pub(super) fn allows(documents: &[Value], request: Listing<'_>) -> Result<bool, String> {
    let mut allowed = false;
    for statement in documents.iter().flat_map(statements) {
        if !applies(statement, request)? {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Ok(false),
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    Ok(allowed)
}

/// The statements of a policy document (`Statement` is one object or a list of them).
fn statements(document: &Value) -> Vec<&Value> {
    match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// A string or a list of strings, as policy elements are written.
fn strings(value: Option<&Value>) -> Option<Vec<&str>> {
    match value? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(list) => Some(list.iter().filter_map(Value::as_str).collect()),
        _ => Some(Vec::new()),
    }
}

fn applies(statement: &Value, request: Listing<'_>) -> Result<bool, String> {
    let action = match (strings(statement.get("Action")), strings(statement.get("NotAction"))) {
        (Some(patterns), _) => {
            patterns.iter().any(|p| glob(&p.to_ascii_lowercase(), &Listing::ACTION.to_ascii_lowercase()))
        }
        (None, Some(patterns)) => {
            !patterns.iter().any(|p| glob(&p.to_ascii_lowercase(), &Listing::ACTION.to_ascii_lowercase()))
        }
        (None, None) => false,
    };
    let resource = match (strings(statement.get("Resource")), strings(statement.get("NotResource"))) {
        (Some(patterns), _) => patterns.iter().any(|p| glob(p, request.bucket_arn)),
        (None, Some(patterns)) => !patterns.iter().any(|p| glob(p, request.bucket_arn)),
        (None, None) => false,
    };
    if !action || !resource {
        return Ok(false);
    }
    match statement.get("Condition") {
        None => Ok(true),
        Some(Value::Object(blocks)) => {
            for (operator, keys) in blocks {
                let Value::Object(keys) = keys else { return Err(format!("condition {operator} is not a map")) };
                for (key, values) in keys {
                    let values = strings(Some(values)).unwrap_or_default();
                    if !condition(operator, request.context(key), &values)
                        .map_err(|e| format!("{e} (condition {operator} on {key})"))?
                    {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
        Some(_) => Err("a Condition that is not a map".to_string()),
    }
}

/// One condition: `operator` on a context value (None: the key is missing from the request) against `values`.
fn condition(operator: &str, value: Option<&str>, values: &[&str]) -> Result<bool, String> {
    // `...IfExists`: true when the key is missing, otherwise the operator itself.
    if let Some(base) = operator.strip_suffix("IfExists") {
        return if value.is_none() { Ok(true) } else { condition(base, value, values) };
    }
    if operator == "Null" {
        // Null: true means "the key is missing".
        let missing = value.is_none();
        return Ok(values.iter().any(|v| v.eq_ignore_ascii_case(if missing { "true" } else { "false" })));
    }
    let (negated, positive) = match operator {
        "StringNotEquals" => (true, "StringEquals"),
        "StringNotEqualsIgnoreCase" => (true, "StringEqualsIgnoreCase"),
        "StringNotLike" => (true, "StringLike"),
        other => (false, other),
    };
    let Some(value) = value else {
        // A missing key matches no positive operator, and every negated one.
        return match positive {
            "StringEquals" | "StringEqualsIgnoreCase" | "StringLike" | "Bool" => Ok(negated),
            other => Err(format!("the operator {other} cannot be evaluated here")),
        };
    };
    let matched = match positive {
        "StringEquals" => values.contains(&value),
        "StringEqualsIgnoreCase" => values.iter().any(|v| v.eq_ignore_ascii_case(value)),
        "StringLike" => values.iter().any(|pattern| glob(pattern, value)),
        "Bool" => values.iter().any(|v| v.eq_ignore_ascii_case(value)),
        other => return Err(format!("the operator {other} cannot be evaluated here")),
    };
    Ok(matched != negated)
}

/// IAM's wildcard match: `*` is any run of characters (also none), `?` any one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The identity policies of a role or user as IAM holds them: the default version of each attached managed policy
/// and each inline policy; for a user, also those of its groups (as `SimulatePrincipalPolicy` includes them).
pub(super) async fn identity_policies(iam: &aws_sdk_iam::Client, principal_arn: &str) -> Result<Vec<Value>, String> {
    let name = principal_arn.rsplit('/').next().unwrap_or_default();
    let resource = principal_arn.split(':').nth(5).unwrap_or_default();
    let mut documents = Vec::new();
    if resource.starts_with("role/") {
        documents.extend(role_policies(iam, name).await?);
    } else if resource.starts_with("user/") {
        documents.extend(user_policies(iam, name).await?);
    } else {
        return Err(format!("{principal_arn} is neither a role nor a user"));
    }
    Ok(documents)
}

fn parse(text: Option<&str>, what: &str) -> Result<Value, String> {
    text.and_then(crate::live::policy::parse_document)
        .ok_or_else(|| format!("the policy document of {what} cannot be read"))
}

async fn managed(iam: &aws_sdk_iam::Client, arns: Vec<String>) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    for arn in arns {
        let policy =
            iam.get_policy().policy_arn(&arn).send().await.map_err(|e| aws_error(e, "GetPolicy").to_string())?;
        let version =
            policy.policy.and_then(|p| p.default_version_id).ok_or_else(|| format!("{arn} has no default version"))?;
        let out = iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| aws_error(e, "GetPolicyVersion").to_string())?;
        documents.push(parse(out.policy_version.as_ref().and_then(|v| v.document.as_deref()), &arn)?);
    }
    Ok(documents)
}

async fn role_policies(iam: &aws_sdk_iam::Client, role: &str) -> Result<Vec<Value>, String> {
    let attached = iam.list_attached_role_policies().role_name(role).into_paginator().items().send();
    let attached = attached
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error(e, "ListAttachedRolePolicies").to_string())?;
    let mut documents = managed(iam, attached.into_iter().filter_map(|p| p.policy_arn).collect()).await?;
    let inline = iam.list_role_policies().role_name(role).into_paginator().items().send();
    let inline =
        inline.collect::<Result<Vec<String>, _>>().await.map_err(|e| aws_error(e, "ListRolePolicies").to_string())?;
    for policy in inline {
        let out = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(&policy)
            .send()
            .await
            .map_err(|e| aws_error(e, "GetRolePolicy").to_string())?;
        documents.push(parse(Some(&out.policy_document), &format!("inline policy {policy} of role {role}"))?);
    }
    Ok(documents)
}

async fn user_policies(iam: &aws_sdk_iam::Client, user: &str) -> Result<Vec<Value>, String> {
    let attached = iam.list_attached_user_policies().user_name(user).into_paginator().items().send();
    let attached = attached
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error(e, "ListAttachedUserPolicies").to_string())?;
    let mut documents = managed(iam, attached.into_iter().filter_map(|p| p.policy_arn).collect()).await?;
    let inline = iam.list_user_policies().user_name(user).into_paginator().items().send();
    let inline =
        inline.collect::<Result<Vec<String>, _>>().await.map_err(|e| aws_error(e, "ListUserPolicies").to_string())?;
    for policy in inline {
        let out = iam
            .get_user_policy()
            .user_name(user)
            .policy_name(&policy)
            .send()
            .await
            .map_err(|e| aws_error(e, "GetUserPolicy").to_string())?;
        documents.push(parse(Some(&out.policy_document), &format!("inline policy {policy} of user {user}"))?);
    }
    let groups = iam.list_groups_for_user().user_name(user).into_paginator().items().send();
    let groups =
        groups.collect::<Result<Vec<_>, _>>().await.map_err(|e| aws_error(e, "ListGroupsForUser").to_string())?;
    for group in groups.iter().map(|g| g.group_name.as_str()) {
        let attached = iam.list_attached_group_policies().group_name(group).into_paginator().items().send();
        let attached = attached
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error(e, "ListAttachedGroupPolicies").to_string())?;
        documents.extend(managed(iam, attached.into_iter().filter_map(|p| p.policy_arn).collect()).await?);
        let inline = iam.list_group_policies().group_name(group).into_paginator().items().send();
        let inline = inline
            .collect::<Result<Vec<String>, _>>()
            .await
            .map_err(|e| aws_error(e, "ListGroupPolicies").to_string())?;
        for policy in inline {
            let out = iam
                .get_group_policy()
                .group_name(group)
                .policy_name(&policy)
                .send()
                .await
                .map_err(|e| aws_error(e, "GetGroupPolicy").to_string())?;
            documents.push(parse(Some(&out.policy_document), &format!("inline policy {policy} of group {group}"))?);
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const BUCKET: &str = "arn:aws:s3:::b";

    fn listing(prefix: &str) -> Listing<'_> {
        Listing { bucket_arn: BUCKET, prefix }
    }

    /// The statement the tool renders for `list` on `sessions/`.
    fn ours() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/sessions/*"]},
            {"Sid": "ListPrefixes", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
             "Condition": {"StringLike": {"s3:prefix": ["sessions/*"]}}}
        ]})
    }

    #[test]
    fn a_prefix_condition_allows_listing_under_its_prefix_only() {
        assert_eq!(allows(&[ours()], listing("sessions/_probe/R1/analysts/")), Ok(true));
        assert_eq!(allows(&[ours()], listing("sessions/")), Ok(true));
        assert_eq!(allows(&[ours()], listing("_probe/R1/access/analysts/")), Ok(false));
        assert_eq!(allows(&[ours()], listing("")), Ok(false));
        assert_eq!(allows(&[], listing("sessions/")), Ok(false));
    }

    #[test]
    fn another_policy_that_lists_everything_is_found() {
        let read_only = json!({"Statement": {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}});
        assert_eq!(allows(&[ours(), read_only.clone()], listing("_probe/R1/access/analysts/")), Ok(true));
        let not_action = json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]});
        assert_eq!(allows(&[not_action], listing("x/")), Ok(true));
        // A Deny wins over every Allow.
        let deny = json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::other"}]});
        assert_eq!(allows(&[read_only, deny], listing("x/")), Ok(false));
        // Another bucket, another action: no match.
        let other = json!({"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bb"},
                                         {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]});
        assert_eq!(allows(&[other], listing("x/")), Ok(false));
    }

    #[test]
    fn conditions_see_the_request_context_and_missing_keys_as_iam_does() {
        let with = |condition: Value| json!({"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET, "Condition": condition}]});
        let over_tls =
            with(json!({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"s3:prefix": ["a/", "b/"]}}));
        assert_eq!(allows(std::slice::from_ref(&over_tls), listing("b/")), Ok(true));
        assert_eq!(allows(&[over_tls], listing("b/c/")), Ok(false));
        assert_eq!(allows(&[with(json!({"StringNotLike": {"s3:prefix": "private/*"}}))], listing("x/")), Ok(true));
        assert_eq!(
            allows(&[with(json!({"StringNotLike": {"s3:prefix": "private/*"}}))], listing("private/x")),
            Ok(false)
        );
        // Keys the request does not carry are missing: positive operators fail, negated ones and IfExists hold.
        assert_eq!(
            allows(&[with(json!({"StringEquals": {"aws:PrincipalTag/team": "voice"}}))], listing("x/")),
            Ok(false)
        );
        assert_eq!(
            allows(&[with(json!({"StringNotEquals": {"aws:PrincipalTag/team": "x"}}))], listing("x/")),
            Ok(true)
        );
        assert_eq!(allows(&[with(json!({"StringLikeIfExists": {"s3:delimiter": "/"}}))], listing("x/")), Ok(true));
        assert_eq!(allows(&[with(json!({"Null": {"s3:prefix": "false"}}))], listing("x/")), Ok(true));
        // An operator it does not know is an error, not a guess.
        let ip = with(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}));
        assert!(allows(&[ip], listing("x/")).unwrap_err().contains("IpAddress"));
    }

    #[test]
    fn wildcards_match_as_in_iam() {
        assert!(glob("sessions/*", "sessions/"));
        assert!(glob("sessions/*", "sessions/a/b"));
        assert!(!glob("sessions/*", "session"));
        assert!(glob("s3:list*", "s3:listbucket"));
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*", ""));
        assert!(glob("*/x/*", "a/b/x/c"));
    }
}
