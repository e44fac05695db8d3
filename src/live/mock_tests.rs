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
use crate::config::{TAG_CREATED, TAG_EXPIRES};

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
    tags.push(tag("aws:cloudformation:stack-id", "arn:aws:cloudformation:us-west-1:123456789012:stack/demo-dev-pr-1/1"));
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
        mock!(aws_sdk_s3::Client::get_bucket_tagging)
            .then_output(move || GetBucketTaggingOutput::builder().set_tag_set(Some(tags_on_aws(&config, &[]))).build().unwrap())
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
