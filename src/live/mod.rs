//! Live state vs desired: reads the bucket, IAM and queue/topic settings with their own APIs and compares them,
//! property by property, with what the rendered template says. Used by the smoke test (verification), drift
//! (detection) and drift revert.

mod comparable;
mod compare;
pub mod desired;
pub mod intrinsics;
#[cfg(test)]
mod key_lock_mock_tests;
#[cfg(test)]
mod mock_tests;
pub mod policy;
mod read;
mod revert;

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::aws::Aws;
use crate::render::Rendered;
pub use compare::compare;
pub use revert::{Reverted, revert};

/// Whether a tag key is AWS's own (`aws:` in any case): CloudFormation adds `aws:cloudformation:*` tags to what it
/// creates; nobody else may set, change or remove them, so they are neither compared nor written back.
pub fn is_aws_tag(key: &str) -> bool {
    key.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"))
}

/// A resource whose settings are checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Resource {
    Bucket(String),
    Role(String),
    /// A managed policy, by ARN.
    Policy(String),
    Queue(String),
    /// An SNS topic, by ARN.
    Topic(String),
    /// The bucket's own KMS key, by ARN (by alias while its ARN is unknown).
    Key(String),
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Bucket(n) => write!(f, "bucket {n}"),
            Resource::Role(n) => write!(f, "role {n}"),
            Resource::Policy(n) => write!(f, "policy {}", n.rsplit('/').next().unwrap_or(n)),
            Resource::Queue(n) => write!(f, "queue {n}"),
            Resource::Topic(n) => write!(f, "topic {}", n.rsplit(':').next().unwrap_or(n)),
            Resource::Key(n) => write!(f, "key {n}"),
        }
    }
}

/// What the config (through the rendered template) says one property should be.
#[derive(Debug, Clone, Serialize)]
pub struct Expected {
    pub resource: Resource,
    pub property: &'static str,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Differs,
    Missing,
}

/// One property compared.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub resource: Resource,
    pub property: &'static str,
    pub status: Status,
    pub expected: Value,
    /// Null when missing.
    pub actual: Value,
    /// What differs, in words (extra/missing statements, rules, targets...).
    pub detail: Option<String>,
    /// How long reading this property's resource took (its own read, not the whole check's).
    #[serde(skip)]
    pub latency_ms: u64,
}

impl Finding {
    /// Whether the live value is the expected one.
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Differs => "differs",
            Status::Missing => "missing",
        };
        write!(f, "{} {}: {status}", self.resource, self.property)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        if self.status != Status::Ok && self.detail.is_none() {
            write!(f, ": expected {}, actual {}", self.expected, self.actual)?;
        }
        Ok(())
    }
}

/// The desired state of a deployed env. `stack_tags` are the deployed stack's own tags: CloudFormation copies them
/// onto every taggable resource it creates, so after a deploy AWS holds the template's tags plus these.
pub fn expected(
    rendered: &Rendered,
    account: &str,
    region: &str,
    stack_tags: &BTreeMap<String, String>,
) -> Vec<Expected> {
    expected_knowing(rendered, account, region, stack_tags, &BTreeMap::new())
}

/// [`expected`], knowing the ARNs of the KMS keys the stack created (by logical id), which no template tells: their
/// ids are made by KMS. The template's parameters resolve to the values of `rendered` (the deployed ones).
fn expected_knowing(
    rendered: &Rendered,
    account: &str,
    region: &str,
    stack_tags: &BTreeMap<String, String>,
    keys: &BTreeMap<String, String>,
) -> Vec<Expected> {
    let mut names = desired::names(&rendered.template_value, account, region);
    names.refs.extend(rendered.parameters.clone());
    for (id, arn) in keys {
        names.refs.insert(id.clone(), arn.rsplit('/').next().unwrap_or(arn).to_string());
        names.arns.insert(id.clone(), arn.clone());
    }
    let mut expected = desired::expected(&rendered.template_value, &names);
    desired::add_propagated_tags(&mut expected, stack_tags);
    expected
}

/// Reads every expected property live and compares.
pub async fn check(
    aws: &Aws,
    rendered: &Rendered,
    account: &str,
    stack_tags: &BTreeMap<String, String>,
) -> Result<Vec<Finding>> {
    let keys = read::key_arns(aws, &rendered.template_value).await?;
    let expected = expected_knowing(rendered, account, &aws.region, stack_tags, &keys);
    let actual = read::read_all_timed(aws, &expected).await?;
    Ok(expected.into_iter().zip(actual).map(|(e, (a, latency_ms))| Finding { latency_ms, ..compare(e, a) }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn rendered() -> Rendered {
        let src = "project: demo\nregion: us-west-1\naccess:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\nnotifications:\n  wav:\n    suffix: .wav\n    target: queue\n";
        let config = crate::config::parse(src, Path::new("t.yaml"), "dev", None).unwrap();
        crate::render::render(&config).unwrap()
    }

    fn find<'a>(expected: &'a [Expected], property: &str) -> &'a Expected {
        expected.iter().find(|e| e.property == property).unwrap()
    }

    #[test]
    fn desired_state_is_resolved_from_the_template() {
        let expected = expected(&rendered(), "123456789012", "us-west-1", &BTreeMap::new());
        let bucket = Resource::Bucket("demo-dev-123456789012-us-west-1".into());
        assert_eq!(find(&expected, "versioning").resource, bucket);
        assert_eq!(find(&expected, "versioning").value, json!("Enabled"));
        let notifications = &find(&expected, "notifications").value;
        assert_eq!(notifications["targets"][0]["arn"], "arn:aws:sqs:us-west-1:123456789012:demo-dev-wav");
        assert_eq!(notifications["targets"][0]["suffix"], ".wav");
        let attached = &find(&expected, "attached_policies").value;
        assert_eq!(attached, &json!(["arn:aws:iam::123456789012:policy/demo-dev-writer"]));
        let queue_policy = &find(&expected, "policy").value;
        assert!(queue_policy.to_string().contains("arn:aws:s3:::demo-dev-123456789012-us-west-1"), "{queue_policy}");
        assert!(!expected.iter().any(|e| e.value.to_string().contains("Fn::") || e.value.to_string().contains("${")));
    }

    /// The bucket policy names its bucket with `Fn::GetAtt DataBucket.Arn` and `${DataBucket.Arn}/*` (for static
    /// rule engines): drift still expects the literal ARNs S3 stores, under the bucket.
    #[test]
    fn the_bucket_policy_is_expected_with_literal_arns() {
        let expected = expected(&rendered(), "123456789012", "us-west-1", &BTreeMap::new());
        let bucket = Resource::Bucket("demo-dev-123456789012-us-west-1".into());
        let policy = expected.iter().find(|e| e.resource == bucket && e.property == "policy").unwrap();
        let tls = policy.value["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s.to_string().contains("aws:SecureTransport"))
            .unwrap();
        let arn = "arn:aws:s3:::demo-dev-123456789012-us-west-1";
        assert_eq!(tls["Resource"], json!([arn, format!("{arn}/*")]), "{tls}");
    }

    #[test]
    fn comparison_statuses_and_details() {
        let expected = expected(&rendered(), "123456789012", "us-west-1", &BTreeMap::new());
        let tags = find(&expected, "tags").clone();
        let mut live = tags.value.clone();
        live["team"] = json!("x");
        let finding = compare(tags.clone(), Some(live));
        assert_eq!(finding.status, Status::Differs);
        assert_eq!(finding.detail.as_deref(), Some("extra tag team=\"x\""));
        assert_eq!(compare(tags.clone(), None).status, Status::Missing);
        assert!(compare(tags.clone(), Some(tags.value.clone())).ok());
        let lifecycle = find(&expected, "lifecycle").clone();
        let finding = compare(lifecycle, Some(json!([])));
        assert!(finding.detail.unwrap().starts_with("missing: {"));
    }
}
