//! `access`: one entry per writer or reader, each a principal, the verbs it is allowed and the prefixes it may use.

use std::collections::{BTreeMap, BTreeSet};

use super::super::raw::{RawAccess, RawPrincipal};
use super::checker::{Checker, RegionAccount};
use super::managed_policies::check_managed_policies;
use super::prefixes::check_prefix;
use super::types::{Access, Principal, Verb};
use crate::names;

pub(super) fn check_access(c: &mut Checker, raw: BTreeMap<String, RawAccess>, home: RegionAccount) -> Vec<Access> {
    let mut out = Vec::new();
    for (name, entry) in raw {
        let path = format!("access.{name}");
        // The entry is judged when what it must have was read. An unknown key in it leaves `managed_policies`
        // unread when absent (it may be that key, misspelt): only its own rule then says nothing.
        let required = ["principal", "allow", "prefixes"].map(|key| format!("{path}.{key}"));
        if !c.read(&required.each_ref().map(String::as_str)) {
            continue;
        }
        if !names::is_entry_name(&name) {
            c.error(
                &path,
                format!("`{name}` is not a valid access entry name"),
                "use 1-32 lowercase letters, digits and hyphens, starting with a letter (it names the role and policy)",
            );
        }
        let principal = check_principal(c, &path, entry.principal, home);
        let verbs = check_verbs(c, &path, &entry.allow);
        check_entry_prefixes(c, &path, &entry.prefixes);
        let managed_policies = c.judge(&[&format!("{path}.managed_policies")], |c| {
            check_managed_policies(c, &path, &principal, entry.managed_policies, home)
        });
        out.push(Access { name, principal, verbs, prefixes: entry.prefixes, managed_policies });
    }
    out
}

/// The principal of the entry at `path`.
fn check_principal(c: &mut Checker, path: &str, raw: RawPrincipal, home: RegionAccount) -> Principal {
    match raw {
        RawPrincipal::Service(service) => {
            if !is_service_principal(&service) {
                c.error(
                    &format!("{path}.principal.service"),
                    format!("`{service}` is not an AWS service principal"),
                    "write the service's principal, e.g. lambda.amazonaws.com or ecs-tasks.amazonaws.com",
                );
            }
            Principal::Service { service }
        }
        RawPrincipal::RoleArn(arn) => match names::role_name_from_arn(&arn) {
            Some(role) => {
                // The policy is attached by role *name*: a role of another account would be mistaken for the
                // role of that name in this one.
                let why = "the managed policy is attached to a role of the account the stack is in";
                home.check_arn(c, &format!("{path}.principal.role_arn"), &arn, None, Some(why));
                Principal::Role { name: role.to_string(), arn }
            }
            None => {
                c.error(
                    &format!("{path}.principal.role_arn"),
                    format!("`{arn}` is not an IAM role ARN"),
                    "use arn:aws:iam::<12-digit account>:role/<name>",
                );
                Principal::Role { name: String::new(), arn }
            }
        },
        RawPrincipal::User(user) => {
            if !names::is_iam_name(&user, 64) {
                c.error(
                    &format!("{path}.principal.user"),
                    format!("`{user}` is not a valid IAM user name"),
                    "use 1-64 letters, digits and + = , . @ _ -",
                );
            }
            Principal::User { name: user }
        }
    }
}

/// A service principal: `<service>.amazonaws.com`, where the service is one or more dot-separated labels of
/// lowercase letters, digits and hyphens (`lambda`, `ecs-tasks`, `logging.s3`), each starting and ending with a
/// letter or digit.
fn is_service_principal(s: &str) -> bool {
    s.len() <= 128
        && names::is_service_principal(s)
        && s.strip_suffix(".amazonaws.com").is_some_and(|service| {
            service.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
        })
}

/// The verbs (`allow`) of the entry at `path`: each known, none twice.
fn check_verbs(c: &mut Checker, path: &str, allow: &[String]) -> BTreeSet<Verb> {
    let mut verbs = BTreeSet::new();
    if allow.is_empty() {
        c.error(
            &format!("{path}.allow"),
            "no verbs are allowed",
            "list at least one of write, read, list, delete, query",
        );
    }
    for (i, verb) in allow.iter().enumerate() {
        match Verb::ALL.iter().find(|v| v.name() == verb) {
            Some(v) => {
                if !verbs.insert(*v) {
                    c.error(&format!("{path}.allow[{i}]"), format!("`{verb}` is listed twice"), "remove the repeat");
                }
            }
            None => c.error(
                &format!("{path}.allow[{i}]"),
                format!("unknown verb `{verb}`"),
                names::suggest(verb, Verb::ALL.iter().map(|v| v.name()))
                    .map(|s| format!("did you mean `{s}`? verbs are write, read, list, delete, query"))
                    .unwrap_or_else(|| "verbs are write, read, list, delete, query".to_string()),
            ),
        }
    }
    if verbs.contains(&Verb::Query) && !(verbs.contains(&Verb::Read) && verbs.contains(&Verb::List)) {
        let at = allow.iter().position(|v| v == Verb::Query.name()).unwrap_or_default();
        c.error(
            &format!("{path}.allow[{at}]"),
            "`query` is for Athena, which also reads and lists the data it queries",
            "allow `[read, list, query]`: query adds only s3:GetBucketLocation on the bucket",
        );
    }
    verbs
}

/// The prefixes of the entry at `path`: access is always scoped, never to the whole bucket.
fn check_entry_prefixes(c: &mut Checker, path: &str, prefixes: &[String]) {
    if prefixes.is_empty() {
        c.error(
            &format!("{path}.prefixes"),
            "no prefixes are given",
            "access is always scoped: list the key prefixes this entry may use, e.g. [\"calls/\"]",
        );
    }
    for (i, prefix) in prefixes.iter().enumerate() {
        let p = format!("{path}.prefixes[{i}]");
        check_prefix(c, &p, prefix, false);
        if prefix.is_empty() {
            c.error(&p, "an empty prefix grants the whole bucket", "name the prefix the entry needs, e.g. calls/");
        }
    }
}
