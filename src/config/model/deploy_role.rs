//! `deploy_role` and `external_id`: the IAM role a deploy assumes to reach the env's account from another one.

use super::checker::{Checker, RegionAccount};
use super::types::DeployRole;
use crate::names;

/// AWS `AssumeRole`'s rule for an external id: 2 to 1,224 characters of `[\w+=,.@:/-]`.
const EXTERNAL_ID_CHARS: std::ops::RangeInclusive<usize> = 2..=1224;

pub(super) fn check_deploy_role(
    c: &mut Checker,
    role: Option<String>,
    external_id: Option<String>,
    home: RegionAccount,
) -> Option<DeployRole> {
    let role = role.filter(|_| c.read(&["deploy_role"]));
    let external_id = external_id.filter(|_| c.read(&["external_id"]));
    let account = role.as_deref().map(|arn| check_role_arn(c, arn, home));
    if let Some(id) = &external_id {
        if role.is_none() && c.read(&["deploy_role"]) {
            c.error(
                "external_id",
                "`external_id` only applies together with `deploy_role`",
                "an external id is sent when the deploy assumes its role: add `deploy_role`, or remove `external_id`",
            );
        }
        check_external_id(c, id);
    }
    Some(DeployRole { arn: role?, account: account?, external_id })
}

/// The role ARN; its account (empty when the ARN is not a role's, which is reported).
fn check_role_arn(c: &mut Checker, arn: &str, home: RegionAccount) -> String {
    let Some(role) = names::split_role_arn(arn) else {
        c.error(
            "deploy_role",
            format!("`{arn}` is not an IAM role ARN"),
            "use arn:aws:iam::<12-digit account>:role/<name> (or role/<path>/<name>; the partition is aws, aws-cn \
             or aws-us-gov)",
        );
        return String::new();
    };
    if !names::is_iam_name(role.name, 64) {
        c.error(
            "deploy_role",
            format!("`{}` is not a valid IAM role name", role.name),
            "a role name has 1-64 letters, digits and + = , . @ _ -: write the role's ARN as IAM shows it",
        );
    }
    if !names::is_iam_path(role.path) {
        c.error(
            "deploy_role",
            format!("`{}` is not a valid IAM role path", role.path),
            "a path is `/`, or `/<segments>/` of at most 512 printable ASCII characters without spaces: write the \
             role's ARN as IAM shows it",
        );
    }
    if let Some(region) = home.region.filter(|region| names::is_region(region)) {
        let partition = names::partition(region).0;
        if role.partition != partition {
            c.error(
                "deploy_role",
                format!("the role is in partition `{}`, but region `{region}` is in `{partition}`", role.partition),
                format!("a role is assumed only within its partition: use a role ARN starting arn:{partition}:iam::"),
            );
        }
    }
    // An invalid `account:` is reported where it is written; the role is compared with a valid one only.
    if let Some(own) = home.account.filter(|own| names::is_account_id(own) && *own != role.account) {
        c.error(
            "deploy_role",
            format!("the role is in account `{}`, but the env file names account `{own}`", role.account),
            format!("the deploy works in the role's account: use a role of account {own}, or correct `account`"),
        );
    }
    role.account.to_string()
}

fn check_external_id(c: &mut Checker, id: &str) {
    let chars = id.chars().count();
    if !EXTERNAL_ID_CHARS.contains(&chars) {
        c.error(
            "external_id",
            format!("the external id has {chars} character{}; AWS takes 2 to 1224", if chars == 1 { "" } else { "s" }),
            "use the external id the role's trust policy names (its `sts:ExternalId` condition)",
        );
    }
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || "_+=,.@:/-".contains(ch);
    if let Some((at, bad)) = id.chars().enumerate().find(|(_, ch)| !allowed(*ch)) {
        c.error(
            "external_id",
            format!("the external id contains {} (character {}), which AWS does not take", quote_char(bad), at + 1),
            "an external id has letters, digits and _ + = , . @ : / - only, no spaces",
        );
    }
}

/// A character as a message shows it (control characters are escaped by [`Diagnostic`](super::super::Diagnostic)).
fn quote_char(ch: char) -> String {
    if ch == ' ' { "a space".to_string() } else { format!("`{ch}`") }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{DeployRole, parse};

    fn deploy_role(region: &str, keys: &str) -> Result<Option<DeployRole>, Vec<String>> {
        parse(&format!("project: demo\nregion: {region}\n{keys}"), Path::new("x.yaml"), "dev", None)
            .map(|config| config.deploy_role)
            .map_err(|found| found.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_role_of_any_partition_with_a_path_is_taken() {
        for (region, arn) in [
            ("us-west-1", "arn:aws:iam::123456789012:role/deployer"),
            ("cn-north-1", "arn:aws-cn:iam::123456789012:role/ci/jobs/deployer"),
            ("us-gov-west-1", "arn:aws-us-gov:iam::123456789012:role/deploy+er=,.@_-"),
        ] {
            let keys = format!("account: \"123456789012\"\ndeploy_role: \"{arn}\"\n");
            let expected = DeployRole { arn: arn.to_string(), account: "123456789012".to_string(), external_id: None };
            assert_eq!(deploy_role(region, &keys), Ok(Some(expected)), "{arn}");
        }
        assert_eq!(deploy_role("us-west-1", ""), Ok(None));
    }

    #[test]
    fn external_ids_follow_assume_roles_rule() {
        let keys = |id: &str| format!("deploy_role: arn:aws:iam::123456789012:role/d\nexternal_id: \"{id}\"\n");
        for good in ["ab", "Tenant_42+=,.@:/-", &"x".repeat(1224)] {
            let role = deploy_role("us-west-1", &keys(good)).unwrap().unwrap();
            assert_eq!(role.external_id.as_deref(), Some(good));
        }
        for (bad, problem) in [
            ("a", "has 1 character; AWS takes 2 to 1224"),
            (&"x".repeat(1225), "has 1225 characters"),
            ("a b", "contains a space (character 2)"),
            ("é1", "contains `é` (character 1)"),
        ] {
            let found = deploy_role("us-west-1", &keys(bad)).unwrap_err();
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(found[0].starts_with("x.yaml:4:1: external_id: the external id "), "{}", found[0]);
            assert!(found[0].contains(problem), "{}", found[0]);
        }
    }

    #[test]
    fn an_invalid_account_is_not_also_compared() {
        let found =
            deploy_role("us-west-1", "account: \"1234\"\ndeploy_role: arn:aws:iam::123456789012:role/d\n").unwrap_err();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("account: `1234` is not an AWS account id"), "{}", found[0]);
    }
}
