//! Emptying a versioned bucket: every object version, every delete marker and every unfinished multipart upload.
//!
//! Listing pages (ListObjectVersions, 1000 entries, key and version-id markers) stream into DeleteObjects batches of
//! up to 1000 entries, several batches in flight on their own tasks while the next page is listed. Nothing holds more
//! than the pages and batches in flight, so memory stays flat whatever the bucket holds. A pass ends with the
//! multipart uploads (ListMultipartUploads + AbortMultipartUpload); passes repeat until a listing comes back empty.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{Delete, EncodingType, ObjectIdentifier};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::aws::aws_error;

/// The most keys one DeleteObjects call (and one listing page) takes.
pub const MAX_BATCH: usize = 1000;
/// How many per-key errors a report keeps as examples.
const KEPT_ERRORS: usize = 20;
/// Per-key answers that mean the version is gone already (another run deleted it first): the goal, not an error.
const GONE_CODES: &[&str] = &["NoSuchVersion", "NoSuchKey"];

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

    fn finish(&mut self, started: Instant) {
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

/// How emptying ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Emptied {
    /// A listing of versions and of uploads came back empty.
    Empty,
    /// The bucket does not exist (any more).
    Gone,
}

/// One version or delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

/// Where a listing page starts: after `key` (and, within it, after `id`: a version id or an upload id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    pub key: Option<String>,
    pub id: Option<String>,
}

/// The markers of the page after this one, None when this page was the last.
///
/// A truncated page must name where the next one starts, and that place must be after the current one; anything else
/// would page forever, so it is an error.
pub fn next_markers(
    current: &Markers,
    truncated: bool,
    next_key: Option<String>,
    next_id: Option<String>,
) -> Result<Option<Markers>, String> {
    if !truncated {
        return Ok(None);
    }
    let key = next_key.filter(|k| !k.is_empty()).ok_or("a truncated listing gave no next key marker")?;
    let next = Markers { key: Some(key), id: next_id.filter(|v| !v.is_empty()) };
    if next == *current {
        return Err(format!("the listing did not advance past key marker {:?}", current.key.as_deref().unwrap_or("")));
    }
    Ok(Some(next))
}

/// Groups items into batches of at most `size`.
#[derive(Debug)]
pub struct Batcher<T> {
    size: usize,
    buffer: Vec<T>,
}

impl<T> Batcher<T> {
    pub fn new(size: usize) -> Self {
        let size = size.clamp(1, MAX_BATCH);
        Batcher { size, buffer: Vec::with_capacity(size) }
    }

    /// Adds an item; returns a full batch when this item completed one.
    pub fn push(&mut self, item: T) -> Option<Vec<T>> {
        self.buffer.push(item);
        (self.buffer.len() >= self.size).then(|| std::mem::replace(&mut self.buffer, Vec::with_capacity(self.size)))
    }

    /// The last, partial batch.
    pub fn finish(&mut self) -> Option<Vec<T>> {
        (!self.buffer.is_empty()).then(|| std::mem::take(&mut self.buffer))
    }
}

/// Decodes a key S3 sent with `EncodingType=url` (form encoding: `+` is a space).
pub fn url_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high << 4) | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

fn decoder(encoding: Option<&EncodingType>) -> fn(&str) -> String {
    if encoding == Some(&EncodingType::Url) { url_decode } else { str::to_string }
}

/// Whether XML 1.0 can carry the key at all. DeleteObjects sends keys in an XML body, so keys with other control
/// characters must be deleted one by one (DeleteObject puts the key in the URL).
pub fn xml_safe(key: &str) -> bool {
    key.chars().all(|c| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}'))
}

/// An error text short enough for a report (some services echo the whole request).
fn clip(text: String) -> String {
    const MAX: usize = 400;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

fn code_is<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>, code: &str) -> bool {
    error.code() == Some(code)
}

/// Why a per-key error means deleting cannot succeed, so the engine stops instead of half-deleting.
fn blocking_reason(error: &KeyError) -> Option<String> {
    if error.code != "AccessDenied" {
        return None;
    }
    let message = error.message.to_ascii_lowercase();
    if message.contains("lock") || message.contains("retention") || message.contains("legal hold") {
        Some(format!(
            "version {} of {} is protected by S3 Object Lock (retention or legal hold): {}. \
             It cannot be deleted until its retention ends or its legal hold is removed",
            error.version_id.as_deref().unwrap_or("-"),
            error.key,
            error.message
        ))
    } else {
        Some(format!(
            "access denied deleting version {} of {}: {}; the credentials need s3:DeleteObjectVersion on the bucket",
            error.version_id.as_deref().unwrap_or("-"),
            error.key,
            error.message
        ))
    }
}

/// What one DeleteObjects call did.
#[derive(Debug, Default)]
struct BatchResult {
    versions: u64,
    delete_markers: u64,
    /// Versions another run deleted first (`NoSuchVersion`): not this run's work, but progress all the same.
    deleted_elsewhere: u64,
    errors: Vec<KeyError>,
    failure: Option<String>,
    gone: bool,
}

async fn delete_batch(s3: Client, bucket: String, batch: Vec<Entry>) -> BatchResult {
    let (batch, singles): (Vec<Entry>, Vec<Entry>) = batch.into_iter().partition(|e| xml_safe(&e.key));
    let mut result = if batch.is_empty() { BatchResult::default() } else { delete_many(&s3, &bucket, batch).await };
    for entry in singles {
        let deleted =
            s3.delete_object().bucket(&bucket).key(&entry.key).set_version_id(entry.version_id.clone()).send().await;
        match deleted {
            Ok(_) if entry.delete_marker => result.delete_markers += 1,
            Ok(_) => result.versions += 1,
            Err(e) if code_is(&e, "NoSuchBucket") => result.gone = true,
            Err(e) if e.code().is_some_and(|c| GONE_CODES.contains(&c)) => result.deleted_elsewhere += 1,
            Err(e) => result.errors.push(KeyError {
                key: entry.key.clone(),
                version_id: entry.version_id.clone(),
                code: e.code().unwrap_or("UnknownError").to_string(),
                message: clip(format!("{:#}", aws_error(e, "DeleteObject"))),
            }),
        }
    }
    result
}

/// One DeleteObjects call (Quiet: only failures are reported back).
async fn delete_many(s3: &Client, bucket: &str, batch: Vec<Entry>) -> BatchResult {
    let mut objects = Vec::with_capacity(batch.len());
    for entry in &batch {
        match ObjectIdentifier::builder().key(&entry.key).set_version_id(entry.version_id.clone()).build() {
            Ok(object) => objects.push(object),
            Err(e) => {
                return BatchResult {
                    failure: Some(format!("cannot build a DeleteObjects request: {e}")),
                    ..Default::default()
                };
            }
        }
    }
    let delete = match Delete::builder().set_objects(Some(objects)).quiet(true).build() {
        Ok(delete) => delete,
        Err(e) => {
            return BatchResult {
                failure: Some(format!("cannot build a DeleteObjects request: {e}")),
                ..Default::default()
            };
        }
    };
    let result = s3.delete_objects().bucket(bucket).delete(delete).send().await;
    let output = match result {
        Ok(output) => output,
        Err(e) if code_is(&e, "NoSuchBucket") => return BatchResult { gone: true, ..Default::default() },
        Err(e) => {
            let failure = clip(format!("{:#}", aws_error(e, "DeleteObjects")));
            return BatchResult { failure: Some(failure), ..Default::default() };
        }
    };
    let (already_gone, errors): (Vec<KeyError>, Vec<KeyError>) = output
        .errors()
        .iter()
        .map(|e| KeyError {
            key: e.key().unwrap_or_default().to_string(),
            version_id: e.version_id().map(str::to_string),
            code: e.code().unwrap_or("UnknownError").to_string(),
            message: clip(e.message().unwrap_or_default().to_string()),
        })
        .partition(|e| GONE_CODES.contains(&e.code.as_str()));
    let mut result = BatchResult::default();
    // Neither deleted by this call nor an error: what another run (a concurrent teardown) deleted first.
    let failed: HashSet<(&str, Option<&str>)> =
        errors.iter().chain(&already_gone).map(|e| (e.key.as_str(), e.version_id.as_deref())).collect();
    for entry in &batch {
        if failed.is_empty() || !failed.contains(&(entry.key.as_str(), entry.version_id.as_deref())) {
            if entry.delete_marker {
                result.delete_markers += 1;
            } else {
                result.versions += 1;
            }
        }
    }
    result.errors = errors;
    result.deleted_elsewhere = already_gone.len() as u64;
    result
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

/// DeleteObjects calls in flight, and what came back.
struct Deleter<'a> {
    s3: &'a Client,
    bucket: &'a str,
    in_flight: usize,
    tasks: JoinSet<BatchResult>,
}

impl Deleter<'_> {
    /// Starts a batch once a slot is free; false when the sweep must stop.
    async fn submit(
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
    async fn drain(&mut self, stats: &mut Stats, sweep: &mut Sweep, progress: &mut dyn FnMut(&Stats)) -> bool {
        let mut go_on = true;
        while !self.tasks.is_empty() {
            go_on &= self.absorb_one(stats, sweep, progress).await;
        }
        go_on
    }

    async fn absorb_one(&mut self, stats: &mut Stats, sweep: &mut Sweep, progress: &mut dyn FnMut(&Stats)) -> bool {
        let Some(joined) = self.tasks.join_next().await else { return true };
        let result = match joined {
            Ok(result) => result,
            Err(e) => BatchResult { failure: Some(format!("a DeleteObjects task failed: {e}")), ..Default::default() },
        };
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
        progress(stats);
        sweep.blocked.is_none() && !sweep.gone
    }
}

/// A page of versions and delete markers, in listing order per kind.
struct VersionPage {
    entries: Vec<Entry>,
    next: Option<Markers>,
}

async fn list_versions(
    s3: &Client,
    bucket: &str,
    at: &Markers,
) -> Result<VersionPage, SdkError<aws_sdk_s3::operation::list_object_versions::ListObjectVersionsError, HttpResponse>> {
    let output = s3
        .list_object_versions()
        .bucket(bucket)
        .max_keys(MAX_BATCH as i32)
        .encoding_type(EncodingType::Url)
        .set_key_marker(at.key.clone())
        .set_version_id_marker(at.id.clone())
        .send()
        .await?;
    let decode = decoder(output.encoding_type());
    let mut entries = Vec::with_capacity(output.versions().len() + output.delete_markers().len());
    for v in output.versions() {
        if let Some(key) = v.key() {
            entries.push(Entry {
                key: decode(key),
                version_id: v.version_id().map(str::to_string),
                delete_marker: false,
            });
        }
    }
    for m in output.delete_markers() {
        if let Some(key) = m.key() {
            entries.push(Entry {
                key: decode(key),
                version_id: m.version_id().map(str::to_string),
                delete_marker: true,
            });
        }
    }
    let next = next_markers(
        at,
        output.is_truncated().unwrap_or(false),
        output.next_key_marker().map(decode),
        output.next_version_id_marker().map(str::to_string),
    );
    match next {
        Ok(next) => Ok(VersionPage { entries, next }),
        // A page that claims more but names no place to continue: re-listing from the start is always correct.
        Err(_) => Ok(VersionPage { entries, next: None }),
    }
}

/// One pass over the versions and delete markers: list page by page, delete in batches, several in flight.
async fn sweep_versions(
    s3: &Client,
    bucket: &str,
    settings: &Settings,
    stats: &mut Stats,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Sweep> {
    let mut sweep = Sweep::default();
    let mut deleter = Deleter { s3, bucket, in_flight: settings.in_flight.max(1), tasks: JoinSet::new() };
    let mut batcher = Batcher::new(settings.batch_size);
    let mut at = Markers::default();
    'pages: loop {
        let page = match list_versions(s3, bucket, &at).await {
            Ok(page) => page,
            Err(e) if code_is(&e, "NoSuchBucket") => {
                sweep.gone = true;
                break;
            }
            Err(e) => return Err(aws_error(e, "ListObjectVersions")),
        };
        stats.list_calls += 1;
        sweep.listed += page.entries.len() as u64;
        for entry in page.entries {
            if let Some(batch) = batcher.push(entry)
                && !deleter.submit(batch, stats, &mut sweep, progress).await
            {
                break 'pages;
            }
        }
        match page.next {
            Some(next) => at = next,
            None => {
                if let Some(batch) = batcher.finish() {
                    deleter.submit(batch, stats, &mut sweep, progress).await;
                }
                break;
            }
        }
    }
    deleter.drain(stats, &mut sweep, progress).await;
    Ok(sweep)
}

/// Aborts one upload: Ok(true) when aborted now, Ok(false) when it was gone already.
async fn abort_upload(s3: Client, bucket: String, key: String, raw_key: String, id: String) -> Result<bool, String> {
    let abort = |key: String| {
        let (s3, bucket, id) = (&s3, &bucket, &id);
        async move { s3.abort_multipart_upload().bucket(bucket).key(&key).upload_id(id).send().await }
    };
    let mut result = abort(key.clone()).await;
    // Some S3 implementations announce EncodingType=url yet send upload keys unencoded: try the key as it was sent.
    if key != raw_key && result.as_ref().is_err_and(|e| code_is(e, "NoSuchUpload")) {
        result = abort(raw_key).await;
    }
    match result {
        Ok(_) => Ok(true),
        // Finished or aborted meanwhile; a vanished bucket is seen by the next listing.
        Err(e) if code_is(&e, "NoSuchUpload") || code_is(&e, "NoSuchBucket") => Ok(false),
        Err(e) => Err(clip(format!("{:#}", aws_error(e, "AbortMultipartUpload")))),
    }
}

/// One pass over unfinished multipart uploads: list page by page, abort each, several in flight.
async fn sweep_uploads(
    s3: &Client,
    bucket: &str,
    settings: &Settings,
    stats: &mut Stats,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Sweep> {
    let mut sweep = Sweep::default();
    let mut tasks: JoinSet<Result<bool, String>> = JoinSet::new();
    let mut at = Markers::default();
    let absorb =
        |joined: Option<Result<Result<bool, String>, tokio::task::JoinError>>, stats: &mut Stats, sweep: &mut Sweep| {
            match joined {
                Some(Ok(Ok(true))) => {
                    stats.uploads_aborted += 1;
                    sweep.removed += 1;
                }
                Some(Ok(Ok(false))) | None => {}
                Some(Ok(Err(failure))) => {
                    stats.failed_calls += 1;
                    sweep.failure = Some(failure);
                }
                Some(Err(e)) => {
                    stats.failed_calls += 1;
                    sweep.failure = Some(format!("an AbortMultipartUpload task failed: {e}"));
                }
            }
        };
    loop {
        let listed = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .max_uploads(MAX_BATCH as i32)
            .encoding_type(EncodingType::Url)
            .set_key_marker(at.key.clone())
            .set_upload_id_marker(at.id.clone())
            .send()
            .await;
        let output = match listed {
            Ok(output) => output,
            Err(e) if code_is(&e, "NoSuchBucket") => {
                sweep.gone = true;
                break;
            }
            Err(e) => return Err(aws_error(e, "ListMultipartUploads")),
        };
        stats.list_calls += 1;
        let decode = decoder(output.encoding_type());
        for upload in output.uploads() {
            let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else { continue };
            sweep.listed += 1;
            while tasks.len() >= settings.in_flight.max(1) {
                absorb(tasks.join_next().await, stats, &mut sweep);
            }
            tasks.spawn(abort_upload(s3.clone(), bucket.to_string(), decode(key), key.to_string(), id.to_string()));
        }
        let next = next_markers(
            &at,
            output.is_truncated().unwrap_or(false),
            output.next_key_marker().map(decode),
            output.next_upload_id_marker().map(str::to_string),
        );
        match next {
            Ok(Some(next)) => at = next,
            Ok(None) | Err(_) => break,
        }
    }
    while !tasks.is_empty() {
        absorb(tasks.join_next().await, stats, &mut sweep);
    }
    progress(stats);
    Ok(sweep)
}

/// Empties a bucket: passes of [`sweep_versions`] and [`sweep_uploads`] until both listings come back empty.
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
        let versions = sweep_versions(s3, bucket, settings, stats, progress).await?;
        if versions.gone {
            return Ok(Emptied::Gone);
        }
        if let Some(reason) = versions.blocked {
            anyhow::bail!("stopped emptying bucket {bucket}: {reason}");
        }
        let uploads = sweep_uploads(s3, bucket, settings, stats, progress).await?;
        if uploads.gone {
            return Ok(Emptied::Gone);
        }
        if versions.listed == 0 && uploads.listed == 0 {
            return Ok(Emptied::Empty);
        }
        let problem = versions
            .failure
            .or(uploads.failure)
            .or_else(|| stats.errors.last().map(|e| format!("could not delete {e}")));
        if versions.removed == 0 && uploads.removed == 0 {
            anyhow::bail!(
                "emptying bucket {bucket} makes no progress: {} left after pass {}{}",
                versions.listed + uploads.listed,
                stats.passes,
                problem.map(|p| format!("; last error: {p}")).unwrap_or_default()
            );
        }
        if stats.passes >= settings.max_passes {
            anyhow::bail!(
                "bucket {bucket} is still not empty after {} passes (is something still writing to it?){}",
                stats.passes,
                problem.map(|p| format!("; last error: {p}")).unwrap_or_default()
            );
        }
    }
}

/// Whether S3 Object Lock is on for a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ObjectLock {
    Off,
    /// On; with the default retention, if any (e.g. `GOVERNANCE for 30 days`).
    On {
        default_retention: Option<String>,
    },
    BucketGone,
}

/// Reads a bucket's Object Lock configuration (read-only).
pub async fn object_lock(s3: &Client, bucket: &str) -> Result<ObjectLock> {
    let result = s3.get_object_lock_configuration().bucket(bucket).send().await;
    let output = match result {
        Ok(output) => output,
        Err(e) if code_is(&e, "ObjectLockConfigurationNotFoundError") => return Ok(ObjectLock::Off),
        Err(e) if code_is(&e, "NoSuchBucket") => return Ok(ObjectLock::BucketGone),
        Err(e) => {
            return Err(aws_error(e, "GetObjectLockConfiguration"))
                .map_err(|e| e.context(format!("cannot find out whether bucket {bucket} has S3 Object Lock")));
        }
    };
    let Some(config) = output.object_lock_configuration else { return Ok(ObjectLock::Off) };
    if config.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some("Enabled") {
        return Ok(ObjectLock::Off);
    }
    let default_retention = config.rule.and_then(|r| r.default_retention).map(|d| {
        let mode = d.mode.map(|m| m.as_str().to_string()).unwrap_or_else(|| "retention".into());
        match (d.days, d.years) {
            (Some(days), _) => format!("{mode} for {days} days"),
            (_, Some(years)) => format!("{mode} for {years} years"),
            _ => mode,
        }
    });
    Ok(ObjectLock::On { default_retention })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_full_then_partial() {
        let mut batcher = Batcher::new(1000);
        let mut full = Vec::new();
        for i in 0..2500 {
            if let Some(batch) = batcher.push(i) {
                full.push(batch);
            }
        }
        assert_eq!(full.iter().map(Vec::len).collect::<Vec<_>>(), [1000, 1000]);
        assert_eq!(full[1][0], 1000);
        assert_eq!(batcher.finish().map(|b| b.len()), Some(500));
        assert_eq!(batcher.finish(), None);
    }

    #[test]
    fn batch_size_is_bounded_by_the_api_limit() {
        let mut batcher = Batcher::new(5000);
        let sizes: Vec<usize> = (0..2001).filter_map(|i| batcher.push(i)).map(|b| b.len()).collect();
        assert_eq!(sizes, [1000, 1000]);
        let mut tiny = Batcher::new(0);
        assert_eq!(tiny.push('a'), Some(vec!['a']));
    }

    #[test]
    fn markers_follow_truncated_pages_and_stop_at_the_last() {
        let start = Markers::default();
        let next = next_markers(&start, true, Some("calls/1.json".into()), Some("v2".into())).unwrap();
        assert_eq!(next, Some(Markers { key: Some("calls/1.json".into()), id: Some("v2".into()) }));
        // A page that ends between keys may carry an empty version marker.
        let next = next_markers(&start, true, Some("k".into()), Some(String::new())).unwrap();
        assert_eq!(next, Some(Markers { key: Some("k".into()), id: None }));
        assert_eq!(next_markers(&start, false, Some("ignored".into()), None).unwrap(), None);
    }

    #[test]
    fn markers_that_would_page_forever_are_errors() {
        let at = Markers { key: Some("k".into()), id: Some("v".into()) };
        assert!(next_markers(&at, true, Some("k".into()), Some("v".into())).is_err());
        assert!(next_markers(&at, true, None, Some("v".into())).is_err());
        assert!(next_markers(&at, true, Some(String::new()), None).is_err());
    }

    #[test]
    fn url_encoded_keys_are_decoded() {
        assert_eq!(url_decode("calls/a+b%2Bc%25.json"), "calls/a b+c%.json");
        assert_eq!(url_decode("%C3%BC%01"), "ü\u{1}");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%4"), "%zz%4");
        // Bytes that do not make UTF-8 leave the key as sent.
        assert_eq!(url_decode("%FF"), "%FF");
    }

    #[test]
    fn object_lock_errors_stop_the_engine() {
        let locked = KeyError {
            key: "k".into(),
            version_id: Some("v".into()),
            code: "AccessDenied".into(),
            message: "Access Denied because object protected by object lock.".into(),
        };
        assert!(blocking_reason(&locked).unwrap().contains("Object Lock"));
        let denied = KeyError { message: "Access Denied".into(), ..locked.clone() };
        assert!(blocking_reason(&denied).unwrap().contains("s3:DeleteObjectVersion"));
        let slow = KeyError { code: "SlowDown".into(), ..locked };
        assert_eq!(blocking_reason(&slow), None);
    }

    #[test]
    fn rates() {
        assert_eq!(rate(2000, Duration::from_millis(800)), 2500.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
    }
}
