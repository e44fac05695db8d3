//! Probes against mock clients: the policy simulator path (protected envs, existing roles and users), which the
//! emulator's simplified simulator cannot show faithfully, its absence, and the cleanup's paging.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::operation::simulate_principal_policy::{
    SimulatePrincipalPolicyError, SimulatePrincipalPolicyInput, SimulatePrincipalPolicyOutput,
};
use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyOutput;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::types::{DeleteMarkerEntry, ObjectVersion};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;

use super::*;
use crate::output::Format;

const BUCKET: &str = "demo-prod-123456789012-us-west-1";
const BUCKET_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

/// A protected env: its created role cannot be assumed by the deployer; an existing user and role besides.
fn config() -> Config {
    let src = r#"project: demo
region: us-west-1
account: "123456789012"
protected: true
access:
  writer:
    principal: { service: lambda.amazonaws.com }
    allow: [write, read]
    prefixes: [calls/]
  exporter:
    principal: { user: session-exporter }
    allow: [write]
    prefixes: [sessions/]
  analysts:
    principal: { role_arn: "arn:aws:iam::123456789012:role/analysts" }
    allow: [read, list]
    prefixes: [sessions/]
"#;
    crate::config::parse(src, Path::new("prod.yaml"), "prod", None).unwrap()
}

fn outputs() -> BTreeMap<String, String> {
    [
        ("BucketName", BUCKET.to_string()),
        ("BucketArn", format!("arn:aws:s3:::{BUCKET}")),
        ("WriterRoleArn", "arn:aws:iam::123456789012:role/demo-prod-writer".to_string()),
        ("WriterPolicyArn", "arn:aws:iam::123456789012:policy/demo-prod-writer".to_string()),
        ("ExporterPolicyArn", "arn:aws:iam::123456789012:policy/demo-prod-exporter".to_string()),
        ("AnalystsPolicyArn", "arn:aws:iam::123456789012:policy/demo-prod-analysts".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn aws(s3: aws_sdk_s3::Client, iam: aws_sdk_iam::Client) -> Aws {
    let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).region(Region::new("us-west-1")).build();
    Aws {
        cfn: aws_sdk_cloudformation::Client::new(&sdk),
        sts: aws_sdk_sts::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
        s3,
        iam,
        sdk,
        region: "us-west-1".to_string(),
        endpoints: Default::default(),
    }
}

/// What each principal is granted: (actions, prefix). A principal not listed has no permission.
type Grants = BTreeMap<&'static str, (Vec<&'static str>, &'static str)>;

fn grants() -> Grants {
    BTreeMap::from([
        ("arn:aws:iam::123456789012:role/demo-prod-writer", (vec!["s3:PutObject", "s3:GetObject"], "calls/")),
        ("arn:aws:iam::123456789012:user/session-exporter", (vec!["s3:PutObject"], "sessions/")),
        ("arn:aws:iam::123456789012:role/analysts", (vec!["s3:GetObject", "s3:ListBucket"], "sessions/")),
    ])
}

/// A simulator evaluating each (action, resource) pair against `grants`, as IAM would: ListBucket by the
/// `s3:prefix` of the request context, objects by their key. It records every request.
fn simulator(grants: Grants, seen: Arc<Mutex<Vec<SimulatePrincipalPolicyInput>>>) -> Rule {
    mock!(aws_sdk_iam::Client::simulate_principal_policy).then_compute_output(move |input| {
        seen.lock().unwrap().push(input.clone());
        let (actions, prefix) = grants.get(input.policy_source_arn().unwrap_or_default()).cloned().unwrap_or_default();
        let listed = input
            .context_entries()
            .iter()
            .find(|c| c.context_key_name() == Some("s3:prefix"))
            .and_then(|c| c.context_key_values().first().cloned());
        let mut out = SimulatePrincipalPolicyOutput::builder().is_truncated(false);
        for action in input.action_names() {
            for resource in input.resource_arns() {
                let key = resource.strip_prefix(&format!("arn:aws:s3:::{BUCKET}/"));
                let within = match (action.as_str(), key, &listed) {
                    ("s3:ListBucket", None, Some(listed)) => listed.starts_with(prefix),
                    (_, Some(key), _) => key.starts_with(prefix),
                    _ => false,
                };
                let decision = if actions.contains(&action.as_str()) && within {
                    PolicyEvaluationDecisionType::Allowed
                } else {
                    PolicyEvaluationDecisionType::ImplicitDeny
                };
                out = out.evaluation_results(
                    EvaluationResult::builder()
                        .eval_action_name(action)
                        .eval_resource_name(resource)
                        .eval_decision(decision)
                        .build()
                        .unwrap(),
                );
            }
        }
        out.build()
    })
}

fn bucket_policy_rule() -> Rule {
    mock!(aws_sdk_s3::Client::get_bucket_policy)
        .then_output(|| GetBucketPolicyOutput::builder().policy(BUCKET_POLICY).build())
}

/// Run `R1` of the prod-like config against `aws`.
fn ctx<'a>(
    aws: &Aws,
    config: &'a Config,
    outputs: &'a BTreeMap<String, String>,
    printer: &'a Printer,
    options: &'a ProbeOptions,
) -> Ctx<'a> {
    Ctx {
        clients: Clients::new(aws),
        config,
        outputs,
        printer,
        options,
        bucket: BUCKET.to_string(),
        partition: "aws".to_string(),
        layout: Layout::new(&config.smoke.probe_prefix, &options.run_id),
        s3_endpoint: None,
        region: "us-west-1".to_string(),
    }
}

fn options() -> ProbeOptions {
    ProbeOptions { run_id: "R1".to_string(), iam_propagation: Duration::ZERO, handle_ctrl_c: false }
}

async fn least_privilege_with(aws: &Aws) -> (Vec<Check>, Vec<AccessRow>) {
    let (config, outputs, options) = (config(), outputs(), options());
    let (printer, _, _) = Printer::capture(Format::Text);
    access::least_privilege(&ctx(aws, &config, &outputs, &printer, &options), &Roles::new()).await
}

#[tokio::test]
async fn principals_that_cannot_be_assumed_are_simulated() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&simulator(grants(), seen.clone())]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let (checks, rows) = least_privilege_with(&aws(s3, iam)).await;

    assert_eq!(checks.len(), 3);
    for check in &checks {
        assert!(check.ok && !check.skipped, "{check:?}");
        assert!(
            check.observed.starts_with("8/8 requests as expected (simulated for arn:aws:iam::123456789012:"),
            "{check:?}"
        );
    }
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r.ok && r.method == Method::Simulated), "{rows:#?}");
    let allowed: Vec<String> = rows
        .iter()
        .filter(|r| r.observed == "allow")
        .map(|r| format!("{} {} {}", r.entry, r.action, r.scope.name()))
        .collect();
    assert_eq!(
        allowed,
        [
            "analysts GetObject inside",
            "analysts ListBucket inside",
            "exporter PutObject inside",
            "writer PutObject inside",
            "writer GetObject inside",
        ]
    );

    let seen = seen.lock().unwrap();
    for input in seen.iter() {
        let secure = input.context_entries().iter().any(|c| {
            c.context_key_name() == Some("aws:SecureTransport") && c.context_key_values() == ["true".to_string()]
        });
        assert!(secure, "every simulated request is over TLS: {input:?}");
        // IAM accepts a resource policy without a CallerArn only for a user.
        let is_user = input.policy_source_arn() == Some("arn:aws:iam::123456789012:user/session-exporter");
        assert_eq!(input.resource_policy(), is_user.then_some(BUCKET_POLICY), "{input:?}");
        assert_eq!(input.caller_arn(), None);
    }
    // Per entry: one call for the object actions, one ListBucket call per place (inside, outside).
    assert_eq!(seen.len(), 9);
}

#[tokio::test]
async fn a_missing_permission_fails_its_row_and_its_entry() {
    let mut dropped = grants();
    dropped.insert("arn:aws:iam::123456789012:role/demo-prod-writer", (vec!["s3:PutObject"], "calls/"));
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&simulator(dropped, Arc::default())]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let (checks, rows) = least_privilege_with(&aws(s3, iam)).await;

    let writer = checks.iter().find(|c| c.name == "access writer").unwrap();
    assert!(!writer.ok);
    assert_eq!(writer.observed, "GetObject inside (calls/_probe/R1/writer/seed.json): deny, expected allow");
    let failed: Vec<&AccessRow> = rows.iter().filter(|r| !r.ok).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].expected.as_str(), failed[0].observed.as_str()), ("allow", "deny"));
    assert!(checks.iter().filter(|c| c.name != "access writer").all(|c| c.ok));
}

#[tokio::test]
async fn an_endpoint_without_the_simulator_leaves_rows_not_checked() {
    // What localemu answers for an IAM action it lacks (HTTP 501, InternalFailure).
    let missing = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(501).unwrap(),
            SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>InternalFailure</Code><Message>API for service 'iam' has not yet been implemented</Message></Error><RequestId>1</RequestId></ErrorResponse>",
            ),
        )
    });
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&missing]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let (checks, rows) = least_privilege_with(&aws(s3, iam)).await;

    assert!(checks.iter().all(|c| c.ok && c.skipped), "{checks:#?}");
    assert!(checks[0].observed.starts_with("skipped: the endpoint has no IAM policy simulator"), "{:?}", checks[0]);
    assert!(rows.iter().all(|r| r.ok && r.method == Method::NotChecked && r.observed.starts_with("not checked: ")));
}

#[tokio::test]
async fn a_deployer_without_simulator_permission_leaves_rows_not_checked() {
    let denied = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_error(|| {
        SimulatePrincipalPolicyError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: iam:SimulatePrincipalPolicy")
                .build(),
        )
    });
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&denied]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let (checks, _) = least_privilege_with(&aws(s3, iam)).await;
    assert!(checks.iter().all(|c| c.skipped), "{checks:#?}");
    assert!(checks[0].observed.contains("may not call iam:SimulatePrincipalPolicy"), "{:?}", checks[0]);
}

#[tokio::test]
async fn cleanup_pages_through_versions_and_markers_until_nothing_is_left() {
    let deleted = Arc::new(Mutex::new(Vec::<(String, Option<String>)>::new()));
    let emptied = Arc::new(AtomicBool::new(false));
    let version = |key: &str, id: &str| ObjectVersion::builder().key(key).version_id(id).build();
    let listing = {
        let emptied = emptied.clone();
        mock!(aws_sdk_s3::Client::list_object_versions).then_compute_output(move |req| {
            assert_eq!(req.prefix(), Some("_probe/R1/"));
            if emptied.load(Ordering::SeqCst) {
                return ListObjectVersionsOutput::builder().is_truncated(false).build();
            }
            match req.key_marker() {
                None => ListObjectVersionsOutput::builder()
                    .versions(version("_probe/R1/a", "1"))
                    .versions(version("_probe/R1/a", "2"))
                    .is_truncated(true)
                    .next_key_marker("_probe/R1/a")
                    .next_version_id_marker("2")
                    .build(),
                Some(marker) => {
                    assert_eq!((marker, req.version_id_marker()), ("_probe/R1/a", Some("2")));
                    ListObjectVersionsOutput::builder()
                        .delete_markers(DeleteMarkerEntry::builder().key("_probe/R1/b").version_id("3").build())
                        .is_truncated(false)
                        .build()
                }
            }
        })
    };
    let deletes = {
        let (deleted, emptied) = (deleted.clone(), emptied.clone());
        mock!(aws_sdk_s3::Client::delete_objects).then_compute_output(move |req| {
            let objects = req.delete().map(|d| d.objects().to_vec()).unwrap_or_default();
            deleted
                .lock()
                .unwrap()
                .extend(objects.iter().map(|o| (o.key().to_string(), o.version_id().map(str::to_string))));
            emptied.store(true, Ordering::SeqCst);
            DeleteObjectsOutput::builder().build()
        })
    };
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&listing, &deletes]);
    let mut cleanup = Cleanup::default();
    let check = cleanup::clean(&s3, BUCKET, &["_probe/R1/".to_string()], &mut cleanup).await;
    assert!(check.ok, "{check:?}");
    assert_eq!(check.observed, "3 versions and delete markers deleted, none left");
    assert_eq!((cleanup.versions_deleted, cleanup.left), (3, Some(0)));
    let deleted = deleted.lock().unwrap();
    assert_eq!(
        *deleted,
        [
            ("_probe/R1/a".to_string(), Some("1".to_string())),
            ("_probe/R1/a".to_string(), Some("2".to_string())),
            ("_probe/R1/b".to_string(), Some("3".to_string())),
        ]
    );
}

/// `OverLimit` on ReceiveMessage means the queue's in-flight quota is reached on AWS (a quota, not a rate, so the
/// SDK does not retry it); it clears as messages are deleted or become visible again, so the notification wait
/// polls again until its deadline instead of failing the check. (The emulator also uses it for simulated
/// throttling.)
#[tokio::test]
async fn an_over_limit_receive_is_polled_again_while_waiting_for_the_notification() {
    use aws_sdk_sqs::operation::receive_message::{ReceiveMessageError, ReceiveMessageOutput};
    use aws_sdk_sqs::types::Message;

    let (config, outputs, options) = (config(), outputs(), options());
    let key = Layout::new(&config.smoke.probe_prefix, &options.run_id).notify_key("new-recording", ".wav");
    let body = serde_json::json!({ "Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": BUCKET }, "object": { "key": key } },
    }] })
    .to_string();
    let receive = mock!(aws_sdk_sqs::Client::receive_message)
        .sequence()
        .error(|| ReceiveMessageError::generic(ErrorMetadata::builder().code("OverLimit").build()))
        .times(2)
        .output(move || ReceiveMessageOutput::builder().messages(Message::builder().body(body.clone()).build()).build())
        .build();
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&simulator(grants(), Arc::default())]);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let mut aws = aws(s3, iam);
    aws.sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&receive]);
    let (printer, _, _) = Printer::capture(Format::Text);
    let ctx = ctx(&aws, &config, &outputs, &printer, &options);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = notify::wait_for(&ctx, "https://sqs/q", &key, "ObjectCreated", deadline).await;
    assert_eq!(found, Ok(true));
    assert_eq!(receive.num_calls(), 3);
}

/// Regression: a run stopped by a second Ctrl-C during its cleanup left 11 probe versions and said `0 left`, and
/// no later run removed them. Now a stopped cleanup counts what is left, and the next run finds the namespaces of
/// earlier runs (directories named like a run id, started over an hour ago) and removes them; anything else under
/// the probe prefix, and a run that may still be going, is left alone.
#[tokio::test]
async fn earlier_runs_namespaces_are_found_and_what_is_left_is_counted() {
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::types::{CommonPrefix, ObjectVersion};

    let recent = keys::new_run_id();
    let dirs = ["_probe/20261101T080000Z-0a1b2c/".to_string(), format!("_probe/{recent}/"), "_probe/notes/".into()];
    let listing = {
        let dirs = dirs.clone();
        mock!(aws_sdk_s3::Client::list_objects_v2).match_requests(|r| r.delimiter() == Some("/")).then_compute_output(
            move |req| {
                let prefixes = match req.prefix() {
                    Some("_probe/") => dirs.iter().map(|d| CommonPrefix::builder().prefix(d).build()).collect(),
                    _ => Vec::new(),
                };
                ListObjectsV2Output::builder().set_common_prefixes(Some(prefixes)).build()
            },
        )
    };
    let versions = mock!(aws_sdk_s3::Client::list_object_versions).then_compute_output(|req| {
        let builder = ListObjectVersionsOutput::builder();
        let builder = match req.prefix() {
            Some("_probe/20261101T080000Z-0a1b2c/") => (0..11).fold(builder, |b, i| {
                b.versions(
                    ObjectVersion::builder()
                        .key(format!("_probe/20261101T080000Z-0a1b2c/k{i}"))
                        .version_id("v")
                        .build(),
                )
            }),
            _ => builder,
        };
        builder.is_truncated(false).build()
    });
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&listing, &versions]);
    let before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let parents = keys::namespace_parents("_probe/", &["calls/".to_string()]);
    let stale = cleanup::stale_namespaces(&s3, BUCKET, &parents, before).await.unwrap();
    assert_eq!(stale, ["_probe/20261101T080000Z-0a1b2c/"], "neither a recent run nor a non-run directory");
    assert_eq!(listing.num_calls(), 2, "the probe prefix and calls/_probe/");
    assert_eq!(cleanup::count_left(&s3, BUCKET, &stale).await, Some(11));
    let stopped = Cleanup { left: None, stopped: true, ..Cleanup::default() };
    assert_eq!(stopped.left_text(), "an unknown number of versions");
}
