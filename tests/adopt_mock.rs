//! Adoption's AWS side, which the emulator does not implement (it ignores `ImportExistingResources` and takes an
//! existing bucket on create; tests/README.md): the change set asks CloudFormation to import the bucket by its
//! literal name, the import shows as `Import` and passes the data guard, and a failed import leaves the bucket
//! untouched and says how to retry.

use std::path::Path;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::operation::describe_stacks::{DescribeStacksError, DescribeStacksOutput};
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ResourceChange, ResourceStatus, Stack, StackEvent, StackStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use provision::config::Config;
use provision::deploy::template_store::TemplateStore;
use provision::deploy::{self, Options};
use provision::output::{Format, Printer};

const BUCKET: &str = "voice-archive-123456789012-us-west-1";

fn config() -> Config {
    let src = format!("project: demo\nregion: us-west-1\naccount: \"123456789012\"\nbucket:\n  name: {BUCKET}\n");
    provision::config::parse(&src, Path::new("prod.yaml"), "prod", None).unwrap()
}

fn aws(cfn: Client, s3: aws_sdk_s3::Client) -> provision::aws::Aws {
    let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
    let mut aws = provision::aws::Aws::from_sdk(sdk, "us-west-1".into(), None);
    aws.cfn = cfn;
    aws.s3 = s3;
    aws
}

fn stack(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name("demo-prod")
                .stack_id("arn:aws:cloudformation:us-west-1:123456789012:stack/demo-prod/1")
                .stack_status(status)
                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                .build(),
        )
        .build()
}

fn event(id: &str, logical: &str, kind: &str, status: ResourceStatus, reason: Option<&str>) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id("arn:aws:cloudformation:us-west-1:123456789012:stack/demo-prod/1")
        .stack_name("demo-prod")
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status)
        .set_resource_status_reason(reason.map(str::to_string))
        .timestamp(aws_smithy_types::DateTime::from_secs(1))
        .build()
}

fn events(
    list: Vec<StackEvent>,
) -> aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput {
    aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder()
        .set_stack_events(Some(list))
        .build()
}

/// A change set as AWS computes it for an adoption: the bucket imported, the rest added.
fn import_change_set() -> Rule {
    mock!(Client::describe_change_set).then_output(|| {
        let change = |id: &str, kind: &str, action: ChangeAction| {
            Change::builder()
                .resource_change(
                    ResourceChange::builder().logical_resource_id(id).resource_type(kind).action(action).build(),
                )
                .build()
        };
        aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .import_existing_resources(true)
            .changes(change("DataBucket", "AWS::S3::Bucket", ChangeAction::Import))
            .changes(change("DataBucketPolicy", "AWS::S3::BucketPolicy", ChangeAction::Add))
            .build()
    })
}

/// The create change set of an adoption asks for the import, with the bucket's literal name and a retaining
/// DeletionPolicy (AWS imports only such resources); AWS's `Import` action passes the data guard.
fn importing_create() -> Rule {
    mock!(Client::create_change_set)
        .match_requests(|r| {
            let template: serde_json::Value =
                serde_yaml::from_str(r.template_body().unwrap_or_default()).unwrap_or_default();
            let bucket = &template["Resources"]["DataBucket"];
            r.change_set_type() == Some(&aws_sdk_cloudformation::types::ChangeSetType::Create)
                && r.import_existing_resources() == Some(true)
                && bucket["Properties"]["BucketName"] == BUCKET
                && bucket["DeletionPolicy"] == "RetainExceptOnCreate"
        })
        .then_output(|| {
            aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder()
                .id("cs-1")
                .stack_id("arn:aws:cloudformation:us-west-1:123456789012:stack/demo-prod/1")
                .build()
        })
}

fn execute() -> Rule {
    mock!(Client::execute_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder().build()
    })
}

/// DescribeStacks' answer for a stack that does not exist yet.
fn no_stack_yet() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder().code("ValidationError").message("Stack with id demo-prod does not exist").build(),
    )
}

/// The plan `adopt` executes (its changes do not steer the adoption: the template does).
fn plan() -> provision::adopt::Plan {
    provision::adopt::Plan {
        env: "prod".into(),
        stack: "demo-prod".into(),
        bucket: BUCKET.into(),
        adopted: false,
        changes: Vec::new(),
        risks: Vec::new(),
        creates: Vec::new(),
    }
}

fn templates(aws: &provision::aws::Aws) -> TemplateStore {
    TemplateStore::new(aws, "123456789012")
}

#[tokio::test]
async fn an_adoption_imports_the_bucket_by_its_literal_name() {
    let config = config();
    let rendered = provision::render::render(&config).unwrap();
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(no_stack_yet)
        .output(|| stack(StackStatus::CreateComplete))
        .repeatedly()
        .build();
    let kind = "AWS::CloudFormation::Stack";
    let followed = mock!(Client::describe_stack_events)
        .sequence()
        .output(move || events(vec![event("e0", "demo-prod", kind, ResourceStatus::from("REVIEW_IN_PROGRESS"), None)]))
        .output(move || {
            events(vec![
                event("e3", "demo-prod", kind, ResourceStatus::CreateComplete, None),
                event("e2", "DataBucket", "AWS::S3::Bucket", ResourceStatus::from("IMPORT_COMPLETE"), None),
                event("e1", "DataBucket", "AWS::S3::Bucket", ResourceStatus::from("IMPORT_IN_PROGRESS"), None),
                event("e0", "demo-prod", kind, ResourceStatus::from("REVIEW_IN_PROGRESS"), None),
            ])
        })
        .build();
    let (create, describe_cs, execute) = (importing_create(), import_change_set(), execute());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &create, &describe_cs, &execute, &followed]
    );
    let aws = aws(cfn.clone(), mock_client!(aws_sdk_s3, RuleMode::MatchAny, Vec::<&Rule>::new()));
    let (printer, _, stderr) = Printer::capture(Format::Text);
    let options = Options { yes: true, import_existing: true, ..Options::default() };
    let report = deploy::deploy(&cfn, &templates(&aws), &config, &rendered, &options, &printer).await.unwrap();
    assert_eq!(report.action, "create");
    assert_eq!(create.num_calls(), 1, "the change set did not ask for the import");
    assert_eq!(execute.num_calls(), 1);
    let log = stderr.text();
    assert!(log.contains("= Import  DataBucket (AWS::S3::Bucket)"), "{log}");
}

/// A failed import (AWS answers a resource it cannot import with a failed create and a rollback) changes nothing
/// on the bucket: no S3 call is made, and the error says so and how to retry.
#[tokio::test]
async fn a_failed_import_leaves_the_bucket_as_it_was_and_says_how_to_retry() {
    let config = config();
    let rendered = provision::render::render(&config).unwrap();
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(no_stack_yet)
        .output(|| stack(StackStatus::RollbackComplete))
        .repeatedly()
        .build();
    let kind = "AWS::CloudFormation::Stack";
    let reason = "Resource import failed: the bucket's current configuration does not match the resource schema";
    let followed = mock!(Client::describe_stack_events)
        .sequence()
        .output(move || events(vec![event("e0", "demo-prod", kind, ResourceStatus::from("REVIEW_IN_PROGRESS"), None)]))
        .output(move || {
            events(vec![
                event("e3", "demo-prod", kind, ResourceStatus::RollbackComplete, None),
                event("e2", "DataBucket", "AWS::S3::Bucket", ResourceStatus::from("IMPORT_FAILED"), Some(reason)),
                event("e0", "demo-prod", kind, ResourceStatus::from("REVIEW_IN_PROGRESS"), None),
            ])
        })
        .build();
    let (create, describe_cs, execute) = (importing_create(), import_change_set(), execute());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &create, &describe_cs, &execute, &followed]
    );
    let s3_touched = mock!(aws_sdk_s3::Client::delete_bucket)
        .then_output(|| aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput::builder().build());
    let aws = aws(cfn, mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&s3_touched]));
    let printer = Printer::capture(Format::Text).0;
    let error = provision::adopt::adopt(&aws, &templates(&aws), &config, &rendered, "123456789012", plan(), &printer)
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains(&format!("bucket {BUCKET} was not adopted")), "{text}");
    assert!(text.contains("the bucket is as it was"), "{text}");
    assert!(text.contains("run `provision adopt --env prod` again"), "{text}");
    assert!(text.contains(reason), "the cause is named: {text}");
    assert_eq!(s3_touched.num_calls(), 0);
}

/// AWS refuses an import it cannot make when it computes the change set (a bucket it cannot take by that name, a
/// resource it cannot import): the change set is FAILED with the reason. Nothing is executed, the empty stack of
/// the change set goes, and the bucket is as it was.
#[tokio::test]
async fn an_import_refused_by_the_change_set_executes_nothing() {
    let config = config();
    let rendered = provision::render::render(&config).unwrap();
    let describe =
        mock!(Client::describe_stacks).match_requests(|r| r.stack_name() == Some("demo-prod")).then_error(no_stack_yet);
    let in_review = mock!(Client::describe_stacks).then_output(|| stack(StackStatus::ReviewInProgress));
    let change_set_gone = mock!(Client::delete_change_set)
        .then_output(|| aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder().build());
    let reason = "The following resource(s) cannot be imported: [DataBucket]";
    let failed = mock!(Client::describe_change_set).then_output(move || {
        aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::Failed)
            .status_reason(reason)
            .build()
    });
    let discarded = mock!(Client::delete_stack)
        .then_output(|| aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build());
    let (create, execute) = (importing_create(), execute());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &in_review, &create, &failed, &change_set_gone, &discarded, &execute]
    );
    let s3_touched = mock!(aws_sdk_s3::Client::delete_bucket)
        .then_output(|| aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput::builder().build());
    let aws = aws(cfn, mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&s3_touched]));
    let printer = Printer::capture(Format::Text).0;
    let error = provision::adopt::adopt(&aws, &templates(&aws), &config, &rendered, "123456789012", plan(), &printer)
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains(&format!("bucket {BUCKET} was not adopted")) && text.contains(reason), "{text}");
    assert_eq!(execute.num_calls(), 0);
    assert_eq!(discarded.num_calls(), 1, "the change set's empty stack stays behind");
    assert_eq!(s3_touched.num_calls(), 0);
}
