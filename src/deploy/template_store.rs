//! How a rendered template travels to CloudFormation: inline (`TemplateBody`) up to 51,200 bytes, else uploaded to
//! a template bucket this tool manages and passed as `TemplateURL` (up to 1 MB). Both limits live here.
//!
//! The template bucket, `provision-templates-<account>-<region>`, is created on first need: private (public access
//! blocked, ACLs disabled), encrypted (SSE-S3), TLS only, objects expiring after [`EXPIRE_AFTER_DAYS`], tagged
//! `managed-by=provision`. S3 names are global, so another account may hold that name: every call on the bucket
//! passes `ExpectedBucketOwner`, and a bucket of another account is an error, never written to.

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use sha2::{Digest, Sha256};

use crate::aws::{Aws, aws_error};
use crate::output::Printer;

/// CloudFormation's limit for a template passed inline (`TemplateBody`), in bytes.
pub const INLINE_LIMIT: usize = 51_200;
/// CloudFormation's limit for a template read from S3 (`TemplateURL`), in bytes.
pub const URL_LIMIT: usize = 1_048_576;
/// Uploaded templates expire after this many days (CloudFormation keeps its own copy of a deployed template).
pub const EXPIRE_AFTER_DAYS: i32 = 30;

/// What `CreateChangeSet` is given: the template body, or the URL of the uploaded template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    Inline(String),
    Url(String),
}

/// How a template of a given size must travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Inline,
    Upload,
}

/// Inline at or under [`INLINE_LIMIT`], uploaded up to [`URL_LIMIT`]; larger is an error saying what to reduce.
pub fn placement(stack: &str, size: usize) -> Result<Placement> {
    if size <= INLINE_LIMIT {
        return Ok(Placement::Inline);
    }
    anyhow::ensure!(
        size <= URL_LIMIT,
        "the rendered template of stack {stack} is {size} bytes, over CloudFormation's limit of {URL_LIMIT} bytes (1 MB) \
         for a template in S3: reduce the env's access entries and notifications (each adds resources and policy \
         statements), e.g. by giving several workloads one entry with several prefixes, or split the env into several"
    );
    Ok(Placement::Upload)
}

/// The template bucket of an account and region (S3 names are global: both are in the name).
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("provision-templates-{account}-{region}")
}

/// Where a template is stored: per stack, by content, so uploading the same template again changes nothing.
pub fn object_key(stack: &str, template: &str) -> String {
    format!("{stack}/{}.yaml", hex::encode(Sha256::digest(template.as_bytes())))
}

/// The template bucket's policy: deny every request not made over TLS 1.2 or later (as the data bucket's).
pub fn bucket_policy(bucket: &str, region: &str) -> String {
    let arn = format!("arn:{}:s3:::{bucket}", crate::names::partition(region).0);
    let resources = serde_json::json!([arn, format!("{arn}/*")]);
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": { "Bool": { "aws:SecureTransport": "false" } }
            },
            {
                "Sid": "DenyOutdatedTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": { "NumericLessThan": { "s3:TlsVersion": "1.2" } }
            }
        ]
    })
    .to_string()
}

/// Resolves how a stack's template reaches CloudFormation, uploading it when it is too large to go inline.
#[derive(Clone)]
pub struct TemplateStore {
    aws: Aws,
    account: String,
    printer: Option<Printer>,
}

impl TemplateStore {
    /// A store in `account` (the credentials' account), reached with `aws` (its S3 client, region and endpoint).
    pub fn new(aws: &Aws, account: &str) -> TemplateStore {
        TemplateStore { aws: aws.clone(), account: account.to_string(), printer: None }
    }

    /// Says on `printer` when a template is uploaded and when the template bucket is created.
    pub fn logging_to(mut self, printer: &Printer) -> TemplateStore {
        self.printer = Some(printer.clone());
        self
    }

    /// The template bucket of this account and region.
    pub fn bucket(&self) -> String {
        bucket_name(&self.account, &self.aws.region)
    }

    fn log(&self, text: String) {
        if let Some(printer) = &self.printer {
            printer.log(text);
        }
    }

    /// The template as `CreateChangeSet` takes it: inline (no S3 call), or uploaded and by URL.
    pub async fn source(&self, stack: &str, template: &str) -> Result<TemplateSource> {
        if placement(stack, template.len())? == Placement::Inline {
            return Ok(TemplateSource::Inline(template.to_string()));
        }
        let bucket = self.bucket();
        let key = object_key(stack, template);
        self.log(format!(
            "the template of stack {stack} is {} bytes, over the {INLINE_LIMIT}-byte inline limit: uploading it to s3://{bucket}/{key}",
            template.len()
        ));
        self.ensure_bucket(&bucket).await?;
        self.aws
            .s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .expected_bucket_owner(&self.account)
            .content_type("application/x-yaml")
            .body(ByteStream::from(template.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| self.owned_elsewhere(&bucket, e, "PutObject"))
            .with_context(|| format!("cannot upload the template of stack {stack} to s3://{bucket}/{key}"))?;
        Ok(TemplateSource::Url(self.aws.object_url(&bucket, &key)))
    }

    /// The template bucket exists in this account afterwards; it is created and configured when missing.
    async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        let head = self.aws.s3.head_bucket().bucket(bucket).expected_bucket_owner(&self.account).send().await;
        let error = match head {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        // HeadBucket answers with a status and no body: 404 missing, 403 another account's (or not allowed).
        match error.raw_response().map(|r| r.status().as_u16()) {
            Some(404) => self.create_bucket(bucket).await,
            Some(403) => Err(anyhow::anyhow!("HeadBucket with ExpectedBucketOwner {}: 403 Forbidden", self.account)
                .context(self.foreign(bucket))),
            Some(301) => Err(anyhow::anyhow!(
                "template bucket {bucket} exists in another region than {}, so it is not this account's template \
                 bucket for that region (its name may be taken by another account)",
                self.aws.region
            )),
            _ => {
                Err(aws_error(error, "HeadBucket")).with_context(|| format!("cannot look up template bucket {bucket}"))
            }
        }
    }

    /// A bucket of that name that this account cannot use as its own.
    fn foreign(&self, bucket: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "template bucket {bucket} exists but is not account {}'s (or these credentials may not use it): \
             templates over {INLINE_LIMIT} bytes are uploaded there, and a bucket owned by another account is never \
             written to; if it is this account's, allow s3:ListBucket and s3:PutObject on it",
            self.account
        )
    }

    /// An S3 error on the template bucket; AccessDenied (the owner check, 403) names the bucket.
    fn owned_elsewhere<E, R>(
        &self,
        bucket: &str,
        error: aws_sdk_s3::error::SdkError<E, R>,
        operation: &str,
    ) -> anyhow::Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        if error.as_service_error().and_then(|e| e.code()) == Some("AccessDenied") {
            return aws_error(error, operation).context(self.foreign(bucket));
        }
        aws_error(error, operation)
    }

    /// Creates the template bucket and makes it private, encrypted, TLS only, self-cleaning and tagged.
    async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let s3 = &self.aws.s3;
        let region = self.aws.region.as_str();
        // us-east-1 takes no location constraint (AWS rejects one naming it).
        let location = (region != "us-east-1").then(|| {
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build()
        });
        match s3.create_bucket().bucket(bucket).set_create_bucket_configuration(location).send().await {
            Ok(_) => self.log(format!(
                "created template bucket {bucket} (private, encrypted, TLS only, templates expire after \
                 {EXPIRE_AFTER_DAYS} days)"
            )),
            // Created meanwhile by another run with this account's credentials: configured below all the same.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_exists()) => {
                return Err(aws_error(e, "CreateBucket").context(self.foreign(bucket)));
            }
            Err(e) => {
                // The bucket does not exist (HeadBucket said so): a denial here is about these credentials.
                return Err(aws_error(e, "CreateBucket"))
                    .with_context(|| format!("cannot create template bucket {bucket}"));
            }
        }
        let owner = self.account.as_str();
        let context = || format!("cannot configure template bucket {bucket}");
        s3.put_public_access_block()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.owned_elsewhere(bucket, e, "PutPublicAccessBlock"))
            .with_context(context)?;
        let ownership =
            OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerEnforced).build()?;
        s3.put_bucket_ownership_controls()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .ownership_controls(OwnershipControls::builder().rules(ownership).build()?)
            .send()
            .await
            .map_err(|e| self.owned_elsewhere(bucket, e, "PutBucketOwnershipControls"))
            .with_context(context)?;
        let sse = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build()?;
        let sse = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(sse).build();
        s3.put_bucket_encryption()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(sse).build()?)
            .send()
            .await
            .map_err(|e| self.owned_elsewhere(bucket, e, "PutBucketEncryption"))
            .with_context(context)?;
        s3.put_bucket_policy()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .policy(bucket_policy(bucket, region))
            .send()
            .await
            .map_err(|e| self.owned_elsewhere(bucket, e, "PutBucketPolicy"))
            .with_context(context)?;
        let rule = LifecycleRule::builder()
            .id("expire-templates")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .expiration(LifecycleExpiration::builder().days(EXPIRE_AFTER_DAYS).build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
            )
            .build()?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build()?)
            .send()
            .await
            .map_err(|e| self.owned_elsewhere(bucket, e, "PutBucketLifecycleConfiguration"))
            .with_context(context)?;
        s3.put_bucket_tagging()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .tagging(
                Tagging::builder()
                    .tag_set(Tag::builder().key(crate::ids::TAG_MANAGED_BY).value(crate::ids::MANAGED_BY).build()?)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| self.owned_elsewhere(bucket, e, "PutBucketTagging"))
            .with_context(context)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aws_config::{BehaviorVersion, SdkConfig};
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
    use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
    use aws_sdk_cloudformation::types::{Change, ChangeAction, ChangeSetStatus, ResourceChange};
    use aws_sdk_s3::operation::create_bucket::CreateBucketOutput;
    use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
    use aws_sdk_s3::operation::put_bucket_encryption::PutBucketEncryptionOutput;
    use aws_sdk_s3::operation::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationOutput;
    use aws_sdk_s3::operation::put_bucket_ownership_controls::PutBucketOwnershipControlsOutput;
    use aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput;
    use aws_sdk_s3::operation::put_bucket_tagging::PutBucketTaggingOutput;
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::operation::put_public_access_block::PutPublicAccessBlockOutput;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    const ACCOUNT: &str = "123456789012";
    const BUCKET: &str = "provision-templates-123456789012-us-west-1";

    fn aws_at(region: &str, endpoint: Option<&str>) -> Aws {
        let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        Aws::from_sdk(sdk, region.to_string(), endpoint.map(str::to_string))
    }

    #[test]
    fn the_inline_limit_is_inclusive_and_the_url_limit_bounds_the_upload() {
        assert_eq!(placement("s", 0).unwrap(), Placement::Inline);
        assert_eq!(placement("s", 51_200).unwrap(), Placement::Inline);
        assert_eq!(placement("s", 51_201).unwrap(), Placement::Upload);
        assert_eq!(placement("s", 1_048_576).unwrap(), Placement::Upload);
        let error = placement("demo-prod", 1_048_577).unwrap_err().to_string();
        assert!(error.contains("demo-prod is 1048577 bytes") && error.contains("1048576 bytes (1 MB)"), "{error}");
        assert!(error.contains("reduce the env's access entries and notifications"), "{error}");
    }

    #[test]
    fn objects_are_keyed_by_stack_and_content() {
        // SHA-256 of the empty string.
        assert_eq!(
            object_key("demo-prod", ""),
            "demo-prod/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.yaml"
        );
        assert_eq!(object_key("a", "x: 1\n"), object_key("a", "x: 1\n"));
        assert_ne!(object_key("a", "x: 1\n"), object_key("a", "x: 2\n"));
        assert_ne!(object_key("a", "x: 1\n"), object_key("b", "x: 1\n"));
    }

    #[test]
    fn the_bucket_is_named_by_account_and_region() {
        assert_eq!(bucket_name(ACCOUNT, "us-west-1"), BUCKET);
        assert_eq!(
            TemplateStore::new(&aws_at("eu-central-1", None), ACCOUNT).bucket(),
            "provision-templates-123456789012-eu-central-1"
        );
    }

    #[test]
    fn urls_are_virtual_hosted_in_the_partition_on_aws_and_path_style_on_an_endpoint() {
        let url = |region: &str, endpoint: Option<&str>| aws_at(region, endpoint).object_url("b", "s/k.yaml");
        assert_eq!(url("us-east-1", None), "https://b.s3.us-east-1.amazonaws.com/s/k.yaml");
        assert_eq!(url("us-west-1", None), "https://b.s3.us-west-1.amazonaws.com/s/k.yaml");
        assert_eq!(url("cn-north-1", None), "https://b.s3.cn-north-1.amazonaws.com.cn/s/k.yaml");
        assert_eq!(url("us-gov-west-1", None), "https://b.s3.us-gov-west-1.amazonaws.com/s/k.yaml");
        assert_eq!(url("us-isob-east-1", None), "https://b.s3.us-isob-east-1.sc2s.sgov.gov/s/k.yaml");
        assert_eq!(url("us-east-1", Some("http://127.0.0.1:4566")), "http://127.0.0.1:4566/b/s/k.yaml");
        assert_eq!(url("us-east-1", Some("https://localhost:4566/")), "https://localhost:4566/b/s/k.yaml");
    }

    #[test]
    fn the_bucket_policy_denies_plain_http_in_the_regions_partition() {
        let policy: serde_json::Value = serde_json::from_str(&bucket_policy("b", "cn-north-1")).unwrap();
        let deny = &policy["Statement"][0];
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(deny["Action"], "s3:*");
        assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(deny["Resource"], serde_json::json!(["arn:aws-cn:s3:::b", "arn:aws-cn:s3:::b/*"]));
        assert_eq!(crate::names::partition("eu-west-1"), ("aws", "amazonaws.com"));
    }

    // ---- Against mock clients: what is sent to S3 and CloudFormation. ----

    /// An env whose template is over the inline limit: 40 access entries and 10 queue notifications.
    fn large_env() -> crate::config::Config {
        let mut src = format!("project: big\nregion: us-west-1\naccount: \"{ACCOUNT}\"\naccess:\n");
        for i in 0..40 {
            let principal = if i % 2 == 0 {
                "{ service: lambda.amazonaws.com }".to_string()
            } else {
                format!("{{ user: big-user-{i:02} }}")
            };
            src.push_str(&format!(
                "  workload-{i:02}:\n    principal: {principal}\n    allow: [write, read, list]\n    prefixes: [data-{i:02}/]\n"
            ));
        }
        src.push_str("notifications:\n");
        for i in 0..10 {
            src.push_str(&format!(
                "  queue-{i:02}:\n    prefix: incoming-{i:02}/\n    suffix: .json\n    target: queue\n"
            ));
        }
        crate::config::parse(&src, Path::new("big.yaml"), "dev", None).unwrap()
    }

    fn status(code: u16) -> Response {
        Response::new(StatusCode::try_from(code).unwrap(), SdkBody::empty())
    }

    /// An S3 error response as AWS sends it.
    fn s3_error(code: u16, error: &str, message: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{error}</Code><Message>{message}</Message>\
             <RequestId>R</RequestId><HostId>H</HostId></Error>"
        );
        Response::new(StatusCode::try_from(code).unwrap(), SdkBody::from(body))
    }

    fn owner_is_checked(owner: Option<&str>) -> bool {
        owner == Some(ACCOUNT)
    }

    /// Rules for creating and configuring the bucket, each matching only with the owner check set.
    fn configuration_rules() -> Vec<Rule> {
        vec![
            mock!(aws_sdk_s3::Client::put_public_access_block)
                .match_requests(|r| {
                    let c = r.public_access_block_configuration();
                    owner_is_checked(r.expected_bucket_owner())
                        && c.is_some_and(|c| {
                            c.block_public_acls() == Some(true)
                                && c.ignore_public_acls() == Some(true)
                                && c.block_public_policy() == Some(true)
                                && c.restrict_public_buckets() == Some(true)
                        })
                })
                .then_output(|| PutPublicAccessBlockOutput::builder().build()),
            mock!(aws_sdk_s3::Client::put_bucket_ownership_controls)
                .match_requests(|r| {
                    owner_is_checked(r.expected_bucket_owner())
                        && r.ownership_controls().is_some_and(|o| {
                            o.rules()
                                .iter()
                                .all(|rule| rule.object_ownership() == &ObjectOwnership::BucketOwnerEnforced)
                        })
                })
                .then_output(|| PutBucketOwnershipControlsOutput::builder().build()),
            mock!(aws_sdk_s3::Client::put_bucket_encryption)
                .match_requests(|r| owner_is_checked(r.expected_bucket_owner()))
                .then_output(|| PutBucketEncryptionOutput::builder().build()),
            mock!(aws_sdk_s3::Client::put_bucket_policy)
                .match_requests(|r| {
                    owner_is_checked(r.expected_bucket_owner())
                        && r.policy().is_some_and(|p| p.contains("\"aws:SecureTransport\":\"false\""))
                })
                .then_output(|| PutBucketPolicyOutput::builder().build()),
            mock!(aws_sdk_s3::Client::put_bucket_lifecycle_configuration)
                .match_requests(|r| {
                    owner_is_checked(r.expected_bucket_owner())
                        && r.lifecycle_configuration().is_some_and(|c| {
                            c.rules().iter().any(|rule| {
                                rule.expiration().and_then(|e| e.days()) == Some(EXPIRE_AFTER_DAYS)
                                    && rule.abort_incomplete_multipart_upload().is_some()
                            })
                        })
                })
                .then_output(|| PutBucketLifecycleConfigurationOutput::builder().build()),
            mock!(aws_sdk_s3::Client::put_bucket_tagging)
                .match_requests(|r| {
                    owner_is_checked(r.expected_bucket_owner())
                        && r.tagging().is_some_and(|t| {
                            t.tag_set().iter().any(|tag| tag.key() == "managed-by" && tag.value() == "provision")
                        })
                })
                .then_output(|| PutBucketTaggingOutput::builder().build()),
        ]
    }

    /// PutObject of the template to the expected bucket and key, with the owner check.
    fn upload_rule(key: String) -> Rule {
        mock!(aws_sdk_s3::Client::put_object)
            .match_requests(move |r| {
                r.bucket() == Some(BUCKET)
                    && r.key() == Some(key.as_str())
                    && owner_is_checked(r.expected_bucket_owner())
            })
            .then_output(|| PutObjectOutput::builder().build())
    }

    fn store(s3: aws_sdk_s3::Client) -> TemplateStore {
        let mut aws = aws_at("us-west-1", None);
        aws.s3 = s3;
        TemplateStore::new(&aws, ACCOUNT)
    }

    fn large_template() -> String {
        format!("Description: {}\n", "x".repeat(INLINE_LIMIT))
    }

    /// A plan of a stack that does not exist yet: CloudFormation answers a change set with one addition.
    fn plan_rules(create_change_set: Rule) -> Vec<Rule> {
        vec![
            mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
                DescribeStacksError::generic(
                    ErrorMetadata::builder()
                        .code("ValidationError")
                        .message("Stack with id big-dev does not exist")
                        .build(),
                )
            }),
            create_change_set,
            mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
                let add = ResourceChange::builder()
                    .logical_resource_id("DataBucket")
                    .resource_type("AWS::S3::Bucket")
                    .action(ChangeAction::Add)
                    .build();
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .changes(Change::builder().resource_change(add).build())
                    .build()
            }),
            mock!(aws_sdk_cloudformation::Client::delete_change_set)
                .then_output(|| DeleteChangeSetOutput::builder().build()),
        ]
    }

    #[tokio::test]
    async fn a_large_template_is_uploaded_and_the_change_set_gets_only_its_url() {
        let config = large_env();
        let rendered = crate::render::render(&config).unwrap();
        assert!(rendered.template.len() > INLINE_LIMIT, "{} bytes", rendered.template.len());
        let key = object_key("big-dev", &rendered.template);
        let url = format!("https://{BUCKET}.s3.us-west-1.amazonaws.com/{key}");

        let head = mock!(aws_sdk_s3::Client::head_bucket)
            .match_requests(|r| r.bucket() == Some(BUCKET) && owner_is_checked(r.expected_bucket_owner()))
            .then_http_response(|| status(404));
        let create = mock!(aws_sdk_s3::Client::create_bucket)
            .match_requests(|r| {
                r.bucket() == Some(BUCKET)
                    && r.create_bucket_configuration().and_then(|c| c.location_constraint())
                        == Some(&BucketLocationConstraint::UsWest1)
            })
            .then_output(|| CreateBucketOutput::builder().build());
        let upload = upload_rule(key);
        let mut s3_rules = vec![head, create, upload.clone()];
        s3_rules.extend(configuration_rules());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &s3_rules);

        let expected = url.clone();
        let create_change_set = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .match_requests(move |r| r.template_body().is_none() && r.template_url() == Some(expected.as_str()))
            .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let cfn_rules = plan_rules(create_change_set.clone());
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &cfn_rules);

        let report = crate::deploy::plan(&cfn, &store(s3), &config, &rendered, false).await.unwrap();
        assert_eq!(report.changes.len(), 1);
        assert_eq!(create_change_set.num_calls(), 1);
        assert_eq!(upload.num_calls(), 1);
        assert!(s3_rules.iter().all(|r| r.num_calls() == 1), "every S3 call once");
    }

    #[tokio::test]
    async fn a_template_at_the_inline_limit_goes_inline_without_any_s3_call() {
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, Vec::<&Rule>::new());
        let template = "x".repeat(INLINE_LIMIT);
        let source = store(s3).source("demo-dev", &template).await.unwrap();
        assert_eq!(source, TemplateSource::Inline(template.clone()));

        let sent = template.clone();
        let create_change_set = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .match_requests(move |r| r.template_url().is_none() && r.template_body() == Some(sent.as_str()))
            .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let cfn_rules = plan_rules(create_change_set.clone());
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &cfn_rules);
        let request = crate::deploy::changeset::Request::new("demo-dev", &source, &[], true);
        crate::deploy::changeset::create(&cfn, &request, std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!(create_change_set.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_bucket_of_another_account_is_never_written_to() {
        // S3 answers HeadBucket with ExpectedBucketOwner naming another account than the bucket's with a bare 403.
        let head = mock!(aws_sdk_s3::Client::head_bucket).then_http_response(|| status(403));
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head]);
        let config = large_env();
        let rendered = crate::render::render(&config).unwrap();
        let create_change_set = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .then_output(|| CreateChangeSetOutput::builder().id("cs-1").build());
        let cfn_rules = plan_rules(create_change_set.clone());
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &cfn_rules);

        let error = crate::deploy::plan(&cfn, &store(s3), &config, &rendered, false).await.unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains(&format!("template bucket {BUCKET} exists but is not account {ACCOUNT}'s")), "{text}");
        assert!(text.contains("never written to"), "{text}");
        // No PutObject (the client has no rule for it: a call would fail the test) and no change set.
        assert_eq!(head.num_calls(), 1);
        assert_eq!(create_change_set.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_name_taken_by_another_account_on_create_is_an_error_naming_the_bucket() {
        let head = mock!(aws_sdk_s3::Client::head_bucket).then_http_response(|| status(404));
        let create = mock!(aws_sdk_s3::Client::create_bucket).then_http_response(|| {
            let message = "The requested bucket name is not available. The bucket namespace is shared by all users \
                               of the system. Please select a different name and try again.";
            s3_error(409, "BucketAlreadyExists", message)
        });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &create]);
        let error = store(s3).source("big-dev", &large_template()).await.unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains(&format!("template bucket {BUCKET} exists but is not account {ACCOUNT}'s")), "{text}");
        assert!(
            text.contains("CreateBucket failed: BucketAlreadyExists: The requested bucket name is not available"),
            "{text}"
        );
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_existing_bucket_of_this_account_is_reused_as_it_is() {
        let template = large_template();
        let head = mock!(aws_sdk_s3::Client::head_bucket)
            .match_requests(|r| owner_is_checked(r.expected_bucket_owner()))
            .then_output(|| HeadBucketOutput::builder().build());
        let upload = upload_rule(object_key("big-dev", &template));
        // No rule for CreateBucket or the settings: calling them would fail the test.
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &upload]);
        let source = store(s3).source("big-dev", &template).await.unwrap();
        let key = object_key("big-dev", &template);
        assert_eq!(source, TemplateSource::Url(format!("https://{BUCKET}.s3.us-west-1.amazonaws.com/{key}")));
        assert_eq!(upload.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_bucket_created_meanwhile_by_this_account_is_configured_and_used() {
        let template = large_template();
        let head = mock!(aws_sdk_s3::Client::head_bucket).then_http_response(|| status(404));
        // us-east-1: no location constraint.
        let create = mock!(aws_sdk_s3::Client::create_bucket)
            .match_requests(|r| r.create_bucket_configuration().is_none())
            .then_http_response(|| {
                let message = "Your previous request to create the named bucket succeeded and you already own it.";
                s3_error(409, "BucketAlreadyOwnedByYou", message)
            });
        let key = object_key("big-dev", &template);
        let upload = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| {
                r.bucket() == Some("provision-templates-123456789012-us-east-1")
                    && owner_is_checked(r.expected_bucket_owner())
            })
            .then_output(|| PutObjectOutput::builder().build());
        let mut rules = vec![head, create, upload.clone()];
        rules.extend(configuration_rules());
        let mut aws = aws_at("us-east-1", Some("http://127.0.0.1:4566"));
        aws.s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &rules);
        let source = TemplateStore::new(&aws, ACCOUNT).source("big-dev", &template).await.unwrap();
        let url = format!("http://127.0.0.1:4566/provision-templates-123456789012-us-east-1/{key}");
        assert_eq!(source, TemplateSource::Url(url));
        assert!(rules.iter().all(|r| r.num_calls() == 1), "created, configured, uploaded");
    }

    #[tokio::test]
    async fn access_denied_on_upload_names_the_bucket() {
        let head = mock!(aws_sdk_s3::Client::head_bucket).then_output(|| HeadBucketOutput::builder().build());
        // What S3 answers a PutObject whose ExpectedBucketOwner is not the bucket's owner.
        let upload =
            mock!(aws_sdk_s3::Client::put_object).then_http_response(|| s3_error(403, "AccessDenied", "Access Denied"));
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &upload]);
        let error = store(s3).source("big-dev", &large_template()).await.unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains(&format!("template bucket {BUCKET} exists but is not account {ACCOUNT}'s")), "{text}");
        assert!(text.contains("PutObject failed: AccessDenied: Access Denied"), "{text}");
    }
}
