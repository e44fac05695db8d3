//! Deploying through change sets: look at the stack, recover it if needed, plan, guard, confirm, execute, follow.
//!
//! Everything here takes the CloudFormation client it is given, so the same code runs against AWS, the local
//! emulator, and the SDK's mock clients (for rollbacks, throttling and replacements no emulator produces).

pub mod changeset;
pub mod diff;
pub mod events;
pub mod object_lock;
pub mod parameters;
pub mod preflight;
pub mod template_store;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::StackStatus;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::aws_error;
use crate::config::Config;
use crate::ids::{TAG_CREATED, TAG_EXPIRES};
use crate::output::{Printer, refuse};
use crate::render::Rendered;
use crate::stack::status::{self, Health};
use crate::stack::{self, StackInfo, deployed_template, parse_template};
use changeset::{Change, Planned};
use events::Outcome;

/// What the command line decided about this deploy.
#[derive(Debug, Clone)]
pub struct Options {
    pub yes: bool,
    pub allow_data_loss: bool,
    /// How long to wait for an operation already in progress (zero: do not wait).
    pub wait_timeout: Duration,
    /// How long a stack operation may take.
    pub operation_timeout: Duration,
    /// `--ttl`: a new expiry for an ephemeral instance.
    pub ttl: Option<Duration>,
    /// Import existing resources of the template instead of creating them (`provision adopt`).
    pub import_existing: bool,
    /// What interrupts a deploy (Ctrl-C): before execution nothing is deployed and this run's change set and empty
    /// stack go; during it, a lifted stack policy is put back first and the update goes on in CloudFormation.
    pub interrupt: Interrupt,
}

/// How long one stack operation (a change set's creation, its execution, a deletion) may take.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for Options {
    /// Ask before a protected env, wait for nothing already in progress, keep the data bucket, stop on Ctrl-C.
    fn default() -> Options {
        Options {
            yes: false,
            allow_data_loss: false,
            wait_timeout: Duration::ZERO,
            operation_timeout: OPERATION_TIMEOUT,
            ttl: None,
            import_existing: false,
            interrupt: Interrupt::default(),
        }
    }
}

/// Where an interruption comes from: Ctrl-C, or a notification (an embedding program, tests).
#[derive(Debug, Clone, Default)]
pub enum Interrupt {
    #[default]
    CtrlC,
    Notified(std::sync::Arc<tokio::sync::Notify>),
}

impl Interrupt {
    /// Resolves when the interruption comes; never where no Ctrl-C handler can be installed.
    pub async fn wait(&self) {
        match self {
            Interrupt::CtrlC => {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            Interrupt::Notified(notify) => notify.notified().await,
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0).unwrap_or(t).format(&Rfc3339).unwrap_or_default()
}

/// Stack tags: the config's, plus creation time and expiry for ephemeral envs. The creation time of an existing
/// stack is kept; its expiry changes only when `--ttl` is given.
pub fn desired_tags(
    config: &Config,
    existing: Option<&BTreeMap<String, String>>,
    ttl_override: Option<Duration>,
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    let mut tags = config.stack_tags();
    if config.ephemeral {
        let kept = |key: &str| existing.and_then(|t| t.get(key)).cloned();
        let created = kept(TAG_CREATED).unwrap_or_else(|| rfc3339(now));
        let expires = match (ttl_override, kept(TAG_EXPIRES), config.ttl) {
            (Some(ttl), _, _) => Some(rfc3339(now + ttl)),
            (None, Some(existing), _) => Some(existing),
            (None, None, Some(ttl)) => Some(rfc3339(now + ttl)),
            (None, None, None) => None,
        };
        tags.insert(TAG_CREATED.to_string(), created);
        if let Some(expires) = expires {
            tags.insert(TAG_EXPIRES.to_string(), expires);
        }
    }
    tags.into_iter().collect()
}

/// Why the data guard refuses a change set, if it does.
pub fn guard(config: &Config, changes: &[Change], allow_data_loss: bool) -> Option<String> {
    let losses = changeset::data_loss(changes);
    if losses.is_empty() {
        return None;
    }
    let list: Vec<String> = losses.iter().map(|c| format!("  {c}")).collect();
    let what = format!("this change would replace or remove the data bucket:\n{}", list.join("\n"));
    if config.protected && !config.allow_data_loss {
        return Some(format!(
            "{what}\n{} is protected: even --allow-data-loss is refused unless its env file sets `allow_data_loss: true`",
            config.env
        ));
    }
    if !allow_data_loss {
        return Some(format!(
            "{what}\nthe old bucket and its objects would no longer be the env's bucket; if that is intended, pass --allow-data-loss"
        ));
    }
    None
}

/// What a deploy did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub stack: String,
    /// create, update or none.
    pub action: &'static str,
    /// The failed state a stack was recovered from (deleted and created afresh).
    pub recovered_from: Option<String>,
    pub changes: Vec<Change>,
    pub outcome: Option<Outcome>,
    pub outputs: BTreeMap<String, String>,
    /// The stack's tags as deployed (CloudFormation propagates them onto the resources).
    pub tags: BTreeMap<String, String>,
    pub timings_ms: BTreeMap<&'static str, u128>,
}

/// How long a CREATE change set of a stack in review counts as another run's work in progress.
const REVIEW_GRACE: Duration = Duration::from_secs(600);

/// Waits for an operation already in progress, or explains why the deploy cannot go on.
async fn settle_existing(
    cfn: &Client,
    config: &Config,
    stack: StackInfo,
    options: &Options,
    printer: &Printer,
) -> Result<Option<StackInfo>> {
    let name = config.stack_name();
    let mut stack = stack;
    let started = Instant::now();
    let mut told = false;
    loop {
        // Another run's stack: an operation in progress, or a CREATE change set it made moments ago (it may be
        // at its confirmation prompt). Deleting that as "never created" would pull the stack from under it.
        let busy = if stack.health == Health::InProgress {
            Some(format!("has an operation in progress ({})", stack.status))
        } else if stack.stack_status == StackStatus::ReviewInProgress {
            changeset::fresh_change_set(cfn, &stack.id, REVIEW_GRACE).await?.map(|(change_set, age)| {
                format!(
                    "is being created by another run: its change set {change_set} was made {}s ago \
                     (a stack left in review by a run that was killed is recovered after {} minutes)",
                    age.as_secs(),
                    REVIEW_GRACE.as_secs() / 60
                )
            })
        } else {
            None
        };
        let Some(busy) = busy else { break };
        if options.wait_timeout.is_zero() {
            anyhow::bail!("stack {name} {busy}; wait for it to finish, or pass --wait-timeout 15m to wait here");
        }
        anyhow::ensure!(
            started.elapsed() < options.wait_timeout,
            "stack {name} still {busy} after {}s",
            options.wait_timeout.as_secs()
        );
        if !told {
            printer.log(format!("stack {name} {busy}; waiting up to {}s", options.wait_timeout.as_secs()));
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        match stack::describe(cfn, &name).await? {
            Some(s) => stack = s,
            None => return Ok(None),
        }
    }
    match stack.health {
        Health::Ready | Health::RolledBack => Ok(Some(stack)),
        Health::Deleted => Ok(None),
        Health::NeverCreated => {
            printer.log(format!(
                "stack {name} is {} (never created, so it holds no data): deleting it to create it afresh",
                stack.status
            ));
            let outcome = delete_stack_outcome(cfn, &stack, &[], options.operation_timeout, printer).await?;
            if outcome.health != Health::Deleted {
                // A failed create's leftovers hold no data; CloudFormation lets a DELETE_FAILED stack go when
                // the resources it could not delete are retained (they are named so they can be cleaned up).
                let stuck: Vec<String> = outcome.failed.iter().map(|e| e.logical_id.clone()).collect();
                printer.log(format!(
                    "warning: could not delete {} of never-created stack {name}; retaining them and deleting the stack",
                    stuck.join(", ")
                ));
                let retry = delete_stack_outcome(cfn, &stack, &stuck, options.operation_timeout, printer).await?;
                anyhow::ensure!(
                    retry.health == Health::Deleted,
                    "deleting never-created stack {name} failed: {}",
                    retry.failure_report()
                );
            }
            Ok(None)
        }
        Health::RollbackFailed => anyhow::bail!(
            "stack {name} is UPDATE_ROLLBACK_FAILED: CloudFormation could not roll back a failed update.\n\
             Fix the cause shown in its events, then continue the rollback:\n  \
             aws cloudformation continue-update-rollback --stack-name {name} --region {}\n\
             (add --resources-to-skip <LogicalId> for a resource that cannot be rolled back), and deploy again",
            config.region
        ),
        Health::Failed | Health::InProgress => anyhow::bail!(
            "stack {name} is {}, which needs a human: look at its events in the CloudFormation console{}",
            stack.status,
            if stack.stack_status == StackStatus::DeleteFailed && config.ephemeral {
                format!("; `provision teardown --env {}` finishes a failed deletion", config.env)
            } else {
                String::new()
            }
        ),
    }
}

/// Deletes a stack and follows it until it is gone.
pub async fn delete_stack(cfn: &Client, stack: &StackInfo, timeout: Duration, printer: &Printer) -> Result<Outcome> {
    let outcome = delete_stack_outcome(cfn, stack, &[], timeout, printer).await?;
    anyhow::ensure!(
        outcome.health == Health::Deleted,
        "deleting stack {} failed: {}",
        stack.name,
        outcome.failure_report()
    );
    Ok(outcome)
}

/// Deletes a stack (retaining `retain`, allowed only for a DELETE_FAILED stack) and reports how it ended.
pub async fn delete_stack_outcome(
    cfn: &Client,
    stack: &StackInfo,
    retain: &[String],
    timeout: Duration,
    printer: &Printer,
) -> Result<Outcome> {
    let after = events::newest_event_id(cfn, &stack.id).await?;
    cfn.delete_stack()
        .stack_name(&stack.id)
        .set_retain_resources((!retain.is_empty()).then(|| retain.to_vec()))
        .send()
        .await
        .map_err(|e| aws_error(e, "DeleteStack"))
        .with_context(|| format!("cannot delete stack {}", stack.name))?;
    let outcome =
        events::follow(cfn, &stack.id, &stack.name, after, timeout, |e| printer.progress(format!("  {e}"))).await?;
    printer.progress_done();
    Ok(outcome)
}

/// Termination protection and the stack policy that denies replacing or deleting the bucket (protected envs).
async fn ensure_protection(cfn: &Client, stack: &StackInfo, rendered: &Rendered, printer: &Printer) -> Result<()> {
    let Some(policy) = &rendered.stack_policy else { return Ok(()) };
    if !stack.termination_protection {
        cfn.update_termination_protection()
            .stack_name(&stack.name)
            .enable_termination_protection(true)
            .send()
            .await
            .map_err(|e| aws_error(e, "UpdateTerminationProtection"))?;
    }
    match set_stack_policy_if_changed(cfn, &stack.name, policy).await {
        Err(e) if e.is::<StackPolicyUnsupported>() => {
            printer.log(format!(
                "warning: {e}: stack {} has termination protection but no stack policy guarding its bucket",
                stack.name
            ));
            Ok(())
        }
        other => other,
    }
}

async fn set_stack_policy_if_changed(cfn: &Client, stack: &str, policy: &str) -> Result<()> {
    let current = match cfn.get_stack_policy().stack_name(stack).send().await {
        Ok(output) => output.stack_policy_body.and_then(|body| serde_json::from_str::<Value>(&body).ok()),
        // Some endpoints (the local emulator) cannot read stack policies back: set it unconditionally.
        Err(e) if crate::aws::not_implemented(&e) => None,
        Err(e) => return Err(aws_error(e, "GetStackPolicy")),
    };
    let wanted: Value = serde_json::from_str(policy).context("the stack policy is not JSON")?;
    if current.as_ref() != Some(&wanted) {
        match cfn.set_stack_policy().stack_name(stack).stack_policy_body(policy).send().await {
            Ok(_) => {}
            Err(e) if crate::aws::not_implemented(&e) => {
                return Err(anyhow::anyhow!(StackPolicyUnsupported));
            }
            Err(e) => return Err(aws_error(e, "SetStackPolicy")),
        }
    }
    Ok(())
}

/// The endpoint has no stack policies (AWS has; the local emulator answers 501).
#[derive(Debug, thiserror::Error)]
#[error("this endpoint does not implement stack policies")]
pub struct StackPolicyUnsupported;

/// The main job's deploy step: returns what was done; errors carry the reason (refusals exit 3).
pub async fn deploy(
    cfn: &Client,
    templates: &template_store::TemplateStore,
    config: &Config,
    rendered: &Rendered,
    options: &Options,
    printer: &Printer,
) -> Result<Report> {
    let started = Instant::now();
    let name = config.stack_name();
    let mut timings = BTreeMap::new();
    let (existing, recovered_from) = settled_stack(cfn, config, options, printer).await?;
    let tags = desired_tags(config, existing.as_ref().map(|s| &s.tags), options.ttl, OffsetDateTime::now_utc());

    // The deployed template: the fast path compares it, and the preview shows what changes inside each resource.
    let deployed = match &existing {
        Some(_) => Some(parse_template(&deployed_template(cfn, &name).await?)),
        None => None,
    };
    if let Some(reason) = object_lock::refusal(&config.env, deployed.as_ref(), &rendered.template_value) {
        return Err(refuse(reason));
    }
    // Fast path: nothing to change, no change set.
    if let Some(stack) = existing.as_ref().filter(|stack| unchanged(stack, &tags, deployed.as_ref(), rendered)) {
        ensure_protection(cfn, stack, rendered, printer).await?;
        let deployed = (stack.outputs.clone(), stack.tags.clone());
        return Ok(no_changes(name, recovered_from, deployed, timings, started, printer));
    }

    let create = existing.is_none();
    let template = templates.source(&name, &rendered.template).await?;
    let request = changeset::Request {
        import_existing: options.import_existing,
        parameters: rendered.parameters.clone().into_iter().collect(),
        ..changeset::Request::new(&name, &template, &tags, create)
    };
    let planned = create_change_set(cfn, &request, options).await?;
    timings.insert("change_set", started.elapsed().as_millis());
    let (id, review_stack, changes) = match planned {
        Planned::NoChanges => {
            if let Some(stack) = &existing {
                ensure_protection(cfn, stack, rendered, printer).await?;
            }
            let deployed = existing.map(|s| (s.outputs, s.tags)).unwrap_or_default();
            return Ok(no_changes(name, recovered_from, deployed, timings, started, printer));
        }
        Planned::Changes { id, review_stack, mut changes } => {
            if let Some(deployed) = &deployed {
                diff::attach(&mut changes, deployed, &rendered.template_value);
            }
            (id, review_stack, changes)
        }
    };
    printer.log(format!("{} stack {name}: {} change(s)", if create { "create" } else { "update" }, changes.len()));
    for line in changes.iter().flat_map(Change::lines) {
        printer.log(format!("  {line}"));
    }

    if let Err(reason) = approve(config, &changes, options, printer).await {
        changeset::delete(cfn, &name, &id).await;
        if let Some(stack) = &review_stack {
            changeset::discard_review_stack(cfn, stack).await;
        }
        return Err(reason);
    }

    let exec_started = Instant::now();
    // Only an allowed data-loss update of a protected stack lifts its policy (and puts this one back).
    let lift = !create && config.protected && options.allow_data_loss && config.allow_data_loss;
    let policy_to_restore = lift.then(|| rendered.stack_policy.as_deref().unwrap_or_default());
    let outcome = execute_guarded(cfn, config, &id, changes.len(), policy_to_restore, options, printer).await?;
    timings.insert("execute", exec_started.elapsed().as_millis());
    let stack = stack::describe(cfn, &name).await?.with_context(|| format!("stack {name} vanished after deploy"))?;
    ensure_protection(cfn, &stack, rendered, printer).await?;
    timings.insert("total", started.elapsed().as_millis());
    Ok(Report {
        stack: name,
        action: if create { "create" } else { "update" },
        recovered_from,
        changes,
        outcome: Some(outcome),
        outputs: stack.outputs,
        tags: stack.tags,
        timings_ms: timings,
    })
}

/// The env's stack once nothing else runs on it (`None`: there is none, or a failed first create was cleared
/// away, whose status is then the second value).
async fn settled_stack(
    cfn: &Client,
    config: &Config,
    options: &Options,
    printer: &Printer,
) -> Result<(Option<StackInfo>, Option<String>)> {
    let Some(stack) = stack::describe(cfn, &config.stack_name()).await? else { return Ok((None, None)) };
    let (status, health) = (stack.status.clone(), stack.health);
    let settled = settle_existing(cfn, config, stack, options, printer).await?;
    let recovered_from = (settled.is_none() && health == Health::NeverCreated).then_some(status);
    Ok((settled, recovered_from))
}

/// Whether the deployed stack already is what a deploy would make of it: same template, tags and parameter values.
fn unchanged(stack: &StackInfo, tags: &[(String, String)], deployed: Option<&Value>, rendered: &Rendered) -> bool {
    let wanted_tags: BTreeMap<String, String> = tags.iter().cloned().collect();
    stack.parameters == rendered.parameters && stack.tags == wanted_tags && deployed == Some(&rendered.template_value)
}

/// Creates the change set, or stops on an interruption: then nothing was deployed and the empty stack of this
/// run's CREATE change set (found through the change set's own name, so never another run's stack of the same
/// name) goes.
async fn create_change_set(cfn: &Client, request: &changeset::Request<'_>, options: &Options) -> Result<Planned> {
    tokio::select! {
        planned = changeset::create(cfn, request, options.operation_timeout) => planned,
        () = options.interrupt.wait() => {
            if request.create {
                changeset::discard_own_review_stack(cfn, request.stack, &request.change_set).await;
            }
            anyhow::bail!("interrupted before any change: nothing was deployed");
        }
    }
}

/// The data guard, then the user's confirmation where one is needed. An error says why the change set is not
/// executed.
async fn approve(config: &Config, changes: &[Change], options: &Options, printer: &Printer) -> Result<()> {
    if let Some(reason) = guard(config, changes, options.allow_data_loss) {
        return Err(refuse(reason));
    }
    if options.yes {
        return Ok(());
    }
    if printer.interactive {
        // The prompt blocks on stdin: off the async threads, so that Ctrl-C at the prompt stops at once.
        let question = format!("apply these changes to {}?", config.stack_name());
        return match printer.confirm_unless(&question, options.interrupt.wait()).await {
            None => Err(anyhow::anyhow!("interrupted at the prompt: nothing was deployed")),
            Some(false) => Err(refuse("not confirmed")),
            Some(true) => Ok(()),
        };
    }
    if config.protected {
        return Err(refuse(format!(
            "{} is protected and this is not a terminal: pass --yes to deploy without confirmation",
            config.env
        )));
    }
    Ok(())
}

/// Executes the change set and follows it. A protected stack's policy denies replacing the bucket; an allowed
/// data-loss deploy lifts it for this update (ExecuteChangeSet takes no temporary policy) and puts it back however
/// the update ends, an interruption included (the update then goes on in CloudFormation).
async fn execute_guarded(
    cfn: &Client,
    config: &Config,
    id: &str,
    change_count: usize,
    policy_to_restore: Option<&str>,
    options: &Options,
    printer: &Printer,
) -> Result<Outcome> {
    let name = config.stack_name();
    let lifted = match policy_to_restore {
        Some(_) => lift_stack_policy(cfn, &name).await?,
        None => false,
    };
    let executed = tokio::select! {
        result = execute(cfn, &name, id, change_count, options.operation_timeout, printer) => result,
        () = options.interrupt.wait() => {
            printer.progress_done();
            Err(anyhow::anyhow!(
                "interrupted: the update of stack {name} goes on in CloudFormation (see its events in the console; \
                 `provision --env {} --wait-timeout 15m` waits for it and then deploys)",
                config.env
            ))
        }
    };
    let restored = if let (true, Some(policy)) = (lifted, policy_to_restore) {
        set_stack_policy_if_changed(cfn, &name, policy).await.with_context(|| {
            format!(
                "the stack policy of {name} still allows replacing the bucket: run `provision --env {}` again \
                 to put the deny policy back",
                config.env
            )
        })
    } else {
        Ok(())
    };
    match (executed, restored) {
        (Ok(outcome), Ok(())) => Ok(outcome),
        (Ok(_), Err(restore)) => Err(restore),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(restore)) => Err(anyhow::anyhow!("{e:#}\nand {restore:#}")),
    }
}

/// Lifts a protected stack's deny policy for one update; false where the endpoint has no stack policies.
async fn lift_stack_policy(cfn: &Client, name: &str) -> Result<bool> {
    let allow_all = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"Update:*","Resource":"*"}]}"#;
    match set_stack_policy_if_changed(cfn, name, allow_all).await {
        Ok(()) => Ok(true),
        Err(e) if e.is::<StackPolicyUnsupported>() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Executes a change set and follows the stack's events until it settles; a stack that does not end ready is an
/// error with the root cause.
async fn execute(
    cfn: &Client,
    name: &str,
    change_set: &str,
    total: usize,
    timeout: Duration,
    printer: &Printer,
) -> Result<Outcome> {
    let after = events::newest_event_id(cfn, name).await?;
    let started = Instant::now();
    cfn.execute_change_set()
        .change_set_name(change_set)
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            // The change set (or the stack in review it was for) is gone: another run's recovery removed it.
            let gone = e.code() == Some("ChangeSetNotFound")
                || (e.code() == Some("ValidationError") && e.message().is_some_and(|m| m.contains("does not exist")));
            if gone {
                anyhow::anyhow!("another run removed this run's change set of stack {name} meanwhile; run again")
            } else {
                aws_error(e, "ExecuteChangeSet")
            }
        })
        .with_context(|| format!("cannot execute the change set of stack {name}"))?;
    let mut done = 0;
    let outcome = events::follow(cfn, name, name, after, timeout, |event| {
        if status::is_complete(&event.resource_status) && event.logical_id != name {
            done += 1;
        }
        if printer.live {
            printer.progress(format!(
                "  [{done}/{total}] {:.1}s {} {}",
                started.elapsed().as_secs_f64(),
                event.logical_id,
                event.status
            ));
            if status::is_failure(&event.resource_status) {
                printer.progress_done();
                printer.log(format!("  {event}"));
            }
        } else {
            printer.progress(format!("  {event}"));
        }
    })
    .await?;
    printer.progress_done();
    if outcome.health != Health::Ready {
        anyhow::bail!("deploying stack {name} failed: {}", outcome.failure_report());
    }
    for line in outcome.warning_lines() {
        printer.log(line);
    }
    Ok(outcome)
}

/// The report of a deploy that found nothing to change (fast path or empty change set).
fn no_changes(
    stack: String,
    recovered_from: Option<String>,
    (outputs, tags): (BTreeMap<String, String>, BTreeMap<String, String>),
    mut timings_ms: BTreeMap<&'static str, u128>,
    started: Instant,
    printer: &Printer,
) -> Report {
    timings_ms.insert("total", started.elapsed().as_millis());
    printer.log(format!("stack {stack}: no changes"));
    Report { stack, action: "none", recovered_from, changes: Vec::new(), outcome: None, outputs, tags, timings_ms }
}

/// What `plan` found.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub stack: String,
    pub exists: bool,
    pub changes: Vec<Change>,
    /// Why the data guard would refuse, if it would.
    pub refused: Option<String>,
}

/// Creates a change set, reads it, deletes it: nothing is changed.
pub async fn plan(
    cfn: &Client,
    templates: &template_store::TemplateStore,
    config: &Config,
    rendered: &Rendered,
    allow_data_loss: bool,
) -> Result<PlanReport> {
    let name = config.stack_name();
    let existing = stack::describe(cfn, &name).await?;
    let exists = existing.as_ref().is_some_and(|s| s.health.updatable());
    if let Some(stack) = &existing {
        anyhow::ensure!(
            stack.health.updatable() || stack.health == Health::NeverCreated,
            "stack {name} is {}; deploy or repair it before planning",
            stack.status
        );
    }
    let tags = desired_tags(config, existing.as_ref().map(|s| &s.tags), None, OffsetDateTime::now_utc());
    if exists {
        let deployed = parse_template(&deployed_template(cfn, &name).await?);
        if let Some(reason) = object_lock::refusal(&config.env, Some(&deployed), &rendered.template_value) {
            return Ok(PlanReport { stack: name, exists, changes: Vec::new(), refused: Some(reason) });
        }
    }
    if !exists && existing.is_some() {
        // A never-created stack is deleted and created afresh by the next deploy: every resource is added.
        return Ok(PlanReport { stack: name, exists: false, changes: all_added(rendered), refused: None });
    }
    let template = templates.source(&name, &rendered.template).await?;
    let request = changeset::Request {
        parameters: rendered.parameters.clone().into_iter().collect(),
        ..changeset::Request::new(&name, &template, &tags, !exists)
    };
    let planned = changeset::create(cfn, &request, Duration::from_secs(300)).await?;
    let mut changes = match planned {
        Planned::NoChanges => Vec::new(),
        Planned::Changes { id, review_stack, changes } => {
            changeset::delete(cfn, &name, &id).await;
            if let Some(stack) = &review_stack {
                changeset::discard_review_stack(cfn, stack).await;
            }
            changes
        }
    };
    if exists && !changes.is_empty() {
        let deployed = parse_template(&deployed_template(cfn, &name).await?);
        diff::attach(&mut changes, &deployed, &rendered.template_value);
    }
    let refused = guard(config, &changes, allow_data_loss);
    Ok(PlanReport { stack: name, exists, changes, refused })
}

/// Every resource of the template as an addition.
fn all_added(rendered: &Rendered) -> Vec<Change> {
    let resources = rendered.template_value.get("Resources").and_then(Value::as_object);
    resources
        .into_iter()
        .flatten()
        .map(|(id, r)| Change {
            logical_id: id.clone(),
            resource_type: r.get("Type").and_then(Value::as_str).unwrap_or_default().to_string(),
            action: "Add".into(),
            replacement: None,
            properties: Vec::new(),
            values: Vec::new(),
        })
        .collect()
}
