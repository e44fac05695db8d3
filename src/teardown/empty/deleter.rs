//! DeleteObjects batches in flight on their own tasks, at most `in_flight` at once, and what came back of them.

use aws_sdk_s3::Client;
use tokio::task::JoinSet;

use super::delete::{BatchResult, delete_batch};
use super::errors::blocking_reason;
use super::{Entry, Stats, Sweep};

/// How many per-key errors a report keeps as examples.
const KEPT_ERRORS: usize = 20;

/// DeleteObjects calls in flight, and what came back.
pub(super) struct Deleter<'a> {
    s3: &'a Client,
    bucket: &'a str,
    in_flight: usize,
    tasks: JoinSet<BatchResult>,
}

impl<'a> Deleter<'a> {
    pub(super) fn new(s3: &'a Client, bucket: &'a str, in_flight: usize) -> Self {
        Deleter { s3, bucket, in_flight: in_flight.max(1), tasks: JoinSet::new() }
    }

    /// Starts a batch once a slot is free; false when the sweep must stop.
    pub(super) async fn submit(
        &mut self,
        batch: Vec<Entry>,
        stats: &mut Stats,
        sweep: &mut Sweep,
        progress: &mut dyn FnMut(&Stats),
    ) -> bool {
        while self.tasks.len() >= self.in_flight {
            if !self.absorb_one(stats, sweep, progress).await {
                return false;
            }
        }
        stats.delete_calls += 1;
        self.tasks.spawn(delete_batch(self.s3.clone(), self.bucket.to_string(), batch));
        true
    }

    /// Waits for every batch in flight; false when the sweep must stop.
    pub(super) async fn drain(
        &mut self,
        stats: &mut Stats,
        sweep: &mut Sweep,
        progress: &mut dyn FnMut(&Stats),
    ) -> bool {
        let mut go_on = true;
        while !self.tasks.is_empty() {
            go_on &= self.absorb_one(stats, sweep, progress).await;
        }
        go_on
    }

    /// Waits for one batch and records it; false when the sweep must stop.
    async fn absorb_one(&mut self, stats: &mut Stats, sweep: &mut Sweep, progress: &mut dyn FnMut(&Stats)) -> bool {
        let Some(joined) = self.tasks.join_next().await else { return true };
        let result = joined.unwrap_or_else(|e| BatchResult {
            failure: Some(format!("a DeleteObjects task failed: {e}")),
            ..Default::default()
        });
        record(result, stats, sweep);
        progress(stats);
        sweep.blocked.is_none() && !sweep.gone
    }
}

/// Adds what one batch did to the run's figures and to the sweep's.
fn record(result: BatchResult, stats: &mut Stats, sweep: &mut Sweep) {
    stats.versions += result.versions;
    stats.delete_markers += result.delete_markers;
    sweep.removed += result.versions + result.delete_markers + result.deleted_elsewhere;
    stats.key_errors += result.errors.len() as u64;
    for error in result.errors {
        if sweep.blocked.is_none() {
            sweep.blocked = blocking_reason(&error);
        }
        if stats.errors.len() < KEPT_ERRORS {
            stats.errors.push(error);
        }
    }
    if let Some(failure) = result.failure {
        stats.failed_calls += 1;
        sweep.failure = Some(failure);
    }
    sweep.gone |= result.gone;
}
