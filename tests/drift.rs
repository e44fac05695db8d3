//! Drift against the emulator: each kind of out-of-band change is made for real through the S3/IAM/SQS APIs,
//! found with the right resource and property (exit 2), reverted, and the next check exits 0.

mod common;

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
fn deployed(name: &str) -> (std::path::PathBuf, String) {
    let project = unique(name);
    let env = env_file(&project) + "drift:\n  self_heal: true\n";
    let stacks = stacks(name, &[("dev.yaml", &env)]);
    let run = provision(&stacks, &["--no-smoke", "--env", "dev"]);
    assert_eq!(run.code, 0, "{run:?}");
    let clean = provision(&stacks, &["drift", "--env", "dev"]);
    assert_eq!(clean.code, 0, "a fresh self-healed deploy is in sync: {clean:?}");
    (stacks, format!("{project}-dev"))
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
        if runtime.block_on(provision::deploy::describe_stack(&aws.cfn, &stack)).unwrap().is_none() {
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
