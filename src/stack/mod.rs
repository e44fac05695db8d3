//! Stacks as CloudFormation holds them, below every command that reads one: a stack's description, its deployed
//! template and resources, what its status means ([`status`]), and the stacks this tool manages ([`discover`]).

pub mod discover;
pub mod status;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::StackStatus;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;

use crate::aws::aws_error;
use status::Health;

/// The deployed stack as the tool needs it.
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    /// `status`, typed: what the tool decides on.
    #[serde(skip)]
    pub stack_status: StackStatus,
    pub health: Health,
    pub tags: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    /// The deployed parameter values (the deploying principal's ARN, where the template names it).
    pub parameters: BTreeMap<String, String>,
    pub termination_protection: bool,
    pub created: Option<String>,
}

/// Describes a stack by name; None when it does not exist.
pub async fn describe(cfn: &Client, name: &str) -> Result<Option<StackInfo>> {
    let result = cfn.describe_stacks().stack_name(name).send().await;
    let stacks = match result {
        Ok(output) => output.stacks.unwrap_or_default(),
        Err(e) => {
            let missing = e.as_service_error().is_some_and(|s| {
                s.code() == Some("ValidationError") && s.message().is_some_and(|m| m.contains("does not exist"))
            });
            if missing {
                return Ok(None);
            }
            return Err(aws_error(e, "DescribeStacks")).with_context(|| format!("cannot look up stack {name}"));
        }
    };
    let Some(stack) = stacks.into_iter().next() else { return Ok(None) };
    let stack_status = stack.stack_status.unwrap_or_else(|| StackStatus::from(""));
    Ok(Some(StackInfo {
        id: stack.stack_id.unwrap_or_default(),
        name: stack.stack_name.unwrap_or_else(|| name.to_string()),
        health: Health::of(&stack_status),
        status: stack_status.as_str().to_string(),
        stack_status,
        tags: stack.tags.unwrap_or_default().into_iter().filter_map(|t| Some((t.key?, t.value?))).collect(),
        outputs: stack
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| Some((o.output_key?, o.output_value?)))
            .collect(),
        parameters: stack
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| Some((p.parameter_key?, p.parameter_value?)))
            .collect(),
        termination_protection: stack.enable_termination_protection.unwrap_or(false),
        created: stack.creation_time.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
    }))
}

/// A deployed template body (JSON or YAML) as a value; Null when it is neither (then it differs from any render).
pub fn parse_template(body: &str) -> Value {
    serde_yaml::from_str(body).unwrap_or(Value::Null)
}

/// The deployed template body, as submitted.
pub async fn deployed_template(cfn: &Client, stack: &str) -> Result<String> {
    let output = cfn
        .get_template()
        .stack_name(stack)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .map_err(|e| aws_error(e, "GetTemplate"))?;
    Ok(output.template_body.unwrap_or_default())
}

/// A resource of the stack, as ListStackResources reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    pub status: String,
    pub reason: Option<String>,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "- {} ({}): {}", self.logical_id, self.resource_type, self.status)?;
        if let Some(reason) = self.reason.as_deref().filter(|r| !r.is_empty()) {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// Every resource of a stack (all pages).
pub async fn resources(cfn: &Client, stack: &str) -> Result<Vec<Resource>> {
    let summaries: Vec<_> = cfn
        .list_stack_resources()
        .stack_name(stack)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| aws_error(e, "ListStackResources"))
        .with_context(|| format!("cannot list the resources of stack {stack}"))?;
    Ok(summaries
        .into_iter()
        .map(|r| Resource {
            logical_id: r.logical_resource_id.unwrap_or_default(),
            resource_type: r.resource_type.unwrap_or_default(),
            physical_id: r.physical_resource_id.filter(|p| !p.is_empty()),
            status: r.resource_status.map(|s| s.as_str().to_string()).unwrap_or_default(),
            reason: r.resource_status_reason,
        })
        .collect())
}
