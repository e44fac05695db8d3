//! Probes 1 and 2: a probe object written and read back; versioning (overwrite → two versions, delete → a delete
//! marker).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Check, Ctx, State};
use crate::aws::aws_error;
use crate::config::Encryption;

const CONTENT_TYPE: &str = "application/json";
const CONTENT_ENCODING: &str = "gzip";

/// Gzip-compresses `data` (in memory, so it cannot fail short of running out of memory).
pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec does not fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A small JSON document like the analytics workload's session records, gzip-compressed.
fn probe_document(run_id: &str, what: &str) -> (Vec<u8>, Vec<u8>) {
    let now = OffsetDateTime::now_utc();
    let doc = json!({
        "probe": run_id,
        "what": what,
        "written_at": now.format(&Rfc3339).unwrap_or_default(),
        "note": "written by `provision smoke`; deleted by the same run",
    });
    let plain = serde_json::to_vec(&doc).unwrap_or_default();
    let compressed = gzip(&plain);
    (plain, compressed)
}

/// The server-side encryption S3 should report: the algorithm, and the KMS key with SSE-KMS.
fn expected_sse(encryption: &Encryption) -> (&'static str, Option<&str>) {
    match encryption {
        Encryption::SseS3 => ("AES256", None),
        Encryption::SseKms { key_arn } => ("aws:kms", Some(key_arn.as_str())),
        // The stack's own key: its ARN is not in the config; the live check compares the bucket's key with it.
        Encryption::Kms => ("aws:kms", None),
    }
}

/// Whether the key S3 reports (an ARN, or a bare key id) is the configured key ARN.
fn same_kms_key(reported: &str, configured: &str) -> bool {
    reported == configured || configured.rsplit('/').next() == Some(reported)
}

/// Compares a read-back object with what was written; the list of differences (empty when it round-tripped).
#[allow(clippy::too_many_arguments)]
pub(super) fn differences(
    written: &[u8],
    read: &[u8],
    plain: &[u8],
    metadata: &HashMap<String, String>,
    read_metadata: Option<&HashMap<String, String>>,
    content: (Option<&str>, Option<&str>),
    sse: (Option<&str>, Option<&str>),
    encryption: &Encryption,
) -> Vec<String> {
    let mut found = Vec::new();
    if read != written {
        found.push(format!("{} bytes read back, {} written, contents differ", read.len(), written.len()));
    }
    let (sent, got) = (sha256_hex(written), sha256_hex(read));
    if sent != got {
        found.push(format!("SHA-256 {got} instead of {sent}"));
    }
    match gunzip(read) {
        Ok(unzipped) if unzipped == plain => {}
        Ok(_) => found.push("the gzip content decompresses to a different document".to_string()),
        Err(e) => found.push(format!("the body is not gzip any more: {e}")),
    }
    let empty = HashMap::new();
    let read_metadata = read_metadata.unwrap_or(&empty);
    if read_metadata != metadata {
        let mut got: Vec<String> = read_metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
        got.sort();
        found.push(format!("metadata {{{}}}", got.join(", ")));
    }
    if content.0 != Some(CONTENT_TYPE) {
        found.push(format!("Content-Type {}", content.0.unwrap_or("(none)")));
    }
    if content.1 != Some(CONTENT_ENCODING) {
        found.push(format!("Content-Encoding {}", content.1.unwrap_or("(none)")));
    }
    let (algorithm, key) = expected_sse(encryption);
    if sse.0 != Some(algorithm) {
        found.push(format!("server-side encryption {} instead of {algorithm}", sse.0.unwrap_or("(none)")));
    }
    if let Some(key) = key
        && !sse.1.is_some_and(|reported| same_kms_key(reported, key))
    {
        found.push(format!("KMS key {} instead of {key}", sse.1.unwrap_or("(none)")));
    }
    found
}

fn expected_text(encryption: &Encryption) -> String {
    let sse = match expected_sse(encryption) {
        (algorithm, Some(key)) => format!("{algorithm} with key {key}"),
        (algorithm, None) => algorithm.to_string(),
    };
    format!(
        "gzip JSON written and read back: same bytes and SHA-256, metadata, Content-Type {CONTENT_TYPE}, Content-Encoding {CONTENT_ENCODING}, encryption {sse}"
    )
}

/// Probe 1: writes the probe object at a partitioned key and reads it back.
pub(super) async fn object(ctx: &Ctx<'_>, state: &mut State) -> Check {
    const NAME: &str = "probe object";
    let started = Instant::now();
    let expected = expected_text(&ctx.config.bucket.encryption);
    let key = ctx.layout.object_key(OffsetDateTime::now_utc());
    let (plain, written) = probe_document(ctx.layout.run_id(), "probe object");
    let metadata = HashMap::from([
        ("probe-run".to_string(), ctx.layout.run_id().to_string()),
        ("probe-sha256".to_string(), sha256_hex(&written)),
    ]);
    let put = ctx
        .clients
        .s3
        .put_object()
        .bucket(&ctx.bucket)
        .key(&key)
        .content_type(CONTENT_TYPE)
        .content_encoding(CONTENT_ENCODING)
        .set_metadata(Some(metadata.clone()))
        .body(ByteStream::from(written.clone()))
        .send()
        .await;
    if let Err(e) = put {
        return Check::fail(NAME, expected, format!("{} ({key})", aws_error(e, "PutObject"))).took(started);
    }
    state.probe_key = Some(key.clone());
    let got = match ctx.clients.s3.get_object().bucket(&ctx.bucket).key(&key).send().await {
        Ok(got) => got,
        Err(e) => return Check::fail(NAME, expected, format!("{} ({key})", aws_error(e, "GetObject"))).took(started),
    };
    let content_type = got.content_type().map(str::to_string);
    let content_encoding = got.content_encoding().map(str::to_string);
    let sse = got.server_side_encryption().map(|s| s.as_str().to_string());
    let kms_key = got.ssekms_key_id().map(str::to_string);
    let read_metadata = got.metadata().cloned();
    let read = match got.body.collect().await {
        Ok(bytes) => bytes.into_bytes().to_vec(),
        Err(e) => return Check::fail(NAME, expected, format!("reading the body of {key} failed: {e}")).took(started),
    };
    let found = differences(
        &written,
        &read,
        &plain,
        &metadata,
        read_metadata.as_ref(),
        (content_type.as_deref(), content_encoding.as_deref()),
        (sse.as_deref(), kms_key.as_deref()),
        &ctx.config.bucket.encryption,
    );
    let ok = found.is_empty();
    let observed = if ok {
        format!("{key}: {} bytes round-tripped, encryption {}", read.len(), sse.unwrap_or_default())
    } else {
        format!("{key}: {}", found.join("; "))
    };
    Check::new(NAME, ok, expected, observed).took(started)
}

/// Probe 2: overwrites the probe object, expects two versions, deletes it, expects a delete marker.
pub(super) async fn versioning(ctx: &Ctx<'_>, state: &mut State) -> Check {
    const NAME: &str = "versioning";
    let started = Instant::now();
    let expected = "an overwrite keeps the old version (2 versions); a delete leaves a delete marker";
    if !ctx.config.bucket.versioning {
        return Check::skip(NAME, expected, "versioning is off in the env file (bucket.versioning: false)");
    }
    let s3 = &ctx.clients.s3;
    let put = |key: String, what: &'static str| async move {
        let (_, body) = probe_document(ctx.layout.run_id(), what);
        s3.put_object()
            .bucket(&ctx.bucket)
            .key(key)
            .content_type(CONTENT_TYPE)
            .content_encoding(CONTENT_ENCODING)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| aws_error(e, "PutObject"))
    };
    // The probe object is the first version; without it (probe 1 failed), this probe writes both.
    let key = match &state.probe_key {
        Some(key) => key.clone(),
        None => {
            let key = ctx.layout.object_key(OffsetDateTime::now_utc());
            if let Err(e) = put(key.clone(), "first version").await {
                return Check::fail(NAME, expected, e.to_string()).took(started);
            }
            state.probe_key = Some(key.clone());
            key
        }
    };
    if let Err(e) = put(key.clone(), "overwrite").await {
        return Check::fail(NAME, expected, e.to_string()).took(started);
    }
    let versions = match s3.list_object_versions().bucket(&ctx.bucket).prefix(&key).send().await {
        Ok(listing) => listing.versions().iter().filter(|v| v.key() == Some(key.as_str())).count(),
        Err(e) => return Check::fail(NAME, expected, aws_error(e, "ListObjectVersions").to_string()).took(started),
    };
    let marker = match s3.delete_object().bucket(&ctx.bucket).key(&key).send().await {
        Ok(deleted) => deleted.delete_marker().unwrap_or(false) && deleted.version_id().is_some_and(|v| v != "null"),
        Err(e) => return Check::fail(NAME, expected, aws_error(e, "DeleteObject").to_string()).took(started),
    };
    let mut problems = Vec::new();
    if versions != 2 {
        problems.push(format!(
            "{versions} version(s) after an overwrite: the bucket does not keep old versions (is versioning suspended?)"
        ));
    }
    if !marker {
        problems.push("DeleteObject left no versioned delete marker".to_string());
    }
    let observed = if problems.is_empty() {
        "2 versions after the overwrite; the delete left a delete marker".to_string()
    } else {
        problems.join("; ")
    };
    Check::new(NAME, problems.is_empty(), expected, observed).took(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> HashMap<String, String> {
        HashMap::from([("probe-run".to_string(), "R1".to_string())])
    }

    #[test]
    fn gzip_round_trips() {
        let (plain, compressed) = probe_document("R1", "test");
        assert_eq!(&compressed[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(gunzip(&compressed).unwrap(), plain);
    }

    #[test]
    fn a_faithful_read_back_has_no_differences() {
        let (plain, written) = probe_document("R1", "test");
        let found = differences(
            &written,
            &written,
            &plain,
            &meta(),
            Some(&meta()),
            (Some("application/json"), Some("gzip")),
            (Some("AES256"), None),
            &Encryption::SseS3,
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn every_difference_is_named() {
        let (plain, written) = probe_document("R1", "test");
        let kms = Encryption::SseKms { key_arn: "arn:aws:kms:us-west-1:123456789012:key/abcd".to_string() };
        let found = differences(
            &written,
            b"not gzip",
            &plain,
            &meta(),
            None,
            (Some("binary/octet-stream"), None),
            (Some("AES256"), None),
            &kms,
        );
        let text = found.join("\n");
        for part in ["contents differ", "SHA-256", "not gzip", "metadata {}", "Content-Type binary/octet-stream"] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        assert!(text.contains("Content-Encoding (none)"));
        assert!(text.contains("encryption AES256 instead of aws:kms"));
        assert!(text.contains("KMS key (none) instead of arn:aws:kms:us-west-1:123456789012:key/abcd"));
    }

    #[test]
    fn kms_key_reported_as_arn_or_id() {
        let arn = "arn:aws:kms:us-west-1:123456789012:key/abcd";
        assert!(same_kms_key(arn, arn));
        assert!(same_kms_key("abcd", arn));
        assert!(!same_kms_key("other", arn));
    }
}
