//! The trust policy of a role the stack creates for an access entry's service: the service, held to this account
//! (and to its own resources) where the service says who it acts for, and the deploying principal where the smoke
//! test assumes the role.

use anyhow::Result;
use serde_json::{Value, json};

use super::{render_policy, sub};
use crate::config::Config;
use crate::ids::DEPLOYER_PARAMETER;

/// The confused-deputy conditions of a service's `sts:AssumeRole`: `aws:SourceAccount`, and `aws:SourceArn` where
/// the service sends it, for the services documented to send them when they assume a role (AWS's own trust
/// policies for Lambda functions and ECS tasks carry them). None for any other service: a condition on a key the
/// service does not send would deny it the role, so those roles trust the service alone (see the README).
pub fn source_conditions(service: &str) -> Option<Value> {
    let account = json!({ "aws:SourceAccount": { "Ref": "AWS::AccountId" } });
    match service {
        "lambda.amazonaws.com" => Some(json!({ "StringEquals": account })),
        "ecs-tasks.amazonaws.com" => Some(json!({
            "StringEquals": account,
            "ArnLike": { "aws:SourceArn": sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*") },
        })),
        "states.amazonaws.com" => Some(json!({
            "StringEquals": account,
            "ArnLike": {
                "aws:SourceArn": sub("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:*")
            },
        })),
        _ => None,
    }
}

/// The trust policy of the role created for `service`. With `smoke.trust_deployer`, the deploying principal itself
/// (its role or user, resolved at deploy time into the template's `DeployerArn` parameter) may assume the role
/// too: not the whole account.
pub fn trust_policy(config: &Config, service: &str) -> Result<Value> {
    render_policy(
        "trust-policy.json",
        &json!({
            "service": service,
            "service_condition": source_conditions(service),
            "deployer": config.smoke.trust_deployer.then(|| json!({ "Ref": DEPLOYER_PARAMETER })),
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(src: &str) -> Config {
        crate::config::parse(src, Path::new("t.yaml"), "dev", None).unwrap()
    }

    /// Regression (AWS confused deputy): a created role trusted its service for any account; Lambda and ECS tasks
    /// send the account they act for, ECS also the task's ARN, so the role is held to them. A service not known to
    /// send them keeps a plain trust, which it can still assume.
    #[test]
    fn a_service_is_held_to_the_account_it_acts_for() {
        let c = config("project: demo\nregion: us-west-1\n");
        let lambda = trust_policy(&c, "lambda.amazonaws.com").unwrap();
        assert_eq!(
            lambda["Statement"][0]["Condition"],
            json!({ "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } })
        );
        let ecs = trust_policy(&c, "ecs-tasks.amazonaws.com").unwrap();
        assert_eq!(
            ecs["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
            json!({ "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*" })
        );
        let other = trust_policy(&c, "ec2.amazonaws.com").unwrap();
        assert!(other["Statement"][0].get("Condition").is_none());
        assert_eq!(other["Statement"].as_array().unwrap().len(), 1, "no deployer without smoke.trust_deployer");
    }

    /// Regression: `smoke.trust_deployer` let the whole account (`:root`) assume the roles; only the deploying
    /// principal may, named by the template's parameter.
    #[test]
    fn only_the_deploying_principal_is_trusted_for_the_smoke_test() {
        let c = config("project: demo\nregion: us-west-1\nephemeral: true\nsmoke:\n  trust_deployer: true\n");
        let trust = trust_policy(&c, "lambda.amazonaws.com").unwrap();
        assert_eq!(trust["Statement"][1]["Principal"], json!({ "AWS": { "Ref": DEPLOYER_PARAMETER } }));
        assert!(!trust.to_string().contains(":root"));
    }
}
