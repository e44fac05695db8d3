//! Teardown against mock clients: the failures the emulator never produces (a DELETE_FAILED stack, throttled and
//! partially failing DeleteObjects calls, multi-page listings).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackEvent, StackResourceSummary, StackStatus, Tag};
use aws_sdk_s3::operation::delete_objects::{DeleteObjectsError, DeleteObjectsOutput};
use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyError;
use aws_sdk_s3::operation::get_object_lock_configuration::GetObjectLockConfigurationError;
use aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput;
use aws_sdk_s3::types::{DeleteMarkerEntry, ObjectVersion};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use aws_smithy_types::error::ErrorMetadata;

use super::*;

const NAME: &str = "call-data-local-pr-9";
const ID: &str = "arn:aws:cloudformation:us-east-1:000000000000:stack/call-data-local-pr-9/1";
const BUCKET: &str = "call-data-local-pr-9-000000000000-us-east-1";

fn config() -> Config {
    crate::config::load(Path::new("stacks"), "local", Some("pr-9")).unwrap()
}

fn stack(status: StackStatus) -> Stack {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    Stack::builder()
        .stack_name(NAME)
        .stack_id(ID)
        .stack_status(status)
        .creation_time(DateTime::from_secs(1_700_000_000))
        .tags(tag("managed-by", "provision"))
        .tags(tag("provision:env", "local"))
        .tags(tag("provision:project", "call-data"))
        .tags(tag("provision:instance", "pr-9"))
        .build()
}

fn event(id: &str, logical: &str, kind: &str, status: ResourceStatus, reason: Option<&str>) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_id(ID)
        .stack_name(NAME)
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status)
        .set_resource_status_reason(reason.map(str::to_string))
        .timestamp(DateTime::from_secs(1_700_000_100))
        .build()
}

fn bucket_resource(status: ResourceStatus, reason: Option<&str>) -> StackResourceSummary {
    StackResourceSummary::builder()
        .logical_resource_id("DataBucket")
        .resource_type("AWS::S3::Bucket")
        .physical_resource_id(BUCKET)
        .resource_status(status)
        .set_resource_status_reason(reason.map(str::to_string))
        .last_updated_timestamp(DateTime::from_secs(1_700_000_100))
        .build()
}

fn error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(format!("mock {code}")).build()
}

/// S3 calls of an empty, unlocked bucket with no policy; `put_policy` records the policy written.
fn empty_bucket_s3(put_policy: Arc<Mutex<Vec<String>>>) -> aws_sdk_s3::Client {
    let versions = mock!(aws_sdk_s3::Client::list_object_versions)
        .then_output(|| ListObjectVersionsOutput::builder().is_truncated(false).build());
    let uploads = mock!(aws_sdk_s3::Client::list_multipart_uploads)
        .then_output(|| ListMultipartUploadsOutput::builder().is_truncated(false).build());
    unlocked_bucket_s3(put_policy, &[&versions, &uploads])
}

/// S3 calls of an unlocked bucket with no policy, holding what `content` answers.
fn unlocked_bucket_s3(put_policy: Arc<Mutex<Vec<String>>>, content: &[&aws_smithy_mocks::Rule]) -> aws_sdk_s3::Client {
    let lock = mock!(aws_sdk_s3::Client::get_object_lock_configuration)
        .then_error(|| GetObjectLockConfigurationError::generic(error("ObjectLockConfigurationNotFoundError")));
    let policy = mock!(aws_sdk_s3::Client::get_bucket_policy)
        .then_error(|| GetBucketPolicyError::generic(error("NoSuchBucketPolicy")));
    let put = mock!(aws_sdk_s3::Client::put_bucket_policy)
        .match_requests(move |req| {
            put_policy.lock().unwrap().push(req.policy().unwrap_or_default().to_string());
            true
        })
        .then_output(|| PutBucketPolicyOutput::builder().build());
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&lock, &policy, &put].into_iter().chain(content.iter().copied()))
}

const NOT_EMPTY: &str = "The bucket you tried to delete is not empty (Service: S3, Status Code: 409)";

/// CloudFormation for a stack whose first deletion fails on its bucket (a writer got an object in after the bucket
/// policy went); the second deletion fails the same way, or completes when `second_succeeds`. What each call
/// answers depends on how many DeleteStack calls came before it, counted by the returned rule.
fn failing_once_cfn(second_succeeds: bool) -> (aws_sdk_cloudformation::Client, aws_smithy_mocks::Rule) {
    let deletes = Arc::new(AtomicUsize::new(0));
    let (d1, d2, d3, d4) = (deletes.clone(), deletes.clone(), deletes.clone(), deletes);
    let seen = |d: &AtomicUsize| d.load(Ordering::SeqCst);
    let done = move |n: usize| second_succeeds && n >= 2;
    let describe = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_output(move || {
        let status = match seen(&d1) {
            0 => StackStatus::CreateComplete,
            n if done(n) => StackStatus::DeleteComplete,
            _ => StackStatus::DeleteFailed,
        };
        DescribeStacksOutput::builder().stacks(stack(status)).build()
    });
    let template = "Resources:\n  DataBucket:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Delete\n";
    let get_template = mock!(aws_sdk_cloudformation::Client::get_template)
        .then_output(move || GetTemplateOutput::builder().template_body(template).build());
    let resources = mock!(aws_sdk_cloudformation::Client::list_stack_resources).then_output(move || {
        let bucket = match seen(&d2) {
            0 => bucket_resource(ResourceStatus::CreateComplete, None),
            n if done(n) => bucket_resource(ResourceStatus::DeleteComplete, None),
            _ => bucket_resource(ResourceStatus::DeleteFailed, Some(NOT_EMPTY)),
        };
        ListStackResourcesOutput::builder().stack_resource_summaries(bucket).build()
    });
    let stack_type = "AWS::CloudFormation::Stack";
    let events = mock!(aws_sdk_cloudformation::Client::describe_stack_events).then_output(move || {
        let failed = |id: &str, logical: &str, kind: &str, reason: &str| {
            event(id, logical, kind, ResourceStatus::DeleteFailed, Some(reason))
        };
        let mut newest_first = Vec::new();
        if seen(&d3) >= 2 {
            newest_first.extend(match done(seen(&d3)) {
                true => vec![event("e6", NAME, stack_type, ResourceStatus::DeleteComplete, None)],
                false => vec![
                    failed("e6", NAME, stack_type, "resources failed to delete"),
                    failed("e5", "DataBucket", "AWS::S3::Bucket", NOT_EMPTY),
                ],
            });
            newest_first.push(event("e4", NAME, stack_type, ResourceStatus::DeleteInProgress, None));
        }
        if seen(&d3) >= 1 {
            newest_first.push(failed("e3", NAME, stack_type, "resources failed to delete"));
            newest_first.push(failed("e2", "DataBucket", "AWS::S3::Bucket", NOT_EMPTY));
            newest_first.push(event("e1", NAME, stack_type, ResourceStatus::DeleteInProgress, None));
        }
        newest_first.push(event("e0", NAME, stack_type, ResourceStatus::CreateComplete, None));
        DescribeStackEventsOutput::builder().set_stack_events(Some(newest_first)).build()
    });
    let delete = mock!(aws_sdk_cloudformation::Client::delete_stack)
        .match_requests(move |_| {
            d4.fetch_add(1, Ordering::SeqCst);
            true
        })
        .then_output(|| aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build());
    let cfn = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &get_template, &resources, &events, &delete]
    );
    (cfn, delete)
}

#[tokio::test]
async fn delete_failed_shows_the_failing_resources_and_how_to_finish() {
    let (cfn, delete) = failing_once_cfn(false);
    let policies = Arc::new(Mutex::new(Vec::new()));
    let s3 = empty_bucket_s3(policies.clone());
    let config = config();

    let Inspection::Ready(plan) = inspect(&cfn, &s3, &config, "000000000000").await.unwrap() else {
        panic!("the stack exists")
    };
    assert_eq!(plan.buckets, [BUCKET]);
    let (printer, _, err) = Printer::capture(crate::output::Format::Text);
    let report = execute(&cfn, &s3, &config, &plan, &Options::default(), &printer, &printer).await;

    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.exit_status(), ExitStatus::Failure);
    assert_eq!(report.stack_status.as_deref(), Some("DELETE_FAILED"));
    assert_eq!(report.failed_resources.len(), 1);
    assert_eq!(
        report.failed_resources[0].to_string(),
        format!("- DataBucket (AWS::S3::Bucket): DELETE_FAILED ({NOT_EMPTY})")
    );
    let error = report.error.clone().unwrap();
    assert!(error.contains(&format!("DataBucket (AWS::S3::Bucket): DELETE_FAILED ({NOT_EMPTY})")), "{error}");
    assert!(error.contains("run teardown again"), "{error}");
    // One more pass after the bucket failed to delete, not more.
    assert_eq!(delete.num_calls(), 2);
    // Each pass froze and emptied the bucket before asking for the stack's deletion.
    let written = policies.lock().unwrap().clone();
    assert_eq!(written.len(), 2);
    assert!(written.iter().all(|p| p.contains(freeze::FREEZE_SID)), "{written:?}");
    assert_eq!(report.buckets.len(), 1, "one entry per bucket: {:?}", report.buckets);
    assert_eq!(report.buckets[0].emptied, Some(Emptied::Empty));
    assert!(err.text().contains("deleting stack call-data-local-pr-9"), "{}", err.text());

    // The re-run sees the DELETE_FAILED stack, names what failed before, and tries again.
    let Inspection::Ready(again) = inspect(&cfn, &s3, &config, "000000000000").await.unwrap() else {
        panic!("the stack still exists")
    };
    assert_eq!(again.stack.status, "DELETE_FAILED");
    assert_eq!(again.previous_failures.len(), 1);
    assert_eq!(again.buckets, [BUCKET], "a bucket in DELETE_FAILED is still emptied");
}

/// The gap between CloudFormation deleting the bucket policy (with the freeze) and the bucket: a write in between
/// used to leave the stack DELETE_FAILED until teardown was run again.
#[tokio::test]
async fn a_bucket_refilled_during_the_stack_deletion_is_emptied_again() {
    let (cfn, delete) = failing_once_cfn(true);
    let policies = Arc::new(Mutex::new(Vec::new()));
    let s3 = empty_bucket_s3(policies.clone());
    let config = config();
    let Inspection::Ready(plan) = inspect(&cfn, &s3, &config, "000000000000").await.unwrap() else {
        panic!("the stack exists")
    };
    let (printer, _, err) = Printer::capture(crate::output::Format::Text);
    let report = execute(&cfn, &s3, &config, &plan, &Options::default(), &printer, &printer).await;

    assert_eq!(report.outcome, Outcome::TornDown, "{:?}", report.error);
    assert_eq!(report.exit_status(), ExitStatus::Success);
    assert_eq!(report.stack_status.as_deref(), Some("DELETE_COMPLETE"));
    assert_eq!(delete.num_calls(), 2);
    assert_eq!(policies.lock().unwrap().len(), 2, "frozen again before the second deletion");
    assert!(err.text().contains("freezing, emptying and deleting once more"), "{}", err.text());
}

/// A re-run on a DELETE_FAILED stack that fails while emptying stops there: the second pass is for a deletion that
/// failed, and emptying again would fail the same way.
#[tokio::test]
async fn an_emptying_error_is_not_followed_by_a_second_pass() {
    let (cfn, delete) = failing_once_cfn(false);
    let config = config();
    let (printer, _, _) = Printer::capture(crate::output::Format::Text);
    let s3 = empty_bucket_s3(Arc::default());
    let Inspection::Ready(plan) = inspect(&cfn, &s3, &config, "000000000000").await.unwrap() else { panic!() };
    execute(&cfn, &s3, &config, &plan, &Options::default(), &printer, &printer).await;
    assert_eq!(delete.num_calls(), 2);

    let held = mock!(aws_sdk_s3::Client::list_object_versions).then_output(|| {
        ListObjectVersionsOutput::builder().is_truncated(false).versions(version("held", "v1")).build()
    });
    let locked = mock!(aws_sdk_s3::Client::delete_objects).then_output(|| {
        let error = aws_sdk_s3::types::Error::builder().key("held").version_id("v1").code("AccessDenied");
        DeleteObjectsOutput::builder().errors(error.message("object protected by object lock.").build()).build()
    });
    let policies = Arc::new(Mutex::new(Vec::new()));
    let s3 = unlocked_bucket_s3(policies.clone(), &[&held, &locked]);
    let Inspection::Ready(again) = inspect(&cfn, &s3, &config, "000000000000").await.unwrap() else { panic!() };
    assert_eq!(again.stack.status, "DELETE_FAILED");
    let (printer, _, err) = Printer::capture(crate::output::Format::Text);
    let report = execute(&cfn, &s3, &config, &again, &Options::default(), &printer, &printer).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(delete.num_calls(), 2, "no deletion asked for");
    assert_eq!(policies.lock().unwrap().len(), 1, "frozen once");
    assert!(!err.text().contains("once more"), "{}", err.text());
}

#[tokio::test]
async fn untagged_stacks_are_refused_before_any_change() {
    let untagged = || {
        let mut stack = stack(StackStatus::CreateComplete);
        stack.tags = None;
        DescribeStacksOutput::builder().stacks(stack).build()
    };
    let describe = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_output(untagged);
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe]);
    let policies = Arc::new(Mutex::new(Vec::new()));
    let s3 = empty_bucket_s3(policies.clone());
    let error = inspect(&cfn, &s3, &config(), "000000000000").await.unwrap_err();
    assert_eq!(crate::output::status_of(&error), ExitStatus::Refused);
    assert!(error.to_string().contains("lacks the tag managed-by=provision"), "{error}");
    assert!(policies.lock().unwrap().is_empty());
}

fn version(key: &str, id: &str) -> ObjectVersion {
    ObjectVersion::builder().key(key).version_id(id).build()
}

#[tokio::test]
async fn pages_follow_markers_batches_stay_bounded_and_throttling_is_retried() {
    // Pass 1: two pages (the second starts at the first's markers); pass 2: empty.
    let first_page = mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(|req| req.key_marker().is_none())
        .sequence()
        .output(|| {
            let mut page = ListObjectVersionsOutput::builder()
                .is_truncated(true)
                .next_key_marker("k0999")
                .next_version_id_marker("v0999");
            for i in 0..1000 {
                page = page.versions(version(&format!("k{i:04}"), &format!("v{i:04}")));
            }
            page.build()
        })
        .output(|| ListObjectVersionsOutput::builder().is_truncated(false).build())
        .build();
    let second_page = mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(|req| req.key_marker() == Some("k0999") && req.version_id_marker() == Some("v0999"))
        .then_output(|| {
            ListObjectVersionsOutput::builder()
                .is_truncated(false)
                .versions(version("k1000", "a"))
                .delete_markers(DeleteMarkerEntry::builder().key("k1000").version_id("b").build())
                .build()
        });
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let deletes = mock!(aws_sdk_s3::Client::delete_objects)
        .match_requests(move |req| {
            let delete = req.delete().unwrap();
            assert_eq!(delete.quiet(), Some(true));
            seen.lock().unwrap().push(delete.objects().len());
            true
        })
        .sequence()
        .error(|| DeleteObjectsError::generic(error("SlowDown")))
        .output(|| DeleteObjectsOutput::builder().build())
        .repeatedly()
        .build();
    let uploads = mock!(aws_sdk_s3::Client::list_multipart_uploads)
        .then_output(|| ListMultipartUploadsOutput::builder().is_truncated(false).build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first_page, &second_page, &deletes, &uploads]);

    let (stats, result) = empty::empty_bucket(&s3, BUCKET, &empty::Settings::default(), &mut |_| {}).await;
    assert_eq!(result.unwrap(), Emptied::Empty);
    assert_eq!((stats.versions, stats.delete_markers, stats.passes), (1001, 1, 2));
    let mut sizes = sizes.lock().unwrap().clone();
    sizes.sort();
    // A full batch, then the last two entries in a batch of their own.
    assert_eq!(sizes, [2, 1000]);
    // Three responses: the throttled first attempt was retried.
    assert_eq!(deletes.num_calls(), 3);
    assert_eq!(second_page.num_calls(), 1);
    assert_eq!(stats.failed_calls, 0);
}

#[tokio::test]
async fn per_key_errors_are_reported_and_object_lock_stops_the_engine() {
    let page = mock!(aws_sdk_s3::Client::list_object_versions).then_output(|| {
        ListObjectVersionsOutput::builder()
            .is_truncated(false)
            .versions(version("held", "v1"))
            .versions(version("free", "v2"))
            .build()
    });
    let deletes = mock!(aws_sdk_s3::Client::delete_objects).then_output(|| {
        DeleteObjectsOutput::builder()
            .errors(
                aws_sdk_s3::types::Error::builder()
                    .key("held")
                    .version_id("v1")
                    .code("AccessDenied")
                    .message("Access Denied because object protected by object lock.")
                    .build(),
            )
            .build()
    });
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&page, &deletes]);
    let (stats, result) = empty::empty_bucket(&s3, BUCKET, &empty::Settings::default(), &mut |_| {}).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("Object Lock") && error.contains("held"), "{error}");
    assert_eq!((stats.versions, stats.key_errors), (1, 1));
    assert_eq!(stats.errors[0].code, "AccessDenied");
    assert_eq!(stats.passes, 1, "no second pass over a bucket that cannot be emptied");
}

/// Regression: two teardowns of one instance at once. Both emptied the bucket: the slower one reported dozens of
/// `NoSuchVersion` per-key errors for versions the other had deleted, then deleted the stack a second time. Now a
/// version that is gone already is the goal reached (not an error, not counted as deleted here), and a teardown
/// that finds the stack already being deleted says so and leaves that deletion to the run that started it.
#[tokio::test]
async fn a_second_teardown_at_the_same_time_says_the_stack_is_already_being_torn_down() {
    let describe = mock!(aws_sdk_cloudformation::Client::describe_stacks)
        .sequence()
        .output(|| DescribeStacksOutput::builder().stacks(stack(StackStatus::CreateComplete)).build())
        .output(|| DescribeStacksOutput::builder().stacks(stack(StackStatus::DeleteInProgress)).build())
        .repeatedly()
        .build();
    let template = "Resources:\n  DataBucket:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Delete\n";
    let get_template = mock!(aws_sdk_cloudformation::Client::get_template)
        .then_output(move || GetTemplateOutput::builder().template_body(template).build());
    let resources = mock!(aws_sdk_cloudformation::Client::list_stack_resources).then_output(|| {
        ListStackResourcesOutput::builder()
            .stack_resource_summaries(bucket_resource(ResourceStatus::CreateComplete, None))
            .build()
    });
    let delete = mock!(aws_sdk_cloudformation::Client::delete_stack)
        .then_output(|| aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build());
    let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&describe, &get_template, &resources, &delete]);
    // The bucket: two versions listed, both already deleted by the other run when this one asks.
    let versions = mock!(aws_sdk_s3::Client::list_object_versions)
        .sequence()
        .output(|| {
            ListObjectVersionsOutput::builder()
                .versions(ObjectVersion::builder().key("calls/a.json").version_id("1").build())
                .versions(ObjectVersion::builder().key("calls/b.json").version_id("2").build())
                .is_truncated(false)
                .build()
        })
        .output(|| ListObjectVersionsOutput::builder().is_truncated(false).build())
        .repeatedly()
        .build();
    let gone = mock!(aws_sdk_s3::Client::delete_objects).then_output(|| {
        let error = |key: &str, version: &str| {
            aws_sdk_s3::types::Error::builder()
                .key(key)
                .version_id(version)
                .code("NoSuchVersion")
                .message("The specified version does not exist.")
                .build()
        };
        DeleteObjectsOutput::builder().errors(error("calls/a.json", "1")).errors(error("calls/b.json", "2")).build()
    });
    let uploads = mock!(aws_sdk_s3::Client::list_multipart_uploads)
        .then_output(|| ListMultipartUploadsOutput::builder().is_truncated(false).build());
    let s3 = unlocked_bucket_s3(Arc::default(), &[&versions, &gone, &uploads]);
    let config = config();
    let Inspection::Ready(plan) = inspect(&cfn, &s3, &config, "000000000000").await.unwrap() else {
        panic!("the stack exists")
    };
    let (printer, _, err) = Printer::capture(crate::output::Format::Text);
    let report = execute(&cfn, &s3, &config, &plan, &Options::default(), &printer, &printer).await;

    assert_eq!(report.outcome, Outcome::AlreadyBeingTornDown, "{:?}", report.error);
    assert_eq!(report.exit_status(), ExitStatus::Success);
    assert!(report.summary().contains("already being torn down by another run"), "{}", report.summary());
    assert_eq!(delete.num_calls(), 0, "the other run's deletion is left to it");
    let stats = &report.buckets[0].stats;
    assert!(stats.errors.is_empty() && stats.key_errors == 0, "{:?}", stats.errors);
    assert_eq!(stats.versions, 0, "deleted by the other run, not by this one");
    assert!(!err.text().contains("NoSuchVersion"), "{}", err.text());
}
