//! Tearing down an instance of an ephemeral env: check that it may go, freeze writes, empty the bucket, delete the
//! stack.
//!
//! [`inspect`] reads everything the safety decisions need and makes no change: a refusal (exit 3) always comes before
//! the first mutating call. [`execute`] then acts; every step is idempotent, so re-running a teardown that was
//! interrupted (Ctrl-C, a crash, a DELETE_FAILED stack) finishes the job. Like deploy, everything takes the clients
//! it is given, so mock clients reach the failures no emulator produces.

pub mod empty;
pub mod freeze;
#[cfg(test)]
mod mock_tests;
pub mod safety;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_cloudformation::Client as Cfn;
use aws_sdk_cloudformation::types::StackStatus;
use aws_sdk_s3::Client as S3;
use serde::Serialize;

use crate::config::Config;
use crate::deploy;
use crate::output::{ExitStatus, Printer, format_error, refuse, status_of};
use crate::stack::status::Health;
use crate::stack::{self, Resource, StackInfo};
use empty::{Emptied, ObjectLock, Stats};
use freeze::Freeze;

/// How a teardown runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub empty: empty::Settings,
    /// How long the stack deletion may take.
    pub stack_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { empty: empty::Settings::default(), stack_timeout: Duration::from_secs(1800) }
    }
}

/// What [`inspect`] found.
#[derive(Debug, Clone)]
pub enum Inspection {
    /// No such stack: nothing to do. A bucket of the instance's name that outlived its stack is named, not touched.
    Gone { stack: String, leftover_bucket: Option<String> },
    /// The stack may be torn down.
    Ready(Plan),
}

/// A stack that passed every check, and what it holds.
#[derive(Debug, Clone)]
pub struct Plan {
    pub stack: StackInfo,
    /// The stack's buckets that still exist (as far as the stack knows).
    pub buckets: Vec<String>,
    /// Resources a previous deletion failed on (a DELETE_FAILED stack).
    pub previous_failures: Vec<Resource>,
}

/// Reads the stack, its template, its resources and its buckets' Object Lock state, and decides whether it may be
/// torn down. Makes no change. Refusals are errors that exit 3.
pub async fn inspect(cfn: &Cfn, s3: &S3, config: &Config, account: &str) -> Result<Inspection> {
    if let Some(reason) = safety::env_refusal(config) {
        return Err(refuse(reason));
    }
    let name = config.stack_name();
    let stack = match stack::describe(cfn, &name).await? {
        Some(stack) if stack.health != Health::Deleted => stack,
        _ => {
            let bucket = config.bucket_name(account);
            let leftover = s3.head_bucket().bucket(&bucket).send().await.is_ok().then_some(bucket);
            return Ok(Inspection::Gone { stack: name, leftover_bucket: leftover });
        }
    };
    if stack.stack_status == StackStatus::ReviewInProgress {
        return review_leftover(cfn, config, stack).await;
    }
    if let Some(reason) = safety::stack_refusal(config, &stack) {
        return Err(refuse(reason));
    }
    if stack.health == Health::InProgress && stack.status != "DELETE_IN_PROGRESS" {
        anyhow::bail!(
            "stack {name} has an operation in progress ({}); wait for it to finish, then run teardown again",
            stack.status
        );
    }
    let template = stack::deployed_template(cfn, &stack.id)
        .await
        .with_context(|| format!("cannot read the deployed template of stack {name}"))?;
    if let Some(reason) = safety::template_refusal(&name, &template) {
        return Err(refuse(reason));
    }
    let resources = stack::resources(cfn, &stack.id).await?;
    let mut buckets: Vec<String> = resources
        .iter()
        .filter(|r| r.resource_type == "AWS::S3::Bucket" && r.status != "DELETE_COMPLETE")
        .filter_map(|r| r.physical_id.clone())
        .collect();
    // A stack whose resources are not listed (an emulator gap) still names its bucket in its outputs.
    if let Some(output) = stack.outputs.get("BucketName")
        && resources.is_empty()
    {
        buckets.push(output.clone());
    }
    let mut existing = Vec::new();
    for bucket in buckets {
        match empty::object_lock(s3, &bucket).await? {
            ObjectLock::Off => existing.push(bucket),
            ObjectLock::BucketGone => {}
            ObjectLock::On { default_retention } => {
                return Err(refuse(format!(
                    "bucket {bucket} has S3 Object Lock enabled{}: versions under retention or legal hold cannot be deleted, \
                     so teardown stops before deleting anything. Remove legal holds and wait for retention to end \
                     (or empty the bucket by hand), then run teardown again",
                    default_retention.map(|r| format!(" (default retention {r})")).unwrap_or_default()
                )));
            }
        }
    }
    let previous_failures = resources.into_iter().filter(|r| r.status == "DELETE_FAILED").collect();
    Ok(Inspection::Ready(Plan { stack, buckets: existing, previous_failures }))
}

/// A stack in review (REVIEW_IN_PROGRESS): an empty stack that a CREATE change set made and nobody executed. It
/// has no template and no resource, so it holds nothing and may go even without this tool's tags (AWS need not
/// tag an empty stack); only tags that name another env, a resource, or another run's change set in progress stop
/// it.
async fn review_leftover(cfn: &Cfn, config: &Config, stack: StackInfo) -> Result<Inspection> {
    let name = &stack.name;
    if stack.tags.contains_key(crate::ids::TAG_MANAGED_BY)
        && let Some(reason) = safety::stack_refusal(config, &stack)
    {
        return Err(refuse(reason));
    }
    if !stack::resources(cfn, &stack.id).await?.is_empty() {
        return Err(refuse(format!("stack {name} is in review but has resources; look at it in the console")));
    }
    if let Some((change_set, age)) =
        deploy::changeset::fresh_change_set(cfn, &stack.id, Duration::from_secs(600)).await?
    {
        anyhow::bail!(
            "stack {name} is being created by another run (its change set {change_set} was made {}s ago); \
             run teardown again when that run has finished",
            age.as_secs()
        );
    }
    Ok(Inspection::Ready(Plan { stack, buckets: Vec::new(), previous_failures: Vec::new() }))
}

/// How one teardown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Buckets emptied, stack deleted.
    TornDown,
    /// There was no stack.
    AlreadyGone,
    /// Another run started deleting the stack while this one emptied its buckets: that run finishes it.
    AlreadyBeingTornDown,
    /// A safety check said no; nothing was changed.
    Refused,
    Failed,
}

/// What happened to one bucket.
#[derive(Debug, Clone, Serialize)]
pub struct BucketReport {
    pub name: String,
    pub freeze: Option<Freeze>,
    pub emptied: Option<Emptied>,
    pub stats: Stats,
}

/// What one teardown did: printed as text, or as JSON with `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub stack: String,
    pub env: String,
    pub instance: Option<String>,
    pub outcome: Outcome,
    pub buckets: Vec<BucketReport>,
    /// The stack's final status (DELETE_COMPLETE, DELETE_FAILED).
    pub stack_status: Option<String>,
    /// Resources CloudFormation could not delete, with its reasons.
    pub failed_resources: Vec<Resource>,
    /// A bucket of the instance's name that exists without a stack (not touched).
    pub leftover_bucket: Option<String>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl Report {
    pub fn new(config: &Config) -> Report {
        Report {
            stack: config.stack_name(),
            env: config.env.clone(),
            instance: config.instance.clone(),
            outcome: Outcome::TornDown,
            buckets: Vec::new(),
            stack_status: None,
            failed_resources: Vec::new(),
            leftover_bucket: None,
            error: None,
            elapsed_ms: 0,
        }
    }

    /// A teardown that stopped at `error` (refused when a safety check said no).
    pub fn stopped(mut self, error: &anyhow::Error) -> Report {
        self.outcome = if status_of(error) == ExitStatus::Refused { Outcome::Refused } else { Outcome::Failed };
        self.error = Some(format_error(error));
        self
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self.outcome {
            Outcome::TornDown | Outcome::AlreadyGone | Outcome::AlreadyBeingTornDown => ExitStatus::Success,
            Outcome::Refused => ExitStatus::Refused,
            Outcome::Failed => ExitStatus::Failure,
        }
    }

    /// One line for the text output.
    pub fn summary(&self) -> String {
        let what = match self.outcome {
            Outcome::TornDown => "torn down",
            Outcome::AlreadyGone => "already gone, nothing to do",
            Outcome::AlreadyBeingTornDown => "already being torn down by another run",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        };
        let mut line = format!("stack {}: {what}", self.stack);
        let emptied: Vec<String> = self
            .buckets
            .iter()
            .filter(|b| b.emptied.is_some() || b.stats.deleted() > 0)
            .map(|b| {
                format!(
                    "bucket {}: {} versions, {} delete markers, {} uploads removed in {:.1}s, {}/s",
                    b.name,
                    b.stats.versions,
                    b.stats.delete_markers,
                    b.stats.uploads_aborted,
                    b.stats.elapsed_ms as f64 / 1000.0,
                    b.stats.per_second.round()
                )
            })
            .collect();
        if !emptied.is_empty() {
            line.push_str(&format!(" ({})", emptied.join("; ")));
        }
        if self.outcome == Outcome::TornDown {
            line.push_str(&format!(" in {:.1}s", self.elapsed_ms as f64 / 1000.0));
        }
        line
    }
}

/// Progress lines of the emptying: redrawn every 250 ms on a terminal, a plain line every 5 s elsewhere.
fn progress_reporter<'a>(printer: &'a Printer, bucket: &'a str) -> impl FnMut(&Stats) + 'a {
    let started = Instant::now();
    let every = if printer.live { Duration::from_millis(250) } else { Duration::from_secs(5) };
    let mut last = Instant::now();
    move |stats: &Stats| {
        if last.elapsed() < every {
            return;
        }
        last = Instant::now();
        printer.progress(format!(
            "  emptying {bucket}: {} versions, {} delete markers deleted, {} uploads aborted ({}/s)",
            stats.versions,
            stats.delete_markers,
            stats.uploads_aborted,
            empty::rate(stats.deleted(), started.elapsed()).round()
        ));
    }
}

/// Freezes writes, empties every bucket, deletes the stack. Stops at the first failure; what was done is reported
/// either way. `events` receives the stack's events (the main printer, or a buffer when several run at once).
pub async fn execute(
    cfn: &Cfn,
    s3: &S3,
    config: &Config,
    plan: &Plan,
    options: &Options,
    printer: &Printer,
    events: &Printer,
) -> Report {
    let started = Instant::now();
    let mut report = Report::new(config);
    let mut result = execute_steps(cfn, s3, plan, options, printer, events, &mut report).await;
    // Only after the deletion itself failed: an error while emptying would just happen again.
    if result.is_err()
        && report.stack_status.as_deref() == Some("DELETE_FAILED")
        && let Some(again) = second_pass(cfn, plan).await
    {
        printer.log(format!(
            "stack {}: CloudFormation could not delete bucket {}: objects were written after the bucket policy (and \
             the write freeze) went; freezing, emptying and deleting once more",
            plan.stack.name,
            again.buckets.join(", ")
        ));
        let first = std::mem::take(&mut report.buckets);
        result = execute_steps(cfn, s3, &again, options, printer, events, &mut report).await;
        report.buckets = merge_passes(first, std::mem::take(&mut report.buckets));
    }
    if let Err(error) = result {
        report = report.stopped(&error);
        if let Ok(resources) = stack::resources(cfn, &plan.stack.id).await {
            report.failed_resources = resources.into_iter().filter(|r| r.status.ends_with("_FAILED")).collect();
        }
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report
}

/// CloudFormation deletes the bucket policy, and the write freeze in it, just before the bucket: an object written
/// in between makes the bucket's deletion fail. One more pass then succeeds, since the policy resource is deleted
/// by now and a new freeze stays until the bucket goes. The plan for that pass, when the stack failed on buckets
/// this teardown emptied.
async fn second_pass(cfn: &Cfn, plan: &Plan) -> Option<Plan> {
    let stack = stack::describe(cfn, &plan.stack.id).await.ok()??;
    let failed: Vec<Resource> =
        stack::resources(cfn, &stack.id).await.ok()?.into_iter().filter(|r| r.status == "DELETE_FAILED").collect();
    let buckets: Vec<String> = failed
        .iter()
        .filter(|r| r.resource_type == "AWS::S3::Bucket")
        .filter_map(|r| r.physical_id.clone())
        .filter(|bucket| plan.buckets.contains(bucket))
        .collect();
    (!buckets.is_empty()).then_some(Plan { stack, buckets, previous_failures: failed })
}

/// One entry per bucket: the second pass's figures added to the first's.
fn merge_passes(mut first: Vec<BucketReport>, second: Vec<BucketReport>) -> Vec<BucketReport> {
    for later in second {
        match first.iter_mut().find(|b| b.name == later.name) {
            Some(entry) => {
                entry.freeze = later.freeze.or(entry.freeze);
                entry.emptied = later.emptied.or(entry.emptied);
                entry.stats.add(later.stats);
            }
            None => first.push(later),
        }
    }
    first
}

async fn execute_steps(
    cfn: &Cfn,
    s3: &S3,
    plan: &Plan,
    options: &Options,
    printer: &Printer,
    events: &Printer,
    report: &mut Report,
) -> Result<()> {
    let name = &plan.stack.name;
    if !plan.previous_failures.is_empty() {
        let list: Vec<String> = plan.previous_failures.iter().map(|r| format!("  {r}")).collect();
        printer.log(format!(
            "stack {name} is {}; finishing its deletion. It failed on:\n{}",
            plan.stack.status,
            list.join("\n")
        ));
    }
    for bucket in &plan.buckets {
        let arn = freeze::bucket_arn(&plan.stack.id, bucket);
        let frozen = freeze::freeze(s3, bucket, &arn).await?;
        report.buckets.push(BucketReport {
            name: bucket.clone(),
            freeze: Some(frozen),
            emptied: None,
            stats: Stats::default(),
        });
        match frozen {
            Freeze::BucketGone => {
                if let Some(entry) = report.buckets.last_mut() {
                    entry.emptied = Some(Emptied::Gone);
                }
                printer.log(format!("bucket {bucket} is already gone"));
                continue;
            }
            Freeze::Frozen => {
                printer.log(format!("bucket {bucket}: writes frozen (bucket policy statement {})", freeze::FREEZE_SID))
            }
            Freeze::AlreadyFrozen => {
                printer.log(format!("bucket {bucket}: writes already frozen by an earlier teardown"))
            }
        }
        let mut progress = progress_reporter(printer, bucket);
        let (stats, emptied) = empty::empty_bucket(s3, bucket, &options.empty, &mut progress).await;
        printer.progress_done();
        let entry = report.buckets.last_mut().context("bucket report")?;
        if !stats.errors.is_empty() {
            let examples: Vec<String> =
                stats.errors.iter().take(5).map(|e| format!("  could not delete {e}")).collect();
            printer.log(format!(
                "bucket {bucket}: {} per-key errors, e.g.:\n{}",
                stats.key_errors,
                examples.join("\n")
            ));
        }
        entry.stats = stats;
        let emptied = emptied?;
        entry.emptied = Some(emptied);
        let stats = &entry.stats;
        printer.log(match emptied {
            Emptied::Empty => format!(
                "bucket {bucket}: empty ({} versions, {} delete markers deleted, {} uploads aborted in {:.1}s, {}/s)",
                stats.versions,
                stats.delete_markers,
                stats.uploads_aborted,
                stats.elapsed_ms as f64 / 1000.0,
                stats.per_second.round()
            ),
            Emptied::Gone => format!("bucket {bucket} is gone"),
        });
    }
    // Another teardown of the same stack may have got here first: its deletion is under way (or done), and
    // following it from here too would only report its events twice.
    if plan.stack.health != Health::InProgress
        && let Some(now) = stack::describe(cfn, &plan.stack.id).await?
        && matches!(now.stack_status, StackStatus::DeleteInProgress | StackStatus::DeleteComplete)
    {
        printer.log(format!("stack {name} is already being deleted by another run ({})", now.status));
        report.stack_status = Some(now.status);
        report.outcome = Outcome::AlreadyBeingTornDown;
        return Ok(());
    }
    printer.log(format!("deleting stack {name}"));
    let outcome = deploy::delete_stack(cfn, &plan.stack, options.stack_timeout, events).await;
    match outcome {
        Ok(outcome) => {
            report.stack_status = Some(outcome.status);
            report.outcome = Outcome::TornDown;
            Ok(())
        }
        Err(e) => {
            report.stack_status = stack::describe(cfn, &plan.stack.id).await.ok().flatten().map(|s| s.status);
            Err(anyhow::anyhow!(
                "{e:#}\nfix the cause, then run teardown again: it finishes the deletion of stack {name}"
            ))
        }
    }
}
