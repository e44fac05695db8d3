//! `provision init --from-bucket`: an env file written from what an existing bucket is, so that adopting it changes
//! as little as the schema allows. What the schema cannot say is listed as a warning and as comments in the file.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use aws_sdk_s3::types::{
    BucketVersioningStatus, LifecycleRule, NotificationConfiguration, ServerSideEncryption, TransitionStorageClass,
};

use crate::aws::{Aws, aws_error, none_if_missing};
use crate::live::is_aws_tag;

/// An env file written from a bucket, and what it could not say.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub text: String,
    pub warnings: Vec<String>,
}

/// What was read of the bucket, in the schema's terms.
#[derive(Debug, Default)]
struct Read {
    versioning: bool,
    kms_key: Option<String>,
    lifecycle: Vec<String>,
    access_logs: Option<(String, String)>,
    tags: BTreeMap<String, String>,
    notifications: Vec<String>,
    warnings: Vec<String>,
}

/// Reads bucket `name` (in `aws`'s region and `account`) and writes an env file `env` for it.
pub async fn from_bucket(aws: &Aws, name: &str, env: &str, account: &str) -> Result<EnvFile> {
    exists_here(aws, name, account).await?;
    let mut read = Read::default();
    read_versioning(aws, name, &mut read).await?;
    read_encryption(aws, name, &mut read).await?;
    read_lifecycle(aws, name, &mut read).await?;
    read_logging(aws, name, &mut read).await?;
    read_tags(aws, name, &mut read).await?;
    read_notifications(aws, name, &mut read).await?;
    read_the_rest(aws, name, &mut read).await?;
    Ok(write(name, env, &aws.region, account, read))
}

/// The bucket exists, is this account's, and lives in the asked region.
async fn exists_here(aws: &Aws, name: &str, account: &str) -> Result<()> {
    let head = aws.s3.head_bucket().bucket(name).expected_bucket_owner(account).send().await;
    let Err(error) = head else { return Ok(()) };
    let status = error.raw_response().map(|r| r.status().as_u16());
    match status {
        Some(404) => bail!("there is no bucket {name} (in account {account}): nothing was written"),
        Some(403) => bail!(
            "bucket {name} is not readable with these credentials (AccessDenied: another account's, or no \
             s3:ListBucket on it): nothing was written"
        ),
        Some(301) => {
            let region = error.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).unwrap_or("another");
            bail!(
                "bucket {name} is in region {region}, not {}: pass --region {region}; nothing was written",
                aws.region
            )
        }
        _ => Err(aws_error(error, "HeadBucket")).with_context(|| format!("cannot read bucket {name}")),
    }
}

async fn read_versioning(aws: &Aws, name: &str, read: &mut Read) -> Result<()> {
    let out =
        aws.s3.get_bucket_versioning().bucket(name).send().await.map_err(|e| aws_error(e, "GetBucketVersioning"))?;
    read.versioning = out.status == Some(BucketVersioningStatus::Enabled);
    if out.status == Some(BucketVersioningStatus::Suspended) {
        read.warnings.push("versioning is suspended: the file says `versioning: false`".into());
    }
    Ok(())
}

async fn read_encryption(aws: &Aws, name: &str, read: &mut Read) -> Result<()> {
    let out = none_if_missing(
        aws.s3.get_bucket_encryption().bucket(name).send().await,
        &["ServerSideEncryptionConfigurationNotFoundError"],
        "GetBucketEncryption",
    )?;
    let rule = out.and_then(|o| o.server_side_encryption_configuration).and_then(|c| c.rules.into_iter().next());
    let default = rule.and_then(|r| r.apply_server_side_encryption_by_default);
    match default {
        Some(d) if d.sse_algorithm == ServerSideEncryption::AwsKms => match d.kms_master_key_id {
            Some(key) if key.starts_with("arn:") && key.contains(":key/") => read.kms_key = Some(key),
            key => read.warnings.push(format!(
                "default encryption is SSE-KMS with {}: the schema names a customer key by its key ARN; the file \
                 says SSE-S3 (adopting would change the key for new objects)",
                key.unwrap_or_else(|| "the AWS-managed key aws/s3".into())
            )),
        },
        Some(d) if d.sse_algorithm != ServerSideEncryption::Aes256 => read.warnings.push(format!(
            "default encryption {} has no form in the schema: the file says SSE-S3",
            d.sse_algorithm.as_str()
        )),
        _ => {}
    }
    Ok(())
}

async fn read_lifecycle(aws: &Aws, name: &str, read: &mut Read) -> Result<()> {
    let out = none_if_missing(
        aws.s3.get_bucket_lifecycle_configuration().bucket(name).send().await,
        &["NoSuchLifecycleConfiguration"],
        "GetBucketLifecycleConfiguration",
    )?;
    let rules = out.map(|o| o.rules.unwrap_or_default()).unwrap_or_default();
    let mut bucket_wide = None;
    let mut by_prefix = Vec::new();
    for rule in rules {
        if rule.status.as_str() != "Enabled" {
            read.warnings.push(format!("lifecycle rule {} is disabled: left out", rule.id.clone().unwrap_or_default()));
            continue;
        }
        let prefix = rule_prefix(&rule);
        match prefix {
            Some(p) if p.is_empty() && bucket_wide.is_none() => bucket_wide = Some(rule),
            Some(p) if !p.is_empty() => by_prefix.push((p, rule)),
            _ => read.warnings.push(format!(
                "lifecycle rule {} filters by tag or size, or repeats a bucket-wide rule: the schema cannot say it, \
                 left out (adopting removes it)",
                rule.id.clone().unwrap_or_default()
            )),
        }
    }
    read.lifecycle = lifecycle_lines(bucket_wide.as_ref(), &by_prefix, &mut read.warnings);
    Ok(())
}

/// The prefix a rule applies to (`""`: the whole bucket); None when it filters by anything else.
fn rule_prefix(rule: &LifecycleRule) -> Option<String> {
    #[allow(deprecated)]
    let legacy = rule.prefix.clone();
    match &rule.filter {
        None => Some(legacy.unwrap_or_default()),
        Some(f)
            if f.tag.is_none()
                && f.and.is_none()
                && f.object_size_greater_than.is_none()
                && f.object_size_less_than.is_none() =>
        {
            Some(f.prefix.clone().unwrap_or_default())
        }
        _ => None,
    }
}

/// Days of a rule's transition to `class`, if it has one.
fn transition_days(rule: &LifecycleRule, class: TransitionStorageClass) -> Option<i32> {
    rule.transitions().iter().find(|t| t.storage_class.as_ref() == Some(&class)).and_then(|t| t.days)
}

/// The `lifecycle:` lines: the bucket-wide rule as the top-level settings (the tool's defaults off where the live
/// bucket has none, so adopting adds no rule of its own), the prefix rules under `rules:`.
fn lifecycle_lines(
    wide: Option<&LifecycleRule>,
    by_prefix: &[(String, LifecycleRule)],
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let days = |d: Option<i32>| d.map_or("~".to_string(), |d| d.to_string());
    let mut lines = vec!["  lifecycle:".to_string()];
    let check_classes = |rule: &LifecycleRule, warnings: &mut Vec<String>| {
        let id = rule.id.clone().unwrap_or_default();
        for t in rule.transitions() {
            let class = t.storage_class.as_ref().map(|c| c.as_str()).unwrap_or_default();
            if class != "STANDARD_IA" && class != "GLACIER" {
                warnings.push(format!("lifecycle rule {id} moves objects to {class}: the schema has STANDARD_IA and GLACIER only, left out"));
            }
        }
    };
    match wide {
        Some(rule) => {
            check_classes(rule, warnings);
            lines.push(format!(
                "    infrequent_access_after_days: {}",
                days(transition_days(rule, TransitionStorageClass::StandardIa))
            ));
            lines.push(format!(
                "    glacier_after_days: {}",
                days(transition_days(rule, TransitionStorageClass::Glacier))
            ));
            if let Some(d) = rule.expiration.as_ref().and_then(|e| e.days) {
                lines.push(format!("    expire_after_days: {d}"));
            }
            match &rule.noncurrent_version_expiration {
                Some(e) => {
                    lines.push("    noncurrent_versions:".to_string());
                    lines.push(format!("      expire_after_days: {}", days(e.noncurrent_days)));
                    if let Some(n) = e.newer_noncurrent_versions {
                        lines.push(format!("      keep_newest: {n}"));
                    }
                }
                None => lines.push("    noncurrent_versions: ~".to_string()),
            }
            let abort = rule.abort_incomplete_multipart_upload.as_ref().and_then(|a| a.days_after_initiation);
            lines.push(format!("    abort_incomplete_uploads_after_days: {}", days(abort)));
        }
        None => {
            lines
                .push("    # no bucket-wide rule live: the tool's defaults are off, so adopting adds none".to_string());
            for key in [
                "infrequent_access_after_days",
                "glacier_after_days",
                "noncurrent_versions",
                "abort_incomplete_uploads_after_days",
            ] {
                lines.push(format!("    {key}: ~"));
            }
        }
    }
    if !by_prefix.is_empty() {
        lines.push("    rules:".to_string());
        for (prefix, rule) in by_prefix {
            check_classes(rule, warnings);
            let id = rule.id.clone().unwrap_or_else(|| format!("prefix-{}", prefix.trim_end_matches('/')));
            lines.push(format!("      - id: {}", quoted(&id)));
            lines.push(format!("        prefix: {}", quoted(prefix)));
            if let Some(d) = transition_days(rule, TransitionStorageClass::StandardIa) {
                lines.push(format!("        infrequent_access_after_days: {d}"));
            }
            if let Some(d) = transition_days(rule, TransitionStorageClass::Glacier) {
                lines.push(format!("        glacier_after_days: {d}"));
            }
            if let Some(d) = rule.expiration.as_ref().and_then(|e| e.days) {
                lines.push(format!("        expire_after_days: {d}"));
            }
            if rule.noncurrent_version_expiration.is_some() || !rule.noncurrent_version_transitions().is_empty() {
                warnings.push(format!("lifecycle rule {id} acts on noncurrent versions under {prefix}: the schema says that bucket-wide only, left out"));
            }
        }
    }
    lines
}

async fn read_logging(aws: &Aws, name: &str, read: &mut Read) -> Result<()> {
    let out = aws.s3.get_bucket_logging().bucket(name).send().await.map_err(|e| aws_error(e, "GetBucketLogging"))?;
    if let Some(logging) = out.logging_enabled {
        read.access_logs = Some((logging.target_bucket, logging.target_prefix));
    }
    Ok(())
}

async fn read_tags(aws: &Aws, name: &str, read: &mut Read) -> Result<()> {
    let out =
        none_if_missing(aws.s3.get_bucket_tagging().bucket(name).send().await, &["NoSuchTagSet"], "GetBucketTagging")?;
    for tag in out.map(|o| o.tag_set).unwrap_or_default() {
        if !is_aws_tag(&tag.key) {
            read.tags.insert(tag.key, tag.value);
        }
    }
    Ok(())
}

/// The schema's name of an S3 event type, if it has one.
fn event_name(event: &str) -> Option<&'static str> {
    match event {
        "s3:ObjectCreated:*" => Some("created"),
        "s3:ObjectRemoved:*" => Some("removed"),
        "s3:ObjectRestore:*" => Some("restored"),
        "s3:LifecycleExpiration:*" => Some("expired"),
        "s3:LifecycleTransition" => Some("transitioned"),
        _ => None,
    }
}

async fn read_notifications(aws: &Aws, name: &str, read: &mut Read) -> Result<()> {
    let out = aws
        .s3
        .get_bucket_notification_configuration()
        .bucket(name)
        .send()
        .await
        .map_err(|e| aws_error(e, "GetBucketNotificationConfiguration"))?;
    let config = NotificationConfiguration::builder()
        .set_queue_configurations(out.queue_configurations)
        .set_topic_configurations(out.topic_configurations)
        .set_lambda_function_configurations(out.lambda_function_configurations)
        .set_event_bridge_configuration(out.event_bridge_configuration)
        .build();
    let filter = |rules: Option<&aws_sdk_s3::types::NotificationConfigurationFilter>, which: &str| -> String {
        rules
            .and_then(|f| f.key.as_ref())
            .map(|k| k.filter_rules())
            .unwrap_or_default()
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|n| n.as_str().eq_ignore_ascii_case(which)))
            .and_then(|r| r.value.clone())
            .unwrap_or_default()
    };
    let mut targets: Vec<(String, String, Vec<String>, String, String)> = Vec::new();
    for q in config.queue_configurations() {
        let events = q.events().iter().map(|e| e.as_str().to_string()).collect();
        targets.push((
            "queue_arn".into(),
            q.queue_arn.clone(),
            events,
            filter(q.filter.as_ref(), "prefix"),
            filter(q.filter.as_ref(), "suffix"),
        ));
    }
    for t in config.topic_configurations() {
        let events = t.events().iter().map(|e| e.as_str().to_string()).collect();
        targets.push((
            "topic_arn".into(),
            t.topic_arn.clone(),
            events,
            filter(t.filter.as_ref(), "prefix"),
            filter(t.filter.as_ref(), "suffix"),
        ));
    }
    for l in config.lambda_function_configurations() {
        let events = l.events().iter().map(|e| e.as_str().to_string()).collect();
        targets.push((
            "lambda_arn".into(),
            l.lambda_function_arn.clone(),
            events,
            filter(l.filter.as_ref(), "prefix"),
            filter(l.filter.as_ref(), "suffix"),
        ));
    }
    let mut used = BTreeMap::new();
    for (key, arn, events, prefix, suffix) in targets {
        let known: Vec<&str> = events.iter().filter_map(|e| event_name(e)).collect();
        for unknown in events.iter().filter(|e| event_name(e).is_none()) {
            read.warnings.push(format!("the notification to {arn} listens to {unknown}: the schema has whole event families only (created, removed, ...), left out"));
        }
        if known.is_empty() {
            continue;
        }
        let stem: String = arn
            .rsplit([':', '/'])
            .next()
            .unwrap_or("target")
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let stem = stem.trim_matches('-').to_string();
        let count = used.entry(stem.clone()).or_insert(0);
        *count += 1;
        let name = if *count == 1 { stem } else { format!("{stem}-{count}") };
        let mut lines = vec![format!("  {}:", if name.is_empty() { "target".to_string() } else { name })];
        lines.push(format!("    events: [{}]", known.join(", ")));
        if !prefix.is_empty() {
            lines.push(format!("    prefix: {}", quoted(&prefix)));
        }
        if !suffix.is_empty() {
            lines.push(format!("    suffix: {}", quoted(&suffix)));
        }
        lines.push(format!("    target: {{ {key}: {} }}", quoted(&arn)));
        read.notifications.extend(lines);
    }
    if config.event_bridge_configuration.is_some() {
        read.notifications.push("  eventbridge:".into());
        read.notifications.push("    target: eventbridge".into());
    }
    Ok(())
}

/// What the schema cannot say: warned about, so that nobody adopts the bucket believing it is all in the file.
async fn read_the_rest(aws: &Aws, name: &str, read: &mut Read) -> Result<()> {
    let s3 = &aws.s3;
    if let Some(policy) =
        none_if_missing(s3.get_bucket_policy().bucket(name).send().await, &["NoSuchBucketPolicy"], "GetBucketPolicy")?
    {
        let document: serde_json::Value =
            serde_json::from_str(policy.policy.as_deref().unwrap_or("{}")).unwrap_or_default();
        let statements = match &document["Statement"] {
            serde_json::Value::Array(list) => list.clone(),
            other => vec![other.clone()],
        };
        for s in statements.iter().filter(|s| s["Effect"] != "Deny") {
            read.warnings.push(format!(
                "the bucket policy statement {} allows access the schema cannot say (give the principal an `access` \
                 entry instead): adopting removes it: {s}",
                s["Sid"].as_str().unwrap_or("(no Sid)")
            ));
        }
    }
    let present = [
        (
            "replication",
            none_if_missing(
                s3.get_bucket_replication().bucket(name).send().await,
                &["ReplicationConfigurationNotFoundError"],
                "GetBucketReplication",
            )?
            .is_some(),
        ),
        (
            "CORS",
            none_if_missing(
                s3.get_bucket_cors().bucket(name).send().await,
                &["NoSuchCORSConfiguration"],
                "GetBucketCors",
            )?
            .is_some(),
        ),
        (
            "a website configuration",
            none_if_missing(
                s3.get_bucket_website().bucket(name).send().await,
                &["NoSuchWebsiteConfiguration"],
                "GetBucketWebsite",
            )?
            .is_some(),
        ),
        (
            "Object Lock",
            none_if_missing(
                s3.get_object_lock_configuration().bucket(name).send().await,
                &["ObjectLockConfigurationNotFoundError"],
                "GetObjectLockConfiguration",
            )?
            .is_some_and(|o| o.object_lock_configuration.is_some()),
        ),
        (
            "an inventory",
            s3.list_bucket_inventory_configurations()
                .bucket(name)
                .send()
                .await
                .map(|o| !o.inventory_configuration_list().is_empty())
                .unwrap_or(false),
        ),
    ];
    for (what, _) in present.iter().filter(|(_, here)| *here) {
        read.warnings.push(format!("the bucket has {what}: the schema cannot say it; the tool leaves it as it is"));
    }
    Ok(())
}

/// A YAML scalar that reads back as exactly `text`.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// A project name from the bucket's: its first part that is a valid project name (`call-data` of
/// `call-data-123456789012-us-west-1`), else `adopted`.
fn project_of(bucket: &str, account: &str, region: &str) -> String {
    let stem = bucket.replace('.', "-");
    let stem = stem.trim_end_matches(&format!("-{region}")).trim_end_matches(&format!("-{account}"));
    let mut project: String = stem.chars().take(40).collect();
    while project.ends_with('-') {
        project.pop();
    }
    let valid = project.len() >= 2 && project.as_bytes()[0].is_ascii_lowercase();
    if valid { project } else { "adopted".into() }
}

fn write(name: &str, env: &str, region: &str, account: &str, read: Read) -> EnvFile {
    let mut out = vec![
        format!("# Written by `provision init --from-bucket {name}` from the live bucket; review it, then"),
        format!("# `provision adopt --env {env} --dry-run` shows what adopting the bucket changes on it."),
        format!("project: {}", project_of(name, account, region)),
        format!("region: {region}"),
        format!("account: \"{account}\""),
        "bucket:".into(),
        format!("  name: {}", quoted(name)),
        format!("  versioning: {}", read.versioning),
    ];
    if let Some(key) = &read.kms_key {
        out.push(format!("  encryption: {{ kms_key_arn: {} }}", quoted(key)));
    }
    out.extend(read.lifecycle.iter().cloned());
    if let Some((bucket, prefix)) = &read.access_logs {
        out.push(format!("  access_logs: {{ bucket: {}, prefix: {} }}", quoted(bucket), quoted(prefix)));
    }
    if !read.tags.is_empty() {
        out.push("  tags:".into());
        out.extend(read.tags.iter().map(|(k, v)| format!("    {}: {}", quoted(k), quoted(v))));
    }
    if !read.notifications.is_empty() {
        out.push("notifications:".into());
        out.extend(read.notifications.iter().cloned());
    }
    if !read.warnings.is_empty() {
        out.push("# Live settings the schema cannot say (also printed as warnings):".into());
        out.extend(read.warnings.iter().map(|w| format!("# - {}", w.replace('\n', " "))));
    }
    EnvFile { text: out.join("\n") + "\n", warnings: read.warnings }
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// AWS's HeadBucket answers: 404 no such bucket, 403 another account's (or no access), 301 another region (with
    /// the bucket's region in `x-amz-bucket-region`). Each is an error before anything is written.
    #[tokio::test]
    async fn a_bucket_that_is_missing_unreadable_or_elsewhere_is_an_error() {
        let head = |status: u16, region: Option<&'static str>| {
            mock!(aws_sdk_s3::Client::head_bucket).then_http_response(move || {
                let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
                if let Some(region) = region {
                    response.headers_mut().insert("x-amz-bucket-region", region);
                }
                response
            })
        };
        for (rule, says) in [
            (head(404, None), "there is no bucket b"),
            (head(403, None), "bucket b is not readable with these credentials (AccessDenied"),
            (head(301, Some("us-west-2")), "bucket b is in region us-west-2, not us-east-1: pass --region us-west-2"),
        ] {
            let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
            let mut aws = Aws::from_sdk(sdk, "us-east-1".into(), None);
            aws.s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
            let error = from_bucket(&aws, "b", "prod", "123456789012").await.unwrap_err();
            assert!(format!("{error:#}").contains(says), "{error:#}");
            assert_eq!(rule.num_calls(), 1, "nothing is read past HeadBucket");
        }
    }

    #[test]
    fn the_project_comes_from_the_bucket_name() {
        assert_eq!(project_of("call-data-123456789012-us-west-1", "123456789012", "us-west-1"), "call-data");
        assert_eq!(project_of("exports.analytics", "1", "r"), "exports-analytics");
        assert_eq!(project_of("9lives", "1", "r"), "adopted");
    }

    #[test]
    fn a_written_file_without_a_bucket_wide_rule_turns_the_defaults_off_and_passes_validation() {
        let read = Read {
            versioning: true,
            lifecycle: lifecycle_lines(None, &[], &mut Vec::new()),
            notifications: vec![
                "  theirs:".into(),
                "    events: [created]".into(),
                "    suffix: \".wav\"".into(),
                "    target: { queue_arn: \"arn:aws:sqs:us-west-1:123456789012:theirs\" }".into(),
            ],
            tags: BTreeMap::from([("team".into(), "voice".into())]),
            warnings: vec!["the bucket has CORS: the schema cannot say it; the tool leaves it as it is".into()],
            ..Read::default()
        };
        let file = write("call-archive-123456789012-us-west-1", "prod", "us-west-1", "123456789012", read);
        let config = crate::config::parse(&file.text, std::path::Path::new("prod.yaml"), "prod", None)
            .unwrap_or_else(|e| panic!("{e:?}\n{}", file.text));
        assert_eq!(config.bucket.lifecycle.infrequent_access_after_days, None);
        assert!(config.bucket.lifecycle.noncurrent.is_none());
        assert!(file.text.contains("# - the bucket has CORS"), "{}", file.text);
        let rendered = crate::render::render(&config).unwrap();
        assert_eq!(
            rendered.template_value["Resources"]["DataBucket"]["Properties"]["BucketName"],
            "call-archive-123456789012-us-west-1"
        );
    }
}
