//! Reading live settings, one property at a time, concurrently. `Ok(None)` means the resource or setting does
//! not exist; AWS errors other than "not found" fail the read.

mod bucket;
mod iam;
mod key;
mod queue_topic;

use std::future::Future;

use anyhow::Result;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;

use super::policy::{normalize, parse_document};
use super::{Expected, Resource};
use crate::aws::Aws;
pub(super) use crate::aws::none_if_missing;
pub use key::key_arns;
pub use queue_topic::queue_url;

/// Reads the actual value of every expected property (same order), all resources at once. Properties of one
/// resource that come from the same answer (a queue's attributes, a policy's entities) share one request.
#[cfg(test)]
pub async fn read_all(aws: &Aws, expected: &[Expected]) -> Result<Vec<Option<Value>>> {
    Ok(read_all_timed(aws, expected).await?.into_iter().map(|(value, _)| value).collect())
}

/// [`read_all`], with how long the read of each property's resource took (properties read by one request share it).
pub async fn read_all_timed(aws: &Aws, expected: &[Expected]) -> Result<Vec<(Option<Value>, u64)>> {
    let reads = by_resource(expected).into_iter().map(|(resource, indices)| async move {
        let properties: Vec<&str> = indices.iter().map(|&i| expected[i].property).collect();
        let started = std::time::Instant::now();
        let values = read_resource(aws, resource, &properties).await;
        (indices, values, u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX))
    });
    let mut actual = vec![(None, 0); expected.len()];
    for (indices, values, millis) in futures::future::join_all(reads).await {
        for (&i, value) in indices.iter().zip(values?) {
            actual[i] = (value, millis);
        }
    }
    Ok(actual)
}

/// The positions of the expected properties, grouped by resource in order of first appearance.
fn by_resource(expected: &[Expected]) -> Vec<(&Resource, Vec<usize>)> {
    let mut groups: Vec<(&Resource, Vec<usize>)> = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        match groups.iter_mut().find(|(r, _)| **r == e.resource) {
            Some((_, indices)) => indices.push(i),
            None => groups.push((&e.resource, vec![i])),
        }
    }
    groups
}

/// Reads some properties of one resource (same order): a bucket's, role's or topic's with one request each, a
/// queue's with one request in all, a managed policy's with one for its document and one for its attachments.
async fn read_resource(aws: &Aws, resource: &Resource, properties: &[&str]) -> Result<Vec<Option<Value>>> {
    match resource {
        Resource::Bucket(name) => each_on_its_own(properties, |p| bucket::read(aws, name, p)).await,
        Resource::Role(name) => each_on_its_own(properties, |p| iam::read_role(aws, name, p)).await,
        Resource::Topic(arn) => each_on_its_own(properties, |p| queue_topic::read_topic(aws, arn, p)).await,
        Resource::Queue(name) => queue_topic::read_queue(aws, name, properties).await,
        Resource::Policy(arn) => iam::read_policy(aws, arn, properties).await,
        Resource::Key(id) => key::read_key(aws, id, properties).await,
    }
}

/// Reads each property with its own request, all at once; the first failure fails them all.
async fn each_on_its_own<'a, F>(properties: &[&'a str], read: impl Fn(&'a str) -> F) -> Result<Vec<Option<Value>>>
where
    F: Future<Output = Result<Option<Value>>>,
{
    futures::future::join_all(properties.iter().map(|&p| read(p))).await.into_iter().collect()
}

/// Whether an SDK error carries one of `codes`.
fn has_code<E: ProvideErrorMetadata>(error: &E, codes: &[&str]) -> bool {
    error.code().is_some_and(|c| codes.contains(&c))
}

/// A policy document as a service returns it, normalized; None when there is none or it does not parse.
fn normalized_document(text: Option<&str>) -> Option<Value> {
    text.and_then(parse_document).map(|d| normalize(&d))
}

#[cfg(test)]
mod tests {
    use aws_config::{BehaviorVersion, SdkConfig};
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
    use aws_sdk_iam::types::{Policy, PolicyRole, PolicyUser, PolicyVersion};
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::types::QueueAttributeName;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use serde_json::json;

    use super::*;

    fn expected(resource: Resource, property: &'static str) -> Expected {
        Expected { resource, property, value: Value::Null }
    }

    /// A queue's two properties come from one GetQueueAttributes, a policy's roles and users from one
    /// ListEntitiesForPolicy: fewer requests per env, which is what the emulator (one process) is bound by.
    #[tokio::test]
    async fn properties_from_one_answer_share_one_request() {
        let url = mock!(aws_sdk_sqs::Client::get_queue_url)
            .then_output(|| GetQueueUrlOutput::builder().queue_url("https://sqs/q").build());
        let attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_output(|| {
            GetQueueAttributesOutput::builder()
                .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
                .attributes(QueueAttributeName::Policy, r#"{"Version":"2012-10-17","Statement":[]}"#)
                .build()
        });
        let policy = mock!(aws_sdk_iam::Client::get_policy).then_output(|| {
            GetPolicyOutput::builder().policy(Policy::builder().default_version_id("v2").build()).build()
        });
        let document = mock!(aws_sdk_iam::Client::get_policy_version).then_output(|| {
            let doc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
            GetPolicyVersionOutput::builder().policy_version(PolicyVersion::builder().document(doc).build()).build()
        });
        let entities = mock!(aws_sdk_iam::Client::list_entities_for_policy).then_output(|| {
            ListEntitiesForPolicyOutput::builder()
                .policy_roles(PolicyRole::builder().role_name("writer").build())
                .policy_roles(PolicyRole::builder().role_name("reader").build())
                .policy_users(PolicyUser::builder().user_name("ops").build())
                .build()
        });
        let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let mut aws = Aws::from_sdk(sdk, "eu-west-1".into(), None);
        aws.sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &attributes]);
        aws.iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&policy, &document, &entities]);

        let queue = || Resource::Queue("q".into());
        let arn = || Resource::Policy("arn:aws:iam::111111111111:policy/p".into());
        let wanted = [
            expected(queue(), "policy"),
            expected(arn(), "attached_roles"),
            expected(queue(), "encryption"),
            expected(arn(), "document"),
            expected(arn(), "attached_users"),
        ];
        let actual = read_all(&aws, &wanted).await.unwrap();
        assert_eq!(
            actual,
            [
                Some(json!({ "Statement": [], "Version": "2012-10-17" })),
                Some(json!(["reader", "writer"])),
                Some(json!({ "sqs_managed_sse": true })),
                Some(json!({ "Statement": [], "Version": "2012-10-17" })),
                Some(json!(["ops"])),
            ]
        );
        let calls = [url.num_calls(), attributes.num_calls(), policy.num_calls(), document.num_calls()];
        assert_eq!(calls, [1, 1, 1, 1]);
        assert_eq!(entities.num_calls(), 1);
    }
}
