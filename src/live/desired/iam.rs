//! A role's and a managed policy's expected settings.

use serde_json::{Value, json};

use super::{Template, at, expected_of, str_or_empty};
use crate::live::policy::normalize;
use crate::live::{Expected, Resource};

/// A role's trust policy, the managed policies attached to it (those of the template that name it, and those its
/// `ManagedPolicyArns` lists), and no inline policy.
pub(super) fn role(template: &Template, id: &str, props: &Value) -> Vec<Expected> {
    let name = template.names.refs.get(id).cloned().unwrap_or_default();
    let attached = managed_policies_of(template, &name, at(props, "/ManagedPolicyArns"));
    expected_of(
        Resource::Role(name),
        vec![
            ("trust", normalize(at(props, "/AssumeRolePolicyDocument"))),
            ("attached_policies", attached),
            ("inline_policies", json!([])),
        ],
    )
}

/// The ARNs of the template's managed policies that list `role` among their roles, and of `listed` (the role's
/// own `ManagedPolicyArns`), sorted.
fn managed_policies_of(template: &Template, role: &str, listed: &Value) -> Value {
    let listed = listed.as_array().into_iter().flatten().map(str_or_empty);
    let mut attached: Vec<String> = template
        .resolved
        .iter()
        .filter(|(_, r)| at(r, "/Type") == "AWS::IAM::ManagedPolicy")
        .filter(|(_, r)| {
            at(r, "/Properties/Roles").as_array().is_some_and(|roles| roles.iter().any(|v| v == &json!(role)))
        })
        .filter_map(|(pid, _)| template.names.arns.get(*pid).cloned())
        .chain(listed)
        .collect();
    attached.sort();
    attached.dedup();
    json!(attached)
}

/// A managed policy's document and the roles and users it is attached to.
pub(super) fn managed_policy(template: &Template, id: &str, props: &Value) -> Vec<Expected> {
    let sorted = |v: &Value| {
        let mut items: Vec<String> = v.as_array().into_iter().flatten().map(str_or_empty).collect();
        items.sort();
        json!(items)
    };
    expected_of(
        Resource::Policy(template.names.arns.get(id).cloned().unwrap_or_default()),
        vec![
            ("document", normalize(at(props, "/PolicyDocument"))),
            ("attached_roles", sorted(at(props, "/Roles"))),
            ("attached_users", sorted(at(props, "/Users"))),
        ],
    )
}
