//! One pass over the versions and delete markers: list page by page, delete in batches, several in flight.

use anyhow::Result;
use aws_sdk_s3::Client;

use super::deleter::Deleter;
use super::errors::code_is;
use super::listing::list_versions;
use super::{Batcher, Markers, Settings, Stats, Sweep};
use crate::aws::aws_error;

pub(super) async fn sweep_versions(
    s3: &Client,
    bucket: &str,
    settings: &Settings,
    stats: &mut Stats,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Sweep> {
    let mut sweep = Sweep::default();
    let mut deleter = Deleter::new(s3, bucket, settings.in_flight);
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
