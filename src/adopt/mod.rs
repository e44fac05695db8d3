//! `provision adopt`: an existing bucket, made by hand and full of data, taken under the env's stack without losing
//! an object, a setting a client relies on unseen, or an event unannounced.
//!
//! The plan compares the live bucket with the config (the comparison drift's live layer makes) and groups what
//! would change by risk ([`risk`]). Adoption then goes through CloudFormation's import of existing resources
//! (`ImportExistingResources` on the change set: the bucket has a literal name and a retaining DeletionPolicy, so
//! CloudFormation takes it over instead of failing on its name) while the rest of the stack is created. An import
//! does not change the resource, so the settings that still differ are then put right by the live revert path and
//! checked again: afterwards `drift` says in sync. Objects and versions are never touched.

pub mod risk;

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::aws::Aws;
use crate::config::Config;
use crate::deploy::preflight::{self, Owner};
use crate::deploy::template_store::TemplateStore;
use crate::deploy::{self, Options};
use crate::ids::BUCKET_ID;
use crate::live::{self, Finding, Resource};
use crate::output::{Printer, refuse};
use crate::render::Rendered;
pub use risk::{Change, Risk};

/// What adopting the env's bucket would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub env: String,
    pub stack: String,
    pub bucket: String,
    /// The bucket is the stack's already: nothing to adopt.
    pub adopted: bool,
    /// What changes on the live bucket, risky first.
    pub changes: Vec<Change>,
    /// The kinds of risk among the changes.
    pub risks: Vec<Risk>,
    /// The other resources the stack creates beside the adopted bucket: `LogicalId (Type)`.
    pub creates: Vec<String>,
}

impl Plan {
    pub fn risky(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.risk.is_some())
    }

    pub fn harmless(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.risk.is_none())
    }
}

/// The bucket's name as the template writes it: CloudFormation imports a resource only by a literal name.
fn literal_bucket_name(config: &Config, rendered: &Rendered) -> Result<String> {
    let name = &rendered.template_value["Resources"][BUCKET_ID]["Properties"]["BucketName"];
    match name.as_str() {
        Some(name) => Ok(name.to_string()),
        None => bail!(
            "env {}'s bucket name is a pattern ({}): CloudFormation imports a bucket only by a name written out in \
             the template; write it out in the env file (`bucket: {{ name: <the bucket's name> }}`, as `provision \
             init --from-bucket` does)",
            config.env,
            name
        ),
    }
}

/// The adoption plan of `config`'s env: reads the stack, the bucket and its settings; changes nothing.
pub async fn plan(aws: &Aws, config: &Config, rendered: &Rendered, account: &str) -> Result<Plan> {
    let bucket = literal_bucket_name(config, rendered)?;
    let stack_name = config.stack_name();
    let mut plan = Plan {
        env: config.env.clone(),
        stack: stack_name.clone(),
        bucket: bucket.clone(),
        adopted: false,
        changes: Vec::new(),
        risks: Vec::new(),
        creates: Vec::new(),
    };
    let stack = crate::stack::describe(&aws.cfn, &stack_name).await?;
    if let Some(stack) = &stack {
        let resources = crate::stack::resources(&aws.cfn, &stack.id).await?;
        if resources.iter().any(|r| r.logical_id == BUCKET_ID && r.physical_id.as_deref() == Some(bucket.as_str())) {
            plan.adopted = true;
            return Ok(plan);
        }
    }
    if config.ephemeral {
        return Err(refuse(format!(
            "{} is ephemeral: its teardown empties and deletes its bucket, so an existing bucket is never adopted \
             into it; adopt into a long-lived env",
            config.env
        )));
    }
    let conflicts = preflight::check(aws, rendered, account, stack.as_ref().map(|s| s.id.as_str())).await?;
    let (ours, others): (Vec<_>, Vec<_>) = conflicts.into_iter().partition(|c| c.logical_id == BUCKET_ID);
    match ours.first().map(|c| &c.owner) {
        None => bail!(
            "there is no bucket {bucket} in account {account}, region {}: nothing to adopt (`provision --env {}` \
             creates it)",
            aws.region,
            config.env
        ),
        Some(Owner::ThisAccount { stack: None }) => {}
        Some(_) => bail!("bucket {} cannot be adopted: {}", bucket, ours[0]),
    }
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|c| format!("  - {c}")).collect();
        return Err(refuse(format!(
            "only the bucket is adopted, and other resources the stack would create exist already:\n{}\nmove them \
             out of the way or choose other names",
            list.join("\n")
        )));
    }
    let findings = live::check(aws, rendered, account, &config.stack_tags()).await?;
    let of_bucket: Vec<&Finding> = findings.iter().filter(|f| f.resource == Resource::Bucket(bucket.clone())).collect();
    plan.changes = risk::classify(&of_bucket);
    name_removed_statements(aws, &bucket, &mut plan.changes).await?;
    plan.risks = plan.risky().filter_map(|c| c.risk).collect::<BTreeSet<_>>().into_iter().collect();
    plan.creates = created_beside(rendered);
    Ok(plan)
}

/// A removed statement as the bucket policy writes it, Sid included (the comparison drops Sids, which say nothing
/// to IAM but tell people which statement it is).
async fn name_removed_statements(aws: &Aws, bucket: &str, changes: &mut [Change]) -> Result<()> {
    if !changes.iter().any(|c| c.risk == Some(Risk::PolicyRemoval)) {
        return Ok(());
    }
    let policy = aws
        .s3
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| crate::aws::aws_error(e, "GetBucketPolicy"))?;
    let document: Value = policy.policy.as_deref().and_then(live::policy::parse_document).unwrap_or_default();
    let written = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    };
    let canonical =
        |s: &Value| live::policy::normalize(&serde_json::json!({ "Statement": [s] }))["Statement"][0].clone();
    for change in changes.iter_mut().filter(|c| c.risk == Some(Risk::PolicyRemoval)) {
        if let Some(statement) = written.iter().find(|s| canonical(s) == change.detail) {
            change.what = risk::removed_statement(statement);
            change.detail = statement.clone();
        }
    }
    Ok(())
}

/// The template's resources other than the bucket: what the stack creates around it.
fn created_beside(rendered: &Rendered) -> Vec<String> {
    let empty = serde_json::Map::new();
    let resources = rendered.template_value["Resources"].as_object().unwrap_or(&empty);
    resources
        .iter()
        .filter(|(id, _)| id.as_str() != BUCKET_ID)
        .map(|(id, r)| format!("{id} ({})", r["Type"].as_str().unwrap_or("?")))
        .collect()
}

/// How the user answered for the plan's risks.
#[derive(Debug, Clone, Default)]
pub struct Consent {
    /// `--yes`: no question asked.
    pub yes: bool,
    /// `--accept-risk`: the risks named, required for each risk of a protected env.
    pub accepted: BTreeSet<Risk>,
}

/// Why the plan may not go ahead, if it may not: risky changes need a confirmation (`--yes` off a terminal), and
/// in a protected env each kind of risk named with `--accept-risk`.
pub async fn refusal(config: &Config, plan: &Plan, consent: &Consent, printer: &Printer) -> Option<String> {
    let unnamed: Vec<&str> = plan.risks.iter().filter(|r| !consent.accepted.contains(r)).map(|r| r.flag()).collect();
    if config.protected && !unnamed.is_empty() {
        let flags: Vec<String> = unnamed.iter().map(|r| format!("--accept-risk {r}")).collect();
        return Some(format!(
            "{} is protected and adopting its bucket makes risky changes: name each risk you accept ({})",
            config.env,
            flags.join(" ")
        ));
    }
    if consent.yes {
        return None;
    }
    if printer.interactive {
        let question = format!("adopt bucket {} into stack {} with these changes?", plan.bucket, plan.stack);
        return match printer.confirm_async(&question).await {
            Some(true) => None,
            _ => Some("not confirmed".to_string()),
        };
    }
    if !plan.risks.is_empty() || config.protected {
        return Some("this is not a terminal: pass --yes to adopt without a question".to_string());
    }
    None
}

/// What an adoption did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub plan: Plan,
    pub deploy: deploy::Report,
    /// Settings put right after the import.
    pub reverted: Vec<live::Reverted>,
}

/// Adopts the bucket as `plan` says: the stack is created (or updated) with the bucket imported, then the live
/// settings that still differ are put right and checked.
pub async fn adopt(
    aws: &Aws,
    templates: &TemplateStore,
    config: &Config,
    rendered: &Rendered,
    account: &str,
    plan: Plan,
    printer: &Printer,
) -> Result<Report> {
    let options = Options { yes: true, import_existing: true, ..Options::default() };
    let deployed = deploy::deploy(&aws.cfn, templates, config, rendered, &options, printer).await.with_context(|| {
        format!(
            "bucket {} was not adopted; CloudFormation does not change a resource it fails to import, so the bucket \
             is as it was: fix the cause and run `provision adopt --env {}` again",
            plan.bucket, config.env
        )
    })?;
    let findings = live::check(aws, rendered, account, &deployed.tags).await?;
    let reverted = if findings.iter().all(Finding::ok) { Vec::new() } else { live::revert(aws, &findings).await? };
    let after = live::check(aws, rendered, account, &deployed.tags).await?;
    let left: Vec<String> = after.iter().filter(|f| !f.ok()).map(|f| format!("  - {f}")).collect();
    if !left.is_empty() {
        bail!(
            "bucket {} is in stack {} now, but these settings still differ from the config:\n{}\nrun `provision \
             drift --env {} --revert` to put them right",
            plan.bucket,
            plan.stack,
            left.join("\n"),
            config.env
        );
    }
    Ok(Report { plan, deploy: deployed, reverted })
}

/// The plan as text lines, for people.
pub fn plan_lines(plan: &Plan) -> Vec<String> {
    if plan.adopted {
        return vec![format!("bucket {} is in stack {} already: nothing to adopt", plan.bucket, plan.stack)];
    }
    let mut lines = vec![format!("adopt bucket {} into stack {}", plan.bucket, plan.stack)];
    let detail = |c: &Change| match &c.detail {
        Value::Null => None,
        _ if c.setting == "policy" => Some(format!("      {}", c.detail)),
        _ => None,
    };
    let risky: Vec<&Change> = plan.risky().collect();
    if risky.is_empty() {
        lines.push("risky changes: none".to_string());
    } else {
        lines.push("risky changes (confirm with --yes; a protected env also needs --accept-risk <risk>):".to_string());
        for c in risky {
            lines.push(format!("  [{}] {}: {}", c.risk.map(Risk::flag).unwrap_or_default(), c.setting, c.what));
            lines.extend(detail(c));
        }
    }
    let harmless: Vec<&Change> = plan.harmless().collect();
    if !harmless.is_empty() {
        lines.push("harmless changes:".to_string());
        for c in harmless {
            lines.push(format!("  {}: {}", c.setting, c.what));
            lines.extend(detail(c));
        }
    }
    if !plan.creates.is_empty() {
        lines.push(format!("the stack also creates: {}", plan.creates.join(", ")));
    }
    lines.push("objects and versions are not touched".to_string());
    lines
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::output::Format;

    fn config(protected: bool) -> Config {
        let src = format!("project: demo\nregion: us-west-1\nprotected: {protected}\nbucket:\n  name: demo-archive\n");
        crate::config::parse(&src, Path::new("prod.yaml"), "prod", None).unwrap()
    }

    fn plan(risks: &[Risk]) -> Plan {
        Plan {
            env: "prod".into(),
            stack: "demo-prod".into(),
            bucket: "demo-archive".into(),
            adopted: false,
            changes: Vec::new(),
            risks: risks.to_vec(),
            creates: Vec::new(),
        }
    }

    fn consent(yes: bool, accepted: &[Risk]) -> Consent {
        Consent { yes, accepted: accepted.iter().copied().collect() }
    }

    #[tokio::test]
    async fn a_protected_env_needs_each_risk_named_and_risks_need_a_yes_off_a_terminal() {
        let printer = Printer::capture(Format::Text).0;
        let risky = plan(&[Risk::DataExpiry, Risk::PolicyRemoval]);
        let refused = refusal(&config(true), &risky, &consent(true, &[Risk::DataExpiry]), &printer).await.unwrap();
        assert!(refused.contains("--accept-risk policy-removal") && !refused.contains("data-expiry"), "{refused}");
        let both = consent(true, &[Risk::DataExpiry, Risk::PolicyRemoval]);
        assert_eq!(refusal(&config(true), &risky, &both, &printer).await, None);
        let unconfirmed = refusal(&config(false), &risky, &consent(false, &[]), &printer).await.unwrap();
        assert!(unconfirmed.contains("pass --yes"), "{unconfirmed}");
        assert_eq!(refusal(&config(false), &plan(&[]), &consent(false, &[]), &printer).await, None);
        assert!(refusal(&config(true), &plan(&[]), &consent(false, &[]), &printer).await.is_some());
    }

    #[test]
    fn the_plan_prints_removed_statements_and_what_the_stack_adds() {
        let mut p = plan(&[Risk::PolicyRemoval]);
        p.changes = vec![Change {
            setting: "policy",
            risk: Some(Risk::PolicyRemoval),
            what: "bucket policy statement PartnerRead is removed: whoever it lets in loses that access".into(),
            detail: serde_json::json!({ "Sid": "PartnerRead" }),
        }];
        p.creates = vec!["DataBucketPolicy (AWS::S3::BucketPolicy)".into()];
        let lines = plan_lines(&p);
        assert_eq!(
            lines[2],
            "  [policy-removal] policy: bucket policy statement PartnerRead is removed: whoever it lets in loses that access"
        );
        assert_eq!(lines[3], "      {\"Sid\":\"PartnerRead\"}");
        assert!(lines.contains(&"the stack also creates: DataBucketPolicy (AWS::S3::BucketPolicy)".to_string()));
    }
}
