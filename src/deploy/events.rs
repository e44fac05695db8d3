//! Following a stack operation through its events until the stack settles.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use aws_sdk_cloudformation::types::{ResourceStatus, StackStatus};

use crate::aws::aws_error;
use crate::stack::status::{Health, is_failure};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackEvent {
    pub id: String,
    pub timestamp: String,
    #[serde(skip)]
    pub epoch_ms: Option<i64>,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    /// `status`, typed: what the tool decides on.
    #[serde(skip)]
    pub resource_status: ResourceStatus,
    pub reason: Option<String>,
}

impl std::fmt::Display for StackEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({}) {}", self.timestamp, self.logical_id, self.resource_type, self.status)?;
        if let Some(reason) = self.reason.as_deref().filter(|r| !r.is_empty()) {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// How a stack operation ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: String,
    pub health: Health,
    pub events: usize,
    /// The first resource that failed: the root cause, not the cancellations that follow it.
    pub root_cause: Option<StackEvent>,
    /// Every failed resource event of a stack that did not end ready, oldest first.
    pub failed: Vec<StackEvent>,
    /// Resources that failed while the stack as a whole succeeded: an old resource that could not be deleted in
    /// `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS` stays behind (and may still cost money or hold a name).
    pub warnings: Vec<StackEvent>,
    pub polls: u32,
    /// How long after the stack's final event (by its timestamp) the tool saw it: the cost of polling.
    pub seen_after_ms: Option<i64>,
}

impl Outcome {
    /// One line per warning: `warning: LogicalId (Type) STATUS: reason`.
    pub fn warning_lines(&self) -> Vec<String> {
        self.warnings
            .iter()
            .map(|e| {
                format!(
                    "warning: {} ({}) {}: {} (the stack itself succeeded; the resource is left behind)",
                    e.logical_id,
                    e.resource_type,
                    e.status,
                    e.reason.as_deref().unwrap_or("no reason given")
                )
            })
            .collect()
    }

    /// A readable report: the root cause, then `- LogicalId (Type): STATUS (reason)` per failed resource.
    pub fn failure_report(&self) -> String {
        let mut out = format!("the stack ended {}", self.status);
        if let Some(root) = &self.root_cause {
            out.push_str(&format!(
                "; root cause: {} ({}) {}: {}",
                root.logical_id,
                root.resource_type,
                root.status,
                root.reason.as_deref().unwrap_or("no reason given")
            ));
        }
        for e in &self.failed {
            out.push_str(&format!(
                "\n  - {} ({}): {} ({})",
                e.logical_id,
                e.resource_type,
                e.status,
                e.reason.as_deref().unwrap_or("")
            ));
        }
        out
    }
}

fn convert(e: aws_sdk_cloudformation::types::StackEvent) -> StackEvent {
    StackEvent {
        id: e.event_id.unwrap_or_default(),
        timestamp: e
            .timestamp
            .map(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default())
            .unwrap_or_default(),
        epoch_ms: e.timestamp.and_then(|t| t.to_millis().ok()),
        logical_id: e.logical_resource_id.unwrap_or_default(),
        resource_type: e.resource_type.unwrap_or_default(),
        status: e.resource_status.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
        resource_status: e.resource_status.unwrap_or_else(|| ResourceStatus::from("")),
        reason: e.resource_status_reason,
    }
}

/// The stack's status now (None when it cannot be described).
async fn current_status(cfn: &Client, stack: &str) -> Result<Option<StackStatus>> {
    let output = cfn.describe_stacks().stack_name(stack).send().await.map_err(|e| aws_error(e, "DescribeStacks"))?;
    Ok(output.stacks.unwrap_or_default().into_iter().next().and_then(|s| s.stack_status))
}

/// The id of the newest event of a stack, to follow only what happens after it.
pub async fn newest_event_id(cfn: &Client, stack: &str) -> Result<Option<String>> {
    let page =
        cfn.describe_stack_events().stack_name(stack).send().await.map_err(|e| aws_error(e, "DescribeStackEvents"))?;
    Ok(page.stack_events.unwrap_or_default().into_iter().next().and_then(|e| e.event_id))
}

/// Events newer than `after` (or all), oldest first. CloudFormation lists the newest first, so paging stops at the
/// first event already known.
async fn new_events(cfn: &Client, stack: &str, after: Option<&str>, seen: &HashSet<String>) -> Result<Vec<StackEvent>> {
    let mut fresh = Vec::new();
    let mut pages = cfn.describe_stack_events().stack_name(stack).into_paginator().send();
    // Enough pages for any operation of this tool's stacks; bounds the cost of one poll.
    'pages: for _ in 0..20 {
        let Some(page) = pages.next().await else { break };
        for event in page.map_err(|e| aws_error(e, "DescribeStackEvents"))?.stack_events.unwrap_or_default() {
            let event = convert(event);
            if Some(event.id.as_str()) == after || seen.contains(&event.id) {
                break 'pages;
            }
            fresh.push(event);
        }
    }
    fresh.reverse();
    Ok(fresh)
}

/// How an operation ended. Failures of a stack that ended ready (or deleted) are warnings, not causes: on AWS they
/// are old resources that cleanup could not delete.
fn ended(
    status: &str,
    health: Health,
    failed: Vec<StackEvent>,
    events: usize,
    polls: u32,
    seen_after_ms: Option<i64>,
) -> Outcome {
    let (failed, warnings) =
        if matches!(health, Health::Ready | Health::Deleted) { (Vec::new(), failed) } else { (failed, Vec::new()) };
    let root_cause = failed
        .iter()
        .find(|e| !e.reason.as_deref().unwrap_or_default().to_ascii_lowercase().contains("cancelled"))
        .or(failed.first())
        .cloned();
    Outcome { status: status.to_string(), health, events, root_cause, failed, warnings, polls, seen_after_ms }
}

/// Follows the stack's events after `after` until the stack itself reports a settled status.
///
/// Polls every 200 ms while events arrive, backing off to 1 s when quiet, so completion is seen within a second.
/// (The SDK's stack waiters poll every 30–120 s and show no events on the way, so they are not used.)
/// `stack` may be a name or, for a stack being deleted, its id.
pub async fn follow(
    cfn: &Client,
    stack: &str,
    stack_name: &str,
    after: Option<String>,
    timeout: Duration,
    mut on_event: impl FnMut(&StackEvent),
) -> Result<Outcome> {
    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut failed = Vec::new();
    let mut count = 0;
    let mut polls = 0;
    let mut delay = Duration::from_millis(200);
    loop {
        polls += 1;
        let events = new_events(cfn, stack, after.as_deref(), &seen)
            .await
            .with_context(|| format!("cannot follow the events of stack {stack_name}"))?;
        let quiet = events.is_empty();
        for event in events {
            seen.insert(event.id.clone());
            count += 1;
            on_event(&event);
            let stack_level = event.resource_type == "AWS::CloudFormation::Stack" && event.logical_id == stack_name;
            if stack_level {
                // A stack-level event carries a stack status in its resource status field.
                let mut status = StackStatus::from(event.status.as_str());
                let mut health = Health::of(&status);
                if health.settled() && !matches!(health, Health::Ready | Health::Deleted) {
                    // Confirm a bad ending with the stack itself: some endpoints (the local emulator) report a
                    // transient DELETE_FAILED and go on; on AWS the described status is the same.
                    if let Some(current) = current_status(cfn, stack).await? {
                        health = Health::of(&current);
                        status = current;
                    }
                }
                if health.settled() && status != StackStatus::ReviewInProgress {
                    let now_ms = i64::try_from(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_millis(),
                    )
                    .unwrap_or(i64::MAX);
                    let seen_after_ms = event.epoch_ms.map(|t| now_ms - t);
                    return Ok(ended(status.as_str(), health, failed, count, polls, seen_after_ms));
                }
            } else if is_failure(&event.resource_status) {
                failed.push(event);
            }
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "stack {stack_name} did not settle within {}s (see the CloudFormation console for its progress)",
            timeout.as_secs()
        );
        delay = if quiet { (delay * 3 / 2).min(Duration::from_secs(1)) } else { Duration::from_millis(200) };
        tokio::time::sleep(delay).await;
    }
}
