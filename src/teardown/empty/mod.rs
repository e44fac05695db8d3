//! Emptying a versioned bucket: every object version, every delete marker and every unfinished multipart upload.
//!
//! Listing pages (ListObjectVersions, 1000 entries, key and version-id markers) stream into DeleteObjects batches of
//! up to 1000 entries, several batches in flight on their own tasks while the next page is listed. Nothing holds more
//! than the pages and batches in flight, so memory stays flat whatever the bucket holds. A pass ends with the
//! multipart uploads (ListMultipartUploads + AbortMultipartUpload); passes repeat until a listing comes back empty.

mod batch;
mod delete;
mod deleter;
mod errors;
mod listing;
mod object_lock;
mod stats;
mod uploads;
mod versions;

use std::time::Instant;

use anyhow::Result;
use aws_sdk_s3::Client;
use serde::Serialize;

pub use batch::Batcher;
pub use listing::{Entry, Markers, next_markers};
pub use object_lock::{ObjectLock, object_lock};
pub use stats::{KeyError, Stats, rate};

/// The most keys one DeleteObjects call (and one listing page) takes.
pub const MAX_BATCH: usize = 1000;

/// How hard to push.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// DeleteObjects (or AbortMultipartUpload) calls in flight.
    pub in_flight: usize,
    /// Entries per DeleteObjects call (1..=1000).
    pub batch_size: usize,
    /// Passes before giving up on a bucket that keeps filling up or keeps failing.
    pub max_passes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { in_flight: 8, batch_size: MAX_BATCH, max_passes: 20 }
    }
}

/// How emptying ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Emptied {
    /// A listing of versions and of uploads came back empty.
    Empty,
    /// The bucket does not exist (any more).
    Gone,
}

/// What one sweep (over versions, or over uploads) found.
#[derive(Debug, Default)]
struct Sweep {
    listed: u64,
    removed: u64,
    gone: bool,
    /// A reason to stop at once (object lock, access denied).
    blocked: Option<String>,
    /// The last failure of a whole call.
    failure: Option<String>,
}

/// Empties a bucket: passes of [`versions::sweep_versions`] and [`uploads::sweep_uploads`] until both listings come
/// back empty.
///
/// Returns what was done even when it fails, so a report can say how far it got.
pub async fn empty_bucket(
    s3: &Client,
    bucket: &str,
    settings: &Settings,
    progress: &mut dyn FnMut(&Stats),
) -> (Stats, Result<Emptied>) {
    let started = Instant::now();
    let mut stats = Stats::default();
    let result = passes(s3, bucket, settings, &mut stats, progress).await;
    stats.finish(started);
    (stats, result)
}

async fn passes(
    s3: &Client,
    bucket: &str,
    settings: &Settings,
    stats: &mut Stats,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Emptied> {
    loop {
        stats.passes += 1;
        let versions = versions::sweep_versions(s3, bucket, settings, stats, progress).await?;
        if versions.gone {
            return Ok(Emptied::Gone);
        }
        if let Some(reason) = versions.blocked {
            anyhow::bail!("stopped emptying bucket {bucket}: {reason}");
        }
        let uploads = uploads::sweep_uploads(s3, bucket, settings, stats, progress).await?;
        if uploads.gone {
            return Ok(Emptied::Gone);
        }
        if versions.listed == 0 && uploads.listed == 0 {
            return Ok(Emptied::Empty);
        }
        another_pass_helps(bucket, settings, stats, versions, uploads)?;
    }
}

/// Fails when a further pass is pointless: this one removed nothing, or the passes are used up.
fn another_pass_helps(bucket: &str, settings: &Settings, stats: &Stats, versions: Sweep, uploads: Sweep) -> Result<()> {
    let problem =
        versions.failure.or(uploads.failure).or_else(|| stats.errors.last().map(|e| format!("could not delete {e}")));
    let last_error = problem.map(|p| format!("; last error: {p}")).unwrap_or_default();
    if versions.removed == 0 && uploads.removed == 0 {
        anyhow::bail!(
            "emptying bucket {bucket} makes no progress: {} left after pass {}{last_error}",
            versions.listed + uploads.listed,
            stats.passes,
        );
    }
    if stats.passes >= settings.max_passes {
        anyhow::bail!(
            "bucket {bucket} is still not empty after {} passes (is something still writing to it?){last_error}",
            stats.passes,
        );
    }
    Ok(())
}
