//! Pre-flight: before a change set, look up what the stack would create under a fixed name (the bucket, roles,
//! managed policies, queues, topics, the alias of the bucket's own key) and is not the stack's already. An existing resource is someone's data: a
//! bucket of another account makes the create fail on AWS (S3 names are global); one of this account outside the
//! stack would fail the same way on AWS (and is silently taken over by the local emulator). Either way nothing is
//! changed: the deploy stops before its change set and says what exists and whose it is.

use std::collections::HashSet;
use std::fmt;

use anyhow::Result;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;

use crate::aws::{Aws, aws_error};
use crate::live::desired;
use crate::render::Rendered;

/// Whose an existing resource is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "owner", rename_all = "kebab-case")]
pub enum Owner {
    /// This account, outside the stack; `stack` is the CloudFormation stack that manages it, if one does.
    ThisAccount { stack: Option<String> },
    /// The name is taken by another account (or this account without access to it).
    OtherAccount,
    /// A bucket of that name exists in another region.
    OtherRegion { region: Option<String> },
}

/// A resource the stack would create that exists already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub logical_id: String,
    pub resource_type: String,
    pub name: String,
    #[serde(flatten)]
    pub owner: Owner,
}

impl Conflict {
    /// A bucket name taken elsewhere cannot be had at all: the config must name another bucket.
    pub fn is_taken_elsewhere(&self) -> bool {
        !matches!(self.owner, Owner::ThisAccount { .. })
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}) {}: ", self.logical_id, self.resource_type, self.name)?;
        match &self.owner {
            Owner::ThisAccount { stack: Some(stack) } => write!(
                f,
                "exists in this account, in CloudFormation stack {stack}; to hand it over, set `DeletionPolicy: \
                 Retain` on it in that stack's template, deploy that stack, then remove the resource from the \
                 template and deploy again (the resource stays, outside any stack)"
            ),
            Owner::ThisAccount { stack: None } => write!(f, "exists in this account, outside this stack"),
            Owner::OtherAccount => write!(
                f,
                "the name is taken by another AWS account (S3 bucket names are global): choose another `bucket.name`"
            ),
            Owner::OtherRegion { region } => write!(
                f,
                "a bucket of that name exists in {}: choose another `bucket.name`, or deploy to that region",
                region.as_deref().unwrap_or("another region")
            ),
        }
    }
}

/// The named resources of `rendered` that are not the stack's (`stack` names its resources' physical ids) and
/// exist already, in template order.
pub async fn check(aws: &Aws, rendered: &Rendered, account: &str, stack: Option<&str>) -> Result<Vec<Conflict>> {
    let ours: HashSet<String> = match stack {
        Some(stack) => aws
            .cfn
            .list_stack_resources()
            .stack_name(stack)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error(e, "ListStackResources"))?
            .into_iter()
            .filter_map(|r| r.physical_resource_id)
            .collect(),
        None => HashSet::new(),
    };
    let names = desired::names(&rendered.template_value, account, &aws.region);
    let empty = serde_json::Map::new();
    let resources = rendered.template_value.get("Resources").and_then(Value::as_object).unwrap_or(&empty);
    let mut conflicts = Vec::new();
    for (id, resource) in resources {
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        let (Some(name), Some(arn)) = (names.refs.get(id), names.arns.get(id)) else { continue };
        // A stack knows a queue by its URL, a policy or topic by its ARN, the others by name.
        if ours.contains(name) || ours.contains(arn) || ours.iter().any(|p| p.ends_with(&format!("/{name}"))) {
            continue;
        }
        let owner = match kind {
            "AWS::S3::Bucket" => bucket_owner(aws, name, account).await?,
            "AWS::IAM::Role" => exists(aws.iam.get_role().role_name(name).send().await, &["NoSuchEntity"], "GetRole")?,
            "AWS::IAM::ManagedPolicy" => {
                exists(aws.iam.get_policy().policy_arn(arn).send().await, &["NoSuchEntity"], "GetPolicy")?
            }
            "AWS::SQS::Queue" => exists(
                aws.sqs.get_queue_url().queue_name(name).send().await,
                &["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"],
                "GetQueueUrl",
            )?,
            "AWS::SNS::Topic" => {
                exists(aws.sns.get_topic_attributes().topic_arn(arn).send().await, &["NotFound"], "GetTopicAttributes")?
            }
            // The alias of the bucket's own key (`alias/<stack>`): an alias names one key, and a second is refused.
            "AWS::KMS::Alias" => {
                exists(aws.kms.describe_key().key_id(name).send().await, &["NotFoundException"], "DescribeKey")?
            }
            _ => None,
        };
        if let Some(owner) = owner {
            conflicts.push(Conflict {
                logical_id: id.clone(),
                resource_type: kind.to_string(),
                name: name.clone(),
                owner,
            });
        }
    }
    Ok(conflicts)
}

/// Whether a lookup found the resource (this account's) or `missing` said it does not exist.
fn exists<T, E, R>(
    result: Result<T, aws_sdk_s3::error::SdkError<E, R>>,
    missing: &[&str],
    operation: &str,
) -> Result<Option<Owner>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Ok(crate::aws::none_if_missing(result, missing, operation)?.map(|_| Owner::ThisAccount { stack: None }))
}

/// Who has the bucket `name`: nobody (None), this account (and which stack manages it), another account, or
/// another region. HeadBucket answers 404 for a free name, 403 for a bucket of another account (or one this
/// account may not read), 301 for one in another region; with `ExpectedBucketOwner` a 403 means another owner.
async fn bucket_owner(aws: &Aws, name: &str, account: &str) -> Result<Option<Owner>> {
    let head = aws.s3.head_bucket().bucket(name).expected_bucket_owner(account).send().await;
    let error = match head {
        Ok(_) => {
            let tags = aws.s3.get_bucket_tagging().bucket(name).expected_bucket_owner(account).send().await;
            let stack = tags.ok().and_then(|t| {
                t.tag_set.into_iter().find(|t| t.key == "aws:cloudformation:stack-name").map(|t| t.value)
            });
            return Ok(Some(Owner::ThisAccount { stack }));
        }
        Err(error) => error,
    };
    let status = error.raw_response().map(|r| r.status().as_u16());
    match status {
        Some(404) => Ok(None),
        Some(403) => Ok(Some(Owner::OtherAccount)),
        Some(301) => {
            let region = error.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_string);
            Ok(Some(Owner::OtherRegion { region }))
        }
        _ if error.code() == Some("NotFound") || error.code() == Some("NoSuchBucket") => Ok(None),
        _ => Err(aws_error(error, "HeadBucket")),
    }
}

/// Pre-flight of `config`'s stack: an error (exit 1) when a bucket name is taken by another account or region,
/// the reason to refuse (exit 3) when resources of this account outside the stack are in the way, None when the
/// way is clear. Nothing is changed either way, and no change set is made.
pub async fn verdict(
    aws: &Aws,
    config: &crate::config::Config,
    rendered: &Rendered,
    account: &str,
) -> Result<Option<String>> {
    let name = config.stack_name();
    let stack = crate::stack::describe(&aws.cfn, &name).await?;
    let conflicts = check(aws, rendered, account, stack.as_ref().map(|s| s.id.as_str())).await?;
    let list = |items: &[&Conflict]| items.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n");
    let taken: Vec<&Conflict> = conflicts.iter().filter(|c| c.is_taken_elsewhere()).collect();
    if !taken.is_empty() {
        anyhow::bail!("stack {name} cannot be created as configured: nothing was changed\n{}", list(&taken));
    }
    if conflicts.is_empty() {
        return Ok(None);
    }
    let here: Vec<&Conflict> = conflicts.iter().collect();
    let adoptable =
        conflicts.iter().any(|c| c.resource_type == "AWS::S3::Bucket" && c.owner == Owner::ThisAccount { stack: None });
    let adopt = if adoptable {
        format!(
            "; to take the bucket under this env's stack with its data, run `provision adopt --env {}` \
             (`--dry-run` first shows what changes on it)",
            config.env
        )
    } else {
        String::new()
    };
    Ok(Some(format!(
        "stack {name} would create resources that exist already, so nothing was changed (an existing resource is \
         someone's data: this tool does not take it over):\n{}\nchoose other names (`project`, env, `bucket.name`), \
         or move the existing resources out of the way{adopt}",
        list(&here)
    )))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aws_config::{BehaviorVersion, SdkConfig};
    use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
    use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
    use aws_sdk_s3::types::Tag;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    const ACCOUNT: &str = "123456789012";

    /// A bucket-only env (no access entries or notifications), so only the bucket is looked up.
    fn rendered() -> Rendered {
        let src = "project: demo\nregion: us-west-1\n";
        let config = crate::config::parse(src, Path::new("dev.yaml"), "dev", None).unwrap();
        crate::render::render(&config).unwrap()
    }

    fn aws_with_s3(s3: aws_sdk_s3::Client) -> Aws {
        let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let mut aws = Aws::from_sdk(sdk, "us-west-1".into(), None);
        aws.s3 = s3;
        aws
    }

    fn head_status(status: u16, region: Option<&'static str>) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_s3::Client::head_bucket).then_http_response(move || {
            let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
            if let Some(region) = region {
                response.headers_mut().insert("x-amz-bucket-region", region);
            }
            response
        })
    }

    /// AWS answers HeadBucket with 403 for a bucket of another account (with ExpectedBucketOwner: a bucket whose
    /// owner is not this account) and 301 for one in another region: the name cannot be had, whatever the stack.
    #[tokio::test]
    async fn a_bucket_name_taken_by_another_account_or_region_is_a_conflict_elsewhere() {
        for (rule, owner) in [
            (head_status(403, None), Owner::OtherAccount),
            (head_status(301, Some("eu-west-1")), Owner::OtherRegion { region: Some("eu-west-1".into()) }),
        ] {
            let aws = aws_with_s3(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]));
            let conflicts = check(&aws, &rendered(), ACCOUNT, None).await.unwrap();
            assert_eq!(conflicts.len(), 1, "{conflicts:?}");
            assert_eq!(conflicts[0].name, "demo-dev-123456789012-us-west-1");
            assert_eq!(conflicts[0].owner, owner);
            assert!(conflicts[0].is_taken_elsewhere());
        }
        let free = head_status(404, None);
        let aws = aws_with_s3(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&free]));
        assert_eq!(check(&aws, &rendered(), ACCOUNT, None).await.unwrap(), vec![]);
    }

    /// A bucket of this account that another CloudFormation stack manages (the post-call archive in the team's SAM
    /// stack): named, with how to release it from that stack.
    #[tokio::test]
    async fn a_bucket_of_another_stack_names_the_stack_and_how_to_release_it() {
        let head = mock!(aws_sdk_s3::Client::head_bucket)
            .match_requests(|r| r.expected_bucket_owner() == Some(ACCOUNT))
            .then_output(|| HeadBucketOutput::builder().build());
        let tags = mock!(aws_sdk_s3::Client::get_bucket_tagging).then_output(|| {
            let tag = Tag::builder().key("aws:cloudformation:stack-name").value("sam-app").build().unwrap();
            GetBucketTaggingOutput::builder().tag_set(tag).build().unwrap()
        });
        let aws = aws_with_s3(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &tags]));
        let conflicts = check(&aws, &rendered(), ACCOUNT, None).await.unwrap();
        assert_eq!(conflicts[0].owner, Owner::ThisAccount { stack: Some("sam-app".into()) });
        let text = conflicts[0].to_string();
        assert!(text.contains("in CloudFormation stack sam-app") && text.contains("DeletionPolicy: Retain"), "{text}");
        assert!(!conflicts[0].is_taken_elsewhere());
    }
}
