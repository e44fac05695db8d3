//! The smoke test's probes: prove, with real requests, that a deployed bucket works as its env file says.
//!
//! [`run_probes`] writes probe objects (all in the run's own namespace, see [`keys::Layout`]), reads them back,
//! checks versioning, waits for notifications, tries plain HTTP, and makes each access entry's requests as its
//! role (or asks IAM's policy simulator where the role cannot be assumed). Whatever happens, also after a failed
//! check or Ctrl-C, it then deletes every version and delete marker it left and checks that none is left.
//!
//! Each probe is a [`Check`]; the access entries' requests are [`AccessRow`]s of the access matrix. A probe that
//! fails records what it expected and what it saw and the run goes on: a failed check never stops the others, and
//! never stops the cleanup.

mod access;
mod cleanup;
mod clients;
pub mod keys;
#[cfg(test)]
mod mock_tests;
mod notify;
mod object;
mod policy_eval;
mod queues;
pub mod report;
mod transport;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use aws_sdk_s3::error::SdkError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::aws::{Aws, aws_error};
use crate::config::Config;
use crate::live::Finding;
use crate::output::{ExitStatus, Printer};
use crate::render::Rendered;
use clients::Clients;
use keys::Layout;

pub use report::{print, table};

/// How a probe run behaves.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Unique per run: names the probe namespace `<probe_prefix><run id>/` (see [`keys::new_run_id`]).
    pub run_id: String,
    /// How long AssumeRole and allowed-but-denied requests are retried right after a deploy: IAM changes take a
    /// few seconds to reach every AWS endpoint. Zero against an emulator, where they apply at once.
    pub iam_propagation: Duration,
    /// Race the probes against Ctrl-C (the cleanup runs either way). Off where the caller handles signals itself.
    /// Once listened for, Ctrl-C no longer ends the process by itself (tokio keeps its handler installed).
    pub handle_ctrl_c: bool,
}

impl ProbeOptions {
    /// Options for a run against `aws`: a fresh run id, IAM propagation allowed for on AWS only.
    pub fn new(aws: &Aws) -> ProbeOptions {
        ProbeOptions {
            run_id: keys::new_run_id(),
            iam_propagation: if aws.endpoints.of(crate::aws::Service::Iam).is_some() {
                Duration::ZERO
            } else {
                Duration::from_secs(20)
            },
            handle_ctrl_c: true,
        }
    }
}

/// One verified property: what was expected, what was observed, how long proving it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    /// Passed, or skipped (a skipped check does not fail the run; `observed` says why it was skipped).
    pub ok: bool,
    pub skipped: bool,
    pub expected: String,
    pub observed: String,
    pub latency_ms: u64,
}

impl Check {
    pub fn pass(name: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: true,
            skipped: false,
            expected: expected.into(),
            observed: observed.into(),
            latency_ms: 0,
        }
    }

    pub fn fail(name: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Check {
        Check { ok: false, ..Check::pass(name, expected, observed) }
    }

    pub fn skip(name: impl Into<String>, expected: impl Into<String>, reason: impl Into<String>) -> Check {
        Check { skipped: true, observed: format!("skipped: {}", reason.into()), ..Check::pass(name, expected, "") }
    }

    /// `pass` or `fail` as `ok` says.
    pub fn new(name: impl Into<String>, ok: bool, expected: impl Into<String>, observed: impl Into<String>) -> Check {
        Check { ok, ..Check::pass(name, expected, observed) }
    }

    fn took(mut self, since: Instant) -> Check {
        self.latency_ms = millis(since.elapsed());
        self
    }
}

/// Inside or outside an access entry's prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Inside,
    Outside,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Inside => "inside",
            Scope::Outside => "outside",
        }
    }
}

/// How a row of the access matrix was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A real request, signed as the entry's role.
    Request,
    /// IAM's SimulatePrincipalPolicy for the entry's principal.
    Simulated,
    /// Neither was possible (`observed` says why); does not fail the run.
    NotChecked,
}

/// One request of the access matrix: entry × action × inside/outside its prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRow {
    pub entry: String,
    /// `PutObject`, `GetObject`, `ListBucket` or `DeleteObject`.
    pub action: String,
    pub scope: Scope,
    /// The object key (or, for ListBucket, the listed prefix).
    pub key: String,
    /// `allow` or `deny`.
    pub expected: String,
    /// `allow`, `deny`, `error: ...` or `not checked: ...`.
    pub observed: String,
    pub ok: bool,
    pub method: Method,
    /// A known difference of the emulator that was taken into account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cleanup {
    /// Object versions and delete markers deleted.
    pub versions_deleted: usize,
    /// Versions and delete markers still under a probe prefix afterwards (0 when the cleanup worked), as of the
    /// last listing; None when no listing could tell (a stopped cleanup whose count did not come back in time).
    pub left: Option<usize>,
    /// The prefixes that were emptied.
    pub prefixes: Vec<String>,
    /// Stopped by a second Ctrl-C before it finished.
    pub stopped: bool,
}

impl Cleanup {
    /// `left` for people: the number, or "an unknown number of versions".
    pub fn left_text(&self) -> String {
        self.left.map_or_else(|| "an unknown number of versions".to_string(), |n| n.to_string())
    }
}

/// Everything a probe run found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub run_id: String,
    pub bucket: String,
    pub checks: Vec<Check>,
    pub access_matrix: Vec<AccessRow>,
    /// AWS requests made (every attempt, retries included).
    pub requests: u32,
    pub cleanup: Cleanup,
    /// What was removed of earlier runs' abandoned namespaces (None when there were none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earlier: Option<Cleanup>,
    /// Stopped by Ctrl-C (the cleanup still ran).
    pub interrupted: bool,
    pub wall_ms: u64,
}

impl ProbeReport {
    /// Every check passed (or was skipped) and every row of the access matrix is as expected.
    pub fn ok(&self) -> bool {
        !self.interrupted && self.checks.iter().all(|c| c.ok) && self.access_matrix.iter().all(|r| r.ok)
    }
}

/// The exit status of a smoke run: 0 when every check (the probes' and `extra`, e.g. the live configuration's)
/// passed, 1 otherwise.
pub fn exit_status(extra: &[Check], report: &ProbeReport) -> ExitStatus {
    if report.ok() && extra.iter().all(|c| c.ok) { ExitStatus::Success } else { ExitStatus::Failure }
}

/// What every probe needs.
struct Ctx<'a> {
    clients: Clients,
    config: &'a Config,
    outputs: &'a BTreeMap<String, String>,
    printer: &'a Printer,
    options: &'a ProbeOptions,
    bucket: String,
    /// `aws`, `aws-cn` or `aws-us-gov`, from the bucket's ARN.
    partition: String,
    layout: Layout,
    /// S3's custom endpoint; None on AWS.
    s3_endpoint: Option<String>,
    /// Whether IAM is reached through a custom endpoint (an emulator, whose policy simulator ignores conditions).
    custom_iam: bool,
    region: String,
}

impl Ctx<'_> {
    fn progress(&self, what: &str) {
        self.printer.progress(format!("smoke: {what}"));
    }

    /// Whether the bucket is reached through a custom endpoint (an emulator) rather than AWS.
    fn custom_endpoint(&self) -> bool {
        self.s3_endpoint.is_some()
    }

    /// Whether requests reach the bucket over TLS (AWS, or an https:// endpoint).
    fn tls(&self) -> bool {
        self.s3_endpoint.as_deref().is_none_or(|e| e.starts_with("https://"))
    }
}

/// What the probes collect while they run; kept by the caller so that it survives Ctrl-C.
#[derive(Default)]
struct State {
    checks: Vec<Check>,
    matrix: Vec<AccessRow>,
    /// The key of the probe object, once written.
    probe_key: Option<String>,
}

/// Sessions of the roles the deployer may assume, by entry name (or why one could not be assumed).
type Roles = BTreeMap<String, std::result::Result<clients::Session, String>>;

/// Runs every probe against the deployed stack (its `outputs`), then cleans up. Failed checks are in the report;
/// an error is returned only when the probes cannot start (no `BucketName` output).
pub async fn run_probes(
    aws: &Aws,
    config: &Config,
    outputs: &BTreeMap<String, String>,
    printer: &Printer,
    options: &ProbeOptions,
) -> Result<ProbeReport> {
    let started = Instant::now();
    let bucket = outputs.get("BucketName").cloned().context(
        "the stack has no BucketName output: was it deployed by this tool? deploy it with `provision --env E`",
    )?;
    let partition = outputs
        .get("BucketArn")
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_string();
    let ctx = Ctx {
        clients: Clients::new(aws),
        config,
        outputs,
        printer,
        options,
        bucket,
        partition,
        layout: Layout::new(&config.smoke.probe_prefix, &options.run_id),
        s3_endpoint: aws.s3_endpoint().map(String::from),
        custom_iam: aws.endpoints.of(crate::aws::Service::Iam).is_some(),
        region: aws.region.clone(),
    };
    let mut state = State::default();
    let interrupted = {
        let probes = probes(&ctx, &mut state);
        until_ctrl_c(probes, options.handle_ctrl_c).await.is_none()
    };
    if interrupted {
        printer.progress_done();
        printer.log("smoke: interrupted; deleting the probe objects (Ctrl-C again to stop)");
        // An abandoned request may still land: give it a moment, so that the cleanup's listing sees it.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    ctx.progress("cleanup");
    let prefixes = keys::cleanup_prefixes(&ctx.layout, &namespace_prefixes(config, &ctx.layout));
    let since = Instant::now();
    let mut cleanup = Cleanup::default();
    let cleaned = {
        let clean = cleanup::clean(&ctx.clients.s3, &ctx.bucket, &prefixes, &mut cleanup);
        until_ctrl_c(clean, options.handle_ctrl_c).await
    };
    let check = match cleaned {
        Some(check) => check,
        None => {
            // Stopped: say what is left, as far as one quick listing can tell, and who removes it.
            cleanup.stopped = true;
            let count = cleanup::count_left(&ctx.clients.s3, &ctx.bucket, &prefixes);
            cleanup.left = tokio::time::timeout(Duration::from_secs(3), count).await.ok().flatten();
            Check::fail(
                "cleanup",
                "no probe version left",
                format!(
                    "stopped by Ctrl-C with {} left under {}; the next `provision smoke` of this env removes them",
                    cleanup.left_text(),
                    prefixes.join(", ")
                ),
            )
        }
    };
    state.checks.push(check.took(since));
    let earlier = if interrupted || cleanup.stopped { None } else { clean_earlier_runs(&ctx, &mut state).await };
    if interrupted {
        state.checks.push(Check::fail("interrupted", "a complete run", "stopped by Ctrl-C before every probe ran"));
    }
    printer.progress_done();
    Ok(ProbeReport {
        run_id: options.run_id.clone(),
        bucket: ctx.bucket.clone(),
        checks: state.checks,
        access_matrix: state.matrix,
        requests: ctx.clients.requests(),
        cleanup,
        earlier,
        interrupted,
        wall_ms: millis(started.elapsed()),
    })
}

/// How long after its start a run's namespace counts as abandoned: far longer than any run takes.
const ABANDONED_AFTER: time::Duration = time::Duration::hours(1);

/// Removes the probe namespaces that earlier runs of this env left behind (a run stopped by a second Ctrl-C, a
/// killed process) once they are older than any run still going could be. Says so, and adds a check, when there
/// were any.
async fn clean_earlier_runs(ctx: &Ctx<'_>, state: &mut State) -> Option<Cleanup> {
    let parents = keys::namespace_parents(&ctx.config.smoke.probe_prefix, &namespace_prefixes(ctx.config, &ctx.layout));
    let before = time::OffsetDateTime::now_utc() - ABANDONED_AFTER;
    let stale = match cleanup::stale_namespaces(&ctx.clients.s3, &ctx.bucket, &parents, before).await {
        Ok(stale) if stale.is_empty() => return None,
        Ok(stale) => stale,
        Err(e) => {
            ctx.printer.log(format!("smoke: warning: cannot look for probes of earlier runs: {e}"));
            return None;
        }
    };
    let since = Instant::now();
    let mut cleanup = Cleanup::default();
    let check = cleanup::clean(&ctx.clients.s3, &ctx.bucket, &stale, &mut cleanup).await;
    ctx.printer.log(format!(
        "smoke: removed {} probe versions that earlier runs left under {} (started over an hour ago)",
        cleanup.versions_deleted,
        stale.join(", ")
    ));
    let mut check = check.took(since);
    check.name = "earlier runs' probes".into();
    state.checks.push(check);
    Some(cleanup)
}

/// Runs `work` to its end, or until Ctrl-C (None).
async fn until_ctrl_c<T>(work: impl Future<Output = T>, handle: bool) -> Option<T> {
    let mut work = std::pin::pin!(work);
    if handle {
        let interrupted = tokio::select! {
            done = &mut work => return Some(done),
            signal = tokio::signal::ctrl_c() => signal.is_ok(),
        };
        if interrupted {
            return None;
        }
        // No signal handler could be installed: nothing can interrupt the work then.
    }
    Some(work.await)
}

/// The probes 1-5, in order; each records its checks in `state`.
async fn probes(ctx: &Ctx<'_>, state: &mut State) {
    ctx.progress("probe object");
    let check = object::object(ctx, state).await;
    state.checks.push(check);

    ctx.progress("versioning");
    let check = object::versioning(ctx, state).await;
    state.checks.push(check);

    // The roles first: a queue's consumer receives its notification's probe event as itself. Waiting for the
    // notifications (seconds on AWS) overlaps the transport and access probes, which overlap each other (their
    // keys differ); the checks are reported in the probes' order all the same.
    ctx.progress("notifications, transport and least privilege");
    let roles = access::assume_roles(ctx).await;
    let ((notifications, as_consumers), transport, (checks, rows)) = futures::join!(
        notify::notifications(ctx, &roles),
        transport::transport(ctx, &roles),
        access::least_privilege(ctx, &roles)
    );
    // The consumers' queue rows use what the notification check saw them do.
    let (queue_checks, queue_rows) = queues::consumers(ctx, &roles, &as_consumers).await;
    state.checks.extend(notifications);
    state.checks.push(transport);
    state.checks.extend(checks);
    state.checks.extend(queue_checks);
    state.matrix.extend(rows);
    state.matrix.extend(queue_rows);
}

/// The prefixes under which a run writes in its own namespace, besides the probe prefix (see [`keys::Layout`]):
/// those of access entries the deployer may assume, and the filter prefixes of the notifications it probes.
fn namespace_prefixes(config: &Config, layout: &Layout) -> Vec<String> {
    let entries =
        config.access.iter().filter(|e| access::assumable(config, e)).flat_map(|e| e.prefixes.iter().cloned());
    entries.chain(notify::namespace_prefixes(config, layout)).collect()
}

/// The outcome of a request whose access is being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Observed {
    Allow,
    Deny,
    /// No answer: the connection failed or timed out.
    Unreachable(String),
    Error(String),
}

impl Observed {
    fn of<T, E>(result: std::result::Result<T, SdkError<E, HttpResponse>>, operation: &str) -> Observed
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Observed::Allow,
            Err(error) if denied(&error) => Observed::Deny,
            Err(error @ (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))) => {
                Observed::Unreachable(aws_error(error, operation).to_string())
            }
            Err(error) => Observed::Error(aws_error(error, operation).to_string()),
        }
    }

    fn label(&self) -> String {
        match self {
            Observed::Allow => "allow".to_string(),
            Observed::Deny => "deny".to_string(),
            Observed::Unreachable(e) | Observed::Error(e) => format!("error: {e}"),
        }
    }
}

/// Whether S3 or SQS refused a request for lack of permission: code `AccessDenied` (also for a KMS key the caller
/// may not use; SQS's JSON protocol may name it `AccessDeniedException`), or a bare 403 (HEAD responses carry no
/// error code).
fn denied<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error.code() {
        Some(code) => code == "AccessDenied" || code == "AccessDeniedException",
        None => error.raw_response().is_some_and(|r| r.status().as_u16() == 403),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The live configuration as checks (one per property), then the probes. Takes the deployed stack's outputs and
/// tags.
pub async fn verify(
    aws: &Aws,
    config: &Config,
    rendered: &Rendered,
    account: &str,
    (outputs, stack_tags): (&BTreeMap<String, String>, &BTreeMap<String, String>),
    printer: &Printer,
) -> Result<(Vec<Check>, ProbeReport)> {
    let findings = crate::live::check(aws, rendered, account, stack_tags).await?;
    let live = findings.iter().map(live_check).collect();
    let report = run_probes(aws, config, outputs, printer, &ProbeOptions::new(aws)).await?;
    Ok((live, report))
}

/// A compared property as a smoke check: `ok`, or what differs with both values.
fn live_check(finding: &Finding) -> Check {
    let observed = match (&finding.detail, finding.ok()) {
        (_, true) => "as configured".to_string(),
        (Some(detail), false) => detail.clone(),
        (None, false) if finding.actual.is_null() => "missing".to_string(),
        (None, false) => finding.actual.to_string(),
    };
    let mut check = Check::new(
        format!("live {} {}", finding.resource, finding.property),
        finding.ok(),
        finding.expected.to_string(),
        observed,
    );
    check.latency_ms = finding.latency_ms;
    check
}
