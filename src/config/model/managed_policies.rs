//! `managed_policies` of an access entry: more managed policies on the role the tool creates for a service principal
//! (CloudWatch Logs for a Lambda function, X-Ray, ...). Each is an IAM policy ARN of the env's partition, AWS's own
//! or one of the env's account, and none may defeat the entry's least privilege on the bucket.

use super::checker::{Checker, RegionAccount};
use super::types::Principal;
use crate::names;

/// IAM: at most 20 managed policies on a role (10 unless the quota is raised); the entry's own policy is one.
pub(super) const MAX_MANAGED_POLICIES: usize = 19;

/// A managed policy ARN split: `arn:<partition>:iam::<account or aws>:policy/<path/><name>`.
pub(super) struct PolicyArn<'a> {
    pub(super) partition: &'a str,
    /// `aws` for an AWS managed policy, else 12 digits.
    pub(super) account: &'a str,
    pub(super) name: &'a str,
}

/// Splits a managed policy ARN; None when it is not one.
pub(super) fn split_policy_arn(arn: &str) -> Option<PolicyArn<'_>> {
    let mut it = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) =
        (it.next(), it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    let partition_ok = partition == "aws" || partition.starts_with("aws-");
    let partition_ok = partition_ok && partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    let account_ok = account == "aws" || names::is_account_id(account);
    let after = resource.strip_prefix("policy").filter(|after| after.starts_with('/'))?;
    let cut = after.rfind('/')?;
    let (path, name) = (&after[..=cut], &after[cut + 1..]);
    (partition_ok && account_ok && names::is_iam_path(path) && names::is_iam_name(name, 128)).then_some(PolicyArn {
        partition,
        account,
        name,
    })
}

/// Why an AWS managed policy (by name) defeats least privilege on the bucket; None when it does not. Customer
/// managed policies cannot be read offline: they are the account's to keep narrow.
pub(super) fn too_broad(name: &str) -> Option<&'static str> {
    let full = name.ends_with("FullAccess");
    let read_only = name.ends_with("ReadOnlyAccess");
    if name == "AdministratorAccess" || name.starts_with("AdministratorAccess-") || name == "PowerUserAccess" {
        Some("it grants nearly every action on every resource, this bucket's objects included")
    } else if name == "ReadOnlyAccess" || name == "ViewOnlyAccess" {
        Some("it reads or lists every bucket of the account, this one included")
    } else if (full || read_only) && name.contains("S3") {
        Some("it reaches every object of every bucket, beyond the entry's prefixes")
    } else if full && (name.starts_with("IAM") || name.contains("KMS") || name.contains("KeyManagement")) {
        Some("full IAM or KMS access lets the role grant itself anything or read any key")
    } else {
        None
    }
}

/// The managed policies of the entry at `path` (with its `principal`).
pub(super) fn check_managed_policies(
    c: &mut Checker,
    path: &str,
    principal: &Principal,
    raw: Option<Vec<String>>,
    home: RegionAccount,
) -> Vec<String> {
    let Some(arns) = raw else { return Vec::new() };
    let key = format!("{path}.managed_policies");
    if !matches!(principal, Principal::Service { .. }) {
        c.error(
            &key,
            "managed policies are attached only to a role the tool creates (`principal: { service: ... }`)",
            "an existing role or user is managed elsewhere: attach its other policies there, and remove the key",
        );
        return Vec::new();
    }
    if arns.len() > MAX_MANAGED_POLICIES {
        c.error(
            &key,
            format!("{} managed policies are listed, over the {MAX_MANAGED_POLICIES} a role can take", arns.len()),
            "IAM attaches at most 20 managed policies to a role (10 unless the quota is raised), the entry's own \
             policy included: merge some into a customer managed policy",
        );
    }
    let own_partition = home.region.map(|region| names::partition(region).0);
    for (i, arn) in arns.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let Some(policy) = split_policy_arn(arn) else {
            c.error(
                &at,
                format!("`{arn}` is not an IAM managed policy ARN"),
                "use arn:aws:iam::aws:policy/<name> (AWS managed, e.g. arn:aws:iam::aws:policy/service-role/\
                 AWSLambdaBasicExecutionRole) or arn:aws:iam::<account>:policy/<name>",
            );
            continue;
        };
        if arns[..i].contains(arn) {
            c.error(&at, format!("`{arn}` is listed twice"), "remove the repeat");
        } else if let Some(own) = own_partition.filter(|own| *own != policy.partition) {
            c.error(
                &at,
                format!("the ARN is in partition `{}`, but the env's region is in `{own}`", policy.partition),
                format!("IAM attaches policies of the role's own partition only: use arn:{own}:iam::..."),
            );
        } else if let Some(why) = (policy.account == "aws").then(|| too_broad(policy.name)).flatten() {
            c.error(
                &at,
                format!("`{}` defeats least privilege: {why}", policy.name),
                "grant the bucket through the entry's verbs and prefixes, and attach only what the service itself \
                 needs (e.g. AWSLambdaBasicExecutionRole for CloudWatch Logs)",
            );
        } else if let Some(own) = home.account.filter(|own| policy.account != "aws" && policy.account != *own) {
            c.error(
                &at,
                format!("the policy is in account `{}`, but the env deploys to account `{own}`", policy.account),
                format!("a role takes AWS managed policies and those of its own account: use one from account {own}"),
            );
        }
    }
    arns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_arns_are_split() {
        let p = split_policy_arn("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole").unwrap();
        assert_eq!((p.partition, p.account, p.name), ("aws", "aws", "AWSLambdaBasicExecutionRole"));
        let p = split_policy_arn("arn:aws-cn:iam::123456789012:policy/team/logs").unwrap();
        assert_eq!((p.partition, p.account, p.name), ("aws-cn", "123456789012", "logs"));
        for bad in [
            "AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:role/x",
            "arn:aws:iam:us-east-1:aws:policy/x",
            "arn:aws:iam::12345:policy/x",
            "arn:aws:iam::aws:policy/",
            "arn:aws:s3:::aws:policy/x",
            "arn:AWS:iam::aws:policy/x",
            "arn:aws:iam::aws:policy/a b",
        ] {
            assert!(split_policy_arn(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn policies_that_defeat_least_privilege_are_named() {
        for broad in [
            "AdministratorAccess",
            "AdministratorAccess-Amplify",
            "PowerUserAccess",
            "ReadOnlyAccess",
            "AmazonS3FullAccess",
            "AmazonS3ReadOnlyAccess",
            "AmazonS3OutpostsFullAccess",
            "IAMFullAccess",
            "AWSKeyManagementServiceFullAccess",
        ] {
            assert!(too_broad(broad).is_some(), "{broad}");
        }
        for narrow in ["AWSLambdaBasicExecutionRole", "AWSXRayDaemonWriteAccess", "CloudWatchLogsFullAccess"] {
            assert_eq!(too_broad(narrow), None, "{narrow}");
        }
    }
}
