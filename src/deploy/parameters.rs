//! The values of a template's parameters for a deploy: the deploying principal's ARN (`DeployerArn`), resolved from
//! the credentials, where the template names it (roles the smoke test assumes, and the key policy of the bucket's
//! own key, for the smoke test's probes). A stack already deployed keeps its own values: `drift` and `smoke` read
//! them from the stack ([`Rendered::with_parameters`]).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::aws::Aws;
use crate::config::Config;
use crate::ids::DEPLOYER_PARAMETER;
use crate::render::Rendered;

/// `rendered` with the values a deploy by these credentials gives its parameters.
pub async fn for_deploy(aws: &Aws, config: &Config, rendered: Rendered) -> Result<Rendered> {
    if !rendered.names_deployer() {
        return Ok(rendered);
    }
    let arn = aws.deployer_arn(config.deploy_role.as_ref()).await?;
    Ok(rendered.with_parameters(&BTreeMap::from([(DEPLOYER_PARAMETER.to_string(), arn)])))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aws_config::{BehaviorVersion, SdkConfig};
    use aws_sdk_cloudformation::types::StackStatus;
    use aws_sdk_iam::operation::get_role::GetRoleOutput;
    use aws_sdk_iam::types::Role;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;

    use super::*;
    use crate::stack::StackInfo;
    use crate::stack::status::Health;

    const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/provision-deployer/alice";
    const ROLE: &str = "arn:aws:iam::123456789012:role/ci/provision-deployer";

    fn config(src: &str) -> Config {
        crate::config::parse(src, Path::new("test.yaml"), "test", Some("pr-1")).unwrap()
    }

    const TRUSTING: &str = "project: demo\nregion: us-west-1\nephemeral: true\naccess:\n  writer:\n    \
        principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\nsmoke:\n  trust_deployer: true\n";

    fn clients(sts: aws_sdk_sts::Client, iam: aws_sdk_iam::Client) -> Aws {
        let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let mut aws = Aws::from_sdk(sdk, "us-west-1".into(), None);
        aws.sts = sts;
        aws.iam = iam;
        aws
    }

    fn caller(arn: &'static str) -> impl Fn() -> GetCallerIdentityOutput {
        move || GetCallerIdentityOutput::builder().account("123456789012").arn(arn).build()
    }

    /// Regression (AWS): STS names a role's caller by its session (`assumed-role/<name>/<session>`), which no trust
    /// or key policy can name, and without the role's path; the deploy names the role itself, path included, as IAM
    /// GetRole gives it.
    #[tokio::test]
    async fn a_role_session_deploys_as_its_role_with_its_path() {
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(caller(SESSION));
        let role = mock!(aws_sdk_iam::Client::get_role)
            .match_requests(|r| r.role_name() == Some("provision-deployer"))
            .then_output(|| {
                let role = Role::builder()
                    .path("/ci/")
                    .role_name("provision-deployer")
                    .role_id("AROAEXAMPLE")
                    .arn(ROLE)
                    .create_date(DateTime::from_secs(0))
                    .build()
                    .unwrap();
                GetRoleOutput::builder().role(role).build()
            });
        let aws = clients(
            mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&identity]),
            mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&role]),
        );
        let config = config(TRUSTING);
        let rendered = crate::render::render(&config).unwrap();
        assert!(rendered.names_deployer());
        let rendered = for_deploy(&aws, &config, rendered).await.unwrap();
        assert_eq!(rendered.parameters, BTreeMap::from([(DEPLOYER_PARAMETER.to_string(), ROLE.to_string())]));
    }

    /// The env's own deploy role needs no IAM call: its ARN, path included, is in the env file.
    #[tokio::test]
    async fn the_env_deploy_role_is_named_without_asking_iam() {
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(caller(SESSION));
        let aws = clients(
            mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&identity]),
            mock_client!(aws_sdk_iam, RuleMode::MatchAny, []),
        );
        let src = format!("{TRUSTING}account: \"123456789012\"\ndeploy_role: {ROLE}\n");
        let config = config(&src);
        let rendered = for_deploy(&aws, &config, crate::render::render(&config).unwrap()).await.unwrap();
        assert_eq!(rendered.parameters[DEPLOYER_PARAMETER], ROLE);
    }

    /// A template that names no deployer is deployed without a parameter, and without asking STS.
    #[tokio::test]
    async fn a_template_without_the_deployer_asks_nobody() {
        let aws = clients(
            mock_client!(aws_sdk_sts, RuleMode::MatchAny, []),
            mock_client!(aws_sdk_iam, RuleMode::MatchAny, []),
        );
        let config = config("project: demo\nregion: us-west-1\nephemeral: true\n");
        let rendered = for_deploy(&aws, &config, crate::render::render(&config).unwrap()).await.unwrap();
        assert!(rendered.parameters.is_empty());
    }

    /// Regression: the fast path ("no changes") compared the template and tags only, so a stack deployed by another
    /// principal (another `DeployerArn`) was left trusting that principal.
    #[test]
    fn a_stack_deployed_by_another_principal_is_not_unchanged() {
        let config = config(TRUSTING);
        let rendered = crate::render::render(&config).unwrap();
        let deployed_by = |arn: &str| BTreeMap::from([(DEPLOYER_PARAMETER.to_string(), arn.to_string())]);
        let rendered = rendered.with_parameters(&deployed_by(ROLE));
        let stack = |parameters| StackInfo {
            id: "id".into(),
            name: config.stack_name(),
            status: "UPDATE_COMPLETE".into(),
            stack_status: StackStatus::UpdateComplete,
            health: Health::Ready,
            tags: BTreeMap::new(),
            outputs: BTreeMap::new(),
            parameters,
            termination_protection: false,
            created: None,
        };
        let deployed = Some(&rendered.template_value);
        assert!(super::super::unchanged(&stack(deployed_by(ROLE)), &[], deployed, &rendered));
        let other = stack(deployed_by("arn:aws:iam::123456789012:user/bob"));
        assert!(!super::super::unchanged(&other, &[], deployed, &rendered));
    }
}
