//! What emptying did: the figures of a run, which are also its progress report.

use std::time::{Duration, Instant};

use serde::Serialize;

/// What emptying did; also the progress report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Object versions deleted.
    pub versions: u64,
    /// Delete markers deleted.
    pub delete_markers: u64,
    /// Unfinished multipart uploads aborted.
    pub uploads_aborted: u64,
    /// Listing passes over the bucket (the last one found it empty, when emptying succeeded).
    pub passes: u32,
    pub list_calls: u64,
    pub delete_calls: u64,
    /// Versions or markers a DeleteObjects call reported it could not delete.
    pub key_errors: u64,
    /// Calls that failed as a whole (after retries); their keys are listed again by the next pass.
    pub failed_calls: u64,
    /// The first per-key errors, as examples.
    pub errors: Vec<KeyError>,
    pub elapsed_ms: u64,
    /// Versions and delete markers deleted per second of emptying.
    pub per_second: f64,
}

impl Stats {
    /// Versions and delete markers deleted.
    pub fn deleted(&self) -> u64 {
        self.versions + self.delete_markers
    }

    /// Adds the figures of a later pass over the same bucket.
    pub fn add(&mut self, later: Stats) {
        self.versions += later.versions;
        self.delete_markers += later.delete_markers;
        self.uploads_aborted += later.uploads_aborted;
        self.passes += later.passes;
        self.list_calls += later.list_calls;
        self.delete_calls += later.delete_calls;
        self.key_errors += later.key_errors;
        self.failed_calls += later.failed_calls;
        self.errors.extend(later.errors);
        self.elapsed_ms += later.elapsed_ms;
        self.per_second = rate(self.deleted(), Duration::from_millis(self.elapsed_ms));
    }

    pub(super) fn finish(&mut self, started: Instant) {
        let elapsed = started.elapsed();
        self.elapsed_ms = elapsed.as_millis() as u64;
        self.per_second = rate(self.deleted(), elapsed);
    }
}

/// Items per second, rounded to one decimal.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 { 0.0 } else { (count as f64 / secs * 10.0).round() / 10.0 }
}

/// One key a DeleteObjects call could not delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyError {
    pub key: String,
    pub version_id: Option<String>,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (version {}): {}: {}",
            self.key,
            self.version_id.as_deref().unwrap_or("-"),
            self.code,
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(rate(2000, Duration::from_millis(800)), 2500.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
    }
}
