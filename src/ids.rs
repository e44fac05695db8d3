//! The tool's own identifiers: the stack name, the tags that mark a managed stack, and the logical ids of the
//! template. They sit below both `config` (which checks that the names of a file fit them) and `render` (which
//! writes them), so neither has to reach into the other.

/// Logical id of the data bucket: the resource the data guard and stack policy protect.
pub const BUCKET_ID: &str = "DataBucket";
pub const BUCKET_POLICY_ID: &str = "DataBucketPolicy";
/// Logical ids of the customer-managed KMS key the stack creates for the bucket (`encryption: kms`), and its alias.
pub const BUCKET_KEY_ID: &str = "DataBucketKey";
pub const BUCKET_KEY_ALIAS_ID: &str = "DataBucketKeyAlias";
/// The template parameter that carries the deploying principal's ARN (resolved with STS at deploy time), where the
/// template names it: roles the smoke test assumes, and the key policy's use for the smoke test's probes.
pub const DEPLOYER_PARAMETER: &str = "DeployerArn";

/// Placeholder used to check bucket-name rules offline when `account:` is not set.
pub const PLACEHOLDER_ACCOUNT: &str = "000000000000";

/// Tag keys every managed stack carries; teardown and `list` find stacks by them.
pub const TAG_MANAGED_BY: &str = "managed-by";
pub const TAG_ENV: &str = "provision:env";
pub const TAG_PROJECT: &str = "provision:project";
pub const TAG_INSTANCE: &str = "provision:instance";
pub const TAG_CREATED: &str = "provision:created";
pub const TAG_EXPIRES: &str = "provision:expires";
/// The value of [`TAG_MANAGED_BY`] on the stacks this tool creates.
pub const MANAGED_BY: &str = "provision";

/// `<project>-<env>[-<instance>]`: the CloudFormation stack name.
pub fn stack_name(project: &str, env: &str, instance: Option<&str>) -> String {
    match instance {
        Some(instance) => format!("{project}-{env}-{instance}"),
        None => format!("{project}-{env}"),
    }
}

/// `post-call-writer` → `PostCallWriter`: the stem of the logical ids made from an entry or notification name.
pub fn pascal(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case() {
        assert_eq!(pascal("post-call-writer"), "PostCallWriter");
        assert_eq!(pascal("a"), "A");
    }

    #[test]
    fn stack_names() {
        assert_eq!(stack_name("demo", "test", Some("pr-42")), "demo-test-pr-42");
        assert_eq!(stack_name("demo", "prod", None), "demo-prod");
    }
}
