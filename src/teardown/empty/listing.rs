//! Paging through a bucket: ListObjectVersions and ListMultipartUploads, one page of up to 1000 at a time, with
//! URL-encoded keys (XML cannot carry every key) decoded on the way in.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsError;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsError;
use aws_sdk_s3::types::EncodingType;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::MAX_BATCH;
use crate::s3key;

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

/// The key decoding a listing calls for: S3 says whether it honoured `EncodingType=url`.
fn decoder(encoding: Option<&EncodingType>) -> fn(&str) -> String {
    if encoding == Some(&EncodingType::Url) { s3key::url_decode } else { str::to_string }
}

/// Where the next page starts; a page that claims more but names no place to continue ends the pass (the next pass
/// lists from the start again, which is always correct).
fn continue_at(
    at: &Markers,
    truncated: Option<bool>,
    next_key: Option<String>,
    next_id: Option<&str>,
) -> Option<Markers> {
    next_markers(at, truncated.unwrap_or(false), next_key, next_id.map(str::to_string)).unwrap_or(None)
}

/// A page of versions and delete markers, in listing order per kind.
pub(super) struct VersionPage {
    pub entries: Vec<Entry>,
    pub next: Option<Markers>,
}

pub(super) async fn list_versions(
    s3: &Client,
    bucket: &str,
    at: &Markers,
) -> Result<VersionPage, SdkError<ListObjectVersionsError, HttpResponse>> {
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
    let entry = |key: &str, version_id: Option<&str>, delete_marker: bool| Entry {
        key: decode(key),
        version_id: version_id.map(str::to_string),
        delete_marker,
    };
    let versions = output.versions().iter().filter_map(|v| Some(entry(v.key()?, v.version_id(), false)));
    let markers = output.delete_markers().iter().filter_map(|m| Some(entry(m.key()?, m.version_id(), true)));
    let entries = versions.chain(markers).collect();
    let next =
        continue_at(at, output.is_truncated(), output.next_key_marker().map(decode), output.next_version_id_marker());
    Ok(VersionPage { entries, next })
}

/// One unfinished multipart upload.
pub(super) struct Upload {
    /// The key decoded as the listing announced.
    pub key: String,
    /// The key as the listing sent it: some S3 implementations announce `EncodingType=url` yet send keys unencoded.
    pub raw_key: String,
    pub id: String,
}

/// A page of unfinished multipart uploads.
pub(super) struct UploadPage {
    pub uploads: Vec<Upload>,
    pub next: Option<Markers>,
}

pub(super) async fn list_uploads(
    s3: &Client,
    bucket: &str,
    at: &Markers,
) -> Result<UploadPage, SdkError<ListMultipartUploadsError, HttpResponse>> {
    let output = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .max_uploads(MAX_BATCH as i32)
        .encoding_type(EncodingType::Url)
        .set_key_marker(at.key.clone())
        .set_upload_id_marker(at.id.clone())
        .send()
        .await?;
    let decode = decoder(output.encoding_type());
    let uploads = output
        .uploads()
        .iter()
        .filter_map(|upload| {
            let (key, id) = (upload.key()?, upload.upload_id()?);
            Some(Upload { key: decode(key), raw_key: key.to_string(), id: id.to_string() })
        })
        .collect();
    let next =
        continue_at(at, output.is_truncated(), output.next_key_marker().map(decode), output.next_upload_id_marker());
    Ok(UploadPage { uploads, next })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
