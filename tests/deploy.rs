//! The deploy pipeline against the local emulator: create, update, no-op, data guard, protected envs, recovery,
//! plan exit codes, JSON output, and a dying endpoint.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn deploy(stacks: &std::path::Path, env: &str) -> Run {
    provision(stacks, &["--no-smoke", "--env", env])
}

#[test]
fn create_then_noop_on_the_fast_path() {
    let project = unique("it-create");
    let stacks = stacks("create", &[("dev.yaml", &env_file(&project))]);
    let first = deploy(&stacks, "dev");
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.contains(&format!("stack {project}-dev: created")), "{}", first.stdout);
    assert!(
        first.stdout.contains("BucketName") && first.stdout.contains(&format!("{project}-dev-000000000000-us-east-1"))
    );
    assert!(first.stderr.contains("+ Add     DataBucket (AWS::S3::Bucket)"), "{}", first.stderr);
    assert!(first.stderr.contains(&format!("{project}-dev (AWS::CloudFormation::Stack) CREATE_COMPLETE")));

    let second = provision(&stacks, &["--no-smoke", "--env", "dev", "--output", "json"]);
    assert_eq!(second.code, 0, "{second:?}");
    let report = second.json();
    assert_eq!(report["deploy"]["action"], "none");
    // The fast path creates no change set: no change-set timing is recorded.
    assert!(report["deploy"]["timings_ms"].get("change_set").is_none(), "{report}");
    assert_eq!(report["deploy"]["outputs"]["BucketName"], format!("{project}-dev-000000000000-us-east-1"));
}

#[test]
fn tag_change_updates_and_plan_exit_codes_follow() {
    let project = unique("it-update");
    let stacks = stacks("update", &[("dev.yaml", &env_file(&project))]);
    assert_eq!(deploy(&stacks, "dev").code, 0);

    // No changes through the change-set path: plan always creates one.
    let plan = provision(&stacks, &["plan", "--env", "dev"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("no changes"));

    let tagged = env_file(&project).replace("ephemeral: true\n", "ephemeral: true\nbucket:\n  tags: { team: voice }\n");
    std::fs::write(stacks.join("dev.yaml"), tagged).unwrap();
    let plan = provision(&stacks, &["plan", "--env", "dev", "--output", "json"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    let doc = plan.json();
    let changes = doc["plan"]["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["logical_id"] == "DataBucket" && c["action"] == "Modify"), "{doc}");
    assert_eq!(doc["exit_code"], 2);

    let update = provision(&stacks, &["--no-smoke", "--env", "dev", "--output", "json"]);
    assert_eq!(update.code, 0, "{update:?}");
    let report = update.json();
    assert_eq!(report["deploy"]["action"], "update");
    assert_eq!(report["deploy"]["outcome"]["status"], "UPDATE_COMPLETE");
    assert!(report["deploy"]["timings_ms"]["total"].as_u64().is_some());
    assert_eq!(provision(&stacks, &["plan", "--env", "dev"]).code, 0);
}

/// The emulator's change set says only `~ Modify DataBucket`: `plan` and the deploy preview show, from the
/// template diff, what changes inside the resource before anyone confirms.
#[test]
fn plan_and_the_deploy_preview_show_what_changes_inside_a_resource() {
    let project = unique("it-diff");
    let with_rule = |days: u32| {
        env_file(&project).replace(
            "ephemeral: true\n",
            &format!(
                "ephemeral: true\nbucket:\n  lifecycle:\n    rules:\n      - {{ id: recordings-retention, prefix: recordings/, expire_after_days: {days} }}\n"
            ),
        )
    };
    let stacks = stacks("diff", &[("dev.yaml", &with_rule(400))]);
    assert_eq!(deploy(&stacks, "dev").code, 0);
    std::fs::write(stacks.join("dev.yaml"), with_rule(365)).unwrap();

    let line = "Properties.LifecycleConfiguration.Rules[recordings-retention].ExpirationInDays: 400 → 365";
    let plan = provision(&stacks, &["plan", "--env", "dev"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(plan.stdout.contains("~ Modify  DataBucket (AWS::S3::Bucket)"), "{}", plan.stdout);
    assert!(plan.stdout.contains(line), "{}", plan.stdout);
    let json = provision(&stacks, &["plan", "--env", "dev", "--output", "json"]).json();
    let bucket = json["plan"]["changes"].as_array().unwrap().iter().find(|c| c["logical_id"] == "DataBucket").cloned();
    let values = bucket.expect("the bucket changes")["values"].clone();
    assert_eq!(values[0]["before"], 400, "{values}");
    assert_eq!(values[0]["after"], 365, "{values}");

    let update = deploy(&stacks, "dev");
    assert_eq!(update.code, 0, "{update:?}");
    assert!(update.stderr.contains(line), "the preview shows it before executing: {}", update.stderr);
}

#[test]
fn bucket_rename_is_refused_by_the_data_guard() {
    let project = unique("it-guard");
    let stacks = stacks("guard", &[("dev.yaml", &env_file(&project))]);
    assert_eq!(deploy(&stacks, "dev").code, 0);
    let renamed = env_file(&project)
        .replace("ephemeral: true\n", "ephemeral: true\nbucket:\n  name: \"{stack}-renamed-{account}\"\n");
    std::fs::write(stacks.join("dev.yaml"), renamed).unwrap();

    let plan = provision(&stacks, &["plan", "--env", "dev"]);
    assert_eq!(plan.code, 3, "{plan:?}");
    let refused = deploy(&stacks, "dev");
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("DataBucket (AWS::S3::Bucket)  REPLACED"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--allow-data-loss"), "{}", refused.stderr);

    // Nothing changed: the stack still has its first bucket.
    std::fs::write(stacks.join("dev.yaml"), env_file(&project)).unwrap();
    let same = provision(&stacks, &["--no-smoke", "--env", "dev", "--output", "json"]).json();
    assert_eq!(same["deploy"]["action"], "none");
    assert_eq!(same["deploy"]["outputs"]["BucketName"], format!("{project}-dev-000000000000-us-east-1"));
}

#[test]
fn protected_env_needs_yes_off_a_terminal() {
    let project = unique("it-prot");
    let stack_name = format!("{project}-prod");
    let env = env_file(&project).replace("ephemeral: true\n", "protected: true\n");
    let stacks = stacks("protected", &[("prod.yaml", &env)]);
    let refused = deploy(&stacks, "prod");
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    // The abandoned create leaves no empty stack behind.
    let gone = runtime.block_on(provision::stack::describe(&aws.cfn, &stack_name)).unwrap();
    assert!(gone.is_none(), "{gone:?}");

    let deployed = provision(&stacks, &["--no-smoke", "--env", "prod", "--yes"]);
    assert_eq!(deployed.code, 0, "{deployed:?}");
    let stack = runtime.block_on(provision::stack::describe(&aws.cfn, &stack_name)).unwrap().unwrap();
    assert!(stack.termination_protection);
    // The emulator cannot read stack policies back (501); tests/deploy_mock.rs covers the policy.
}

#[test]
fn failed_create_reports_its_root_cause() {
    // A managed policy attached to a user that does not exist fails to create, for real. (Deleting the failed
    // stack then fails on the emulator, which cannot delete a resource that never got created: the recovery of a
    // ROLLBACK_COMPLETE stack is covered in tests/deploy_mock.rs; see tests/README.md.)
    let project = unique("it-fail");
    let broken = format!(
        "project: {project}\nregion: {REGION}\naccount: \"{ACCOUNT}\"\nephemeral: true\n\
         access:\n  ghost:\n    principal: {{ user: no-such-user-anywhere }}\n    allow: [read]\n    prefixes: [ghost/]\n"
    );
    let stacks = stacks("fail", &[("dev.yaml", &broken)]);
    let failed = deploy(&stacks, "dev");
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(failed.stderr.contains("root cause: GhostPolicy (AWS::IAM::ManagedPolicy)"), "{}", failed.stderr);
    assert!(failed.stderr.contains("\nerror: deploying stack"), "{}", failed.stderr);
}

#[test]
fn stack_left_in_review_is_recovered() {
    // A CREATE change set that was never executed leaves the stack in REVIEW_IN_PROGRESS, for real.
    let project = unique("it-review");
    let stacks = stacks("review", &[("dev.yaml", &env_file(&project))]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let name = format!("{project}-dev");
    runtime
        .block_on(
            aws.cfn
                .create_change_set()
                .stack_name(&name)
                .change_set_name("abandoned")
                .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
                .template_body("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
                .send(),
        )
        .unwrap();
    let stack = runtime.block_on(provision::stack::describe(&aws.cfn, &name)).unwrap().unwrap();
    assert_eq!(stack.status, "REVIEW_IN_PROGRESS");

    // While its change set could still be executed by the run that made it, the stack is that run's.
    let busy = provision(&stacks, &["--no-smoke", "--env", "dev"]);
    assert_eq!(busy.code, 1, "{busy:?}");
    assert!(busy.stderr.contains("is being created by another run"), "{}", busy.stderr);
    let still = runtime.block_on(provision::stack::describe(&aws.cfn, &name)).unwrap().unwrap();
    assert_eq!(still.status, "REVIEW_IN_PROGRESS", "another run's stack is left alone");

    // A run that died leaves a change set nobody executes; without it (here: deleted) the stack is recovered.
    runtime.block_on(aws.cfn.delete_change_set().stack_name(&name).change_set_name("abandoned").send()).unwrap();
    let recovered = provision(&stacks, &["--no-smoke", "--env", "dev", "--output", "json"]);
    assert_eq!(recovered.code, 0, "{recovered:?}");
    let report = recovered.json();
    assert_eq!(report["deploy"]["action"], "create");
    assert_eq!(report["deploy"]["recovered_from"], "REVIEW_IN_PROGRESS");
    assert!(recovered.stderr.contains("never created, so it holds no data"), "{}", recovered.stderr);
}

#[test]
fn account_mismatch_is_refused() {
    let env = env_file(&unique("it-acct")).replace("\"000000000000\"", "\"123456789012\"");
    let stacks = stacks("account", &[("dev.yaml", &env)]);
    let refused = deploy(&stacks, "dev");
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("credentials belong to account 000000000000"), "{}", refused.stderr);
}

/// The endpoint dies while a deploy is provably under way: a loopback proxy in front of the emulator passes requests
/// on until it has answered ExecuteChangeSet, then shuts every connection and closes its port. The tool is then
/// following a stack that is being created; it must stop soon with an error that says what happened (exit 1), not
/// hang, panic or report a deploy it never saw finish. A later run against the dead endpoint fails at once.
#[test]
fn an_endpoint_dying_mid_deploy_gives_a_connection_error_not_a_hang() {
    let project = unique("it-dying");
    let stack = format!("{project}-dev");
    let stacks = stacks("dying", &[("dev.yaml", &env_file(&project))]);
    let proxy = http::Proxy::start(endpoint(), Some("ExecuteChangeSet"));
    let args = ["--no-smoke", "--env", "dev", "--max-attempts", "2"];
    let started = Instant::now();
    let run = provision_at(&proxy.url, &stacks, &args);
    let took = started.elapsed();

    // The endpoint died, and only once the change set was executing: the cut came right after its answer.
    let actions = proxy.actions();
    assert!(proxy.is_cut(), "the endpoint never died (ExecuteChangeSet never passed): {actions:?}\n{run:?}");
    assert_eq!(actions.last().map(String::as_str), Some("ExecuteChangeSet"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "CreateChangeSet"), "{actions:?}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let created = runtime.block_on(provision::stack::describe(&aws.cfn, &stack)).unwrap().unwrap();
    assert!(created.status.starts_with("CREATE_"), "the emulator was executing the change set: {created:?}");

    // What the tool reports: the operation it was following with, the endpoint unreachable; in bounded time.
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&format!("cannot follow the events of stack {stack}")), "{}", run.stderr);
    assert!(run.stderr.contains("connection failed"), "{}", run.stderr);
    assert!(run.stderr.contains("(is the endpoint reachable?)"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(!run.stdout.contains("created"), "no success claimed: {}", run.stdout);
    assert!(took < Duration::from_secs(30), "took {took:?}");

    let started = Instant::now();
    let again = provision_at(&proxy.url, &stacks, &args);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("connection failed"), "{}", again.stderr);
    assert!(again.stderr.contains("(is the endpoint reachable?)"), "{}", again.stderr);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn main_job_on_a_self_healing_env_deploys_verifies_and_leaves_no_probe() {
    // As the quick start runs it: HTTPS with the emulator's CA, so requests as the created roles meet the
    // TLS-only bucket policy as they would on AWS.
    let project = unique("it-main");
    let env = env_file(&project)
        .replace("ephemeral: true\n", "ephemeral: true\nsmoke:\n  trust_deployer: true\ndrift:\n  self_heal: true\n");
    let stacks = stacks("main", &[("dev.yaml", &env)]);
    let ca = ca_bundle();
    let args = ["--env", "dev", "--ca-bundle", ca.to_str().unwrap(), "--output", "json"];
    let run = provision_at(&https_endpoint(), &stacks, &args);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    // The emulator's known gaps are reverted, honestly reported.
    let reverted: Vec<&str> =
        doc["reverted"].as_array().unwrap().iter().filter_map(|r| r["property"].as_str()).collect();
    assert!(reverted.contains(&"lifecycle") && reverted.contains(&"public_grants"), "{reverted:?}");
    assert!(doc["smoke"]["live"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{doc}");
    let probes = &doc["smoke"]["probes"];
    assert_eq!(probes["cleanup"]["left"], 0, "{probes}");
    let matrix = probes["access_matrix"].as_array().unwrap();
    assert!(matrix.iter().any(|r| r["method"] == "request" && r["expected"] == "allow" && r["observed"] == "allow"));
    assert!(matrix.iter().all(|r| r["ok"] == true), "{matrix:#?}");

    // Nothing is left under any probe prefix.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let bucket = format!("{project}-dev-000000000000-us-east-1");
    let versions = runtime.block_on(aws.s3.list_object_versions().bucket(&bucket).send()).unwrap();
    let keys: Vec<String> = versions
        .versions()
        .iter()
        .filter_map(|v| v.key.clone())
        .chain(versions.delete_markers().iter().filter_map(|m| m.key.clone()))
        .collect();
    assert!(keys.iter().all(|k| !k.contains("_probe/")), "{keys:?}");

    // A second run is a no-op deploy, still verified.
    let again = provision_at(&https_endpoint(), &stacks, &args);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["deploy"]["action"], "none");
}

/// An env of 40 access entries (services and existing users) and 10 queue notifications.
fn large_env(project: &str) -> String {
    let mut env = format!(
        "project: {project}\nregion: {REGION}\naccount: \"{ACCOUNT}\"\nephemeral: true\ndrift: {{ self_heal: true }}\naccess:\n"
    );
    for i in 0..40 {
        let principal = if i % 2 == 0 {
            "{ service: lambda.amazonaws.com }".to_string()
        } else {
            format!("{{ user: {project}-user-{i:02} }}")
        };
        env.push_str(&format!(
            "  workload-{i:02}:\n    principal: {principal}\n    allow: [write, read, list]\n    prefixes: [data-{i:02}/]\n"
        ));
    }
    env.push_str("notifications:\n");
    for i in 0..10 {
        env.push_str(&format!("  queue-{i:02}:\n    prefix: incoming-{i:02}/\n    suffix: .json\n    target: queue\n"));
    }
    env
}

#[test]
fn a_large_config_deploys_through_the_template_bucket_plans_and_checks_drift() {
    let project = unique("it-large");
    let stacks = stacks("large", &[("dev.yaml", &large_env(&project))]);
    let rendered = provision(&stacks, &["render", "--env", "dev"]);
    assert_eq!(rendered.code, 0, "{rendered:?}");
    assert!(rendered.stdout.len() > 51_200, "the template is only {} bytes", rendered.stdout.len());
    eprintln!("template of 40 entries and 10 notifications: {} bytes", rendered.stdout.len());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    for i in (1..40).step_by(2) {
        runtime.block_on(aws.iam.create_user().user_name(format!("{project}-user-{i:02}")).send()).unwrap();
    }

    let bucket = format!("provision-templates-{ACCOUNT}-{REGION}");
    let plan = provision(&stacks, &["plan", "--env", "dev"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(plan.stderr.contains(&format!("uploading it to s3://{bucket}/{project}-dev/")), "{}", plan.stderr);
    assert!(plan.stdout.contains("+ Add     DataBucket (AWS::S3::Bucket)"), "{}", plan.stdout);

    let first = provision(&stacks, &["--env", "dev", "--yes", "--no-smoke"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.contains(&format!("stack {project}-dev: created")), "{}", first.stdout);

    // The template went by URL: the upload is in the template bucket, which is private, encrypted and tagged.
    let listed = runtime.block_on(aws.s3.list_objects_v2().bucket(&bucket).prefix(format!("{project}-dev/")).send());
    let keys: Vec<String> = listed.unwrap().contents().iter().filter_map(|o| o.key.clone()).collect();
    assert_eq!(keys.len(), 1, "one template, uploaded by plan and again by deploy: {keys:?}");
    let tags = runtime.block_on(aws.s3.get_bucket_tagging().bucket(&bucket).expected_bucket_owner(ACCOUNT).send());
    assert!(tags.unwrap().tag_set().iter().any(|t| t.key() == "managed-by" && t.value() == "provision"));
    let policy = runtime.block_on(aws.s3.get_bucket_policy().bucket(&bucket).send()).unwrap();
    assert!(policy.policy().unwrap_or_default().contains("aws:SecureTransport"));
    let lifecycle = runtime.block_on(aws.s3.get_bucket_lifecycle_configuration().bucket(&bucket).send()).unwrap();
    assert_eq!(lifecycle.rules().first().and_then(|r| r.expiration()).and_then(|e| e.days()), Some(30));

    // CloudFormation's copy of the template is what the pending layer compares: in sync after the self-heal.
    let drift = provision(&stacks, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:?}");
    assert!(drift.stdout.contains("in sync"), "{}", drift.stdout);

    let second = provision(&stacks, &["--env", "dev", "--yes", "--no-smoke"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.stdout.contains(&format!("stack {project}-dev: no changes")), "{}", second.stdout);

    // A config change not deployed: pending, then deployed by `drift --revert` through the template bucket too.
    let tagged = large_env(&project).replace("access:\n", "bucket:\n  tags: { team: voice }\naccess:\n");
    std::fs::write(stacks.join("dev.yaml"), tagged).unwrap();
    let pending = provision(&stacks, &["drift", "--env", "dev"]);
    assert_eq!(pending.code, 2, "{pending:?}");
    assert!(pending.stdout.contains("[pending] stack"), "{}", pending.stdout);
    let reverted = provision(&stacks, &["drift", "--env", "dev", "--revert", "--yes"]);
    assert_eq!(reverted.code, 0, "{reverted:?}");
    assert!(reverted.stdout.contains("pending changes deployed (update)"), "{}", reverted.stdout);
    assert!(reverted.stderr.contains(&format!("uploading it to s3://{bucket}/")), "{}", reverted.stderr);
}

/// Regression (issue: adopting existing buckets): an env file naming a bucket that exists already gave no warning
/// in `plan`; on AWS the create fails on the name, and the emulator silently took the bucket over, replacing its
/// policy and its notification to another consumer's queue. Pre-flight finds it first: `plan` and the deploy refuse
/// (exit 3) with no change set, and every object, version, policy statement and notification stays as it was.
#[test]
fn an_existing_bucket_of_the_same_name_is_reported_and_left_as_it_was() {
    let project = unique("it-exists");
    let stacks = stacks("exists", &[("dev.yaml", &env_file(&project))]);
    let bucket = format!("{project}-dev-{ACCOUNT}-{REGION}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws());
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PartnerReads","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    let queue_arn = runtime.block_on(async {
        use aws_sdk_s3::types::{
            BucketVersioningStatus, Event, NotificationConfiguration, QueueConfiguration, VersioningConfiguration,
        };
        aws.s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        aws.s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(versioning).send().await.unwrap();
        for body in ["first", "second"] {
            aws.s3
                .put_object()
                .bucket(&bucket)
                .key("calls/1.json")
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
        aws.s3.put_bucket_policy().bucket(&bucket).policy(&policy).send().await.unwrap();
        let queue = aws.sqs.create_queue().queue_name(format!("{project}-consumer")).send().await.unwrap();
        let attributes = aws
            .sqs
            .get_queue_attributes()
            .queue_url(queue.queue_url().unwrap())
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        let notification = NotificationConfiguration::builder()
            .queue_configurations(
                QueueConfiguration::builder().queue_arn(&arn).events(Event::S3ObjectCreated).build().unwrap(),
            )
            .build();
        aws.s3
            .put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(notification)
            .send()
            .await
            .unwrap();
        arn
    });

    let plan = provision(&stacks, &["plan", "--env", "dev"]);
    assert_eq!(plan.code, 3, "{plan:?}");
    assert!(
        plan.stderr.contains(&format!("DataBucket (AWS::S3::Bucket) {bucket}: exists in this account")),
        "{}",
        plan.stderr
    );
    let deployed = deploy(&stacks, "dev");
    assert_eq!(deployed.code, 3, "{deployed:?}");
    assert!(deployed.stderr.contains("nothing was changed"), "{}", deployed.stderr);

    runtime.block_on(async {
        let stack = provision::stack::describe(&aws.cfn, &format!("{project}-dev")).await.unwrap();
        assert!(stack.is_none(), "no change set, no stack: {stack:?}");
        let versions = aws.s3.list_object_versions().bucket(&bucket).send().await.unwrap();
        assert_eq!(versions.versions().len(), 2, "both versions kept");
        let kept = aws.s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
        assert!(kept.policy().unwrap_or_default().contains("PartnerReads"), "{kept:?}");
        let notifications = aws.s3.get_bucket_notification_configuration().bucket(&bucket).send().await.unwrap();
        assert_eq!(notifications.queue_configurations()[0].queue_arn(), queue_arn, "the consumer still gets events");
    });
}
