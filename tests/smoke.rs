//! `provision smoke` against the emulator (IAM enforced), over its HTTPS endpoint as on AWS: a full pass, and a
//! real failure of each probe (versioning suspended, notifications removed, a permission dropped, Ctrl-C), each
//! leaving no probe version behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A local-style env: four entries the deployer may assume (trust_deployer), a queue notification for every `.wav`
/// consumed by the transcriber, and one with a prefix filter (`archive/`, removed events), probed in the run's
/// namespace under `archive/`.
fn env(project: &str, timeout_secs: u32) -> String {
    format!(
        r#"project: {project}
region: {REGION}
account: "{ACCOUNT}"
ephemeral: true
access:
  writer:
    principal: {{ service: lambda.amazonaws.com }}
    allow: [write, read]
    prefixes: [calls/]
  exporter:
    principal: {{ service: ecs-tasks.amazonaws.com }}
    allow: [write]
    prefixes: [sessions/]
  analysts:
    principal: {{ service: ecs-tasks.amazonaws.com }}
    allow: [read, list]
    prefixes: [sessions/]
  transcriber:
    principal: {{ service: ecs-tasks.amazonaws.com }}
    allow: [read]
    prefixes: [recordings/]
notifications:
  new-recording:
    suffix: .wav
    target: queue
    consumers: [transcriber]
  archived:
    events: [removed]
    prefix: archive/
    target: queue
smoke:
  trust_deployer: true
  notification_timeout_secs: {timeout_secs}
"#
    )
}

/// Deploys instance `instance` of env `dev` (over plain HTTP, as root).
fn deploy(stacks: &Path, instance: &str) {
    // The emulator does not apply lifecycle rules and makes buckets public-read: revert that first (see below).
    let run = provision(stacks, &["--no-smoke", "--revert-drift", "--env", "dev", "--instance", instance]);
    assert_eq!(run.code, 0, "deploy failed:\n{}\n{}", run.stdout, run.stderr);
}

/// Runs `provision smoke` over the emulator's HTTPS endpoint.
fn smoke(stacks: &Path, instance: &str, output: &str) -> Run {
    let ca = ca_bundle();
    let args =
        ["smoke", "--env", "dev", "--instance", instance, "--ca-bundle", ca.to_str().unwrap(), "--output", output];
    provision_at(&https_endpoint(), stacks, &args)
}

fn stack_prefix(project: &str, instance: &str) -> String {
    format!("{project}-dev-{instance}")
}

fn bucket(project: &str, instance: &str) -> String {
    format!("{}-{ACCOUNT}-{REGION}", stack_prefix(project, instance))
}

fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["smoke"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {doc:#}"))
}

/// Versions and delete markers under any probe namespace of the bucket (every prefix, since entries' prefixes
/// hold `<prefix>_probe/...` too).
async fn probe_versions(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut left = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .unwrap();
        let keys =
            page.versions().iter().filter_map(|v| v.key()).chain(page.delete_markers().iter().filter_map(|m| m.key()));
        left.extend(keys.filter(|k| k.contains("_probe/")).map(str::to_string));
        if !page.is_truncated().unwrap_or(false) {
            return left;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
}

fn assert_clean(doc: &Value, project: &str, instance: &str) {
    let cleanup = check(doc, "cleanup");
    assert_eq!(cleanup["ok"], true, "{cleanup:#}");
    assert_eq!(doc["smoke"]["cleanup"]["left"], 0);
    let left = runtime().block_on(async { probe_versions(&aws().await.s3, &bucket(project, instance)).await });
    assert!(left.is_empty(), "probe versions left behind: {left:?}");
}

#[test]
fn full_pass_over_https_then_tables_and_plain_http() {
    let project = unique("it-smoke");
    let stacks = stacks("smoke-full", &[("dev.yaml", &env(&project, 10))]);
    deploy(&stacks, "full");

    let started = Instant::now();
    let run = smoke(&stacks, "full", "json");
    let wall = started.elapsed();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    let names: Vec<&str> =
        doc["smoke"]["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "probe object",
            "versioning",
            "notification archived",
            "notification new-recording",
            "transport",
            "access analysts",
            "access exporter",
            "access transcriber",
            "access writer",
            "consumers new-recording",
            "cleanup"
        ]
    );
    for name in [
        "probe object",
        "versioning",
        "notification archived",
        "notification new-recording",
        "transport",
        "access writer",
        "consumers new-recording",
    ] {
        let c = check(&doc, name);
        assert!(c["ok"] == true && c["skipped"] == false, "{c:#}");
    }
    assert!(check(&doc, "probe object")["observed"].as_str().unwrap().contains("encryption AES256"));
    // The prefix-filtered notification is probed under its prefix, in the run's own namespace there.
    let run_id = doc["smoke"]["run_id"].as_str().unwrap();
    let archived = check(&doc, "notification archived")["observed"].as_str().unwrap();
    assert!(
        archived.starts_with(&format!("ObjectRemoved:* for archive/_probe/{run_id}/notify/archived/probe arrived")),
        "{archived}"
    );
    assert!(
        doc["smoke"]["cleanup"]["prefixes"].as_array().unwrap().contains(&format!("archive/_probe/{run_id}/").into())
    );
    let transport = check(&doc, "transport")["observed"].as_str().unwrap().to_string();
    assert!(transport.contains("denied over plain HTTP"), "{transport}");

    // The consumer received the probe's event, and deleted it, as itself.
    let received = check(&doc, "notification new-recording")["observed"].as_str().unwrap();
    assert!(received.ends_with(", received as its consumer transcriber and deleted"), "{received}");

    // 4 entries × (inside, outside) × 4 actions, and 5 queue actions for the consumer and for another entry, each
    // as expected.
    let matrix = doc["smoke"]["access_matrix"].as_array().unwrap();
    assert_eq!(matrix.len(), 4 * 2 * 4 + 2 * 5);
    assert!(matrix.iter().all(|r| r["ok"] == true && r["method"] == "request"), "{matrix:#?}");
    let row = |entry: &str, action: &str, scope: &str| {
        matrix.iter().find(|r| r["entry"] == entry && r["action"] == action && r["scope"] == scope).unwrap()
    };
    assert_eq!(row("writer", "PutObject", "inside")["observed"], "allow");
    assert_eq!(row("writer", "DeleteObject", "inside")["observed"], "deny");
    assert_eq!(row("exporter", "GetObject", "inside")["observed"], "deny", "a writer cannot read");
    assert_eq!(row("analysts", "PutObject", "outside")["observed"], "deny");
    // The emulator's gap (no s3:prefix condition key) is taken into account, and said.
    let listed = row("analysts", "ListBucket", "inside");
    assert!(listed["note"].as_str().unwrap().contains("emulator gap"), "{listed:#}");
    // The consumer's queue actions are allowed, and another entry's (the first that is not a consumer) denied.
    let queue = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}-new-recording", stack_prefix(&project, "full"));
    for action in ["GetQueueUrl", "GetQueueAttributes", "ReceiveMessage", "ChangeMessageVisibility", "DeleteMessage"] {
        let (consumer, other) = (row("transcriber", action, "inside"), row("analysts", action, "outside"));
        assert_eq!((&consumer["observed"], &consumer["key"]), (&"allow".into(), &queue.clone().into()), "{consumer:#}");
        assert_eq!(other["observed"], "deny", "{other:#}");
    }
    for r in matrix.iter().filter(|r| !r["key"].as_str().unwrap().starts_with("arn:aws:sqs:")) {
        let key = r["key"].as_str().unwrap();
        let run_id = doc["smoke"]["run_id"].as_str().unwrap();
        assert!(key.contains(&format!("_probe/{run_id}/")), "a key outside the run's namespace: {key}");
    }
    let requests = doc["smoke"]["requests"].as_u64().unwrap();
    assert!(requests > 20, "{requests}");
    assert_clean(&doc, &project, "full");
    eprintln!(
        "smoke over HTTPS: {} ms wall ({} ms in the probes), {requests} requests",
        wall.as_millis(),
        doc["smoke"]["wall_ms"]
    );

    // CI text: one line per check, then the access matrix.
    let text = smoke(&stacks, "full", "text");
    assert_eq!(text.code, 0, "{}\n{}", text.stdout, text.stderr);
    assert!(text.stdout.contains("ok   probe object ("), "{}", text.stdout);
    assert!(text.stdout.contains("ok   notification archived ("), "{}", text.stdout);
    assert!(text.stdout.contains("access matrix:"), "{}", text.stdout);
    assert!(text.stdout.contains("smoke passed"), "{}", text.stdout);

    // Over plain HTTP the roles' requests cannot be made (the bucket policy denies them all): said, not failed.
    let ca = ca_bundle();
    let plain = provision(&stacks, &["smoke", "--env", "dev", "--instance", "full", "--output", "json"]);
    assert_eq!(plain.code, 0, "{}\n{}", plain.stdout, plain.stderr);
    let plain = plain.json();
    let writer = check(&plain, "access writer");
    assert_eq!(writer["skipped"], true);
    assert!(writer["observed"].as_str().unwrap().contains("is plain HTTP"), "{writer:#} (ca {})", ca.display());
    assert!(check(&plain, "transport")["observed"].as_str().unwrap().contains("no HTTPS control"));
    assert_clean(&plain, &project, "full");

    // A stack that was never deployed: an error saying how to deploy it.
    let missing = provision(&stacks, &["smoke", "--env", "dev", "--instance", "nope"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    let expected = format!(
        "error: stack {project}-dev-nope does not exist: deploy it first with `provision --env dev --instance nope`"
    );
    assert_eq!(missing.stderr.trim(), expected);
}

#[test]
fn suspended_versioning_fails_the_versioning_check() {
    let project = unique("it-smoke-ver");
    let stacks = stacks("smoke-ver", &[("dev.yaml", &env(&project, 10))]);
    deploy(&stacks, "ver");
    runtime().block_on(async {
        let status = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
            .build();
        aws()
            .await
            .s3
            .put_bucket_versioning()
            .bucket(bucket(&project, "ver"))
            .versioning_configuration(status)
            .send()
            .await
            .unwrap();
    });

    let run = smoke(&stacks, "ver", "json");
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    let versioning = check(&doc, "versioning");
    assert_eq!(versioning["ok"], false);
    assert!(versioning["observed"].as_str().unwrap().starts_with("1 version(s) after an overwrite"), "{versioning:#}");
    assert!(
        run.stderr.contains("smoke check failed: versioning: expected an overwrite keeps the old version"),
        "{}",
        run.stderr
    );
    // The other checks went on.
    assert_eq!(check(&doc, "access writer")["ok"], true);
    assert_clean(&doc, &project, "ver");
}

#[test]
fn removed_notification_configuration_fails_the_notification_check() {
    // The emulator delivers events even without a queue policy; without the bucket's notification configuration
    // nothing is delivered, as on AWS.
    let project = unique("it-smoke-notif");
    let stacks = stacks("smoke-notif", &[("dev.yaml", &env(&project, 2))]);
    deploy(&stacks, "notif");
    runtime().block_on(async {
        let empty = aws_sdk_s3::types::NotificationConfiguration::builder().build();
        aws()
            .await
            .s3
            .put_bucket_notification_configuration()
            .bucket(bucket(&project, "notif"))
            .notification_configuration(empty)
            .send()
            .await
            .unwrap();
    });

    let run = smoke(&stacks, "notif", "json");
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    let notification = check(&doc, "notification new-recording");
    assert_eq!(notification["ok"], false);
    let observed = notification["observed"].as_str().unwrap();
    assert!(observed.starts_with("no ObjectCreated:* event for _probe/"), "{observed}");
    assert!(observed.contains("within 2 s"), "{observed}");
    // The check's own wait (from the probe's write to its verdict), not the run's wall time, which the other tests'
    // load on the one emulator process stretches: at least the env's 2 s, and far below the default 20 s.
    let waited = notification["latency_ms"].as_u64().unwrap();
    assert!((2000..19_000).contains(&waited), "the wait is bounded by notification_timeout_secs: {waited} ms");
    assert_clean(&doc, &project, "notif");
}

#[test]
fn a_dropped_permission_shows_in_the_access_matrix() {
    let project = unique("it-smoke-perm");
    let stacks = stacks("smoke-perm", &[("dev.yaml", &env(&project, 10))]);
    deploy(&stacks, "perm");
    let writer = format!("{}-writer", stack_prefix(&project, "perm"));
    let exporter = format!("{}-exporter", stack_prefix(&project, "perm"));
    runtime().block_on(async {
        let iam = aws().await.iam;
        // The writer's managed policy is detached: its allowed requests are denied.
        iam.detach_role_policy()
            .role_name(&writer)
            .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/{writer}"))
            .send()
            .await
            .unwrap();
        // The exporter's trust no longer names the deploying account: its role cannot be assumed.
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        iam.update_assume_role_policy().role_name(&exporter).policy_document(trust).send().await.unwrap();
    });

    let run = smoke(&stacks, "perm", "json");
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    let failed: Vec<String> = doc["smoke"]["access_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == false && r["entry"] != "exporter")
        .map(|r| {
            format!(
                "{} {} {} expected {} observed {}",
                r["entry"], r["action"], r["scope"], r["expected"], r["observed"]
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            r#""writer" "PutObject" "inside" expected "allow" observed "deny""#,
            r#""writer" "GetObject" "inside" expected "allow" observed "deny""#,
        ]
    );
    let writer = check(&doc, "access writer");
    assert_eq!(writer["ok"], false);
    assert!(writer["observed"].as_str().unwrap().contains("PutObject inside (calls/_probe/"), "{writer:#}");
    let exporter = check(&doc, "access exporter");
    assert_eq!(exporter["ok"], false);
    let observed = exporter["observed"].as_str().unwrap();
    assert!(observed.starts_with("cannot assume arn:aws:iam::000000000000:role/"), "{observed}");
    assert!(observed.contains("AssumeRole failed: AccessDenied"), "{observed}");
    let rows = doc["smoke"]["access_matrix"].as_array().unwrap().iter().filter(|r| r["entry"] == "exporter");
    assert!(
        rows.clone().count() == 8 && rows.into_iter().all(|r| r["observed"] == "error: the role could not be assumed")
    );
    assert_eq!(check(&doc, "access analysts")["ok"], true);
    // One line per failed check, and one per failed row of the matrix, as the summary counts them.
    assert!(
        run.stderr.contains("smoke check failed: access writer: expected write, read on calls/ only"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("smoke access row failed: writer PutObject inside calls/_probe/"), "{}", run.stderr);
    let counts = &doc["counts"];
    let failed_lines = run.stderr.lines().filter(|l| l.starts_with("smoke check failed: ")).count();
    let row_lines = run.stderr.lines().filter(|l| l.starts_with("smoke access row failed: ")).count();
    assert_eq!(
        (failed_lines as u64, row_lines as u64),
        (counts["failed"].as_u64().unwrap(), counts["access_failed"].as_u64().unwrap())
    );
    assert_clean(&doc, &project, "perm");
}

/// A consumer is proven as itself: with its queue grant gone (its policy replaced by one without the consume
/// statement; its S3 read stays), the notification check's ReceiveMessage as the consumer is denied, the check fails
/// at once, and the consumer's queue rows show the denials. The deployer does not receive the event in its place:
/// the probe's message is still on the queue afterwards. (The policy is replaced, not given a new default version:
/// localemu's policy simulator reads a managed policy's first version only, see tests/README.md.)
#[test]
fn a_consumer_without_its_queue_grant_fails_the_notification_check_as_itself() {
    let project = unique("it-smoke-cons");
    let stacks = stacks("smoke-cons", &[("dev.yaml", &env(&project, 10))]);
    deploy(&stacks, "cons");
    let prefix = stack_prefix(&project, "cons");
    let policy = format!("arn:aws:iam::{ACCOUNT}:policy/{prefix}-transcriber");
    let aws = runtime().block_on(aws());
    runtime().block_on(async {
        let current = aws.iam.get_policy().policy_arn(&policy).send().await.unwrap().policy.unwrap();
        let version = current.default_version_id.unwrap();
        let document = aws.iam.get_policy_version().policy_arn(&policy).version_id(version).send().await.unwrap();
        let document = document.policy_version.unwrap().document.unwrap();
        let mut document = provision::live::policy::parse_document(&document).unwrap();
        let statements = document["Statement"].as_array_mut().unwrap();
        let before = statements.len();
        statements.retain(|s| s["Sid"] != "ConsumeNewRecording");
        assert_eq!(statements.len(), before - 1, "the consume statement: {document}");
        let role = format!("{prefix}-transcriber");
        aws.iam.detach_role_policy().role_name(&role).policy_arn(&policy).send().await.unwrap();
        let replaced = aws
            .iam
            .create_policy()
            .policy_name(format!("{prefix}-transcriber-read-only"))
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap();
        let replaced = replaced.policy.unwrap().arn.unwrap();
        aws.iam.attach_role_policy().role_name(&role).policy_arn(replaced).send().await.unwrap();
    });

    let started = Instant::now();
    let run = smoke(&stacks, "cons", "json");
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(started.elapsed() < Duration::from_secs(30), "a denied receive does not wait for the timeout");
    let doc = run.json();
    let notification = check(&doc, "notification new-recording");
    assert_eq!(notification["ok"], false);
    let observed = notification["observed"].as_str().unwrap();
    assert!(observed.contains("ReceiveMessage failed: AccessDenied"), "{observed}");
    assert!(observed.ends_with(", received as its consumer transcriber"), "{observed}");
    assert_eq!(check(&doc, "consumers new-recording")["ok"], false);
    assert_eq!(check(&doc, "access transcriber")["ok"], true, "its S3 read is untouched");
    let rows: Vec<String> = doc["smoke"]["access_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["entry"] == "transcriber"
                && r["scope"] == "inside"
                && r["key"].as_str().unwrap().starts_with("arn:aws:sqs:")
        })
        .map(|r| format!("{} {} {} {}", r["action"], r["observed"], r["method"], r["ok"]))
        .collect();
    assert_eq!(
        rows,
        [
            r#""GetQueueUrl" "deny" "request" false"#,
            r#""GetQueueAttributes" "deny" "request" false"#,
            r#""ReceiveMessage" "deny" "request" false"#,
            // No message reached the consumer: the simulator answers for these.
            r#""ChangeMessageVisibility" "deny" "simulated" false"#,
            r#""DeleteMessage" "deny" "simulated" false"#,
        ]
    );
    // The event arrived; nobody received it in the consumer's place.
    let run_id = doc["smoke"]["run_id"].as_str().unwrap().to_string();
    let queue_url = runtime().block_on(async {
        aws.sqs.get_queue_url().queue_name(format!("{prefix}-new-recording")).send().await.unwrap().queue_url.unwrap()
    });
    let left = runtime().block_on(async {
        let received = aws
            .sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        received
            .messages()
            .iter()
            .filter_map(|m| m.body())
            .any(|b| b.contains(&format!("_probe/{run_id}/notify/new-recording/")))
    });
    assert!(left, "the probe's event is still on the queue");
    assert_clean(&doc, &project, "cons");
}

#[test]
fn ctrl_c_stops_the_probes_and_still_cleans_up() {
    let project = unique("it-smoke-int");
    let stacks = stacks("smoke-int", &[("dev.yaml", &env(&project, 60))]);
    deploy(&stacks, "int");
    // Without notifications the probe waits for an event that never comes: the moment to press Ctrl-C.
    runtime().block_on(async {
        let empty = aws_sdk_s3::types::NotificationConfiguration::builder().build();
        let s3 = aws().await.s3;
        s3.put_bucket_notification_configuration()
            .bucket(bucket(&project, "int"))
            .notification_configuration(empty)
            .send()
            .await
            .unwrap();
    });

    let ca = ca_bundle();
    let mut child = command_at(&https_endpoint(), &stacks)
        .args(["smoke", "--env", "dev", "--instance", "int", "--output", "json", "--ca-bundle"])
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "smoke ended before the notification probe:\n{seen}");
        seen.push_str(&line);
        if line.contains("smoke: notifications") {
            break;
        }
    }
    // Let the notification probe write its object, then interrupt.
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "Ctrl-C did not stop the 60 s wait");
    assert_eq!(output.status.code(), Some(1), "{seen}{rest}");
    assert!(rest.contains("interrupted; deleting the probe objects"), "{rest}");
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["smoke"]["interrupted"], true);
    assert_eq!(check(&doc, "interrupted")["ok"], false);
    assert!(doc["smoke"]["cleanup"]["versions_deleted"].as_u64().unwrap() >= 4, "{doc:#}");
    assert_clean(&doc, &project, "int");
}

/// The emulator's CloudFormation does not apply the lifecycle rules, leaves a public-read ACL and does not copy the
/// stack's tags onto the bucket (AWS does: `provision:created`, `provision:expires` of an instance): the
/// verification expects what AWS holds, so it reports all three as differing until they are reverted
/// (`drift --revert`, or `drift.self_heal` in the env file).
#[test]
fn emulator_gaps_are_reported_as_differing_until_reverted() {
    let project = unique("it-gaps");
    let stacks = stacks("smoke-gaps", &[("dev.yaml", &env(&project, 10))]);
    let run = provision(&stacks, &["--no-smoke", "--env", "dev", "--instance", "gaps"]);
    assert_eq!(run.code, 0, "{run:?}");
    let before = smoke(&stacks, "gaps", "json");
    assert_eq!(before.code, 1, "{}", before.stderr);
    let doc = before.json();
    let failed: Vec<&str> = doc["live"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    for gap in [" lifecycle", " public_grants", " tags"] {
        assert!(failed.iter().any(|n| n.ends_with(gap)), "{gap}: {failed:?}");
    }
    let revert = provision(&stacks, &["drift", "--env", "dev", "--instance", "gaps", "--revert"]);
    assert_eq!(revert.code, 0, "{revert:?}");
    let after = smoke(&stacks, "gaps", "json");
    assert_eq!(after.code, 0, "{}", after.stdout);
    assert_clean(&after.json(), &project, "gaps");
}
