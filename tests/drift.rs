//! Drift against the emulator: each kind of out-of-band change is made for real through the S3/IAM/SQS APIs,
//! found with the right resource and property (exit 2), reverted, and the next check exits 0.

mod common;

use std::path::{Path, PathBuf};

use aws_sdk_s3::types::*;
use common::*;
use serde_json::Value;

fn findings(run: &Run) -> Vec<Value> {
    run.json()["envs"][0]["report"]["findings"].as_array().cloned().unwrap_or_default()
}

fn has(findings: &[Value], resource_prefix: &str, property: &str) -> bool {
    findings
        .iter()
        .any(|f| f["resource"].as_str().is_some_and(|r| r.starts_with(resource_prefix)) && f["property"] == property)
}

/// Deploys a self-healing env (so the emulator's known gaps are reverted at once) and returns its names.
fn deployed(name: &str) -> (PathBuf, String) {
    let (stacks, stack, _) = deployed_with(name, "");
    (stacks, stack)
}

/// [`deployed`] with `extra` (top-level YAML) appended to the env file; also returns the properties the deploy's
/// self-healing put back.
fn deployed_with(name: &str, extra: &str) -> (PathBuf, String, Vec<String>) {
    let project = unique(name);
    let env = env_file(&project) + "drift:\n  self_heal: true\n" + extra;
    let stacks = stacks(name, &[("dev.yaml", &env)]);
    let run = provision(&stacks, &["--no-smoke", "--env", "dev", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let healed = run.json()["reverted"]
        .as_array()
        .unwrap_or_else(|| panic!("no `reverted` list: {}", run.stdout))
        .iter()
        .filter_map(|r| r["property"].as_str().map(str::to_string))
        .collect();
    let clean = provision(&stacks, &["drift", "--env", "dev"]);
    assert_eq!(clean.code, 0, "a fresh self-healed deploy is in sync: {clean:?}");
    (stacks, format!("{project}-dev"), healed)
}

fn bucket_of(stack: &str) -> String {
    format!("{stack}-{ACCOUNT}-{REGION}")
}

/// After one setting of `bucket` was changed out of band: `drift` finds exactly that (exit 2, live layer),
/// `drift --revert` puts it back with `action` and nothing else, and the next check is clean. Returns the finding.
fn found_and_reverted(stacks: &Path, bucket: &str, property: &str, action: &str) -> Value {
    let run = provision(stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let found = findings(&run);
    assert_eq!(found.len(), 1, "only {property} was changed: {found:#?}");
    let finding = found[0].clone();
    assert_eq!(finding["resource"], format!("bucket {bucket}"), "{finding:#}");
    assert_eq!(finding["property"], property, "{finding:#}");
    assert_eq!(finding["layer"], "live", "{finding:#}");

    let reverted = provision(stacks, &["drift", "--env", "dev", "--revert", "--output", "json"]);
    assert_eq!(reverted.code, 0, "{reverted:?}");
    let done = reverted.json()["envs"][0]["reverted"].clone();
    let done = done.as_array().unwrap_or_else(|| panic!("no `reverted` list: {}", reverted.stdout));
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!((done[0]["property"].as_str(), done[0]["action"].as_str()), (Some(property), Some(action)), "{done:#?}");
    let again = provision(stacks, &["drift", "--env", "dev"]);
    assert_eq!(again.code, 0, "in sync after the revert: {again:?}");
    finding
}

/// A real KMS key on the emulator (an `AWS::KMS::Key` stack of its own); returns its ARN.
fn kms_key(runtime: &tokio::runtime::Runtime, aws: &provision::aws::Aws, name: &str) -> String {
    let stack = format!("{}-key", unique(name));
    let template = serde_json::json!({
        "Resources": { "Key": { "Type": "AWS::KMS::Key", "Properties": { "KeyPolicy": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{ACCOUNT}:root") },
                "Action": "kms:*", "Resource": "*"
            }]
        } } } },
        "Outputs": { "Arn": { "Value": { "Fn::GetAtt": ["Key", "Arn"] } } }
    });
    runtime.block_on(aws.cfn.create_stack().stack_name(&stack).template_body(template.to_string()).send()).unwrap();
    for _ in 0..100 {
        let info = runtime.block_on(provision::stack::describe(&aws.cfn, &stack)).unwrap().unwrap();
        if !info.status.ends_with("IN_PROGRESS") {
            assert_eq!(info.status, "CREATE_COMPLETE", "{info:?}");
            let arn = info.outputs.get("Arn").cloned().unwrap_or_default();
            assert!(arn.starts_with(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/")), "{info:?}");
            return arn;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("key stack {stack} did not finish");
}

/// The bucket's default encryption: (algorithm, KMS key, bucket key enabled).
fn encryption_of(
    runtime: &tokio::runtime::Runtime,
    aws: &provision::aws::Aws,
    bucket: &str,
) -> (String, Option<String>, bool) {
    let out = runtime.block_on(aws.s3.get_bucket_encryption().bucket(bucket).send()).unwrap();
    let rule = out.server_side_encryption_configuration.unwrap().rules.into_iter().next().unwrap();
    let default = rule.apply_server_side_encryption_by_default.unwrap();
    (default.sse_algorithm.as_str().to_string(), default.kms_master_key_id, rule.bucket_key_enabled.unwrap_or(false))
}

fn put_encryption(runtime: &tokio::runtime::Runtime, aws: &provision::aws::Aws, bucket: &str, kms_key: Option<&str>) {
    let default = match kms_key {
        Some(key) => {
            ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms).kms_master_key_id(key)
        }
        None => ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256),
    };
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default.build().unwrap())
        .bucket_key_enabled(kms_key.is_some())
        .build();
    let config = ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap();
    runtime
        .block_on(aws.s3.put_bucket_encryption().bucket(bucket).server_side_encryption_configuration(config).send())
        .unwrap();
}

#[test]
fn live_changes_are_found_and_reverted() {
    let (stacks, stack) = deployed("drift-live");
    let bucket = format!("{stack}-000000000000-us-east-1");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    runtime.block_on(async {
        aws.s3
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build(),
            )
            .send()
            .await
            .unwrap();
        let rule = LifecycleRule::builder()
            .id("someone-else")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
            .expiration(LifecycleExpiration::builder().days(1).build())
            .build()
            .unwrap();
        aws.s3
            .put_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
            .send()
            .await
            .unwrap();
        aws.s3
            .put_public_access_block()
            .bucket(&bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(false)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let policy = aws.s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy.unwrap();
        let mut doc: Value = serde_json::from_str(&policy).unwrap();
        doc["Statement"].as_array_mut().unwrap().push(serde_json::json!({
            "Sid": "Sneaky", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }));
        aws.s3.put_bucket_policy().bucket(&bucket).policy(doc.to_string()).send().await.unwrap();
        let tags = Tagging::builder()
            .tag_set(Tag::builder().key("managed-by").value("someone").build().unwrap())
            .build()
            .unwrap();
        aws.s3.put_bucket_tagging().bucket(&bucket).tagging(tags).send().await.unwrap();
        aws.iam
            .attach_role_policy()
            .role_name(format!("{stack}-writer"))
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await
            .unwrap();
        let wide = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        aws.iam
            .create_policy_version()
            .policy_arn(format!("arn:aws:iam::000000000000:policy/{stack}-writer"))
            .policy_document(wide.to_string())
            .set_as_default(true)
            .send()
            .await
            .unwrap();
        let url = aws.sqs.get_queue_url().queue_name(format!("{stack}-wav")).send().await.unwrap().queue_url.unwrap();
        let open = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*"}]});
        aws.sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, open.to_string())
            .send()
            .await
            .unwrap();
    });

    let run = provision(&stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let found = findings(&run);
    let b = format!("bucket {bucket}");
    for property in ["versioning", "lifecycle", "public_access_block", "policy", "tags"] {
        assert!(has(&found, &b, property), "{property} not found: {found:#?}");
    }
    assert!(has(&found, &format!("role {stack}-writer"), "attached_policies"), "{found:#?}");
    assert!(has(&found, &format!("policy {stack}-writer"), "document"), "{found:#?}");
    assert!(has(&found, &format!("queue {stack}-wav"), "policy"), "{found:#?}");
    let policy = found.iter().find(|f| f["resource"] == b.as_str() && f["property"] == "policy").unwrap();
    assert!(policy["detail"].as_str().unwrap().contains("extra:"), "{policy}");
    assert!(found.iter().all(|f| f["layer"] == "live"), "{found:#?}");

    let reverted = provision(&stacks, &["drift", "--env", "dev", "--revert", "--output", "json"]);
    assert_eq!(reverted.code, 0, "{reverted:?}");
    assert!(reverted.json()["envs"][0]["reverted"].as_array().unwrap().len() >= 8, "{}", reverted.stdout);
    assert_eq!(provision(&stacks, &["drift", "--env", "dev"]).code, 0);
}

#[test]
fn notification_changes_are_found_and_reverted() {
    let (stacks, stack) = deployed("drift-notify");
    let bucket = format!("{stack}-000000000000-us-east-1");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let queue_arn = format!("arn:aws:sqs:us-east-1:000000000000:{stack}-wav");
    // Remove ours, add another one.
    runtime.block_on(async {
        let other = QueueConfiguration::builder()
            .queue_arn(&queue_arn)
            .events(Event::from("s3:ObjectRemoved:*"))
            .build()
            .unwrap();
        aws.s3
            .put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(NotificationConfiguration::builder().queue_configurations(other).build())
            .send()
            .await
            .unwrap();
    });
    let run = provision(&stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let found = findings(&run);
    let note = found.iter().find(|f| f["property"] == "notifications").expect("notifications differ");
    let detail = note["detail"].as_str().unwrap();
    assert!(detail.contains("extra:") && detail.contains("s3:ObjectRemoved:*"), "{detail}");
    assert!(detail.contains("missing:") && detail.contains(".wav"), "{detail}");
    assert_eq!(provision(&stacks, &["drift", "--env", "dev", "--revert"]).code, 0);
    assert_eq!(provision(&stacks, &["drift", "--env", "dev"]).code, 0);
}

#[test]
fn config_edited_but_not_deployed_is_pending_and_revert_deploys_it() {
    let (stacks, _) = deployed("drift-pending");
    let file = stacks.join("dev.yaml");
    let edited = std::fs::read_to_string(&file).unwrap().replace("allow: [write, read]", "allow: [write]");
    std::fs::write(&file, edited).unwrap();
    let run = provision(&stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let found = findings(&run);
    let pending = found.iter().find(|f| f["layer"] == "pending").expect("a pending finding");
    let diff = pending["detail"].as_str().unwrap();
    assert!(diff.contains("-") && diff.contains("s3:GetObject"), "{diff}");
    let reverted = provision(&stacks, &["drift", "--env", "dev", "--revert", "--output", "json"]);
    assert_eq!(reverted.code, 0, "{reverted:?}");
    assert_eq!(reverted.json()["envs"][0]["deployed"], "update");
}

#[test]
fn deleted_stack_is_an_error_and_several_envs_report_the_worst() {
    let (stacks, stack) = deployed("drift-gone");
    // Checked in the same run: one env in sync, one whose stack was never deployed.
    let other = unique("drift-other");
    std::fs::write(stacks.join("other.yaml"), env_file(&other) + "drift:\n  self_heal: true\n").unwrap();
    assert_eq!(provision(&stacks, &["--no-smoke", "--env", "other"]).code, 0);
    std::fs::write(stacks.join("never.yaml"), env_file(&unique("drift-never"))).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    runtime.block_on(aws.cfn.delete_stack().stack_name(&stack).send()).unwrap();
    for _ in 0..50 {
        if runtime.block_on(provision::stack::describe(&aws.cfn, &stack)).unwrap().is_none() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let run = provision(&stacks, &["drift", "--output", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    let envs: Vec<(&str, &str)> = doc["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["env"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    // The errors do not hide the env that is in sync.
    assert_eq!(envs, [("dev", "error"), ("never", "error"), ("other", "in-sync")], "{doc}");
    assert!(doc["envs"][0]["error"].as_str().unwrap().contains("does not exist"), "{doc}");
    assert!(doc["envs"][1]["error"].as_str().unwrap().contains("does not exist"), "{doc}");
    let text = provision(&stacks, &["drift", "--env", "dev", "--output", "github"]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("::error title=provision drift dev::"), "{}", text.stdout);
}

/// An SSE-KMS env: the emulator ignores `BucketEncryption` on create (see tests/README.md), so the deploy's
/// self-healing puts the key on; then the bucket is switched to SSE-S3 out of band, found, and put back.
#[test]
fn kms_encryption_switched_to_sse_s3_is_found_and_reverted() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let key = kms_key(&runtime, &aws, "drift-kms");
    let extra = format!("bucket:\n  encryption: {{ kms_key_arn: \"{key}\" }}\n");
    let (stacks, stack, healed) = deployed_with("drift-kms", &extra);
    let bucket = bucket_of(&stack);
    assert!(healed.contains(&"encryption".to_string()), "the deploy put the key on: {healed:?}");
    let kms = ("aws:kms".to_string(), Some(key.clone()), true);
    assert_eq!(encryption_of(&runtime, &aws, &bucket), kms);

    put_encryption(&runtime, &aws, &bucket, None);
    let finding = found_and_reverted(&stacks, &bucket, "encryption", "PutBucketEncryption");
    assert_eq!(finding["expected"], serde_json::json!({ "algorithm": "aws:kms", "kms_key": key, "bucket_key": true }));
    assert_eq!(finding["actual"], serde_json::json!({ "algorithm": "AES256" }));
    assert_eq!(encryption_of(&runtime, &aws, &bucket), kms);
}

/// The default (SSE-S3) bucket switched to SSE-KMS out of band: found, and AES256 put back.
#[test]
fn sse_s3_switched_to_kms_is_found_and_reverted() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let key = kms_key(&runtime, &aws, "drift-sse");
    let (stacks, stack) = deployed("drift-sse");
    let bucket = bucket_of(&stack);

    put_encryption(&runtime, &aws, &bucket, Some(&key));
    let finding = found_and_reverted(&stacks, &bucket, "encryption", "PutBucketEncryption");
    assert_eq!(finding["expected"], serde_json::json!({ "algorithm": "AES256" }));
    assert_eq!(finding["actual"], serde_json::json!({ "algorithm": "aws:kms", "kms_key": key, "bucket_key": true }));
    assert_eq!(encryption_of(&runtime, &aws, &bucket), ("AES256".to_string(), None, false));
}

/// Access logging into an existing log bucket: the emulator ignores `LoggingConfiguration` on create, so the
/// deploy's self-healing turns it on; then it is turned off out of band, found, and turned on again.
#[test]
fn access_logging_turned_off_is_found_and_reverted() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let logs = format!("{}-access-logs", unique("drift-logging"));
    runtime.block_on(aws.s3.create_bucket().bucket(&logs).send()).unwrap();
    let extra = format!("bucket:\n  access_logs: {{ bucket: {logs}, prefix: x/ }}\n");
    let (stacks, stack, healed) = deployed_with("drift-logging", &extra);
    let bucket = bucket_of(&stack);
    assert!(healed.contains(&"logging".to_string()), "the deploy turned logging on: {healed:?}");
    let logging = || {
        let out = runtime.block_on(aws.s3.get_bucket_logging().bucket(&bucket).send()).unwrap();
        out.logging_enabled.map(|l| (l.target_bucket, l.target_prefix))
    };
    assert_eq!(logging(), Some((logs.clone(), "x/".to_string())));

    let off = BucketLoggingStatus::builder().build();
    runtime.block_on(aws.s3.put_bucket_logging().bucket(&bucket).bucket_logging_status(off).send()).unwrap();
    assert_eq!(logging(), None, "the emulator turned logging off");
    let finding = found_and_reverted(&stacks, &bucket, "logging", "PutBucketLogging");
    assert_eq!(finding["expected"], serde_json::json!({ "bucket": logs, "prefix": "x/" }));
    assert_eq!(finding["actual"], Value::Null);
    assert_eq!(logging(), Some((logs.clone(), "x/".to_string())));
}

/// Object ownership loosened to `ObjectWriter` (ACLs back on) out of band: found, and `BucketOwnerEnforced` put back.
#[test]
fn object_ownership_loosened_is_found_and_reverted() {
    let (stacks, stack) = deployed("drift-owner");
    let bucket = bucket_of(&stack);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let ownership = || {
        let out = runtime.block_on(aws.s3.get_bucket_ownership_controls().bucket(&bucket).send()).unwrap();
        out.ownership_controls.unwrap().rules.into_iter().next().unwrap().object_ownership
    };
    assert_eq!(ownership(), ObjectOwnership::BucketOwnerEnforced);

    let rule = OwnershipControlsRule::builder().object_ownership(ObjectOwnership::ObjectWriter).build().unwrap();
    let controls = OwnershipControls::builder().rules(rule).build().unwrap();
    runtime
        .block_on(aws.s3.put_bucket_ownership_controls().bucket(&bucket).ownership_controls(controls).send())
        .unwrap();
    assert_eq!(ownership(), ObjectOwnership::ObjectWriter, "the emulator applied ObjectWriter");
    let finding = found_and_reverted(&stacks, &bucket, "ownership", "PutBucketOwnershipControls");
    assert_eq!(
        (&finding["expected"], &finding["actual"]),
        (&serde_json::json!("BucketOwnerEnforced"), &serde_json::json!("ObjectWriter"))
    );
    assert_eq!(ownership(), ObjectOwnership::BucketOwnerEnforced);
}

/// Issue 12.2/12.3: a queue with a consumer, a dead-letter queue and its own retention, and a created role with an
/// AWS managed policy (`managed_policies`) are in sync right after the deploy (drift expects what the template
/// creates). Changed out of band (retention shortened, redrive policy removed, a policy put on the dead-letter queue,
/// the managed policy detached: before, such an attachment was itself drift), each is found on its own resource,
/// put back, and read back.
#[test]
fn dead_letter_queue_retention_and_managed_policies_are_expected_found_and_reverted() {
    let project = unique("drift-dlq");
    let logs = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
    let env = format!(
        "project: {project}\nregion: {REGION}\naccount: \"{ACCOUNT}\"\nephemeral: true\n\
         access:\n  writer:\n    principal: {{ service: lambda.amazonaws.com }}\n    allow: [write, read]\n    \
         prefixes: [calls/]\n    managed_policies: [{logs}]\n  transcriber:\n    principal: {{ service: ecs-tasks.amazonaws.com }}\n    \
         allow: [read]\n    prefixes: [recordings/]\n\
         notifications:\n  wav:\n    suffix: .wav\n    target: queue\n    consumers: [transcriber]\n    max_receives: 3\n    \
         retention_days: 7\n\
         drift:\n  self_heal: true\n"
    );
    let stacks = stacks("drift-dlq", &[("dev.yaml", &env)]);
    let run = provision(&stacks, &["--no-smoke", "--env", "dev", "--output", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let clean = provision(&stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(clean.code, 0, "in sync after the deploy: {:#?}", findings(&clean));

    let stack = format!("{project}-dev");
    let (queue, dead_letter, writer) =
        (format!("{stack}-wav"), format!("{stack}-wav-dead-letter"), format!("{stack}-writer"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let url = |name: &str| {
        let out = runtime.block_on(aws.sqs.get_queue_url().queue_name(name).send()).unwrap();
        out.queue_url.unwrap()
    };
    let (queue_url, dead_letter_url) = (url(&queue), url(&dead_letter));
    use aws_sdk_sqs::types::QueueAttributeName as Attribute;
    runtime.block_on(async {
        aws.sqs
            .set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(Attribute::MessageRetentionPeriod, "60")
            .attributes(Attribute::RedrivePolicy, "")
            .send()
            .await
            .unwrap();
        let open = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*"}]});
        aws.sqs
            .set_queue_attributes()
            .queue_url(&dead_letter_url)
            .attributes(Attribute::Policy, open.to_string())
            .send()
            .await
            .unwrap();
        aws.iam.detach_role_policy().role_name(&writer).policy_arn(logs).send().await.unwrap();
    });

    let run = provision(&stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let found = findings(&run);
    let mut seen: Vec<(String, String)> = found
        .iter()
        .map(|f| {
            (
                f["resource"].as_str().unwrap_or_default().to_string(),
                f["property"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    seen.sort();
    let expected = [
        (format!("queue {dead_letter}"), "policy"),
        (format!("queue {queue}"), "redrive"),
        (format!("queue {queue}"), "retention"),
        (format!("role {writer}"), "attached_policies"),
    ];
    let mut expected = expected.map(|(r, p)| (r, p.to_string()));
    expected.sort();
    assert_eq!(seen, expected, "{found:#?}");

    let reverted = provision(&stacks, &["drift", "--env", "dev", "--revert", "--output", "json"]);
    assert_eq!(reverted.code, 0, "{reverted:?}");
    assert_eq!(reverted.json()["envs"][0]["reverted"].as_array().map(Vec::len), Some(4), "{}", reverted.stdout);
    let again = provision(&stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(again.code, 0, "in sync after the revert: {:#?}", findings(&again));

    runtime.block_on(async {
        let attributes =
            |url: String| aws.sqs.get_queue_attributes().queue_url(url).attribute_names(Attribute::All).send();
        let queue = attributes(queue_url.clone()).await.unwrap().attributes.unwrap_or_default();
        assert_eq!(queue.get(&Attribute::MessageRetentionPeriod).map(String::as_str), Some("604800"));
        let redrive: Value = serde_json::from_str(&queue[&Attribute::RedrivePolicy]).unwrap();
        assert_eq!(redrive["maxReceiveCount"], 3, "{redrive}");
        let target = redrive["deadLetterTargetArn"].as_str().unwrap_or_default();
        assert!(target.ends_with(&format!(":{dead_letter}")), "{redrive}");
        let dead = attributes(dead_letter_url.clone()).await.unwrap().attributes.unwrap_or_default();
        assert_eq!(dead.get(&Attribute::Policy), None, "the dead-letter queue's out-of-band policy is removed");
        let attached = aws.iam.list_attached_role_policies().role_name(&writer).send().await.unwrap();
        let arns: Vec<_> = attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
        assert!(arns.contains(&logs), "{arns:?}");
    });
}
