//! Putting drifted settings back, directly through each service's API: one function per setting.
//! (Pending template changes go through the normal deploy path instead, with its data guard.)

mod bucket;
mod iam;
mod key;
mod queue_topic;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Finding, Resource};
use crate::aws::Aws;

/// One setting put back.
#[derive(Debug, Clone, Serialize)]
pub struct Reverted {
    pub resource: Resource,
    pub property: &'static str,
    /// What was done, e.g. `PutBucketLifecycleConfiguration`.
    pub action: String,
}

/// Reverts every drifted finding that can be reverted; returns what was done. Findings of missing resources
/// (deleted out of band) are left to a deploy.
pub async fn revert(aws: &Aws, findings: &[Finding]) -> Result<Vec<Reverted>> {
    let mut done = Vec::new();
    for finding in findings.iter().filter(|f| !f.ok()) {
        if let Some(action) = revert_one(aws, finding)
            .await
            .with_context(|| format!("cannot revert {} {}", finding.resource, finding.property))?
        {
            done.push(Reverted {
                resource: finding.resource.clone(),
                property: finding.property,
                action: action.into(),
            });
        }
    }
    Ok(done)
}

/// Puts one setting back as the finding expects it; returns the action taken, None where that is left to a deploy.
async fn revert_one(aws: &Aws, f: &Finding) -> Result<Option<&'static str>> {
    let e = &f.expected;
    let action = match (&f.resource, f.property) {
        (Resource::Bucket(b), "versioning") => bucket::versioning(&aws.s3, b, e).await?,
        // Object Lock cannot be turned off: a bucket that has it where the config does not is left as it is.
        (Resource::Bucket(b), "object_lock") => return bucket::object_lock(&aws.s3, b, e).await,
        (Resource::Key(id), "state") => key::state(&aws.kms, id, &f.actual).await?,
        (Resource::Key(id), "rotation") => key::rotation(&aws.kms, id, e).await?,
        (Resource::Key(id), "policy") => key::policy(&aws.kms, id, e).await?,
        (Resource::Bucket(b), "lifecycle") => bucket::lifecycle(&aws.s3, b, e).await?,
        (Resource::Bucket(b), "encryption") => bucket::encryption(&aws.s3, b, e).await?,
        (Resource::Bucket(b), "public_access_block") => bucket::public_access_block(&aws.s3, b, e).await?,
        (Resource::Bucket(b), "ownership") => bucket::ownership(&aws.s3, b, e).await?,
        (Resource::Bucket(b), "public_grants") => bucket::public_grants(&aws.s3, b).await?,
        (Resource::Bucket(b), "logging") => bucket::logging(&aws.s3, b, e).await?,
        (Resource::Bucket(b), "notifications") => bucket::notifications(&aws.s3, b, e).await?,
        (Resource::Bucket(b), "tags") => bucket::tags(&aws.s3, b, e).await?,
        (Resource::Bucket(b), "policy") => bucket::policy(&aws.s3, b, e).await?,
        (Resource::Role(name), "trust") => iam::trust(&aws.iam, name, e).await?,
        (Resource::Role(name), "attached_policies") => iam::attached_policies(&aws.iam, name, e, &f.actual).await?,
        (Resource::Role(name), "inline_policies") => iam::inline_policies(&aws.iam, name, &f.actual).await?,
        (Resource::Policy(arn), "document") => iam::policy_document(&aws.iam, arn, e).await?,
        // A queue gone since the check is left to a deploy.
        (Resource::Queue(name), "policy") => return queue_topic::queue_policy(aws, name, e).await,
        (Resource::Queue(name), "encryption") => return queue_topic::queue_encryption(aws, name, e).await,
        (Resource::Queue(name), "retention") => return queue_topic::queue_retention(aws, name, e).await,
        (Resource::Queue(name), "redrive") => return queue_topic::queue_redrive(aws, name, e).await,
        (Resource::Topic(arn), "policy") => queue_topic::topic_policy(&aws.sns, arn, e).await?,
        // Attachments of policies to existing roles/users are reverted through the role side or a deploy.
        _ => return Ok(None),
    };
    Ok(Some(action))
}
