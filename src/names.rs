//! Naming rules of AWS (bucket names, ARNs, regions) and the did-you-mean suggestion, shared by config and
//! commands.

/// Shown as the hint for every bucket-name problem.
pub const BUCKET_NAME_RULES: &str = "S3 bucket names have 3-63 characters: lowercase letters, digits, hyphens and dots, \
     starting and ending with a letter or digit; no `..`, not an IP address, no `xn--`/`sthree-` prefix and no \
     `-s3alias`/`--ol-s3` suffix. Shorten the project or set bucket.name to a pattern that fits";

/// Checks S3's general-purpose bucket naming rules; Err says which one is broken.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!("has {} characters (3-63 allowed)", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.')) {
        return Err(format!("contains `{c}` (only lowercase letters, digits, `-` and `.` are allowed)"));
    }
    let first_last_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_last_ok(name.chars().next()) || !first_last_ok(name.chars().last()) {
        return Err("must start and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Err("contains `..`".into());
    }
    if name.contains(".-") || name.contains("-.") {
        return Err("has a dot next to a hyphen".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|part| part.parse::<u8>().is_ok()) {
        return Err("looks like an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("starts with the reserved prefix `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("ends with the reserved suffix `{suffix}`"));
        }
    }
    Ok(())
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `us-west-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-4`, `cn-north-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let (Some(number), true) = (parts.last(), (3..=4).contains(&parts.len())) else {
        return false;
    };
    parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[0].len() == 2
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The AWS partition of a region (for ARNs) and its DNS suffix (for URLs), as in the SDK's partition table.
pub fn partition(region: &str) -> (&'static str, &'static str) {
    const PARTITIONS: &[(&str, &str, &str)] = &[
        ("cn-", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-", "aws-us-gov", "amazonaws.com"),
        ("us-isob-", "aws-iso-b", "sc2s.sgov.gov"),
        ("us-isof-", "aws-iso-f", "csp.hci.ic.gov"),
        ("us-iso-", "aws-iso", "c2s.ic.gov"),
        ("eu-isoe-", "aws-iso-e", "cloud.adc-e.uk"),
        ("eusc-", "aws-eusc", "amazonaws.eu"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _, _)| region.starts_with(prefix))
        .map_or(("aws", "amazonaws.com"), |&(_, id, suffix)| (id, suffix))
}

fn is_partition(s: &str) -> bool {
    matches!(s, "aws" | "aws-cn" | "aws-us-gov")
}

/// Splits `arn:partition:service:region:account:resource`.
fn arn_parts(arn: &str) -> Option<[&str; 5]> {
    let mut it = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
        (it.next(), it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    is_partition(partition).then_some([partition, service, region, account, resource])
}

/// The region and account of an ARN (`arn:<partition>:<service>:<region>:<account>:<resource>`).
pub fn arn_region_account(arn: &str) -> Option<(&str, &str)> {
    arn_parts(arn).map(|[_, _, region, account, _]| (region, account))
}

pub fn is_kms_key_arn(arn: &str) -> bool {
    matches!(arn_parts(arn), Some([_, "kms", region, account, resource])
        if is_region(region) && is_account_id(account)
            && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')))
}

pub fn is_lambda_arn(arn: &str) -> bool {
    matches!(arn_parts(arn), Some([_, "lambda", region, account, resource])
    if is_region(region) && is_account_id(account)
        && resource.strip_prefix("function:").is_some_and(|name| {
            let name = name.split(':').next().unwrap_or_default();
            !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }))
}

/// The parts of an IAM role ARN, `arn:<partition>:iam::<account>:role/<path/><name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleArn<'a> {
    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: &'a str,
    /// 12 digits.
    pub account: &'a str,
    /// `/` or `/<segments>/`, not yet judged ([`is_iam_path`]).
    pub path: &'a str,
    /// Not yet judged ([`is_iam_name`]).
    pub name: &'a str,
}

/// Splits an IAM role ARN of any partition with a 12-digit account, leaving its path and name to be judged.
pub fn split_role_arn(arn: &str) -> Option<RoleArn<'_>> {
    match arn_parts(arn) {
        Some([partition, "iam", "", account, resource]) if is_account_id(account) => {
            let after = resource.strip_prefix("role").filter(|after| after.starts_with('/'))?;
            let cut = after.rfind('/')?;
            Some(RoleArn { partition, account, path: &after[..=cut], name: &after[cut + 1..] })
        }
        _ => None,
    }
}

/// The principal behind an STS `GetCallerIdentity` ARN, as a policy can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller<'a> {
    /// A principal a policy names by the very ARN STS returns: the account root, an IAM user (with its path), a
    /// federated user.
    Named(&'a str),
    /// A role session (`arn:<partition>:sts::<account>:assumed-role/<role name>/<session>`): a policy names the
    /// role, whose ARN carries a path the session ARN leaves out.
    RoleSession { partition: &'a str, account: &'a str, role: &'a str },
}

/// What `arn` (a caller identity ARN) stands for; None for an ARN that is not one.
pub fn caller(arn: &str) -> Option<Caller<'_>> {
    match arn_parts(arn)? {
        [partition, "sts", "", account, resource] if is_account_id(account) => {
            match resource.strip_prefix("assumed-role/").and_then(|rest| rest.split_once('/')) {
                Some((role, _session)) if is_iam_name(role, 64) => {
                    Some(Caller::RoleSession { partition, account, role })
                }
                Some(_) => None,
                None => resource.starts_with("federated-user/").then_some(Caller::Named(arn)),
            }
        }
        [_, "iam", "", account, resource]
            if is_account_id(account) && (resource == "root" || resource.starts_with("user/")) =>
        {
            Some(Caller::Named(arn))
        }
        _ => None,
    }
}

/// The role name of `arn:aws:iam::<account>:role[/path]/name`.
pub fn role_name_from_arn(arn: &str) -> Option<&str> {
    split_role_arn(arn).map(|role| role.name).filter(|name| is_iam_name(name, 64))
}

/// IAM paths: `/`, or `/<segments>/` of printable ASCII without spaces, at most 512 characters.
pub fn is_iam_path(path: &str) -> bool {
    (1..=512).contains(&path.len())
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// IAM user/role names: letters, digits and `+=,.@_-`.
pub fn is_iam_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

pub fn is_service_principal(s: &str) -> bool {
    s.strip_suffix(".amazonaws.com").is_some_and(|service| {
        !service.is_empty()
            && service.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    })
}

/// Names of access entries and notifications: they become parts of role, policy and queue names.
pub fn is_entry_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-')
        // `a-b` and `a--b` would share the logical id `AB`.
        && !s.contains("--")
}

/// Instance names (`pr-42`): part of the stack and bucket names.
pub fn is_instance_name(s: &str) -> bool {
    (1..=24).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-')
}

/// The closest candidate to a misspelt word (by Levenshtein distance), if one is close enough to be what was meant.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (AWS): a role session's ARN is not a principal a trust or key policy can name; the role is, with
    /// the path the session ARN leaves out.
    #[test]
    fn a_callers_arn_is_named_by_the_principal_behind_it() {
        let session = "arn:aws:sts::123456789012:assumed-role/provision-deploy/provision-prod";
        assert_eq!(
            caller(session),
            Some(Caller::RoleSession { partition: "aws", account: "123456789012", role: "provision-deploy" })
        );
        for named in [
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::123456789012:user/ops/alice",
            "arn:aws-cn:sts::123456789012:federated-user/bob",
        ] {
            assert_eq!(caller(named), Some(Caller::Named(named)), "{named}");
        }
        assert_eq!(caller("arn:aws:iam::123456789012:role/x"), None, "STS never answers with a role ARN");
        assert_eq!(caller("arn:aws:sts::123456789012:assumed-role/"), None);
    }

    #[test]
    fn bucket_names() {
        assert!(check_bucket_name("call-data-prod-123456789012-us-west-1").is_ok());
        assert!(check_bucket_name("ab").unwrap_err().contains("2 characters"));
        assert!(check_bucket_name(&"a".repeat(64)).is_err());
        assert!(check_bucket_name("Call-data").unwrap_err().contains("`C`"));
        assert!(check_bucket_name("a..b").unwrap_err().contains(".."));
        assert!(check_bucket_name("192.168.1.10").unwrap_err().contains("IP"));
        assert!(check_bucket_name("xn--abc").unwrap_err().contains("xn--"));
        assert!(check_bucket_name("data-s3alias").unwrap_err().contains("-s3alias"));
        assert!(check_bucket_name("-data").is_err());
        assert!(check_bucket_name("data_x").is_err());
    }

    #[test]
    fn arns_and_ids() {
        assert!(is_account_id("012345678901"));
        assert!(!is_account_id("12345"));
        assert!(
            is_region("us-west-1") && is_region("us-gov-west-1") && !is_region("uswest1") && !is_region("US-WEST-1")
        );
        assert!(is_kms_key_arn("arn:aws:kms:us-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(!is_kms_key_arn("arn:aws:kms:us-west-1:123456789012:alias/data"));
        assert_eq!(role_name_from_arn("arn:aws:iam::123456789012:role/team/analyst"), Some("analyst"));
        assert_eq!(role_name_from_arn("arn:aws:iam::123456789012:user/analyst"), None);
        assert_eq!(role_name_from_arn("arn:aws:iam::123456789012:roles/analyst"), None);
        let role = split_role_arn("arn:aws-cn:iam::123456789012:role/team/ci/deployer").unwrap();
        assert_eq!((role.account, role.path, role.name), ("123456789012", "/team/ci/", "deployer"));
        assert_eq!(split_role_arn("arn:aws:iam::123456789012:role/deployer").unwrap().path, "/");
        assert!(split_role_arn("arn:aws-iso:iam::123456789012:role/x").is_none());
        assert_eq!(role.partition, "aws-cn");
        assert_eq!(
            ["us-west-1", "cn-north-1", "us-gov-west-1"].map(|r| partition(r).0),
            ["aws", "aws-cn", "aws-us-gov"]
        );
        assert!(is_iam_path("/") && is_iam_path("/team/ci/") && !is_iam_path("/a b/") && !is_iam_path("team/"));
        assert!(is_lambda_arn("arn:aws:lambda:us-west-1:123456789012:function:transcribe"));
        assert!(!is_lambda_arn("arn:aws:lambda:us-west-1:123456789012:layer:x"));
        assert!(is_service_principal("lambda.amazonaws.com") && !is_service_principal("lambda"));
        assert_eq!(arn_region_account("arn:aws:iam::123456789012:role/x"), Some(("", "123456789012")));
        let lambda = "arn:aws:lambda:eu-west-1:123456789012:function:f";
        assert_eq!(arn_region_account(lambda), Some(("eu-west-1", "123456789012")));
        assert_eq!(arn_region_account("lambda"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("wrte", ["write", "read", "list", "delete"]), Some("write"));
        assert_eq!(suggest("banana", ["write", "read"]), None);
    }
}
