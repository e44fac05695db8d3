//! Drift: what differs between an env's config and what is deployed and live, in four layers:
//! stack health, pending template changes, live settings, and CloudFormation's own drift detection.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};
use serde::Serialize;
use serde_json::Value;

use crate::aws::{Aws, aws_error, not_implemented};
use crate::config::Config;
use crate::ids::{TAG_CREATED, TAG_EXPIRES};
use crate::live::{self, Finding as LiveFinding, Reverted};
use crate::render::Rendered;
use crate::stack::status::Health;
use crate::stack::{self, StackInfo, deployed_template};

/// Which check found a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Stack,
    Pending,
    Live,
    Cloudformation,
}

/// One difference, with stable field names (the JSON output's contract, documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub layer: Layer,
    pub resource: String,
    pub property: String,
    pub expected: Value,
    pub actual: Value,
    pub detail: Option<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layer =
            serde_json::to_value(self.layer).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        write!(f, "[{layer}] {} {}", self.resource, self.property)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => write!(f, ": expected {}, actual {}", self.expected, self.actual),
        }
    }
}

/// The drift report of one env.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub env: String,
    pub stack: String,
    pub findings: Vec<Finding>,
    /// Things worth knowing that are not differences (e.g. a layer the endpoint does not support).
    pub notes: Vec<String>,
    #[serde(skip)]
    pub live: Vec<LiveFinding>,
    /// The stack's tags, which CloudFormation propagated onto the resources (expected there by the live layer).
    #[serde(skip)]
    pub stack_tags: BTreeMap<String, String>,
    /// The deployed parameter values (the principal that deployed the stack), which the live settings name.
    #[serde(skip)]
    pub stack_parameters: BTreeMap<String, String>,
    pub pending: bool,
}

impl Report {
    pub fn in_sync(&self) -> bool {
        self.findings.is_empty()
    }
}

fn from_live(f: &LiveFinding) -> Finding {
    Finding {
        layer: Layer::Live,
        resource: f.resource.to_string(),
        property: f.property.to_string(),
        expected: f.expected.clone(),
        actual: f.actual.clone(),
        detail: f.detail.clone().or_else(|| (f.status == live::Status::Missing).then(|| "missing".to_string())),
    }
}

/// Tags compared for pending changes: creation time and expiry are bookkeeping, not config.
fn config_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter().filter(|(k, _)| *k != TAG_CREATED && *k != TAG_EXPIRES).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A unified diff of two templates, normalised (parsed and pretty-printed with sorted keys).
pub fn template_diff(deployed: &Value, rendered: &Value) -> String {
    let pretty = |v: &Value| {
        let sorted: Value = serde_json::from_str(&serde_json::to_string(v).unwrap_or_default()).unwrap_or_default();
        serde_yaml::to_string(&sort_keys(&sorted)).unwrap_or_default()
    };
    let (a, b) = (pretty(deployed), pretty(rendered));
    similar::TextDiff::from_lines(&a, &b).unified_diff().context_radius(2).header("deployed", "config").to_string()
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// Checks one env. Errors (credentials, missing stack, API failures) are returned as errors, not findings.
pub async fn check(aws: &Aws, config: &Config, rendered: &Rendered, account: &str) -> Result<Report> {
    let name = config.stack_name();
    let Some(stack) = stack::describe(&aws.cfn, &name).await? else {
        anyhow::bail!("stack {name} does not exist (deploy it with `provision --env {}`)", config.env);
    };
    let mut report = Report {
        env: config.env.clone(),
        stack: name,
        findings: Vec::new(),
        notes: Vec::new(),
        live: Vec::new(),
        stack_tags: stack.tags.clone(),
        stack_parameters: stack.parameters.clone(),
        pending: false,
    };
    // The live settings name the principal that deployed the stack (its parameters), not whoever checks it.
    let rendered = &rendered.with_parameters(&stack.parameters);
    let mut cloudformation_layer = report.clone();
    stack_health(&stack, &mut report);
    // The layers only read, so they run at once: an env costs its slowest layer, not the sum of them.
    let (pending, live, ()) = tokio::try_join!(
        pending(aws, config, rendered, &stack),
        live::check(aws, rendered, account, &stack.tags),
        cloudformation_drift(&aws.cfn, &stack.name, &mut cloudformation_layer),
    )?;
    report.pending = !pending.is_empty();
    report.findings.extend(pending);
    report.findings.extend(live.iter().filter(|f| !f.ok()).map(from_live));
    report.live = live;
    report.findings.extend(cloudformation_layer.findings);
    report.notes.extend(cloudformation_layer.notes);
    Ok(report)
}

fn stack_health(stack: &StackInfo, report: &mut Report) {
    if stack.health != Health::Ready {
        report.findings.push(Finding {
            layer: Layer::Stack,
            resource: format!("stack {}", stack.name),
            property: "status".into(),
            expected: Value::String("CREATE_COMPLETE or UPDATE_COMPLETE".into()),
            actual: Value::String(stack.status.clone()),
            detail: Some(format!("the stack is {}", stack.status)),
        });
    }
}

/// The pending layer: what differs between the deployed stack and what the config renders.
async fn pending(aws: &Aws, config: &Config, rendered: &Rendered, stack: &StackInfo) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let body = deployed_template(&aws.cfn, &stack.name).await?;
    let deployed: Value = serde_yaml::from_str(&body).unwrap_or(Value::Null);
    if deployed != rendered.template_value {
        findings.push(Finding {
            layer: Layer::Pending,
            resource: format!("stack {}", stack.name),
            property: "template".into(),
            expected: Value::Null,
            actual: Value::Null,
            detail: Some(format!(
                "the config changed but was not deployed:\n{}",
                template_diff(&deployed, &rendered.template_value)
            )),
        });
    }
    let wanted = config_tags(&config.stack_tags());
    let actual = config_tags(&stack.tags);
    if wanted != actual {
        findings.push(Finding {
            layer: Layer::Pending,
            resource: format!("stack {}", stack.name),
            property: "tags".into(),
            expected: serde_json::to_value(&wanted)?,
            actual: serde_json::to_value(&actual)?,
            detail: None,
        });
    }
    Ok(findings)
}

/// CloudFormation's own drift detection: started, polled, merged; skipped with a note where not implemented.
pub async fn cloudformation_drift(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    report: &mut Report,
) -> Result<()> {
    let detection = match cfn.detect_stack_drift().stack_name(stack).send().await {
        Ok(out) => out.stack_drift_detection_id,
        Err(e) if not_implemented(&e) => {
            report.notes.push("CloudFormation drift detection is not implemented by this endpoint; skipped".into());
            return Ok(());
        }
        Err(e) => return Err(aws_error(e, "DetectStackDrift")),
    };
    let Some(id) = detection else { return Ok(()) };
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        let status = cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&id)
            .send()
            .await
            .map_err(|e| aws_error(e, "DescribeStackDriftDetectionStatus"))?;
        match status.detection_status {
            Some(StackDriftDetectionStatus::DetectionComplete) => break,
            Some(StackDriftDetectionStatus::DetectionFailed) => {
                report.notes.push(format!(
                    "CloudFormation drift detection failed: {}",
                    status.detection_status_reason.unwrap_or_default()
                ));
                break;
            }
            _ if started.elapsed() > Duration::from_secs(120) => {
                report.notes.push("CloudFormation drift detection did not finish within 120 s; skipped".into());
                return Ok(());
            }
            _ => tokio::time::sleep(delay).await,
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    let mut pages = cfn
        .describe_stack_resource_drifts()
        .stack_name(stack)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error(e, "DescribeStackResourceDrifts"))?;
        for drift in page.stack_resource_drifts.unwrap_or_default() {
            let status = drift.stack_resource_drift_status.map(|s| s.as_str().to_string()).unwrap_or_default();
            let resource = format!(
                "{} ({})",
                drift.logical_resource_id.unwrap_or_default(),
                drift.resource_type.unwrap_or_default()
            );
            let differences = drift.property_differences.unwrap_or_default();
            if differences.is_empty() {
                report.findings.push(Finding {
                    layer: Layer::Cloudformation,
                    resource: resource.clone(),
                    property: "resource".into(),
                    expected: Value::Null,
                    actual: Value::Null,
                    detail: Some(status.to_lowercase()),
                });
            }
            for d in differences {
                report.findings.push(Finding {
                    layer: Layer::Cloudformation,
                    resource: resource.clone(),
                    property: d.property_path.unwrap_or_default(),
                    expected: Value::String(d.expected_value.unwrap_or_default()),
                    actual: Value::String(d.actual_value.unwrap_or_default()),
                    detail: d.difference_type.map(|t| t.as_str().to_lowercase()),
                });
            }
        }
    }
    Ok(())
}

/// Reverts live drift directly, then checks again. Returns what was changed and the fresh live findings.
pub async fn revert_live(
    aws: &Aws,
    rendered: &Rendered,
    account: &str,
    report: &Report,
) -> Result<(Vec<Reverted>, Vec<LiveFinding>)> {
    let reverted = live::revert(aws, &report.live).await?;
    let rendered = rendered.with_parameters(&report.stack_parameters);
    let after = live::check(aws, &rendered, account, &report.stack_tags).await?;
    Ok((reverted, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_diff_ignores_key_order() {
        let a = json!({"Resources": {"B": {"Type": "x"}, "A": {"Type": "y"}}});
        let b = json!({"Resources": {"A": {"Type": "y"}, "B": {"Type": "x"}}});
        assert_eq!(template_diff(&a, &b), "");
        let c = json!({"Resources": {"A": {"Type": "z"}, "B": {"Type": "x"}}});
        let diff = template_diff(&a, &c);
        assert!(diff.contains("-    Type: y") && diff.contains("+    Type: z"), "{diff}");
    }

    #[test]
    fn bookkeeping_tags_are_not_config() {
        let tags = BTreeMap::from([
            ("provision:env".to_string(), "x".to_string()),
            (TAG_CREATED.to_string(), "t".to_string()),
            (TAG_EXPIRES.to_string(), "u".to_string()),
        ]);
        assert_eq!(config_tags(&tags).len(), 1);
    }
}
