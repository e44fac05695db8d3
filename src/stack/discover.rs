//! Finding the stacks this tool manages by their tags (never by guessing names), and choosing the ones to collect.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_cloudformation::Client;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::aws_error;
use crate::ids::MANAGED_BY;
use crate::ids::{TAG_CREATED, TAG_ENV, TAG_EXPIRES, TAG_INSTANCE, TAG_MANAGED_BY, TAG_PROJECT};

/// A stack tagged `managed-by=provision`.
#[derive(Debug, Clone, Serialize)]
pub struct Managed {
    pub stack: String,
    #[serde(skip)]
    pub id: String,
    pub env: String,
    pub project: String,
    pub instance: Option<String>,
    pub status: String,
    /// `provision:created`, else the stack's creation time (RFC 3339).
    pub created: Option<String>,
    /// `provision:expires` (RFC 3339).
    pub expires: Option<String>,
    /// The `BucketName` output.
    pub bucket: Option<String>,
    #[serde(skip)]
    pub created_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub expires_at: Option<OffsetDateTime>,
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// The env (and instance) whose stack name `name` is: `<project>-<env>` or `<project>-<env>-<instance>`.
fn leftover_of(name: &str, envs: &[(String, String)]) -> Option<(String, String, Option<String>)> {
    envs.iter().find_map(|(project, env)| {
        let base = format!("{project}-{env}");
        let rest = name.strip_prefix(&base)?;
        let instance = match rest {
            "" => None,
            rest => Some(rest.strip_prefix('-').filter(|i| !i.is_empty())?.to_string()),
        };
        Some((project.clone(), env.clone(), instance))
    })
}

impl Managed {
    /// A managed stack from what DescribeStacks says; None when the stack does not carry this tool's tags.
    pub fn from_parts(
        name: &str,
        id: &str,
        status: &str,
        tags: &BTreeMap<String, String>,
        outputs: &BTreeMap<String, String>,
        stack_created: Option<OffsetDateTime>,
    ) -> Option<Managed> {
        if tags.get(TAG_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY) || status == "DELETE_COMPLETE" {
            return None;
        }
        let created_at = tags.get(TAG_CREATED).and_then(|t| parse_time(t)).or(stack_created);
        Some(Managed {
            stack: name.to_string(),
            id: id.to_string(),
            env: tags.get(TAG_ENV).cloned().unwrap_or_default(),
            project: tags.get(TAG_PROJECT).cloned().unwrap_or_default(),
            instance: tags.get(TAG_INSTANCE).cloned(),
            status: status.to_string(),
            created: created_at.and_then(|t| t.format(&Rfc3339).ok()),
            expires: tags.get(TAG_EXPIRES).cloned(),
            bucket: outputs.get("BucketName").cloned(),
            created_at,
            expires_at: tags.get(TAG_EXPIRES).and_then(|t| parse_time(t)),
        })
    }

    /// How long ago it was created.
    pub fn age(&self, now: OffsetDateTime) -> Option<Duration> {
        self.created_at.map(|c| (now - c).try_into().unwrap_or(Duration::ZERO))
    }

    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// Every stack of the region that carries `managed-by=provision` (DescribeStacks, all pages).
pub async fn managed_stacks(cfn: &Client) -> Result<Vec<Managed>> {
    managed_stacks_and_leftovers(cfn, &[]).await
}

/// [`managed_stacks`], plus the stacks left in review under the stack name of one of `envs` (project, env) or of
/// an instance of it: an empty stack (REVIEW_IN_PROGRESS) that a CREATE change set made and nobody executed, e.g.
/// a deploy killed before it executed. It holds nothing, may carry no tags (AWS need not tag an empty stack), and
/// `teardown` removes it.
pub async fn managed_stacks_and_leftovers(cfn: &Client, envs: &[(String, String)]) -> Result<Vec<Managed>> {
    let mut found = Vec::new();
    let mut stacks = cfn.describe_stacks().into_paginator().items().send();
    while let Some(stack) = stacks.next().await {
        let stack =
            stack.map_err(|e| aws_error(e, "DescribeStacks")).context("cannot list the stacks of the region")?;
        let tags: BTreeMap<String, String> =
            stack.tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value?))).collect();
        let outputs: BTreeMap<String, String> = stack
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| Some((o.output_key?, o.output_value?)))
            .collect();
        let created = stack.creation_time.and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok());
        let status = stack.stack_status.map(|s| s.as_str().to_string()).unwrap_or_default();
        let name = stack.stack_name.unwrap_or_default();
        let id = stack.stack_id.unwrap_or_default();
        if let Some(managed) = Managed::from_parts(&name, &id, &status, &tags, &outputs, created) {
            found.push(managed);
        } else if status == "REVIEW_IN_PROGRESS"
            && let Some((project, env, instance)) = leftover_of(&name, envs)
        {
            found.push(Managed {
                stack: name,
                id,
                env,
                project,
                instance,
                status,
                created: created.and_then(|t| t.format(&Rfc3339).ok()),
                expires: None,
                bucket: None,
                created_at: created,
                expires_at: None,
            });
        }
    }
    found.sort_by(|a, b| (&a.env, &a.instance, &a.stack).cmp(&(&b.env, &b.instance, &b.stack)));
    Ok(found)
}

/// Which instances garbage collection takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// `--expired`: past `provision:expires`.
    Expired,
    /// `--older-than D`: created (`provision:created`) longer than D ago.
    OlderThan(Duration),
}

/// The stacks of `env` (and `project`) that `selection` takes, in listing order.
pub fn select<'a>(
    stacks: &'a [Managed],
    env: &str,
    project: &str,
    selection: Selection,
    now: OffsetDateTime,
) -> Vec<&'a Managed> {
    stacks
        .iter()
        .filter(|s| s.env == env && s.project == project)
        .filter(|s| match selection {
            Selection::Expired => s.expired(now),
            Selection::OlderThan(limit) => s.age(now).is_some_and(|age| age > limit),
        })
        .collect()
}

/// `3d 4h`, `2h 5m`, `12m`, `40s`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// `in 5h 0m`, `expired 2h 3m ago`, or `-` without an expiry.
pub fn expiry_text(expires: Option<OffsetDateTime>, now: OffsetDateTime) -> String {
    match expires {
        None => "-".to_string(),
        Some(e) if e > now => format!("in {}", human((e - now).try_into().unwrap_or(Duration::ZERO))),
        Some(e) => format!("expired {} ago", human((now - e).try_into().unwrap_or(Duration::ZERO))),
    }
}

/// How many objects a bucket holds, when one listing call tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ObjectCount {
    pub count: u32,
    /// More than `count` (the listing was truncated).
    pub more: bool,
}

impl std::fmt::Display for ObjectCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.count, if self.more { "+" } else { "" })
    }
}

/// Current objects of a bucket from one ListObjectsV2 call (up to 1000; `1000+` beyond); None when it cannot tell.
pub async fn object_count(s3: &aws_sdk_s3::Client, bucket: &str) -> Option<ObjectCount> {
    let output = s3
        .list_objects_v2()
        .bucket(bucket)
        .max_keys(1000)
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .ok()?;
    let count = output.key_count().map(|c| c.max(0) as u32).unwrap_or(output.contents().len() as u32);
    Some(ObjectCount { count, more: output.is_truncated().unwrap_or(false) })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn managed(env: &str, instance: &str, created: &str, expires: Option<&str>) -> Managed {
        let mut tags: BTreeMap<String, String> = [
            (TAG_MANAGED_BY, "provision"),
            (TAG_ENV, env),
            (TAG_PROJECT, "call-data"),
            (TAG_INSTANCE, instance),
            (TAG_CREATED, created),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(expires) = expires {
            tags.insert(TAG_EXPIRES.into(), expires.into());
        }
        let outputs = BTreeMap::from([("BucketName".to_string(), format!("b-{instance}"))]);
        Managed::from_parts(&format!("call-data-{env}-{instance}"), "id", "CREATE_COMPLETE", &tags, &outputs, None)
            .unwrap()
    }

    #[test]
    fn only_tagged_live_stacks_are_managed() {
        let tags = BTreeMap::from([(TAG_ENV.to_string(), "test".to_string())]);
        assert!(Managed::from_parts("s", "id", "CREATE_COMPLETE", &tags, &BTreeMap::new(), None).is_none());
        let tags = BTreeMap::from([(TAG_MANAGED_BY.to_string(), "someone-else".to_string())]);
        assert!(Managed::from_parts("s", "id", "CREATE_COMPLETE", &tags, &BTreeMap::new(), None).is_none());
        let tags = BTreeMap::from([(TAG_MANAGED_BY.to_string(), "provision".to_string())]);
        assert!(Managed::from_parts("s", "id", "DELETE_COMPLETE", &tags, &BTreeMap::new(), None).is_none());
        let created = datetime!(2026-01-01 0:00 UTC);
        let m = Managed::from_parts("s", "id", "DELETE_FAILED", &tags, &BTreeMap::new(), Some(created)).unwrap();
        assert_eq!(m.created.as_deref(), Some("2026-01-01T00:00:00Z"), "falls back to the stack's creation time");
        assert_eq!(m.bucket, None);
    }

    #[test]
    fn selects_expired_and_old_instances_of_one_env() {
        let now = datetime!(2026-06-01 12:00 UTC);
        let stacks = [
            managed("test", "old", "2026-05-20T12:00:00Z", Some("2026-05-21T12:00:00Z")),
            managed("test", "fresh", "2026-06-01T11:00:00Z", Some("2026-06-02T11:00:00Z")),
            managed("test", "no-ttl", "2026-05-01T00:00:00Z", None),
            managed("test", "just", "2026-06-01T10:00:00Z", Some("2026-06-01T12:00:00Z")),
            managed("local", "other-env", "2026-05-01T00:00:00Z", Some("2026-05-02T00:00:00Z")),
        ];
        let names = |picked: Vec<&Managed>| picked.iter().map(|m| m.instance.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(select(&stacks, "test", "call-data", Selection::Expired, now)), ["old", "just"]);
        let day = Duration::from_secs(86_400);
        assert_eq!(names(select(&stacks, "test", "call-data", Selection::OlderThan(day), now)), ["old", "no-ttl"]);
        assert!(select(&stacks, "test", "other-project", Selection::Expired, now).is_empty());
    }

    #[test]
    fn ages_and_expiries_read_well() {
        let now = datetime!(2026-06-01 12:00 UTC);
        assert_eq!(human(Duration::from_secs(40)), "40s");
        assert_eq!(human(Duration::from_secs(12 * 60 + 5)), "12m");
        assert_eq!(human(Duration::from_secs(2 * 3600 + 5 * 60)), "2h 5m");
        assert_eq!(human(Duration::from_secs(3 * 86_400 + 4 * 3600 + 59)), "3d 4h");
        assert_eq!(expiry_text(None, now), "-");
        assert_eq!(expiry_text(Some(datetime!(2026-06-01 17:00 UTC)), now), "in 5h 0m");
        assert_eq!(expiry_text(Some(datetime!(2026-06-01 9:57 UTC)), now), "expired 2h 3m ago");
        assert_eq!(ObjectCount { count: 1000, more: true }.to_string(), "1000+");
        assert_eq!(ObjectCount { count: 3, more: false }.to_string(), "3");
    }
}
