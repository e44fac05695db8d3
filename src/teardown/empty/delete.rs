//! One batch of versions and delete markers deleted: a DeleteObjects call for the keys XML can carry, DeleteObject
//! for each of the others.

use std::collections::HashSet;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::errors::{clip, code_is};
use super::{Entry, KeyError};
use crate::aws::aws_error;
use crate::s3key::xml_safe;

/// Per-key answers that mean the version is gone already (another run deleted it first): the goal, not an error.
const GONE_CODES: &[&str] = &["NoSuchVersion", "NoSuchKey"];

/// What one DeleteObjects call did.
#[derive(Debug, Default)]
pub(super) struct BatchResult {
    pub versions: u64,
    pub delete_markers: u64,
    /// Versions another run deleted first (`NoSuchVersion`): not this run's work, but progress all the same.
    pub deleted_elsewhere: u64,
    pub errors: Vec<KeyError>,
    pub failure: Option<String>,
    pub gone: bool,
}

impl BatchResult {
    fn failed(failure: String) -> Self {
        BatchResult { failure: Some(failure), ..Default::default() }
    }

    fn count_deleted(&mut self, entry: &Entry) {
        if entry.delete_marker {
            self.delete_markers += 1;
        } else {
            self.versions += 1;
        }
    }
}

pub(super) async fn delete_batch(s3: Client, bucket: String, batch: Vec<Entry>) -> BatchResult {
    let (batch, singles): (Vec<Entry>, Vec<Entry>) = batch.into_iter().partition(|e| xml_safe(&e.key));
    let mut result = if batch.is_empty() { BatchResult::default() } else { delete_many(&s3, &bucket, batch).await };
    for entry in singles {
        delete_one(&s3, &bucket, entry, &mut result).await;
    }
    result
}

/// One DeleteObject call, for a key XML cannot carry (DeleteObject puts the key in the URL).
async fn delete_one(s3: &Client, bucket: &str, entry: Entry, result: &mut BatchResult) {
    let deleted =
        s3.delete_object().bucket(bucket).key(&entry.key).set_version_id(entry.version_id.clone()).send().await;
    match deleted {
        Ok(_) => result.count_deleted(&entry),
        Err(e) if code_is(&e, "NoSuchBucket") => result.gone = true,
        Err(e) if e.code().is_some_and(|c| GONE_CODES.contains(&c)) => result.deleted_elsewhere += 1,
        Err(e) => result.errors.push(KeyError {
            key: entry.key,
            version_id: entry.version_id,
            code: e.code().unwrap_or("UnknownError").to_string(),
            message: clip(format!("{:#}", aws_error(e, "DeleteObject"))),
        }),
    }
}

/// The body of a DeleteObjects call (Quiet: only failures are reported back).
fn delete_request(batch: &[Entry]) -> Result<Delete, String> {
    let objects = batch
        .iter()
        .map(|entry| ObjectIdentifier::builder().key(&entry.key).set_version_id(entry.version_id.clone()).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot build a DeleteObjects request: {e}"))?;
    Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| format!("cannot build a DeleteObjects request: {e}"))
}

/// One DeleteObjects call.
async fn delete_many(s3: &Client, bucket: &str, batch: Vec<Entry>) -> BatchResult {
    let delete = match delete_request(&batch) {
        Ok(delete) => delete,
        Err(failure) => return BatchResult::failed(failure),
    };
    let output = match s3.delete_objects().bucket(bucket).delete(delete).send().await {
        Ok(output) => output,
        Err(e) if code_is(&e, "NoSuchBucket") => return BatchResult { gone: true, ..Default::default() },
        Err(e) => return BatchResult::failed(clip(format!("{:#}", aws_error(e, "DeleteObjects")))),
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
            result.count_deleted(entry);
        }
    }
    result.errors = errors;
    result.deleted_elsewhere = already_gone.len() as u64;
    result
}
