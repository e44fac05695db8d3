//! Deploy states no emulator produces, with the SDK's mock clients: a rolled-back update, a bucket replacement,
//! throttling, UPDATE_ROLLBACK_FAILED, and the stack policy of a protected env.

use std::path::Path;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::describe_stacks::{DescribeStacksError, DescribeStacksOutput};
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, Replacement, ResourceChange, ResourceStatus, Stack, StackEvent, StackStatus,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use provision::config::Config;
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
        ttl: None,
    }
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
    let error = deploy::deploy(&cfn, &config, &rendered, &options(), &printer()).await.unwrap_err();
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
    let error = deploy::deploy(&cfn, &config, &rendered, &options(), &printer()).await.unwrap_err();
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

#[tokio::test]
async fn throttled_calls_are_retried() {
    let config = config("");
    let c = config.clone();
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(|| {
            DescribeStacksError::generic(ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build())
        })
        .times(2)
        .output(move || described(StackStatus::CreateComplete, &c))
        .build();
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe], |builder| builder
        .retry_config(provision::aws::retry_config(4).with_initial_backoff(Duration::from_millis(1)))
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new()));
    let stack = deploy::describe_stack(&cfn, "demo-dev").await.unwrap().unwrap();
    assert_eq!(stack.status, "CREATE_COMPLETE");
    assert_eq!(describe.num_calls(), 3);
}

#[tokio::test]
async fn update_rollback_failed_names_the_command_to_continue() {
    let config = config("");
    let rendered = provision::render::render(&config).unwrap();
    let c = config.clone();
    let describe = mock!(Client::describe_stacks).then_output(move || described(StackStatus::UpdateRollbackFailed, &c));
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe]);
    let error = deploy::deploy(&cfn, &config, &rendered, &options(), &printer()).await.unwrap_err();
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
    let report = deploy::deploy(&cfn, &config, &rendered, &options(), &printer()).await.unwrap();
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
    let create = mock!(Client::create_change_set)
        .match_requests(|r| r.change_set_type() == Some(&aws_sdk_cloudformation::types::ChangeSetType::Create))
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
    let report = deploy::deploy(&cfn, &config, &rendered, &options(), &printer()).await.unwrap();
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
