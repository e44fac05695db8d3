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

/// Deletes everything under `prefixes`; the check and what was done.
pub(super) async fn clean(s3: &Client, bucket: &str, prefixes: &[String]) -> (Check, Cleanup) {
    let expected = format!("no version or delete marker left under {}", prefixes.join(", "));
    let mut cleanup = Cleanup { prefixes: prefixes.to_vec(), ..Cleanup::default() };
    let mut errors: Vec<String> = Vec::new();
    for _ in 0..MAX_PASSES {
        let mut found = Vec::new();
        let listings = futures::future::join_all(prefixes.iter().map(|prefix| list(s3, bucket, prefix))).await;
        for listing in listings {
            match listing {
                Ok(versions) => found.extend(versions),
                Err(e) => {
                    let observed = format!("cannot list what is left: {e}");
                    return (Check::fail("cleanup", expected, observed), cleanup);
                }
            }
        }
        cleanup.left = found.len();
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
    let ok = cleanup.left == 0;
    let observed = if ok {
        format!("{} versions and delete markers deleted, none left", cleanup.versions_deleted)
    } else {
        let mut text = format!("{} versions or delete markers left after {MAX_PASSES} passes", cleanup.left);
        if let Some(first) = errors.first() {
            text.push_str(&format!(" (first error: {first})"));
        }
        text
    };
    (Check::new("cleanup", ok, expected, observed), cleanup)
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
