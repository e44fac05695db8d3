//! AWS answers no emulator gives, replayed with the SDK's mock clients: what CloudFormation adds to the resources
//! it creates (propagated stack tags, its own `aws:` tags) and how S3 treats them.

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
use aws_sdk_s3::operation::put_bucket_tagging::PutBucketTaggingOutput;
use aws_sdk_s3::types::Tag;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::json;

use super::*;
use crate::ids::{TAG_CREATED, TAG_EXPIRES};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-west-1";
const BUCKET: &str = "demo-dev-pr-1-123456789012-us-west-1";

fn config() -> crate::config::Config {
    let src = "project: demo\nregion: us-west-1\nephemeral: true\nttl: 6h\nbucket:\n  tags: { team: voice }\n";
    crate::config::parse(src, Path::new("dev.yaml"), "dev", Some("pr-1")).unwrap()
}

/// The stack's tags as deploy sets them: the config's plus creation time and expiry (ephemeral env).
fn stack_tags(config: &crate::config::Config) -> BTreeMap<String, String> {
    let mut tags = config.stack_tags();
    tags.insert(TAG_CREATED.into(), "2026-12-01T10:00:00Z".into());
    tags.insert(TAG_EXPIRES.into(), "2026-12-01T16:00:00Z".into());
    tags
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

/// What AWS holds on the bucket after a deploy: the template's tags, the stack's tags (propagated by
/// CloudFormation) and CloudFormation's own `aws:cloudformation:*` tags.
fn tags_on_aws(config: &crate::config::Config, extra: &[(&str, &str)]) -> Vec<Tag> {
    let mut tags: Vec<Tag> = stack_tags(config).iter().map(|(k, v)| tag(k, v)).collect();
    tags.push(tag("team", "voice"));
    tags.push(tag("aws:cloudformation:stack-name", "demo-dev-pr-1"));
    tags.push(tag("aws:cloudformation:logical-id", "DataBucket"));
    tags.push(tag(
        "aws:cloudformation:stack-id",
        "arn:aws:cloudformation:us-west-1:123456789012:stack/demo-dev-pr-1/1",
    ));
    tags.extend(extra.iter().map(|(k, v)| tag(k, v)));
    tags
}

fn aws_with_s3(s3: aws_sdk_s3::Client) -> Aws {
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
    let mut aws = Aws::from_sdk(sdk, REGION.into(), None);
    aws.s3 = s3;
    aws
}

fn bucket_tags(expected: &[Expected]) -> Expected {
    let found = expected.iter().find(|e| e.property == "tags" && e.resource == Resource::Bucket(BUCKET.into()));
    found.cloned().expect("the bucket's tags are checked")
}

/// Regression (AWS, not the emulator): CloudFormation copies stack tags (`provision:created`,
/// `provision:expires`) onto the bucket and adds `aws:cloudformation:*`; the live check reported them as extra
/// tags, so every smoke test of an ephemeral env failed and every drift check exited 2.
#[tokio::test]
async fn propagated_stack_tags_and_aws_tags_are_in_sync() {
    let config = config();
    let rendered = crate::render::render(&config).unwrap();
    let tagging = {
        let config = config.clone();
        mock!(aws_sdk_s3::Client::get_bucket_tagging).then_output(move || {
            GetBucketTaggingOutput::builder().set_tag_set(Some(tags_on_aws(&config, &[]))).build().unwrap()
        })
    };
    let aws = aws_with_s3(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&tagging]));
    let wanted = bucket_tags(&expected(&rendered, ACCOUNT, REGION, &stack_tags(&config)));
    let actual = read::read_all(&aws, std::slice::from_ref(&wanted)).await.unwrap();
    let finding = compare(wanted, actual.into_iter().next().flatten());
    assert!(finding.ok(), "{finding}");
}

/// A tag changed out of band is still drift, and a revert puts the config's tags back while sending AWS's own
/// `aws:` tags unchanged: S3 refuses a PutBucketTagging that drops them (`InvalidTag`, "System tags cannot be
/// removed by requester").
#[tokio::test]
async fn reverting_tags_keeps_the_aws_tags_and_the_propagated_ones() {
    let config = config();
    let rendered = crate::render::render(&config).unwrap();
    let tagging = {
        let config = config.clone();
        mock!(aws_sdk_s3::Client::get_bucket_tagging).then_output(move || {
            let live = tags_on_aws(&config, &[("cost-center", "42")]);
            GetBucketTaggingOutput::builder().set_tag_set(Some(live)).build().unwrap()
        })
    };
    let put = mock!(aws_sdk_s3::Client::put_bucket_tagging)
        .match_requests(|request| {
            let sent: BTreeMap<&str, &str> = request
                .tagging()
                .map(|t| t.tag_set().iter().map(|t| (t.key(), t.value())).collect())
                .unwrap_or_default();
            sent.get("aws:cloudformation:stack-name") == Some(&"demo-dev-pr-1")
                && sent.get("aws:cloudformation:logical-id") == Some(&"DataBucket")
                && sent.get(TAG_EXPIRES) == Some(&"2026-12-01T16:00:00Z")
                && sent.get("team") == Some(&"voice")
                && !sent.contains_key("cost-center")
        })
        .then_output(|| PutBucketTaggingOutput::builder().build());
    let aws = aws_with_s3(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&tagging, &put]));

    let wanted = bucket_tags(&expected(&rendered, ACCOUNT, REGION, &stack_tags(&config)));
    let actual = read::read_all(&aws, std::slice::from_ref(&wanted)).await.unwrap();
    let finding = compare(wanted, actual.into_iter().next().flatten());
    assert_eq!(finding.status, Status::Differs);
    assert_eq!(finding.detail.as_deref(), Some("extra tag cost-center=\"42\""));
    assert_eq!(finding.actual.get("aws:cloudformation:stack-name"), None, "aws: tags are not compared");

    let reverted = revert(&aws, &[finding]).await.unwrap();
    assert_eq!(reverted.len(), 1);
    assert_eq!(put.num_calls(), 1, "PutBucketTagging with the aws: tags kept");
    assert_eq!(json!(reverted[0].action), json!("PutBucketTagging"));
}

#[test]
fn aws_tags_are_recognised_in_any_case() {
    assert!(is_aws_tag("aws:cloudformation:stack-name"));
    assert!(is_aws_tag("AWS:Foo"));
    assert!(!is_aws_tag("aws-cdk:auto-delete-objects"));
    assert!(!is_aws_tag("aw"));
}

/// Regression: the IAM lists were read as one page (`MaxItems` 1000 and no marker); IAM may truncate any page
/// (`IsTruncated` with a `Marker`) whatever MaxItems asks, so attachments past the first page were never seen.
#[tokio::test]
async fn every_iam_list_follows_its_markers() {
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
    use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
    use aws_sdk_iam::types::{AttachedPolicy, PolicyRole, PolicyUser};

    let policy = |arn: &str| AttachedPolicy::builder().policy_arn(arn).build();
    let attached = mock!(aws_sdk_iam::Client::list_attached_role_policies)
        .sequence()
        .output(move || {
            ListAttachedRolePoliciesOutput::builder()
                .attached_policies(policy("arn:p/b"))
                .is_truncated(true)
                .marker("m1")
                .build()
        })
        .output(move || ListAttachedRolePoliciesOutput::builder().attached_policies(policy("arn:p/a")).build())
        .build();
    let inline = mock!(aws_sdk_iam::Client::list_role_policies)
        .sequence()
        .output(|| ListRolePoliciesOutput::builder().policy_names("z").is_truncated(true).marker("m1").build().unwrap())
        .output(|| ListRolePoliciesOutput::builder().policy_names("y").build().unwrap())
        .build();
    let entities = mock!(aws_sdk_iam::Client::list_entities_for_policy)
        .sequence()
        .output(|| {
            ListEntitiesForPolicyOutput::builder()
                .policy_roles(PolicyRole::builder().role_name("writer").build())
                .is_truncated(true)
                .marker("m1")
                .build()
        })
        .output(|| {
            ListEntitiesForPolicyOutput::builder()
                .policy_roles(PolicyRole::builder().role_name("reader").build())
                .policy_users(PolicyUser::builder().user_name("ops").build())
                .build()
        })
        .build();
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
    let mut aws = Aws::from_sdk(sdk, REGION.into(), None);
    aws.iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&attached, &inline, &entities]);

    let wanted = |resource: Resource, property: &'static str| Expected { resource, property, value: json!(null) };
    let role = || Resource::Role("writer".into());
    let arn = || Resource::Policy("arn:aws:iam::123456789012:policy/p".into());
    let actual = read::read_all(
        &aws,
        &[
            wanted(role(), "attached_policies"),
            wanted(role(), "inline_policies"),
            wanted(arn(), "attached_roles"),
            wanted(arn(), "attached_users"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        actual,
        [
            Some(json!(["arn:p/a", "arn:p/b"])),
            Some(json!(["y", "z"])),
            Some(json!(["reader", "writer"])),
            Some(json!(["ops"])),
        ]
    );
    assert_eq!([attached.num_calls(), inline.num_calls(), entities.num_calls()], [2, 2, 2]);
}

/// A managed policy keeps at most five versions. Their list comes in pages too: with five versions over two
/// pages, the revert must still make room (delete the oldest non-default) before it adds the config's version.
#[tokio::test]
async fn a_policy_revert_sees_versions_on_every_page() {
    use aws_sdk_iam::operation::create_policy_version::CreatePolicyVersionOutput;
    use aws_sdk_iam::operation::delete_policy_version::DeletePolicyVersionOutput;
    use aws_sdk_iam::operation::list_policy_versions::ListPolicyVersionsOutput;
    use aws_sdk_iam::types::PolicyVersion;

    let version = |id: &str, secs: i64, default: bool| {
        PolicyVersion::builder()
            .version_id(id)
            .is_default_version(default)
            .create_date(aws_smithy_types::DateTime::from_secs(secs))
            .build()
    };
    let versions = mock!(aws_sdk_iam::Client::list_policy_versions)
        .sequence()
        .output(move || {
            ListPolicyVersionsOutput::builder()
                .versions(version("v5", 50, true))
                .versions(version("v4", 40, false))
                .versions(version("v3", 30, false))
                .is_truncated(true)
                .marker("m1")
                .build()
        })
        .output(move || {
            ListPolicyVersionsOutput::builder()
                .versions(version("v2", 20, false))
                .versions(version("v1", 10, false))
                .build()
        })
        .build();
    let delete = mock!(aws_sdk_iam::Client::delete_policy_version)
        .match_requests(|r| r.version_id() == Some("v1"))
        .then_output(|| DeletePolicyVersionOutput::builder().build());
    let create =
        mock!(aws_sdk_iam::Client::create_policy_version).then_output(|| CreatePolicyVersionOutput::builder().build());
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
    let mut aws = Aws::from_sdk(sdk, REGION.into(), None);
    aws.iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&versions, &delete, &create]);

    let finding = Finding {
        resource: Resource::Policy("arn:aws:iam::123456789012:policy/p".into()),
        property: "document",
        status: Status::Differs,
        expected: json!({ "Version": "2012-10-17", "Statement": [] }),
        actual: json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow" }] }),
        detail: None,
        latency_ms: 0,
    };
    revert(&aws, &[finding]).await.unwrap();
    assert_eq!(versions.num_calls(), 2);
    assert_eq!(delete.num_calls(), 1, "the oldest version, found on the second page, made room");
    assert_eq!(create.num_calls(), 1);
}

/// Regression (issue: output that tells the truth): every live check showed the whole batch's latency. Each
/// property now carries the time of its own resource's read.
#[tokio::test]
async fn each_live_check_has_the_latency_of_its_own_read() {
    use aws_sdk_sns::operation::get_topic_attributes::GetTopicAttributesOutput;
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;

    let url = mock!(aws_sdk_sqs::Client::get_queue_url).then_compute_output(|_| {
        std::thread::sleep(std::time::Duration::from_millis(150));
        GetQueueUrlOutput::builder().queue_url("https://sqs/q").build()
    });
    let attributes =
        mock!(aws_sdk_sqs::Client::get_queue_attributes).then_output(|| GetQueueAttributesOutput::builder().build());
    let topic =
        mock!(aws_sdk_sns::Client::get_topic_attributes).then_output(|| GetTopicAttributesOutput::builder().build());
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
    let mut aws = Aws::from_sdk(sdk, REGION.into(), None);
    aws.sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &attributes]);
    aws.sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&topic]);
    let wanted = |resource: Resource, property: &'static str| Expected { resource, property, value: json!(null) };
    let read = read::read_all_timed(
        &aws,
        &[
            wanted(Resource::Queue("q".into()), "encryption"),
            wanted(Resource::Topic("arn:aws:sns:us-west-1:123456789012:t".into()), "policy"),
        ],
    )
    .await
    .unwrap();
    let (queue_ms, topic_ms) = (read[0].1, read[1].1);
    assert!(queue_ms >= 150, "the slow read's own time: {queue_ms} ms");
    assert!(topic_ms < 150, "not the batch's: {topic_ms} ms");
}

/// Issue 12: what a deploy of a queue notification with a consumer and a role with a managed policy creates, as
/// the live check expects it (so that `drift` is in sync after a deploy): the queue's retention and redrive policy,
/// a dead-letter queue without policy or redrive, the consume statement in the consumer's policy, and the role's
/// extra managed policy among its attachments.
const WORKLOADS: &str = "project: demo\nregion: us-west-1\naccess:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\n    managed_policies: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]\n  transcriber:\n    principal: { service: ecs-tasks.amazonaws.com }\n    allow: [read]\n    prefixes: [recordings/]\nnotifications:\n  wav:\n    suffix: .wav\n    target: queue\n    consumers: [transcriber]\n    max_receives: 3\n";

fn workloads_expected() -> Vec<Expected> {
    let config = crate::config::parse(WORKLOADS, Path::new("dev.yaml"), "dev", None).unwrap();
    let rendered = crate::render::render(&config).unwrap();
    expected(&rendered, ACCOUNT, REGION, &BTreeMap::new())
}

fn expected_value(expected: &[Expected], resource: &Resource, property: &str) -> Value {
    let found = expected.iter().find(|e| &e.resource == resource && e.property == property);
    found.unwrap_or_else(|| panic!("{resource} {property} is not checked")).value.clone()
}

#[test]
fn the_live_check_expects_dead_letter_queues_consumers_and_managed_policies() {
    let expected = workloads_expected();
    let queue = Resource::Queue("demo-dev-wav".into());
    let dead_letter = Resource::Queue("demo-dev-wav-dead-letter".into());
    let dlq_arn = "arn:aws:sqs:us-west-1:123456789012:demo-dev-wav-dead-letter";
    assert_eq!(expected_value(&expected, &queue, "retention"), json!(345_600));
    assert_eq!(
        expected_value(&expected, &queue, "redrive"),
        json!({ "dead_letter_queue": dlq_arn, "max_receives": 3 })
    );
    assert_eq!(expected_value(&expected, &dead_letter, "retention"), json!(1_209_600));
    assert_eq!(expected_value(&expected, &dead_letter, "redrive"), Value::Null);
    assert_eq!(expected_value(&expected, &dead_letter, "policy"), Value::Null);
    assert_eq!(expected_value(&expected, &dead_letter, "encryption"), json!({ "sqs_managed_sse": true }));
    assert_eq!(
        expected_value(&expected, &Resource::Role("demo-dev-writer".into()), "attached_policies"),
        json!([
            "arn:aws:iam::123456789012:policy/demo-dev-writer",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        ])
    );
    let consumer = Resource::Policy("arn:aws:iam::123456789012:policy/demo-dev-transcriber".into());
    let document = expected_value(&expected, &consumer, "document").to_string();
    assert!(document.contains("\"arn:aws:sqs:us-west-1:123456789012:demo-dev-wav\""), "{document}");
    assert!(document.contains("sqs:ReceiveMessage"), "{document}");
}

fn queue_attributes(url: &'static str, attributes: &'static [(&'static str, &'static str)]) -> aws_smithy_mocks::Rule {
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::types::QueueAttributeName;
    mock!(aws_sdk_sqs::Client::get_queue_attributes).match_requests(move |r| r.queue_url() == Some(url)).then_output(
        move || {
            let mut out = GetQueueAttributesOutput::builder();
            for (name, value) in attributes {
                out = out.attributes(QueueAttributeName::from(*name), *value);
            }
            out.build()
        },
    )
}

/// AWS answers a queue's attributes as strings, and leaves out a policy or redrive policy that is not set. A redrive
/// policy set with `"maxReceiveCount": "3"` (SQS takes a string too) is the same policy; a dead-letter queue has
/// neither policy nor redrive policy, and that is in sync.
#[tokio::test]
async fn queue_attributes_as_aws_answers_them_are_in_sync() {
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;

    let url = mock!(aws_sdk_sqs::Client::get_queue_url).then_compute_output(|r| {
        let url = if r.queue_name() == Some("demo-dev-wav") { "https://sqs/wav" } else { "https://sqs/dlq" };
        GetQueueUrlOutput::builder().queue_url(url).build()
    });
    let wav = queue_attributes(
        "https://sqs/wav",
        &[
            ("MessageRetentionPeriod", "345600"),
            ("SqsManagedSseEnabled", "true"),
            (
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-west-1:123456789012:demo-dev-wav-dead-letter","maxReceiveCount":"3"}"#,
            ),
        ],
    );
    let dlq =
        queue_attributes("https://sqs/dlq", &[("MessageRetentionPeriod", "1209600"), ("SqsManagedSseEnabled", "true")]);
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
    let mut aws = Aws::from_sdk(sdk, REGION.into(), None);
    aws.sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &wav, &dlq]);

    let wanted: Vec<Expected> = workloads_expected()
        .into_iter()
        .filter(|e| {
            matches!(&e.resource, Resource::Queue(_)) && e.property != "policy"
                || e.resource == Resource::Queue("demo-dev-wav-dead-letter".into())
        })
        .collect();
    assert_eq!(wanted.len(), 7, "{wanted:#?}");
    let actual = read::read_all(&aws, &wanted).await.unwrap();
    for (e, a) in wanted.into_iter().zip(actual) {
        let finding = compare(e, a);
        assert!(finding.ok(), "{finding}");
    }
}

/// Reverting: the redrive policy is put back as SQS takes it, and where none is expected (a dead-letter queue given
/// a policy or a redrive policy out of band) the attribute is removed with an empty value, as AWS documents for
/// SetQueueAttributes (a `null` would be refused as a policy).
#[tokio::test]
async fn queue_reverts_set_the_redrive_policy_and_remove_with_empty_values() {
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::operation::set_queue_attributes::SetQueueAttributesOutput;
    use aws_sdk_sqs::types::QueueAttributeName;

    let url = mock!(aws_sdk_sqs::Client::get_queue_url).then_compute_output(|r| {
        GetQueueUrlOutput::builder().queue_url(format!("https://sqs/{}", r.queue_name().unwrap())).build()
    });
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let set = {
        let sent = sent.clone();
        mock!(aws_sdk_sqs::Client::set_queue_attributes)
            .match_requests(move |r| {
                let attributes = r.attributes().cloned().unwrap_or_default();
                for (name, value) in attributes {
                    sent.lock().unwrap().push((r.queue_url().unwrap_or_default().to_string(), name, value));
                }
                true
            })
            .then_output(|| SetQueueAttributesOutput::builder().build())
    };
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
    let mut aws = Aws::from_sdk(sdk, REGION.into(), None);
    aws.sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &set]);

    let expected = workloads_expected();
    let queue = Resource::Queue("demo-dev-wav".into());
    let dead_letter = Resource::Queue("demo-dev-wav-dead-letter".into());
    let differs = |resource: &Resource, property: &'static str, actual: Value| Finding {
        resource: resource.clone(),
        property,
        status: Status::Differs,
        expected: expected_value(&expected, resource, property),
        actual,
        detail: None,
        latency_ms: 0,
    };
    let findings = [
        differs(&queue, "redrive", Value::Null),
        differs(&queue, "retention", json!(60)),
        differs(&dead_letter, "policy", json!({ "Version": "2012-10-17", "Statement": [] })),
        differs(&dead_letter, "redrive", json!({ "dead_letter_queue": "arn:x", "max_receives": 1 })),
    ];
    let done = revert(&aws, &findings).await.unwrap();
    assert_eq!(done.len(), 4, "{done:?}");
    let sent = sent.lock().unwrap().clone();
    let redrive: Value = serde_json::from_str(&sent[0].2).unwrap();
    assert_eq!(
        (sent[0].0.as_str(), &sent[0].1, redrive),
        (
            "https://sqs/demo-dev-wav",
            &QueueAttributeName::RedrivePolicy,
            json!({ "deadLetterTargetArn": "arn:aws:sqs:us-west-1:123456789012:demo-dev-wav-dead-letter", "maxReceiveCount": 3 })
        )
    );
    assert_eq!(sent[1].1, QueueAttributeName::MessageRetentionPeriod);
    assert_eq!(sent[1].2, "345600");
    let removed: Vec<_> =
        sent[2..].iter().map(|(url, name, value)| (url.as_str(), name.clone(), value.as_str())).collect();
    assert_eq!(
        removed,
        [
            ("https://sqs/demo-dev-wav-dead-letter", QueueAttributeName::Policy, ""),
            ("https://sqs/demo-dev-wav-dead-letter", QueueAttributeName::RedrivePolicy, ""),
        ]
    );
}
