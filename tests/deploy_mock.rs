//! Deploy states no emulator produces, with the SDK's mock clients: a rolled-back update, a bucket replacement,
//! UPDATE_ROLLBACK_FAILED, and the stack policy of a protected env; and throttling, from a fake endpoint that the
//! `provision` binary's own clients talk to.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, Replacement, ResourceChange, ResourceStatus, Stack, StackEvent, StackStatus,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use provision::config::Config;
use provision::deploy::template_store::TemplateStore;
use provision::deploy::{self, Options};
use provision::output::{ExitStatus, Format, Printer, status_of};

const ENV: &str = "project: demo\nregion: us-west-1\naccess:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [calls/]\n";

fn config(extra: &str) -> Config {
    provision::config::parse(&format!("{ENV}{extra}"), Path::new("demo.yaml"), "dev", None).unwrap()
}

fn options() -> Options {
    Options {
        yes: true,
        allow_data_loss: false,
        wait_timeout: Duration::ZERO,
        operation_timeout: Duration::from_secs(30),
        ..Options::default()
    }
}

/// These tests' templates go inline: the template store's S3 client has no rule, so an S3 call would fail the test.
fn templates() -> TemplateStore {
    let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
    let mut aws = provision::aws::Aws::from_sdk(sdk, "us-west-1".into(), None);
    aws.s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, Vec::<&aws_smithy_mocks::Rule>::new());
    TemplateStore::new(&aws, "123456789012")
}

fn stack(status: StackStatus, tags: &Config) -> Stack {
    let mut builder = Stack::builder()
        .stack_name("demo-dev")
        .stack_id("arn:aws:cloudformation:us-west-1:123456789012:stack/demo-dev/1")
        .stack_status(status)
        .creation_time(aws_smithy_types::DateTime::from_secs(0));
    for (k, v) in tags.stack_tags() {
        builder = builder.tags(aws_sdk_cloudformation::types::Tag::builder().key(k).value(v).build());
    }
    builder.build()
}

fn described(status: StackStatus, config: &Config) -> DescribeStacksOutput {
    DescribeStacksOutput::builder().stacks(stack(status, config)).build()
}

fn event(id: &str, logical: &str, kind: &str, status: ResourceStatus, reason: Option<&str>) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id("arn:aws:cloudformation:us-west-1:123456789012:stack/demo-dev/1")
        .stack_name("demo-dev")
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status)
        .set_resource_status_reason(reason.map(str::to_string))
        .timestamp(aws_smithy_types::DateTime::from_secs(1))
        .build()
}

fn change(logical: &str, kind: &str, replacement: Replacement) -> Change {
    Change::builder()
        .resource_change(
            ResourceChange::builder()
                .logical_resource_id(logical)
                .resource_type(kind)
                .action(ChangeAction::Modify)
                .replacement(replacement)
                .build(),
        )
        .build()
}

fn printer() -> Printer {
    Printer::capture(Format::Text).0
}

#[tokio::test]
async fn rolled_back_update_reports_the_first_failed_resource() {
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output({
            let c = config.clone();
            move || described(StackStatus::UpdateComplete, &c)
        })
        .output({
            let c = config.clone();
            move || described(StackStatus::UpdateRollbackComplete, &c)
        })
        .repeatedly()
        .build();
    let template = mock!(Client::get_template).then_output(|| {
        aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder().template_body("{}").build()
    });
    let create = mock!(Client::create_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder().id("cs-1").build()
    });
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(change("WriterPolicy", "AWS::IAM::ManagedPolicy", Replacement::False))
            .build()
    });
    let execute = mock!(Client::execute_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder().build()
    });
    let stack_kind = "AWS::CloudFormation::Stack";
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| {
            aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder()
                .stack_events(event(
                    "e0",
                    "demo-dev",
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::CreateComplete,
                    None,
                ))
                .build()
        })
        .output(move || {
            aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder()
                .stack_events(event("e5", "demo-dev", stack_kind, ResourceStatus::UpdateRollbackComplete, None))
                .stack_events(event(
                    "e4",
                    "WriterRole",
                    "AWS::IAM::Role",
                    ResourceStatus::UpdateFailed,
                    Some("Resource update cancelled"),
                ))
                .stack_events(event(
                    "e3",
                    "WriterPolicy",
                    "AWS::IAM::ManagedPolicy",
                    ResourceStatus::UpdateFailed,
                    Some("MalformedPolicyDocument: Syntax errors in policy."),
                ))
                .stack_events(event(
                    "e2",
                    "WriterPolicy",
                    "AWS::IAM::ManagedPolicy",
                    ResourceStatus::UpdateInProgress,
                    None,
                ))
                .stack_events(event("e1", "demo-dev", stack_kind, ResourceStatus::UpdateInProgress, None))
                .stack_events(event("e0", "demo-dev", stack_kind, ResourceStatus::CreateComplete, None))
                .build()
        })
        .build();
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &template, &create, &describe_cs, &execute, &events]
    );
    let error = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("the stack ended UPDATE_ROLLBACK_COMPLETE"), "{text}");
    assert!(
        text.contains("root cause: WriterPolicy (AWS::IAM::ManagedPolicy) UPDATE_FAILED: MalformedPolicyDocument"),
        "{text}"
    );
    assert!(text.contains("- WriterRole (AWS::IAM::Role): UPDATE_FAILED (Resource update cancelled)"), "{text}");
    assert_eq!(status_of(&error), ExitStatus::Failure);
    assert_eq!(execute.num_calls(), 1);
}

#[tokio::test]
async fn bucket_replacement_is_refused_before_execution() {
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let c = config.clone();
    let describe = mock!(Client::describe_stacks).then_output(move || described(StackStatus::UpdateComplete, &c));
    let template = mock!(Client::get_template).then_output(|| {
        aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder().template_body("{}").build()
    });
    let create = mock!(Client::create_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder().id("cs-1").build()
    });
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(change("DataBucket", "AWS::S3::Bucket", Replacement::True))
            .build()
    });
    let delete_cs = mock!(Client::delete_change_set)
        .then_output(|| aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder().build());
    let execute = mock!(Client::execute_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder().build()
    });
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &template, &create, &describe_cs, &delete_cs, &execute]
    );
    let error = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await.unwrap_err();
    assert_eq!(status_of(&error), ExitStatus::Refused, "{error:#}");
    assert!(format!("{error:#}").contains("~ Modify  DataBucket (AWS::S3::Bucket)  REPLACED"));
    assert_eq!(execute.num_calls(), 0);
    assert_eq!(delete_cs.num_calls(), 1, "the refused change set is deleted");
}

#[tokio::test]
async fn protected_env_refuses_data_loss_even_with_the_flag() {
    let config = config("protected: true\n");
    let changes = [provision::deploy::changeset::Change {
        logical_id: "DataBucket".into(),
        resource_type: "AWS::S3::Bucket".into(),
        action: "Remove".into(),
        replacement: None,
        properties: vec![],
        values: vec![],
    }];
    let reason = deploy::guard(&config, &changes, true).unwrap();
    assert!(reason.contains("allow_data_loss: true"), "{reason}");
    let allowed = provision::config::parse(
        &format!("{ENV}protected: true\nallow_data_loss: true\n"),
        Path::new("d.yaml"),
        "dev",
        None,
    )
    .unwrap();
    assert_eq!(deploy::guard(&allowed, &changes, true), None);
    assert!(deploy::guard(&allowed, &changes, false).is_some());
}

const THROTTLED: &str = "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>Sender</Type>\
    <Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>t</RequestId></ErrorResponse>";
const NO_STACKS: &str = "<DescribeStacksResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
    <DescribeStacksResult><Stacks/></DescribeStacksResult><ResponseMetadata><RequestId>s</RequestId></ResponseMetadata>\
    </DescribeStacksResponse>";

/// An endpoint on 127.0.0.1 that answers its first `throttled` requests as a throttling CloudFormation does (HTTP 400
/// `Throttling` `Rate exceeded`), then with an empty DescribeStacks; returns its URL and the operations it was asked.
fn throttling_endpoint(throttled: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let url = common::http::serve(move |request, stream| {
        let n = {
            let mut log = log.lock().unwrap();
            log.push(request.action());
            log.len()
        };
        match n <= throttled {
            true => common::http::respond(stream, "400 Bad Request", "text/xml", THROTTLED),
            false => common::http::respond(stream, "200 OK", "text/xml", NO_STACKS),
        }
    });
    (url, asked)
}

/// The clients `Aws::connect` builds retry throttling as `--max-attempts` says: the `provision` binary itself (so
/// its clients come from the one seam, nothing mocked in between) runs `list` against an endpoint that throttles its
/// first 4 requests. With 5 attempts it succeeds on the 5th request; with 2 it gives up after the 2nd and says why.
/// Both fail if `Aws::connect` stops applying the retry configuration (the SDK's own default is 3 attempts).
#[test]
fn throttled_calls_are_retried() {
    for (max_attempts, requests, code) in [(5, 5, 0), (2, 2, 1)] {
        let (url, asked) = throttling_endpoint(4);
        let stacks = common::stacks(&format!("throttled-{max_attempts}"), &[("dev.yaml", ENV)]);
        let output = common::command_at(&url, &stacks)
            .args(["list", "--env", "dev", "--no-count", "--max-attempts", &max_attempts.to_string()])
            // Nothing on this machine may set retries behind the tool's back.
            .env_remove("AWS_MAX_ATTEMPTS")
            .env_remove("AWS_RETRY_MODE")
            .env("AWS_CONFIG_FILE", "/nonexistent/provision-test/config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/provision-test/credentials")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "--max-attempts {max_attempts}: {stderr}");
        assert_eq!(*asked.lock().unwrap(), vec!["DescribeStacks"; requests], "--max-attempts {max_attempts}: {stderr}");
        if code == 0 {
            assert!(stderr.contains("no stacks managed by provision in us-west-1"), "{stderr}");
        } else {
            assert!(stderr.contains("DescribeStacks failed: Throttling: Rate exceeded"), "{stderr}");
        }
    }
}

#[tokio::test]
async fn update_rollback_failed_names_the_command_to_continue() {
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let c = config.clone();
    let describe = mock!(Client::describe_stacks).then_output(move || described(StackStatus::UpdateRollbackFailed, &c));
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe]);
    let error = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("UPDATE_ROLLBACK_FAILED"), "{text}");
    assert!(
        text.contains("aws cloudformation continue-update-rollback --stack-name demo-dev --region us-west-1"),
        "{text}"
    );
}

#[tokio::test]
async fn protected_env_gets_termination_protection_and_a_stack_policy() {
    let config = config("protected: true\n");
    let rendered = provision::render::render(&config).unwrap();
    let c = config.clone();
    let describe = mock!(Client::describe_stacks).then_output(move || described(StackStatus::UpdateComplete, &c));
    let body = rendered.template.clone();
    let template = mock!(Client::get_template).then_output(move || {
        aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
            .template_body(body.clone())
            .build()
    });
    let protect = mock!(Client::update_termination_protection)
        .match_requests(|r| r.enable_termination_protection() == Some(true))
        .then_output(|| {
            aws_sdk_cloudformation::operation::update_termination_protection::UpdateTerminationProtectionOutput::builder().build()
        });
    let get_policy = mock!(Client::get_stack_policy)
        .then_output(|| aws_sdk_cloudformation::operation::get_stack_policy::GetStackPolicyOutput::builder().build());
    let set_policy = mock!(Client::set_stack_policy)
        .match_requests(|r| {
            r.stack_policy_body()
                .is_some_and(|b| b.contains("Update:Replace") && b.contains("LogicalResourceId/DataBucket"))
        })
        .then_output(|| aws_sdk_cloudformation::operation::set_stack_policy::SetStackPolicyOutput::builder().build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &template, &protect, &get_policy, &set_policy]
    );
    let report = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await.unwrap();
    assert_eq!(report.action, "none");
    assert_eq!(protect.num_calls(), 1);
    assert_eq!(set_policy.num_calls(), 1);
}

#[tokio::test]
async fn rollback_complete_stack_is_deleted_and_created_afresh() {
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let c = config.clone();
    // Describe: the failed create, then (while deleting) gone, then the new stack.
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output({
            let c = c.clone();
            move || described(StackStatus::RollbackComplete, &c)
        })
        .output({
            let c = c.clone();
            move || described(StackStatus::DeleteComplete, &c)
        })
        .output(move || described(StackStatus::CreateComplete, &c))
        .repeatedly()
        .build();
    let delete = mock!(Client::delete_stack)
        .then_output(|| aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build());
    // Regression (AWS): the bucket of a non-ephemeral env was `DeletionPolicy: Retain`, so it survived the
    // rolled-back create and the create afresh failed on its name, every time. A rolled-back create must not leave
    // it behind: `RetainExceptOnCreate`.
    let create = mock!(Client::create_change_set)
        .match_requests(|r| {
            let template: serde_json::Value =
                serde_yaml::from_str(r.template_body().unwrap_or_default()).unwrap_or_default();
            r.change_set_type() == Some(&aws_sdk_cloudformation::types::ChangeSetType::Create)
                && template["Resources"]["DataBucket"]["DeletionPolicy"] == "RetainExceptOnCreate"
        })
        .then_output(|| {
            aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder().id("cs-1").build()
        });
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(
                Change::builder()
                    .resource_change(
                        ResourceChange::builder()
                            .logical_resource_id("DataBucket")
                            .resource_type("AWS::S3::Bucket")
                            .action(ChangeAction::Add)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let execute = mock!(Client::execute_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder().build()
    });
    let kind = "AWS::CloudFormation::Stack";
    let output = |events: Vec<StackEvent>| {
        aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder()
            .set_stack_events(Some(events))
            .build()
    };
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(move || output(vec![event("r0", "demo-dev", kind, ResourceStatus::RollbackComplete, None)]))
        .output(move || {
            output(vec![
                event("d1", "demo-dev", kind, ResourceStatus::DeleteComplete, None),
                event("r0", "demo-dev", kind, ResourceStatus::RollbackComplete, None),
            ])
        })
        .output(move || output(vec![event("n0", "demo-dev", kind, ResourceStatus::from("REVIEW_IN_PROGRESS"), None)]))
        .output(move || {
            output(vec![
                event("n2", "demo-dev", kind, ResourceStatus::CreateComplete, None),
                event("n1", "DataBucket", "AWS::S3::Bucket", ResourceStatus::CreateComplete, None),
                event("n0", "demo-dev", kind, ResourceStatus::from("REVIEW_IN_PROGRESS"), None),
            ])
        })
        .build();
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &delete, &create, &describe_cs, &execute, &events]
    );
    let report = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await.unwrap();
    assert_eq!(report.action, "create");
    assert_eq!(report.recovered_from.as_deref(), Some("ROLLBACK_COMPLETE"));
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(create.num_calls(), 1);
}

/// CloudFormation's own drift findings are merged into the report; a 501 becomes a note (see tests/drift.rs for
/// the emulator, which answers 501).
#[tokio::test]
async fn cloudformation_drift_results_are_merged() {
    use aws_sdk_cloudformation::types::{
        DifferenceType, PropertyDifference, StackDriftDetectionStatus, StackResourceDrift, StackResourceDriftStatus,
    };
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let c = config.clone();
    let describe = mock!(Client::describe_stacks).then_output(move || described(StackStatus::UpdateComplete, &c));
    let body = rendered.template.clone();
    let template = mock!(Client::get_template).then_output(move || {
        aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
            .template_body(body.clone())
            .build()
    });
    let detect = mock!(Client::detect_stack_drift).then_output(|| {
        aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput::builder()
            .stack_drift_detection_id("d-1")
            .build()
    });
    let status = mock!(Client::describe_stack_drift_detection_status).then_output(|| {
        aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput::builder()
            .stack_id("s")
            .stack_drift_detection_id("d-1")
            .detection_status(StackDriftDetectionStatus::DetectionComplete)
            .timestamp(aws_smithy_types::DateTime::from_secs(0))
            .build()
    });
    let drifts = mock!(Client::describe_stack_resource_drifts).then_output(|| {
        aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput::builder()
            .stack_resource_drifts(
                StackResourceDrift::builder()
                    .stack_id("s")
                    .logical_resource_id("WriterRole")
                    .resource_type("AWS::IAM::Role")
                    .stack_resource_drift_status(StackResourceDriftStatus::Modified)
                    .timestamp(aws_smithy_types::DateTime::from_secs(0))
                    .property_differences(
                        PropertyDifference::builder()
                            .property_path("/MaxSessionDuration")
                            .expected_value("3600")
                            .actual_value("43200")
                            .difference_type(DifferenceType::NotEqual)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let cfn =
        mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe, &template, &detect, &status, &drifts]);
    let mut report = provision::drift::Report {
        env: "dev".into(),
        stack: "demo-dev".into(),
        findings: vec![],
        notes: vec![],
        live: vec![],
        stack_tags: Default::default(),
        stack_parameters: Default::default(),
        pending: false,
    };
    provision::drift::cloudformation_drift(&cfn, "demo-dev", &mut report).await.unwrap();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    let finding = &report.findings[0];
    assert_eq!(finding.resource, "WriterRole (AWS::IAM::Role)");
    assert_eq!(finding.property, "/MaxSessionDuration");
    assert_eq!(finding.actual, "43200");

    let unimplemented = mock!(Client::detect_stack_drift).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(501).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Code>InternalFailure</Code><Message>not implemented</Message></Error></ErrorResponse>",
            ),
        )
    });
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&unimplemented]);
    let mut report = provision::drift::Report { findings: vec![], notes: vec![], ..report };
    provision::drift::cloudformation_drift(&cfn, "demo-dev", &mut report).await.unwrap();
    assert!(report.findings.is_empty());
    assert!(report.notes[0].contains("not implemented"), "{:?}", report.notes);
}

/// A protected env whose data-loss deploy lifts the stack policy: the stack, the change set replacing the bucket,
/// the policy as GetStackPolicy shows it (the deny policy, then the lifted one), and every policy body set.
struct LiftedPolicy {
    config: Config,
    rendered: provision::render::Rendered,
    set_bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    rules: Vec<aws_smithy_mocks::Rule>,
}

fn lifted_policy(events_after_execute: Vec<StackEvent>, final_status: StackStatus) -> LiftedPolicy {
    use aws_sdk_cloudformation::operation::{
        create_change_set::CreateChangeSetOutput, describe_change_set::DescribeChangeSetOutput,
        describe_stack_events::DescribeStackEventsOutput, execute_change_set::ExecuteChangeSetOutput,
        get_stack_policy::GetStackPolicyOutput, get_template::GetTemplateOutput,
        set_stack_policy::SetStackPolicyOutput,
    };
    let config = config("protected: true\nallow_data_loss: true\n");
    let rendered = provision::render::render(&config).unwrap();
    let deny = rendered.stack_policy.clone().unwrap();
    let allow_all = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"Update:*","Resource":"*"}]}"#;
    let (c, c2) = (config.clone(), config.clone());
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(move || described(StackStatus::UpdateComplete, &c))
        .output(move || described(final_status.clone(), &c2))
        .repeatedly()
        .build();
    let template = mock!(Client::get_template).then_output(|| GetTemplateOutput::builder().template_body("{}").build());
    let create = mock!(Client::create_change_set).then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(change("DataBucket", "AWS::S3::Bucket", Replacement::True))
            .build()
    });
    let execute = mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let get_policy = mock!(Client::get_stack_policy)
        .sequence()
        .output(move || GetStackPolicyOutput::builder().stack_policy_body(deny.clone()).build())
        .output(move || GetStackPolicyOutput::builder().stack_policy_body(allow_all).build())
        .repeatedly()
        .build();
    let set_bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = set_bodies.clone();
    let set_policy = mock!(Client::set_stack_policy)
        .match_requests(move |r| {
            recorded.lock().unwrap().push(r.stack_policy_body().unwrap_or_default().to_string());
            true
        })
        .then_output(|| SetStackPolicyOutput::builder().build());
    let kind = "AWS::CloudFormation::Stack";
    let page = |events: Vec<StackEvent>| DescribeStackEventsOutput::builder().set_stack_events(Some(events)).build();
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(move || page(vec![event("e0", "demo-dev", kind, ResourceStatus::UpdateComplete, None)]))
        .output(move || page(events_after_execute.clone()))
        .repeatedly()
        .build();
    let rules = vec![describe, template, create, describe_cs, execute, get_policy, set_policy, events];
    LiftedPolicy { config, rendered, set_bodies, rules }
}

fn options_allowing_data_loss(interrupt: provision::deploy::Interrupt) -> Options {
    Options { allow_data_loss: true, interrupt, ..options() }
}

/// Regression: a data-loss deploy of a protected env lifted the stack policy and put it back only when the update
/// succeeded; a failed update left the bucket unguarded.
#[tokio::test]
async fn a_failed_update_puts_the_lifted_stack_policy_back() {
    let kind = "AWS::CloudFormation::Stack";
    let after = vec![
        event("e2", "demo-dev", kind, ResourceStatus::UpdateRollbackComplete, None),
        event("e1", "DataBucket", "AWS::S3::Bucket", ResourceStatus::UpdateFailed, Some("Access Denied")),
    ];
    let setup = lifted_policy(after, StackStatus::UpdateRollbackComplete);
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, setup.rules.iter().collect::<Vec<_>>());
    let options = options_allowing_data_loss(Default::default());
    let error =
        deploy::deploy(&cfn, &templates(), &setup.config, &setup.rendered, &options, &printer()).await.unwrap_err();
    assert!(format!("{error:#}").contains("UPDATE_ROLLBACK_COMPLETE"), "{error:#}");
    let bodies = setup.set_bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "lifted, then put back: {bodies:?}");
    assert!(bodies[0].contains("\"Update:*\"") && !bodies[0].contains("Deny"), "{}", bodies[0]);
    assert_eq!(bodies[1], setup.rendered.stack_policy.unwrap(), "the deny policy is back");
}

/// Regression: Ctrl-C while a lifted-policy update ran ended the process with the bucket unguarded. The
/// interruption now puts the deny policy back first and says the update goes on in CloudFormation.
#[tokio::test(start_paused = true)]
async fn an_interrupted_update_puts_the_lifted_stack_policy_back() {
    let setup = lifted_policy(Vec::new(), StackStatus::UpdateInProgress);
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, setup.rules.iter().collect::<Vec<_>>());
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    let options = options_allowing_data_loss(provision::deploy::Interrupt::Notified(notify.clone()));
    let interrupt = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        notify.notify_one();
    };
    let (templates, printer) = (templates(), printer());
    let (result, ()) =
        tokio::join!(deploy::deploy(&cfn, &templates, &setup.config, &setup.rendered, &options, &printer), interrupt);
    let error = result.unwrap_err();
    assert!(format!("{error:#}").contains("interrupted: the update of stack demo-dev goes on"), "{error:#}");
    let bodies = setup.set_bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "lifted, then put back: {bodies:?}");
    assert_eq!(bodies[1], setup.rendered.stack_policy.unwrap(), "the deny policy is back");
}

/// Regression: a resource that failed in `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS` (an old resource CloudFormation
/// could not delete after a successful update) was dropped; it is a warning now, in text and in JSON.
#[tokio::test]
async fn cleanup_failures_of_a_successful_update_are_warnings() {
    use aws_sdk_cloudformation::operation::{
        create_change_set::CreateChangeSetOutput, describe_change_set::DescribeChangeSetOutput,
        describe_stack_events::DescribeStackEventsOutput, execute_change_set::ExecuteChangeSetOutput,
        get_template::GetTemplateOutput,
    };
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let c = config.clone();
    let describe = mock!(Client::describe_stacks).then_output(move || described(StackStatus::UpdateComplete, &c));
    let template = mock!(Client::get_template).then_output(|| GetTemplateOutput::builder().template_body("{}").build());
    let create = mock!(Client::create_change_set).then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
    let describe_cs = mock!(Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .changes(change("WriterPolicy", "AWS::IAM::ManagedPolicy", Replacement::True))
            .build()
    });
    let execute = mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let kind = "AWS::CloudFormation::Stack";
    let page = |events: Vec<StackEvent>| DescribeStackEventsOutput::builder().set_stack_events(Some(events)).build();
    let reason = "Cannot delete entity, must detach all users first.";
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(move || page(vec![event("e0", "demo-dev", kind, ResourceStatus::UpdateComplete, None)]))
        .output(move || {
            page(vec![
                event("e5", "demo-dev", kind, ResourceStatus::UpdateComplete, None),
                event("e4", "WriterPolicy", "AWS::IAM::ManagedPolicy", ResourceStatus::DeleteFailed, Some(reason)),
                event("e3", "demo-dev", kind, ResourceStatus::from("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), None),
                event("e2", "WriterPolicy", "AWS::IAM::ManagedPolicy", ResourceStatus::UpdateComplete, None),
                event("e1", "demo-dev", kind, ResourceStatus::UpdateInProgress, None),
            ])
        })
        .build();
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &template, &create, &describe_cs, &execute, &events]
    );
    let (printer, _, stderr) = Printer::capture(Format::Text);
    let report = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer).await.unwrap();
    let outcome = report.outcome.expect("an executed change set has an outcome");
    assert_eq!(outcome.status, "UPDATE_COMPLETE");
    assert!(outcome.failed.is_empty() && outcome.root_cause.is_none());
    assert_eq!(outcome.warnings.len(), 1, "{outcome:?}");
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["warnings"][0]["logical_id"], "WriterPolicy");
    assert_eq!(json["warnings"][0]["status"], "DELETE_FAILED");
    assert_eq!(json["warnings"][0]["reason"], reason);
    let text = stderr.text();
    assert!(
        text.contains(&format!("warning: WriterPolicy (AWS::IAM::ManagedPolicy) DELETE_FAILED: {reason}")),
        "{text}"
    );
}

fn review_stack_rules(change_set_age_secs: i64) -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
    use aws_sdk_cloudformation::operation::list_change_sets::ListChangeSetsOutput;
    use aws_sdk_cloudformation::types::{ChangeSetSummary, ExecutionStatus};
    let config = config("");
    let describe =
        mock!(Client::describe_stacks).then_output(move || described(StackStatus::ReviewInProgress, &config));
    let list = mock!(Client::list_change_sets).then_output(move || {
        let created = std::time::SystemTime::now() - Duration::from_secs(change_set_age_secs as u64);
        ListChangeSetsOutput::builder()
            .summaries(
                ChangeSetSummary::builder()
                    .change_set_name("provision-1-other")
                    .status(ChangeSetStatus::CreateComplete)
                    .execution_status(ExecutionStatus::Available)
                    .creation_time(aws_smithy_types::DateTime::from(created))
                    .build(),
            )
            .build()
    });
    (describe, list)
}

/// Regression: two deploys of the same new instance at once. The second saw the first's stack in review (its CREATE
/// change set waiting to be executed) and deleted it as "never created"; the first then failed with a misleading
/// `Stack ... does not exist`. A stack in review with a change set made minutes ago is another run's: not touched.
#[tokio::test]
async fn a_stack_in_review_with_a_fresh_change_set_is_another_runs() {
    let (describe, list) = review_stack_rules(3);
    let delete = mock!(Client::delete_stack)
        .then_output(|| aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build());
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe, &list, &delete]);
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let error = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("stack demo-dev is being created by another run"), "{text}");
    assert!(text.contains("--wait-timeout"), "{text}");
    assert_eq!(delete.num_calls(), 0, "another run's stack is not deleted");
}

/// A stack left in review by a run that was killed (its change set made long ago) is still recovered.
#[tokio::test]
async fn a_stack_left_in_review_long_ago_is_deleted_to_create_it_afresh() {
    let (describe, list) = review_stack_rules(3600);
    let delete = mock!(Client::delete_stack)
        .then_output(|| aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build());
    // Deleting: the stack's events say it is gone.
    let events = mock!(Client::describe_stack_events)
        .sequence()
        .output(|| {
            aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder().build()
        })
        .output(|| {
            aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder()
                .stack_events(event(
                    "d1",
                    "demo-dev",
                    "AWS::CloudFormation::Stack",
                    ResourceStatus::DeleteComplete,
                    None,
                ))
                .build()
        })
        .repeatedly()
        .build();
    // The create afresh is not this test's business: it stops there.
    let create = mock!(Client::create_change_set).then_error(|| {
        aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetError::generic(
            ErrorMetadata::builder().code("TestStop").build(),
        )
    });
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe, &list, &delete, &events, &create]);
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let result = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await;
    assert!(format!("{:#}", result.unwrap_err()).contains("TestStop"));
    assert_eq!(delete.num_calls(), 1, "a leftover of a killed run holds no data and is deleted");
}

/// The loser of a race to create the same stack is told so, instead of an AWS error about a stack that exists.
#[tokio::test]
async fn a_create_that_loses_the_race_says_another_run_is_deploying() {
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetError;
    let missing = mock!(Client::describe_stacks).then_error(|| {
        DescribeStacksError::generic(
            ErrorMetadata::builder().code("ValidationError").message("Stack with id demo-dev does not exist").build(),
        )
    });
    let create = mock!(Client::create_change_set).then_error(|| {
        CreateChangeSetError::generic(
            ErrorMetadata::builder()
                .code("AlreadyExistsException")
                .message("Stack [demo-dev] already exists and cannot be created again with the changeSet [x].")
                .build(),
        )
    });
    let delete = mock!(Client::delete_stack)
        .then_output(|| aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build());
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&missing, &create, &delete]);
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let error = deploy::deploy(&cfn, &templates(), &config, &rendered, &options(), &printer()).await.unwrap_err();
    assert!(format!("{error:#}").contains("another run is deploying stack demo-dev at the same time"), "{error:#}");
    assert_eq!(delete.num_calls(), 0, "the winner's stack is left alone");
}

/// Regression: Ctrl-C 0.2 s into a deploy left an empty stack in REVIEW_IN_PROGRESS that `list` did not show and
/// `teardown` refused. Stopped before execution, a deploy removes its own change set's empty stack, found through
/// the change set's name (never another run's stack of the same name), and says nothing was deployed.
#[tokio::test(start_paused = true)]
async fn ctrl_c_before_execution_removes_this_runs_empty_stack() {
    use aws_sdk_cloudformation::operation::{
        create_change_set::CreateChangeSetOutput, delete_stack::DeleteStackOutput,
        describe_change_set::DescribeChangeSetOutput,
    };
    let own = "arn:aws:cloudformation:us-west-1:123456789012:stack/demo-dev/own";
    let c = config("");
    let describe = mock!(Client::describe_stacks)
        .match_requests(move |r| r.stack_name() == Some(own))
        .then_output(move || described(StackStatus::ReviewInProgress, &c));
    let missing =
        mock!(Client::describe_stacks).match_requests(|r| r.stack_name() == Some("demo-dev")).then_error(|| {
            DescribeStacksError::generic(
                ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("Stack with id demo-dev does not exist")
                    .build(),
            )
        });
    let create = mock!(Client::create_change_set)
        .then_output(move || CreateChangeSetOutput::builder().id("cs-own").stack_id(own).build());
    // Still being computed when Ctrl-C comes.
    let pending = mock!(Client::describe_change_set).then_output(move || {
        DescribeChangeSetOutput::builder().status(ChangeSetStatus::CreateInProgress).stack_id(own).build()
    });
    let delete = mock!(Client::delete_stack)
        .match_requests(move |r| r.stack_name() == Some(own))
        .then_output(|| DeleteStackOutput::builder().build());
    let cfn =
        mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe, &missing, &create, &pending, &delete]);
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let notify = std::sync::Arc::new(tokio::sync::Notify::new());
    let options = Options { interrupt: provision::deploy::Interrupt::Notified(notify.clone()), ..options() };
    let (templates, printer) = (templates(), printer());
    let interrupt = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        notify.notify_one();
    };
    let (result, ()) =
        tokio::join!(deploy::deploy(&cfn, &templates, &config, &rendered, &options, &printer), interrupt);
    let error = result.unwrap_err();
    assert!(format!("{error:#}").contains("interrupted before any change: nothing was deployed"), "{error:#}");
    assert_eq!(delete.num_calls(), 1, "this run's empty stack, by its id");
}
