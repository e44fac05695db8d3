//! Change sets: create, wait, describe, judge (data guard), delete.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};
use serde::Serialize;

use crate::aws::aws_error;
use crate::deploy::template_store::TemplateSource;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// One resource change, as shown to the user and judged by the data guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub logical_id: String,
    pub resource_type: String,
    /// Add, Modify, Remove, Import, Dynamic.
    pub action: String,
    /// True, False or Conditional (for Modify).
    pub replacement: Option<String>,
    /// The properties that change (from the change's details).
    pub properties: Vec<String>,
    /// What changes inside the resource, from the deployed template to the rendered one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<super::diff::PropertyChange>,
}

impl Change {
    /// The change's header line, then one indented line per changed value.
    pub fn lines(&self) -> Vec<String> {
        std::iter::once(self.to_string()).chain(self.values.iter().map(|v| format!("      {v}"))).collect()
    }

    pub fn replaces(&self) -> bool {
        matches!(self.replacement.as_deref(), Some("True" | "Conditional"))
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = match self.action.as_str() {
            "Add" => "+",
            "Remove" => "-",
            "Import" => "=",
            _ => "~",
        };
        write!(f, "{sign} {:<7} {} ({})", self.action, self.logical_id, self.resource_type)?;
        match self.replacement.as_deref() {
            Some("True") => write!(f, "  REPLACED")?,
            Some("Conditional") => write!(f, "  may be REPLACED")?,
            _ => {}
        }
        if !self.properties.is_empty() {
            write!(f, "  [{}]", self.properties.join(", "))?;
        }
        Ok(())
    }
}

/// A created change set, or the news that there is nothing to change.
#[derive(Debug, Clone)]
pub enum Planned {
    NoChanges,
    /// `review_stack`: for a CREATE change set, the id of the empty stack (REVIEW_IN_PROGRESS) it made, which is
    /// this run's to delete if the create is abandoned.
    Changes {
        id: String,
        review_stack: Option<String>,
        changes: Vec<Change>,
    },
}

/// CloudFormation's two phrasings for an empty change set.
pub fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub struct Request<'a> {
    pub stack: &'a str,
    /// The template body, or the URL of the uploaded template (see [`crate::deploy::template_store`]).
    pub template: &'a TemplateSource,
    pub tags: &'a [(String, String)],
    pub create: bool,
    /// Import the template's existing resources that have a literal name and a retaining DeletionPolicy, instead
    /// of failing on them (`provision adopt`).
    pub import_existing: bool,
    /// The change set's name, unique to this run: how the run recognises its own change set (and review stack).
    pub change_set: String,
    /// Values of the template's parameters (the deploying principal's ARN, where the template names it).
    pub parameters: Vec<(String, String)>,
}

impl<'a> Request<'a> {
    pub fn new(stack: &'a str, template: &'a TemplateSource, tags: &'a [(String, String)], create: bool) -> Self {
        let millis = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let change_set = format!("provision-{millis}-{:x}", std::process::id());
        Request { stack, template, tags, create, import_existing: false, change_set, parameters: Vec::new() }
    }
}

/// Creates a change set and waits until CloudFormation has computed it.
pub async fn create(cfn: &Client, request: &Request<'_>, timeout: Duration) -> Result<Planned> {
    let name = request.change_set.clone();
    // Exactly one of the two: CloudFormation rejects a request with both.
    let (body, url) = match request.template {
        TemplateSource::Inline(body) => (Some(body.clone()), None),
        TemplateSource::Url(url) => (None, Some(url.clone())),
    };
    let created = cfn
        .create_change_set()
        .stack_name(request.stack)
        .change_set_name(&name)
        .change_set_type(if request.create { ChangeSetType::Create } else { ChangeSetType::Update })
        .set_template_body(body)
        .set_template_url(url)
        .capabilities(Capability::CapabilityNamedIam)
        .set_import_existing_resources(request.import_existing.then_some(true))
        .set_parameters((!request.parameters.is_empty()).then(|| {
            let parameter =
                |(k, v): &(String, String)| Parameter::builder().parameter_key(k).parameter_value(v).build();
            request.parameters.iter().map(parameter).collect()
        }))
        .set_tags(Some(request.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .description("created by provision")
        .send()
        .await;
    let created = match created {
        Ok(created) => created,
        // A CREATE change set for a stack that exists by now: another run created it between our look and ours.
        Err(e) if request.create && already_exists(&e) => anyhow::bail!(
            "another run is deploying stack {} at the same time (it created the stack first); \
             run again when it has finished",
            request.stack
        ),
        Err(e) => {
            return Err(aws_error(e, "CreateChangeSet"))
                .with_context(|| format!("cannot create a change set for stack {}", request.stack));
        }
    };
    let id = created.id.unwrap_or(name);
    let review_stack = if request.create { created.stack_id } else { None };
    let planned = wait_and_describe(cfn, request, &id, review_stack.clone(), timeout).await;
    if let (Err(_), Some(stack)) = (&planned, &review_stack) {
        discard_review_stack(cfn, stack).await;
    }
    planned
}

/// Whether CreateChangeSet failed because the stack exists already.
fn already_exists<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("AlreadyExistsException")
        || (error.code() == Some("ValidationError") && error.message().is_some_and(|m| m.contains("already exists")))
}

/// Deletes the empty stack this run's CREATE change set `change_set` made, if that change set got that far.
pub async fn discard_own_review_stack(cfn: &Client, stack: &str, change_set: &str) {
    let described = cfn.describe_change_set().stack_name(stack).change_set_name(change_set).send().await;
    if let Some(stack_id) = described.ok().and_then(|d| d.stack_id) {
        discard_review_stack(cfn, &stack_id).await;
    }
}

/// Deletes the empty stack a CREATE change set made (by its id, so never a stack another run made under the same
/// name), if it is still in review. Best effort: it holds nothing, and the next deploy recovers it anyway.
pub async fn discard_review_stack(cfn: &Client, stack_id: &str) {
    let described = cfn.describe_stacks().stack_name(stack_id).send().await;
    let in_review = described.ok().and_then(|d| d.stacks?.into_iter().next()?.stack_status)
        == Some(aws_sdk_cloudformation::types::StackStatus::ReviewInProgress);
    if in_review {
        let _ = cfn.delete_stack().stack_name(stack_id).send().await;
    }
}

async fn wait_and_describe(
    cfn: &Client,
    request: &Request<'_>,
    id: &str,
    review_stack: Option<String>,
    timeout: Duration,
) -> Result<Planned> {
    let id = id.to_string();

    // Not the SDK's `wait_until_change_set_create_complete`: its model fixes the first delay at 30 s (up to 120 s),
    // which would add up to half a minute to every deploy whose change set takes a few seconds, and it treats the
    // "no changes" FAILED status as an error to pick apart. This loop polls at 100 ms, backing off to 1 s.
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let described = cfn
            .describe_change_set()
            .change_set_name(&id)
            .stack_name(request.stack)
            .send()
            .await
            .map_err(|e| aws_error(e, "DescribeChangeSet"))?;
        match described.status {
            Some(ChangeSetStatus::CreateComplete) => break,
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason.unwrap_or_default();
                if means_no_changes(&reason) {
                    delete(cfn, request.stack, &id).await;
                    return Ok(Planned::NoChanges);
                }
                delete(cfn, request.stack, &id).await;
                anyhow::bail!("the change set for stack {} failed: {reason}", request.stack);
            }
            _ => {}
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "the change set for stack {} was not ready after {}s",
            request.stack,
            timeout.as_secs()
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    let changes = describe(cfn, request.stack, &id).await?;
    if changes.is_empty() {
        delete(cfn, request.stack, &id).await;
        return Ok(Planned::NoChanges);
    }
    Ok(Planned::Changes { id, review_stack, changes })
}

/// Every change of a change set, across pages.
pub async fn describe(cfn: &Client, stack: &str, id: &str) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let mut pages = cfn.describe_change_set().change_set_name(id).stack_name(stack).into_paginator().items().send();
    while let Some(change) = pages.next().await {
        let change = change.map_err(|e| aws_error(e, "DescribeChangeSet"))?;
        let Some(rc) = change.resource_change else { continue };
        let mut properties: Vec<String> =
            rc.details.unwrap_or_default().into_iter().filter_map(|d| d.target.and_then(|t| t.name)).collect();
        properties.sort();
        properties.dedup();
        changes.push(Change {
            logical_id: rc.logical_resource_id.unwrap_or_default(),
            resource_type: rc.resource_type.unwrap_or_default(),
            action: rc.action.map(|a| a.as_str().to_string()).unwrap_or_default(),
            replacement: rc.replacement.map(|r| r.as_str().to_string()),
            properties,
            values: Vec::new(),
        });
    }
    Ok(changes)
}

/// The newest change set of `stack` that can still be executed (being created, or created and available) and was
/// made less than `grace` ago, with its age: the sign that another run is working on the stack.
pub async fn fresh_change_set(cfn: &Client, stack: &str, grace: Duration) -> Result<Option<(String, Duration)>> {
    use aws_sdk_cloudformation::types::ExecutionStatus;
    let summaries: Vec<_> = cfn
        .list_change_sets()
        .stack_name(stack)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| aws_error(e, "ListChangeSets"))?;
    let now = std::time::SystemTime::now();
    let fresh = summaries
        .into_iter()
        .filter(|c| {
            matches!(c.status, Some(ChangeSetStatus::CreatePending | ChangeSetStatus::CreateInProgress))
                || (c.status == Some(ChangeSetStatus::CreateComplete)
                    && matches!(
                        c.execution_status,
                        Some(ExecutionStatus::Available | ExecutionStatus::ExecuteInProgress)
                    ))
        })
        .filter_map(|c| {
            let created = std::time::SystemTime::try_from(c.creation_time?).ok()?;
            let age = now.duration_since(created).unwrap_or_default();
            (age < grace).then(|| (c.change_set_name.unwrap_or_default(), age))
        })
        .min_by_key(|(_, age)| *age);
    Ok(fresh)
}

/// Deletes a change set; failure to clean up is not worth failing the command for.
pub async fn delete(cfn: &Client, stack: &str, id: &str) {
    let _ = cfn.delete_change_set().change_set_name(id).stack_name(stack).send().await;
}

/// The changes that would lose data: the data bucket removed or replaced.
pub fn data_loss(changes: &[Change]) -> Vec<&Change> {
    changes
        .iter()
        .filter(|c| c.logical_id == crate::ids::BUCKET_ID || c.resource_type == "AWS::S3::Bucket")
        .filter(|c| c.action == "Remove" || (c.action == "Modify" && c.replaces()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, action: &str, replacement: Option<&str>) -> Change {
        Change {
            logical_id: id.into(),
            resource_type: if id == "DataBucket" { "AWS::S3::Bucket" } else { "AWS::IAM::Role" }.into(),
            action: action.into(),
            replacement: replacement.map(str::to_string),
            properties: vec![],
            values: vec![],
        }
    }

    #[test]
    fn guard_flags_bucket_replacement_and_removal_only() {
        let changes = [
            change("DataBucket", "Modify", Some("True")),
            change("WriterRole", "Modify", Some("True")),
            change("DataBucket", "Modify", Some("False")),
        ];
        assert_eq!(data_loss(&changes), vec![&changes[0]]);
        assert_eq!(data_loss(&[change("DataBucket", "Remove", None)]).len(), 1);
        assert_eq!(data_loss(&[change("DataBucket", "Modify", Some("Conditional"))]).len(), 1);
    }

    #[test]
    fn both_no_change_phrasings() {
        assert!(means_no_changes(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(means_no_changes("No updates are to be performed."));
        assert!(!means_no_changes("Template format error"));
    }

    #[test]
    fn readable_change_lines() {
        assert_eq!(
            change("DataBucket", "Modify", Some("True")).to_string(),
            "~ Modify  DataBucket (AWS::S3::Bucket)  REPLACED"
        );
        assert_eq!(change("WriterRole", "Add", None).to_string(), "+ Add     WriterRole (AWS::IAM::Role)");
    }
}
