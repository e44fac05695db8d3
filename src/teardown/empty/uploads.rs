//! One pass over unfinished multipart uploads: list page by page, abort each, several in flight.

use anyhow::Result;
use aws_sdk_s3::Client;
use tokio::task::{JoinError, JoinSet};

use super::errors::{clip, code_is};
use super::listing::{Upload, list_uploads};
use super::{Markers, Settings, Stats, Sweep};
use crate::aws::aws_error;

/// What one abort task ends with: Ok(true) aborted now, Ok(false) gone already, Err a failure's text.
type Aborted = Result<bool, String>;

pub(super) async fn sweep_uploads(
    s3: &Client,
    bucket: &str,
    settings: &Settings,
    stats: &mut Stats,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Sweep> {
    let mut sweep = Sweep::default();
    let mut tasks: JoinSet<Aborted> = JoinSet::new();
    let mut at = Markers::default();
    loop {
        let page = match list_uploads(s3, bucket, &at).await {
            Ok(page) => page,
            Err(e) if code_is(&e, "NoSuchBucket") => {
                sweep.gone = true;
                break;
            }
            Err(e) => return Err(aws_error(e, "ListMultipartUploads")),
        };
        stats.list_calls += 1;
        for upload in page.uploads {
            sweep.listed += 1;
            while tasks.len() >= settings.in_flight.max(1) {
                absorb(tasks.join_next().await, stats, &mut sweep);
            }
            tasks.spawn(abort_upload(s3.clone(), bucket.to_string(), upload));
        }
        match page.next {
            Some(next) => at = next,
            None => break,
        }
    }
    while !tasks.is_empty() {
        absorb(tasks.join_next().await, stats, &mut sweep);
    }
    progress(stats);
    Ok(sweep)
}

/// Adds what one abort task did to the run's figures and to the sweep's.
fn absorb(joined: Option<Result<Aborted, JoinError>>, stats: &mut Stats, sweep: &mut Sweep) {
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
}

/// Aborts one upload: Ok(true) when aborted now, Ok(false) when it was gone already.
async fn abort_upload(s3: Client, bucket: String, upload: Upload) -> Aborted {
    let Upload { key, raw_key, id } = upload;
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
