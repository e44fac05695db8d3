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
        kms: aws_sdk_kms::Client::new(&sdk),
        s3,
        iam,
        sdk,
        region: "us-west-1".to_string(),
        endpoints: Default::default(),
        caller: Default::default(),
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
    simulator_with(grants, seen, true)
}

/// A simulator that evaluates conditions (as IAM does) or ignores them (as localemu 1.3.2 does: a ListBucket
/// granted under a prefix is then allowed under any prefix).
fn simulator_with(grants: Grants, seen: Arc<Mutex<Vec<SimulatePrincipalPolicyInput>>>, conditions: bool) -> Rule {
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
                    ("s3:ListBucket", None, Some(listed)) => !conditions || listed.starts_with(prefix),
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
        custom_iam: false,
        region: "us-west-1".to_string(),
    }
}

fn options() -> ProbeOptions {
    ProbeOptions { run_id: "R1".to_string(), iam_propagation: Duration::ZERO, handle_ctrl_c: false }
}

async fn least_privilege_with(aws: &Aws) -> (Vec<Check>, Vec<AccessRow>) {
    least_privilege_at(aws, false).await
}

/// Probe 5 with IAM on AWS (`custom_iam` false) or on a custom endpoint such as the emulator.
async fn least_privilege_at(aws: &Aws, custom_iam: bool) -> (Vec<Check>, Vec<AccessRow>) {
    let (config, outputs, options) = (config(), outputs(), options());
    let (printer, _, _) = Printer::capture(Format::Text);
    let mut ctx = ctx(aws, &config, &outputs, &printer, &options);
    ctx.custom_iam = custom_iam;
    access::least_privilege(&ctx, &Roles::new()).await
}

/// The analysts role's policy as the tool renders it (ListBucket only with `s3:prefix` under `sessions/`), and as
/// IAM returns it: URL-encoded.
const ANALYSTS_POLICY: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C\
    %22Action%22%3A%5B%22s3%3AGetObject%22%2C%22s3%3AGetObjectVersion%22%5D%2C%22Resource%22%3A%5B%22arn%3Aaws%3As3%3A%3A%3A\
    demo-prod-123456789012-us-west-1%2Fsessions%2F%2A%22%5D%7D%2C%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AListBucket\
    %22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ademo-prod-123456789012-us-west-1%22%2C%22Condition%22%3A%7B%22StringLike\
    %22%3A%7B%22s3%3Aprefix%22%3A%5B%22sessions%2F%2A%22%5D%7D%7D%7D%5D%7D";

/// IAM's answers about the analysts role's policies: its own (attached), and `extra` attached besides.
fn analysts_policies(extra: Option<&'static str>) -> Vec<Rule> {
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
    use aws_sdk_iam::types::{AttachedPolicy, Policy, PolicyVersion};

    let ours = "arn:aws:iam::123456789012:policy/demo-prod-analysts";
    let theirs = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    vec![
        mock!(aws_sdk_iam::Client::list_attached_role_policies)
            .match_requests(|r| r.role_name() == Some("analysts"))
            .then_output(move || {
                let mut out = ListAttachedRolePoliciesOutput::builder()
                    .attached_policies(AttachedPolicy::builder().policy_arn(ours).build());
                if extra.is_some() {
                    out = out.attached_policies(AttachedPolicy::builder().policy_arn(theirs).build());
                }
                out.is_truncated(false).build()
            }),
        mock!(aws_sdk_iam::Client::list_role_policies)
            .then_output(|| ListRolePoliciesOutput::builder().set_policy_names(Some(vec![])).build().unwrap()),
        mock!(aws_sdk_iam::Client::get_policy).then_compute_output(|r| {
            GetPolicyOutput::builder()
                .policy(Policy::builder().arn(r.policy_arn().unwrap_or_default()).default_version_id("v1").build())
                .build()
        }),
        mock!(aws_sdk_iam::Client::get_policy_version).then_compute_output(move |r| {
            let document = if r.policy_arn() == Some(ours) { ANALYSTS_POLICY } else { extra.unwrap_or_default() };
            GetPolicyVersionOutput::builder()
                .policy_version(PolicyVersion::builder().document(document).build())
                .build()
        }),
    ]
}

/// On AWS the simulator's answer stands: a listing outside the entry's prefixes that it allows fails its row, and
/// the principal's policies are not read to explain it away (the emulator's gap is not assumed on AWS).
#[tokio::test]
async fn on_aws_a_listing_the_simulator_allows_outside_the_prefixes_fails() {
    let policies = analysts_policies(None);
    let mut rules = vec![simulator_with(grants(), Arc::default(), false)];
    rules.extend(policies.iter().cloned());
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &rules);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let (checks, rows) = least_privilege_at(&aws(s3, iam), false).await;

    let failed: Vec<&AccessRow> = rows.iter().filter(|r| !r.ok).collect();
    assert_eq!(failed.len(), 1, "{rows:#?}");
    assert_eq!(
        (failed[0].entry.as_str(), failed[0].action.as_str(), failed[0].scope, failed[0].observed.as_str()),
        ("analysts", "ListBucket", Scope::Outside, "allow")
    );
    assert_eq!(failed[0].note, None);
    let analysts = checks.iter().find(|c| c.name == "access analysts").unwrap();
    assert!(!analysts.ok, "{analysts:?}");
    assert!(policies.iter().all(|rule| rule.num_calls() == 0), "no policy read on AWS");
}

/// Regression: the prod-shaped config failed its analysts ListBucket row on every emulator run, because localemu's
/// simulator ignores the `s3:prefix` condition. On a custom IAM endpoint that "allow" is accepted when the
/// principal's own policies, evaluated with the prefix, deny the listing; the row says so.
#[tokio::test]
async fn on_an_emulator_the_simulator_condition_gap_is_checked_against_the_principal_policies() {
    let policies = analysts_policies(None);
    let mut rules = vec![simulator_with(grants(), Arc::default(), false)];
    rules.extend(policies.iter().cloned());
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &rules);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let (checks, rows) = least_privilege_at(&aws(s3, iam), true).await;

    assert!(checks.iter().all(|c| c.ok && !c.skipped), "{checks:#?}");
    assert!(rows.iter().all(|r| r.ok), "{rows:#?}");
    let outside = rows.iter().find(|r| r.entry == "analysts" && r.action == "ListBucket" && r.scope == Scope::Outside);
    let note = outside.unwrap().note.as_deref().unwrap_or_default();
    assert!(note.starts_with("emulator gap: localemu's policy simulator ignores conditions"), "{note}");
    assert!(note.ends_with("evaluated with s3:prefix _probe/R1/access/analysts/, deny it"), "{note}");
    assert_eq!(rows.iter().filter(|r| r.note.is_some()).count(), 1, "only the row the gap concerns");
}

/// The gap is not a pass: a policy attached besides the entry's that lets the principal list everything fails
/// the row on the emulator too.
#[tokio::test]
async fn on_an_emulator_another_policy_that_lists_everything_still_fails() {
    let read_only =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}"#;
    let policies = analysts_policies(Some(read_only));
    let mut rules = vec![simulator_with(grants(), Arc::default(), false)];
    rules.extend(policies.iter().cloned());
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, &rules);
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    let (checks, rows) = least_privilege_at(&aws(s3, iam), true).await;

    let failed: Vec<&AccessRow> = rows.iter().filter(|r| !r.ok).collect();
    assert_eq!(failed.len(), 1, "{rows:#?}");
    let note = failed[0].note.as_deref().unwrap_or_default();
    assert!(note.ends_with("evaluated with s3:prefix _probe/R1/access/analysts/, allow it too"), "{note}");
    assert!(!checks.iter().find(|c| c.name == "access analysts").unwrap().ok);
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
    let key = Layout::new(&config.smoke.probe_prefix, &options.run_id).notify_key("", "new-recording", ".wav");
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
    let found = notify::wait_for(&ctx, &ctx.clients.sqs, "https://sqs/q", &key, "ObjectCreated", deadline, false).await;
    assert_eq!(found.map(|r| r.found), Ok(true));
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

const QUEUE_ARN: &str = "arn:aws:sqs:us-west-1:123456789012:demo-prod-new-recording";
const QUEUE_URL: &str = "https://sqs.us-west-1.amazonaws.com/123456789012/demo-prod-new-recording";

/// The protected config with a queue notification whose consumer is the created transcriber role.
fn consumer_config(env: &str) -> Config {
    let src = format!(
        "{}  transcriber:\n    principal: {{ service: ecs-tasks.amazonaws.com }}\n    allow: [read]\n    \
         prefixes: [AC0123/]\nnotifications:\n  new-recording:\n    prefix: AC0123/\n    suffix: .wav\n    \
         target: queue\n    consumers: [transcriber]\n",
        r#"project: demo
region: us-west-1
account: "123456789012"
protected: true
access:
  writer:
    principal: { service: lambda.amazonaws.com }
    allow: [write, read]
    prefixes: [calls/]
"#
    );
    let src = if env == "prod" {
        src
    } else {
        src.replace("protected: true", "ephemeral: true") + "smoke:\n  trust_deployer: true\n"
    };
    crate::config::parse(&src, Path::new("x.yaml"), env, None).unwrap()
}

fn consumer_outputs() -> BTreeMap<String, String> {
    let mut outputs = outputs();
    outputs.insert("TranscriberRoleArn".into(), "arn:aws:iam::123456789012:role/demo-prod-transcriber".into());
    outputs.insert("NewRecordingQueueArn".into(), QUEUE_ARN.into());
    outputs.insert("NewRecordingQueueUrl".into(), QUEUE_URL.into());
    outputs
}

/// A simulator granting the consume actions on the queue to `consumer` only.
fn queue_simulator(consumer: &'static str) -> Rule {
    mock!(aws_sdk_iam::Client::simulate_principal_policy).then_compute_output(move |input| {
        let mut out = SimulatePrincipalPolicyOutput::builder().is_truncated(false);
        for action in input.action_names() {
            for resource in input.resource_arns() {
                let allowed = input.policy_source_arn() == Some(consumer)
                    && crate::config::QUEUE_CONSUMER_ACTIONS.contains(&action.as_str())
                    && resource == QUEUE_ARN;
                let decision = if allowed {
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

/// Where the deployer may not assume the consumer's role (a protected env), the simulator answers on the queue's
/// ARN: the consumer's five actions allowed, another entry's denied; a consumer without its grant fails.
#[tokio::test]
async fn a_consumer_that_cannot_be_assumed_is_simulated_on_its_queue() {
    let (config, outputs, options) = (consumer_config("prod"), consumer_outputs(), options());
    let (printer, _, _) = Printer::capture(Format::Text);
    for (consumer, ok) in
        [("arn:aws:iam::123456789012:role/demo-prod-transcriber", true), ("arn:aws:iam::123456789012:role/x", false)]
    {
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&queue_simulator(consumer)]);
        let aws = aws(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]), iam);
        let ctx = ctx(&aws, &config, &outputs, &printer, &options);
        let (checks, rows) = queues::consumers(&ctx, &Roles::new(), &[]).await;
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].name, "consumers new-recording");
        assert_eq!(checks[0].ok, ok, "{checks:#?}");
        assert_eq!(rows.len(), 10);
        assert!(rows.iter().all(|r| r.method == Method::Simulated && r.key == QUEUE_ARN));
        let summary: Vec<String> =
            rows.iter().map(|r| format!("{} {} {} {}", r.entry, r.action, r.observed, r.ok)).collect();
        let consumer_ok = if ok { "allow true" } else { "deny false" };
        assert_eq!(
            summary,
            [
                format!("transcriber GetQueueUrl {consumer_ok}"),
                format!("transcriber GetQueueAttributes {consumer_ok}"),
                format!("transcriber ReceiveMessage {consumer_ok}"),
                format!("transcriber ChangeMessageVisibility {consumer_ok}"),
                format!("transcriber DeleteMessage {consumer_ok}"),
                "writer GetQueueUrl deny true".to_string(),
                "writer GetQueueAttributes deny true".to_string(),
                "writer ReceiveMessage deny true".to_string(),
                "writer ChangeMessageVisibility deny true".to_string(),
                "writer DeleteMessage deny true".to_string(),
            ]
        );
    }
}

/// The consumer's session, with an SQS client from `rules`.
fn consumer_session(sqs: aws_sdk_sqs::Client) -> clients::Session {
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&bucket_policy_rule()]);
    clients::Session {
        role_arn: "arn:aws:iam::123456789012:role/demo-test-transcriber".into(),
        s3: s3.clone(),
        s3_http: s3,
        sqs,
    }
}

/// Where the deployer may assume the consumer's role (test and local envs), the notification check receives the
/// probe's event, extends its visibility and deletes it as the consumer, never as the deployer; what it was allowed
/// to do is handed to the access matrix. A consumer denied ReceiveMessage fails the check, and its row says so.
#[tokio::test]
async fn the_notification_check_receives_and_deletes_as_the_consumer() {
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput;
    use aws_sdk_sqs::operation::delete_message::DeleteMessageOutput;
    use aws_sdk_sqs::operation::receive_message::{ReceiveMessageError, ReceiveMessageOutput};
    use aws_sdk_sqs::types::Message;

    let (config, outputs, options) = (consumer_config("test"), consumer_outputs(), options());
    let key = Layout::new(&config.smoke.probe_prefix, &options.run_id).notify_key("AC0123/", "new-recording", ".wav");
    assert_eq!(key, "AC0123/_probe/R1/notify/new-recording/probe.wav");
    // As S3 sends it: URL-encoded.
    let body = serde_json::json!({ "Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": BUCKET }, "object": { "key": key } },
    }] })
    .to_string();
    let put = mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&put, &bucket_policy_rule()]);
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&queue_simulator("none")]);
    let deployer_receive =
        mock!(aws_sdk_sqs::Client::receive_message).then_output(|| ReceiveMessageOutput::builder().build());
    let mut aws = aws(s3, iam);
    aws.sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&deployer_receive]);
    let (printer, _, _) = Printer::capture(Format::Text);
    let ctx = ctx(&aws, &config, &outputs, &printer, &options);

    let receive = mock!(aws_sdk_sqs::Client::receive_message)
        .match_requests(|r| r.queue_url() == Some(QUEUE_URL))
        .then_output(move || {
            ReceiveMessageOutput::builder()
                .messages(Message::builder().body(body.clone()).receipt_handle("h1").build())
                .build()
        });
    let extend = mock!(aws_sdk_sqs::Client::change_message_visibility)
        .match_requests(|r| r.receipt_handle() == Some("h1"))
        .then_output(|| ChangeMessageVisibilityOutput::builder().build());
    let delete = mock!(aws_sdk_sqs::Client::delete_message)
        .match_requests(|r| r.receipt_handle() == Some("h1"))
        .then_output(|| DeleteMessageOutput::builder().build());
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&receive, &extend, &delete]);
    let roles = Roles::from([("transcriber".to_string(), Ok(consumer_session(sqs)))]);
    let (checks, seen) = notify::notifications(&ctx, &roles).await;
    assert!(checks[0].ok, "{checks:#?}");
    assert!(checks[0].observed.ends_with("received as its consumer transcriber and deleted"), "{}", checks[0].observed);
    assert_eq!((receive.num_calls(), extend.num_calls(), delete.num_calls()), (1, 1, 1));
    assert_eq!(deployer_receive.num_calls(), 0, "never received as the deployer");
    assert_eq!(
        seen,
        [notify::AsConsumer {
            notification: "new-recording".into(),
            entry: "transcriber".into(),
            receive: Observed::Allow,
            change_visibility: Some(Observed::Allow),
            delete: Some(Observed::Allow),
        }]
    );

    // Without its grant: ReceiveMessage is denied to the consumer; the check fails at once, the row shows it.
    let denied = mock!(aws_sdk_sqs::Client::receive_message).then_error(|| {
        ReceiveMessageError::generic(ErrorMetadata::builder().code("AccessDenied").message("not authorized").build())
    });
    // SQS answers GetQueueUrl without permission as if the queue did not exist (its docs say so): a denial here.
    let no_url = mock!(aws_sdk_sqs::Client::get_queue_url).then_error(|| {
        aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError::generic(
            ErrorMetadata::builder().code("AWS.SimpleQueueService.NonExistentQueue").build(),
        )
    });
    let no_attributes = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_error(|| {
        aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError::generic(
            ErrorMetadata::builder().code("AccessDenied").build(),
        )
    });
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&denied, &no_url, &no_attributes]);
    let roles = Roles::from([("transcriber".to_string(), Ok(consumer_session(sqs)))]);
    let (checks, seen) = notify::notifications(&ctx, &roles).await;
    assert!(!checks[0].ok);
    assert!(checks[0].observed.contains("AccessDenied"), "{}", checks[0].observed);
    assert!(checks[0].observed.ends_with("received as its consumer transcriber"), "{}", checks[0].observed);
    assert_eq!(seen[0].receive, Observed::Deny);
    let rows = queues::consumers(&ctx, &roles, &seen).await.1;
    let consumer_rows: Vec<String> = rows
        .iter()
        .filter(|r| r.entry == "transcriber")
        .map(|r| format!("{} {} {:?} {}", r.action, r.observed, r.method, r.ok))
        .collect();
    assert_eq!(
        consumer_rows,
        [
            "GetQueueUrl deny Request false",
            "GetQueueAttributes deny Request false",
            "ReceiveMessage deny Request false",
            // No message arrived to act on: the simulator answers (here: no grant).
            "ChangeMessageVisibility deny Simulated false",
            "DeleteMessage deny Simulated false",
        ]
    );
}
