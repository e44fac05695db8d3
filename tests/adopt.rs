//! `provision adopt` against the local emulator: a bucket made by hand, with objects and versions, a bucket policy
//! statement of its own, a lifecycle rule and a notification to a queue that is not the stack's. The deploy is
//! refused and points at `adopt`; the plan names every risky change; nothing changes without consent; adoption
//! keeps every object and version and leaves the bucket as the config says, which drift then confirms.
//!
//! The emulator ignores `ImportExistingResources` and takes the existing bucket on create (tests/README.md); the
//! AWS side of the import is pinned in tests/adopt_mock.rs.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketVersioningStatus, Event, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NotificationConfiguration, QueueConfiguration, VersioningConfiguration,
};
use common::*;

const PARTNER_STATEMENT: &str = "PartnerRead";

/// Makes the hand-made bucket; returns the ARN of the queue its notification goes to and its version count.
async fn hand_made(aws: &provision::aws::Aws, bucket: &str, queue: &str) -> (String, usize) {
    aws.s3.create_bucket().bucket(bucket).send().await.unwrap();
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    aws.s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await.unwrap();
    for (key, body) in [("calls/1.json", "v1"), ("calls/1.json", "v2"), ("calls/2.mp3", "audio")] {
        let body = ByteStream::from(body.as_bytes().to_vec());
        aws.s3.put_object().bucket(bucket).key(key).body(body).send().await.unwrap();
    }
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": PARTNER_STATEMENT, "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{ACCOUNT}:root") },
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/calls/*"),
        }],
    });
    aws.s3.put_bucket_policy().bucket(bucket).policy(policy.to_string()).send().await.unwrap();
    let rule = LifecycleRule::builder()
        .id("old-exports")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("exports/").build())
        .expiration(LifecycleExpiration::builder().days(400).build())
        .build()
        .unwrap();
    let lifecycle = BucketLifecycleConfiguration::builder().rules(rule).build().unwrap();
    aws.s3.put_bucket_lifecycle_configuration().bucket(bucket).lifecycle_configuration(lifecycle).send().await.unwrap();
    aws.sqs.create_queue().queue_name(queue).send().await.unwrap();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}");
    let target = QueueConfiguration::builder().queue_arn(&arn).events(Event::S3ObjectCreated).build().unwrap();
    let notifications = NotificationConfiguration::builder().queue_configurations(target).build();
    aws.s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notifications)
        .send()
        .await
        .unwrap();
    (arn, versions(aws, bucket).await)
}

async fn versions(aws: &provision::aws::Aws, bucket: &str) -> usize {
    let listed = aws.s3.list_object_versions().bucket(bucket).send().await.unwrap();
    listed.versions().len()
}

async fn policy_text(aws: &provision::aws::Aws, bucket: &str) -> String {
    aws.s3.get_bucket_policy().bucket(bucket).send().await.unwrap().policy.unwrap_or_default()
}

async fn notified_queues(aws: &provision::aws::Aws, bucket: &str) -> Vec<String> {
    let config = aws.s3.get_bucket_notification_configuration().bucket(bucket).send().await.unwrap();
    config.queue_configurations().iter().map(|q| q.queue_arn().to_string()).collect()
}

#[test]
fn a_hand_made_bucket_is_adopted_with_its_data_after_a_plan_and_consent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let project = unique("it-adopt");
    let bucket = format!("{project}-archive");
    let theirs = format!("{project}-theirs");
    let aws = runtime.block_on(common::aws());
    let (their_queue, versions_before) = runtime.block_on(hand_made(&aws, &bucket, &theirs));
    assert_eq!(versions_before, 3);
    let env = format!(
        "project: {project}\nregion: {REGION}\naccount: \"{ACCOUNT}\"\nbucket:\n  name: {bucket}\n\
         notifications:\n  new-call:\n    prefix: calls/\n    target: queue\n"
    );
    let stacks = stacks("adopt", &[("dev.yaml", &env)]);

    // A deploy does not take the bucket over: it refuses and says how to adopt it.
    let deploy = provision(&stacks, &["--no-smoke", "--env", "dev"]);
    assert_eq!(deploy.code, 3, "{deploy:?}");
    assert!(deploy.stderr.contains("provision adopt --env dev"), "{}", deploy.stderr);

    // The plan names each risky change and changes nothing.
    let dry = provision(&stacks, &["adopt", "--env", "dev", "--dry-run", "--output", "json"]);
    assert_eq!(dry.code, 2, "{dry:?}");
    let plan = &dry.json()["plan"];
    let risks: Vec<&str> = plan["risks"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for risk in ["data-expiry", "policy-removal", "notification-loss"] {
        assert!(risks.contains(&risk), "{risk} missing from {plan}");
    }
    let changes = plan["changes"].as_array().unwrap();
    let removed = changes.iter().find(|c| c["risk"] == "policy-removal").unwrap();
    assert_eq!(removed["detail"]["Sid"], PARTNER_STATEMENT, "{removed}");
    let lost = changes.iter().find(|c| c["risk"] == "notification-loss").unwrap();
    assert!(lost["what"].as_str().unwrap().contains(&their_queue), "{lost}");
    let text = provision(&stacks, &["adopt", "--env", "dev", "--dry-run"]);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.stdout.contains(&format!("adopt bucket {bucket} into stack {project}-dev")), "{}", text.stdout);
    assert!(text.stdout.contains("[policy-removal] policy: bucket policy statement PartnerRead is removed"));

    // Off a terminal, risky changes need --yes: refused, and the bucket is as it was.
    let refused = provision(&stacks, &["adopt", "--env", "dev"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    assert!(runtime.block_on(policy_text(&aws, &bucket)).contains(PARTNER_STATEMENT));
    assert_eq!(runtime.block_on(notified_queues(&aws, &bucket)), std::slice::from_ref(&their_queue));
    let no_stack = runtime.block_on(provision::stack::describe(&aws.cfn, &format!("{project}-dev"))).unwrap();
    assert!(no_stack.is_none(), "a refused adoption made a stack");

    let adopted = provision(&stacks, &["adopt", "--env", "dev", "--yes"]);
    assert_eq!(adopted.code, 0, "{adopted:?}");
    assert!(adopted.stdout.contains(&format!("bucket {bucket} adopted into stack {project}-dev")));

    // Every object and version is still there; the settings are the config's.
    assert_eq!(runtime.block_on(versions(&aws, &bucket)), versions_before);
    assert!(!runtime.block_on(policy_text(&aws, &bucket)).contains(PARTNER_STATEMENT));
    let ours = runtime.block_on(notified_queues(&aws, &bucket));
    assert!(ours.iter().all(|q| q != &their_queue) && !ours.is_empty(), "{ours:?}");
    let resources = runtime.block_on(provision::stack::resources(&aws.cfn, &format!("{project}-dev"))).unwrap();
    assert!(resources.iter().any(|r| r.logical_id == "DataBucket" && r.physical_id.as_deref() == Some(&bucket)));

    let drift = provision(&stacks, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "adopted, then drifted: {drift:?}");
    let again = provision(&stacks, &["adopt", "--env", "dev", "--dry-run"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("nothing to adopt"), "{}", again.stdout);
}

#[test]
fn a_missing_bucket_or_a_pattern_name_is_not_adopted() {
    let project = unique("it-adopt-none");
    let env =
        format!("project: {project}\nregion: {REGION}\naccount: \"{ACCOUNT}\"\nbucket:\n  name: {project}-nothing\n");
    let stacks = stacks("adopt-none", &[("dev.yaml", &env), ("pattern.yaml", &env_file(&project))]);
    let missing = provision(&stacks, &["adopt", "--env", "dev", "--dry-run"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("nothing to adopt"), "{}", missing.stderr);
    let pattern = provision(&stacks, &["adopt", "--env", "pattern", "--dry-run"]);
    assert_eq!(pattern.code, 1, "{pattern:?}");
    assert!(pattern.stderr.contains("imports a bucket only by a name written out"), "{}", pattern.stderr);
}

#[test]
fn init_writes_an_env_file_from_the_bucket_that_validates_and_adopts_with_fewer_risks() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let project = unique("it-init");
    let bucket = format!("{project}-recordings");
    let aws = runtime.block_on(common::aws());
    let (their_queue, _) = runtime.block_on(hand_made(&aws, &bucket, &format!("{project}-poller")));
    let stacks = stacks("init", &[]);

    let init = provision(&stacks, &["init", "--from-bucket", &bucket, "--env", "prod", "--region", REGION]);
    assert_eq!(init.code, 0, "{init:?}");
    let text = std::fs::read_to_string(stacks.join("prod.yaml")).unwrap();
    assert!(text.contains(&format!("name: \"{bucket}\"")), "{text}");
    assert!(text.contains(&format!("target: {{ queue_arn: \"{their_queue}\" }}")), "{text}");
    assert!(text.contains("prefix: \"exports/\"") && text.contains("expire_after_days: 400"), "{text}");
    // The partner's Allow statement has no form in the schema: a warning and a comment.
    assert!(init.stderr.contains("warning: the bucket policy statement PartnerRead"), "{}", init.stderr);
    assert!(text.contains("# - the bucket policy statement PartnerRead"), "{text}");
    assert_eq!(provision(&stacks, &["validate", "--env", "prod"]).code, 0);

    // Never over an existing file, and nothing for a bucket that does not exist.
    let again = provision(&stacks, &["init", "--from-bucket", &bucket, "--env", "prod", "--region", REGION]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("exists already: nothing was written"), "{}", again.stderr);
    let missing = provision(&stacks, &["init", "--from-bucket", &format!("{project}-none"), "--env", "other"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(!stacks.join("other.yaml").exists());

    // What init reproduced is not changed by adopting: the queue keeps its events, no rule deletes sooner.
    let dry = provision(&stacks, &["adopt", "--env", "prod", "--dry-run", "--output", "json"]);
    assert_eq!(dry.code, 2, "{dry:?}");
    let risks = dry.json()["plan"]["risks"].clone();
    assert!(!risks.as_array().unwrap().iter().any(|r| r == "notification-loss" || r == "data-expiry"), "{risks}");
    assert!(risks.as_array().unwrap().iter().any(|r| r == "policy-removal"), "{risks}");
}
