//! Probe 6, cleanup: every version and delete marker under the run's prefixes is deleted, and a last listing
//! shows that none is left. Listings are paged (key and version-id markers); passes repeat until one comes back
//! empty, so a write that lands during the cleanup is caught by the next pass.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::{Check, Cleanup};
use crate::aws::aws_error;

/// Passes before giving up (the run writes a few dozen keys; two passes are the normal case).
const MAX_PASSES: usize = 5;
/// Versions per DeleteObjects call (S3's limit).
const BATCH: usize = 1000;

/// Deletes everything under `prefixes`, counting into `cleanup` as it goes (so that what was done survives an
/// interruption); the check.
pub(super) async fn clean(s3: &Client, bucket: &str, prefixes: &[String], cleanup: &mut Cleanup) -> Check {
    let expected = format!("no version or delete marker left under {}", prefixes.join(", "));
    cleanup.prefixes = prefixes.to_vec();
    let mut errors: Vec<String> = Vec::new();
    for _ in 0..MAX_PASSES {
        let found = match list_all(s3, bucket, prefixes).await {
            Ok(found) => found,
            Err(e) => return Check::fail("cleanup", expected, format!("cannot list what is left: {e}")),
        };
        cleanup.left = Some(found.len());
        if found.is_empty() {
            break;
        }
        for batch in found.chunks(BATCH) {
            match delete(s3, bucket, batch).await {
                Ok((deleted, failed)) => {
                    cleanup.versions_deleted += deleted;
                    errors.extend(failed);
                }
                Err(e) => errors.push(e),
            }
        }
    }
    let left = cleanup.left.unwrap_or_default();
    let observed = if left == 0 {
        format!("{} versions and delete markers deleted, none left", cleanup.versions_deleted)
    } else {
        let mut text = format!("{left} versions or delete markers left after {MAX_PASSES} passes");
        if let Some(first) = errors.first() {
            text.push_str(&format!(" (first error: {first})"));
        }
        text
    };
    Check::new("cleanup", left == 0, expected, observed)
}

/// How many versions and delete markers are under `prefixes` now (None when listing fails).
pub(super) async fn count_left(s3: &Client, bucket: &str, prefixes: &[String]) -> Option<usize> {
    list_all(s3, bucket, prefixes).await.ok().map(|found| found.len())
}

async fn list_all(s3: &Client, bucket: &str, prefixes: &[String]) -> Result<Vec<(String, Option<String>)>, String> {
    let listings = futures::future::join_all(prefixes.iter().map(|prefix| list(s3, bucket, prefix))).await;
    let mut found = Vec::new();
    for listing in listings {
        found.extend(listing?);
    }
    Ok(found)
}

/// The namespaces (`<parent><run id>/`) that earlier runs left under `parents` and that started before `before`:
/// no run still going can be using them. Only directories named like a run id are considered.
pub(super) async fn stale_namespaces(
    s3: &Client,
    bucket: &str,
    parents: &[String],
    before: time::OffsetDateTime,
) -> Result<Vec<String>, String> {
    let mut stale = Vec::new();
    for parent in parents {
        let mut pages = s3.list_objects_v2().bucket(bucket).prefix(parent).delimiter("/").into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(e, "ListObjectsV2").to_string())?;
            for dir in page.common_prefixes().iter().filter_map(|p| p.prefix()) {
                let run_id = dir.strip_prefix(parent.as_str()).and_then(|d| d.strip_suffix('/')).unwrap_or_default();
                if super::keys::run_started(run_id).is_some_and(|started| started < before) {
                    stale.push(dir.to_string());
                }
            }
        }
    }
    Ok(stale)
}

/// Every version and delete marker under `prefix`, as (key, version id).
async fn list(s3: &Client, bucket: &str, prefix: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| aws_error(e, "ListObjectVersions").to_string())?;
        for v in page.versions() {
            if let Some(key) = v.key() {
                out.push((key.to_string(), v.version_id().map(str::to_string)));
            }
        }
        for m in page.delete_markers() {
            if let Some(key) = m.key() {
                out.push((key.to_string(), m.version_id().map(str::to_string)));
            }
        }
        let truncated = page.is_truncated().unwrap_or(false);
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if !truncated || key_marker.is_none() {
            return Ok(out);
        }
    }
}

/// One DeleteObjects call: (deleted, per-key errors).
async fn delete(s3: &Client, bucket: &str, batch: &[(String, Option<String>)]) -> Result<(usize, Vec<String>), String> {
    let objects: Vec<ObjectIdentifier> = batch
        .iter()
        .filter_map(|(key, version)| ObjectIdentifier::builder().key(key).set_version_id(version.clone()).build().ok())
        .collect();
    let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(|e| e.to_string())?;
    let output = s3
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
        .map_err(|e| aws_error(e, "DeleteObjects").to_string())?;
    let failed: Vec<String> = output
        .errors()
        .iter()
        .map(|e| {
            format!("{}: {}: {}", e.key().unwrap_or("?"), e.code().unwrap_or("error"), e.message().unwrap_or_default())
        })
        .collect();
    Ok((batch.len().saturating_sub(failed.len()), failed))
}
