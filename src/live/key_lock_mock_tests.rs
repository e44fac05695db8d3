//! The live check and revert of Object Lock and of the bucket's own KMS key, against AWS's answers replayed with the
//! SDK's mock clients (the emulator does not hold key policies or rotation the way KMS does; see tests/README.md).

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::enable_key_rotation::EnableKeyRotationOutput;
use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput;
use aws_sdk_kms::types::{KeyMetadata, KeyState};
use aws_sdk_s3::operation::get_object_lock_configuration::{
    GetObjectLockConfigurationError, GetObjectLockConfigurationOutput,
};
use aws_sdk_s3::operation::put_object_lock_configuration::PutObjectLockConfigurationOutput;
use aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use serde_json::{Value, json};

use super::*;
use crate::ids::{BUCKET_KEY_ID, DEPLOYER_PARAMETER};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-west-1";
const BUCKET: &str = "demo-prod-123456789012-us-west-1";
const KEY_ARN: &str = "arn:aws:kms:us-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const DEPLOYER: &str = "arn:aws:iam::123456789012:role/ci/provision-deployer";

fn rendered(src: &str) -> Rendered {
    let config = crate::config::parse(src, Path::new("prod.yaml"), "prod", None).unwrap();
    let deployed = BTreeMap::from([(DEPLOYER_PARAMETER.to_string(), DEPLOYER.to_string())]);
    crate::render::render(&config).unwrap().with_parameters(&deployed)
}

const KMS_ENV: &str = "project: demo\nregion: us-west-1\naccount: \"123456789012\"\nprotected: true\n\
    bucket:\n  encryption: kms\n  object_lock: { mode: governance, days: 30 }\n\
    access:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\n";

fn clients(s3: aws_sdk_s3::Client, kms: aws_sdk_kms::Client) -> Aws {
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
    let mut aws = Aws::from_sdk(sdk, REGION.into(), None);
    aws.s3 = s3;
    aws.kms = kms;
    aws
}

fn find<'a>(expected: &'a [Expected], resource: &Resource, property: &str) -> &'a Expected {
    expected.iter().find(|e| &e.resource == resource && e.property == property).unwrap()
}

fn key_metadata() -> DescribeKeyOutput {
    let metadata = KeyMetadata::builder()
        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
        .arn(KEY_ARN)
        .key_state(KeyState::Enabled)
        .build()
        .unwrap();
    DescribeKeyOutput::builder().key_metadata(metadata).build()
}

/// The key's ARN is made by KMS, so the template cannot tell it: the live check finds the key through the alias the
/// template gives it, and the bucket's encryption, the entries' policies and the key itself are compared with that
/// key. The deployer the key policy names is the one the stack was deployed with (its parameter).
#[tokio::test]
async fn the_bucket_key_is_found_through_its_alias_and_named_everywhere_by_its_arn() {
    let rendered = rendered(KMS_ENV);
    let describe = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some("alias/demo-prod"))
        .then_output(key_metadata);
    let aws = clients(
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, []),
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&describe]),
    );
    let keys = read::key_arns(&aws, &rendered.template_value).await.unwrap();
    assert_eq!(keys, BTreeMap::from([(BUCKET_KEY_ID.to_string(), KEY_ARN.to_string())]));

    let expected = expected_knowing(&rendered, ACCOUNT, REGION, &BTreeMap::new(), &keys);
    let text = serde_json::to_string(&expected).unwrap();
    assert!(!text.contains("Fn::") && !text.contains("\"Ref\""), "every intrinsic resolved: {text}");
    let bucket = Resource::Bucket(BUCKET.into());
    assert_eq!(find(&expected, &bucket, "encryption").value["kms_key"], KEY_ARN);
    let key = Resource::Key(KEY_ARN.into());
    assert_eq!(find(&expected, &key, "rotation").value, json!(true));
    assert_eq!(find(&expected, &key, "state").value, json!("Enabled"));
    let policy = find(&expected, &key, "policy").value.to_string();
    assert!(policy.contains(DEPLOYER) && policy.contains(&format!("arn:aws:s3:::{BUCKET}")), "{policy}");
    let writer = Resource::Policy(format!("arn:aws:iam::{ACCOUNT}:policy/demo-prod-writer"));
    let document = find(&expected, &writer, "document").value.to_string();
    assert!(document.contains(KEY_ARN) && document.contains("s3.us-west-1.amazonaws.com"), "{document}");
}

/// Regression (AWS): a key whose rotation was turned off out of band is drift, and the revert turns it back on;
/// a key whose policy is as deployed is in sync.
#[tokio::test]
async fn a_key_with_rotation_turned_off_is_drift_and_reverted() {
    let rendered = rendered(KMS_ENV);
    let keys = BTreeMap::from([(BUCKET_KEY_ID.to_string(), KEY_ARN.to_string())]);
    let expected = expected_knowing(&rendered, ACCOUNT, REGION, &BTreeMap::new(), &keys);
    let key = Resource::Key(KEY_ARN.into());
    let wanted: Vec<Expected> = expected.into_iter().filter(|e| e.resource == key).collect();
    let deployed_policy = wanted.iter().find(|e| e.property == "policy").unwrap().value.to_string();

    let describe = mock!(aws_sdk_kms::Client::describe_key).then_output(key_metadata);
    let rotation = mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .then_output(|| GetKeyRotationStatusOutput::builder().key_rotation_enabled(false).build());
    let policy = mock!(aws_sdk_kms::Client::get_key_policy)
        .then_output(move || GetKeyPolicyOutput::builder().policy(deployed_policy.clone()).build());
    let enable = mock!(aws_sdk_kms::Client::enable_key_rotation)
        .match_requests(|r| r.key_id() == Some(KEY_ARN))
        .then_output(|| EnableKeyRotationOutput::builder().build());
    let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&describe, &rotation, &policy, &enable]);
    let aws = clients(mock_client!(aws_sdk_s3, RuleMode::MatchAny, []), kms);

    let actual = read::read_all(&aws, &wanted).await.unwrap();
    let findings: Vec<Finding> = wanted.into_iter().zip(actual).map(|(e, a)| compare(e, a)).collect();
    let drifted: Vec<&str> = findings.iter().filter(|f| !f.ok()).map(|f| f.property).collect();
    assert_eq!(drifted, ["rotation"], "{findings:#?}");
    let reverted = revert(&aws, &findings).await.unwrap();
    assert_eq!(reverted.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), ["EnableKeyRotation"]);
    assert_eq!(enable.num_calls(), 1);
}

fn lock_answer(mode: ObjectLockRetentionMode, days: i32) -> GetObjectLockConfigurationOutput {
    let retention = DefaultRetention::builder().mode(mode).days(days).build();
    let config = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(ObjectLockRule::builder().default_retention(retention).build())
        .build();
    GetObjectLockConfigurationOutput::builder().object_lock_configuration(config).build()
}

/// Object Lock is compared (a shortened retention is drift) and its default retention put back; a bucket without
/// Object Lock where the config has none is in sync.
#[tokio::test]
async fn object_lock_retention_is_compared_and_put_back() {
    let rendered = rendered(KMS_ENV);
    let expected = expected_knowing(&rendered, ACCOUNT, REGION, &BTreeMap::new(), &BTreeMap::new());
    let wanted = find(&expected, &Resource::Bucket(BUCKET.into()), "object_lock").clone();
    assert_eq!(wanted.value, json!({ "mode": "GOVERNANCE", "days": 30, "years": null }));

    let get = mock!(aws_sdk_s3::Client::get_object_lock_configuration)
        .then_output(|| lock_answer(ObjectLockRetentionMode::Governance, 1));
    let put = mock!(aws_sdk_s3::Client::put_object_lock_configuration)
        .match_requests(|r| {
            let retention = r.object_lock_configuration().and_then(|c| c.rule()).and_then(|r| r.default_retention());
            retention.is_some_and(|d| d.days() == Some(30) && d.mode() == Some(&ObjectLockRetentionMode::Governance))
        })
        .then_output(|| PutObjectLockConfigurationOutput::builder().build());
    let aws = clients(
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get, &put]),
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, []),
    );
    let actual = read::read_all(&aws, std::slice::from_ref(&wanted)).await.unwrap();
    let finding = compare(wanted, actual.into_iter().next().flatten());
    assert_eq!(finding.status, Status::Differs, "{finding}");
    let reverted = revert(&aws, &[finding]).await.unwrap();
    assert_eq!(reverted[0].action, "PutObjectLockConfiguration");
    assert_eq!(put.num_calls(), 1);

    // Without Object Lock in the config: S3's "not found" is what is expected.
    let plain = rendered.clone();
    let plain_src = KMS_ENV.replace("  object_lock: { mode: governance, days: 30 }\n", "");
    let plain = crate::render::render(&crate::config::parse(&plain_src, Path::new("prod.yaml"), "prod", None).unwrap())
        .map(|r| r.with_parameters(&plain.parameters))
        .unwrap();
    let expected = expected_knowing(&plain, ACCOUNT, REGION, &BTreeMap::new(), &BTreeMap::new());
    let wanted = find(&expected, &Resource::Bucket(BUCKET.into()), "object_lock").clone();
    assert_eq!(wanted.value, Value::Null);
    let none = mock!(aws_sdk_s3::Client::get_object_lock_configuration).then_error(|| {
        GetObjectLockConfigurationError::generic(
            ErrorMetadata::builder().code("ObjectLockConfigurationNotFoundError").build(),
        )
    });
    let aws = clients(
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&none]),
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, []),
    );
    let actual = read::read_all(&aws, std::slice::from_ref(&wanted)).await.unwrap();
    assert!(compare(wanted, actual.into_iter().next().flatten()).ok());
}

/// S3 cannot turn Object Lock off: a bucket that has it where the config has none is reported, and left as it is.
#[tokio::test]
async fn object_lock_the_config_does_not_have_is_reported_not_reverted() {
    let finding = compare(
        Expected { resource: Resource::Bucket(BUCKET.into()), property: "object_lock", value: Value::Null },
        Some(json!({ "mode": "COMPLIANCE", "days": 1, "years": null })),
    );
    assert_eq!(finding.status, Status::Differs);
    let put = mock!(aws_sdk_s3::Client::put_object_lock_configuration)
        .then_output(|| PutObjectLockConfigurationOutput::builder().build());
    let aws = clients(
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&put]),
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, []),
    );
    assert!(revert(&aws, &[finding]).await.unwrap().is_empty());
    assert_eq!(put.num_calls(), 0);
}
