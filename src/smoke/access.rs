//! Probe 5, least privilege: each access entry's allowed actions work and the others are denied, inside its
//! prefixes and outside them.
//!
//! Where the deployer may assume the entry's role (`smoke.trust_deployer`, test and local envs), the requests are
//! real, signed as the role, over the configured endpoint (HTTPS on AWS; the bucket policy denies plain HTTP to
//! everyone). Elsewhere (protected envs, existing roles and users) IAM's SimulatePrincipalPolicy answers for the
//! principal, with `aws:SecureTransport` true and, for ListBucket, the `s3:prefix` asked for.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::clients::{Session, plain_http_endpoint};
use super::{AccessRow, Check, Ctx, Method, Observed, Roles, Scope};
use crate::aws::aws_error;
use crate::config::{Access, Config, Principal, Verb};
use crate::ids::pascal;

/// The requests of the access matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Action {
    Put,
    Get,
    List,
    Delete,
}

impl Action {
    /// In the order they are made: a write, then a read and a listing of what is there, then a delete.
    pub const ALL: [Action; 4] = [Action::Put, Action::Get, Action::List, Action::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Action::Put => "PutObject",
            Action::Get => "GetObject",
            Action::List => "ListBucket",
            Action::Delete => "DeleteObject",
        }
    }

    pub fn verb(self) -> Verb {
        match self {
            Action::Put => Verb::Write,
            Action::Get => Verb::Read,
            Action::List => Verb::List,
            Action::Delete => Verb::Delete,
        }
    }

    fn iam_action(self) -> String {
        format!("s3:{}", self.name())
    }
}

/// Where one scope's requests go: a directory in the run's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProbeDir {
    pub scope: Scope,
    /// Ends in `/`; ListBucket lists it.
    pub dir: String,
}

impl ProbeDir {
    /// The key (or listed prefix) an action uses here: PutObject writes a new key, GetObject and DeleteObject use
    /// the seed the deployer wrote first (GetObject of a missing key is denied, not 404, without ListBucket).
    pub fn key(&self, action: Action) -> String {
        match action {
            Action::Put => format!("{}put.json", self.dir),
            Action::Get | Action::Delete => self.seed(),
            Action::List => self.dir.clone(),
        }
    }

    pub fn seed(&self) -> String {
        format!("{}seed.json", self.dir)
    }
}

/// The places of an entry: inside each of its prefixes, and outside all of them (under the probe prefix).
pub(super) fn probe_dirs(layout: &super::keys::Layout, entry: &Access) -> Vec<ProbeDir> {
    entry
        .prefixes
        .iter()
        .map(|p| ProbeDir { scope: Scope::Inside, dir: layout.inside(p, &entry.name) })
        .chain(std::iter::once(ProbeDir { scope: Scope::Outside, dir: layout.outside(&entry.name) }))
        .collect()
}

/// Whether the env file lets `entry` do `action` on `key` (for ListBucket: list under the prefix `key`).
pub(super) fn expected(entry: &Access, action: Action, key: &str) -> bool {
    entry.verbs.contains(&action.verb()) && entry.prefixes.iter().any(|p| key.starts_with(p.as_str()))
}

fn allow_deny(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

/// Whether the deployer may assume the entry's role: a role this tool creates, with the deploying account in its
/// trust (`smoke.trust_deployer`, refused for protected envs by validation).
pub(super) fn assumable(config: &Config, entry: &Access) -> bool {
    config.smoke.trust_deployer && matches!(entry.principal, Principal::Service { .. })
}

fn role_output(entry: &Access) -> String {
    format!("{}RoleArn", pascal(&entry.name))
}

const ASSUME_HINT: &str = "may the deployer call sts:AssumeRole on it? \
    With smoke.trust_deployer: false the policy simulator is asked instead";

/// Assumes the role of every assumable entry (at once); by entry name.
pub(super) async fn assume_roles(ctx: &Ctx<'_>) -> Roles {
    let session_name = format!("provision-smoke-{}", ctx.layout.run_id());
    let http = plain_http_endpoint(ctx.s3_endpoint.as_deref(), &ctx.region);
    let work = ctx.config.access.iter().filter(|e| assumable(ctx.config, e)).map(|entry| {
        let (session_name, http) = (&session_name, &http);
        async move {
            let session = match ctx.outputs.get(&role_output(entry)) {
                None => Err(format!("the stack has no output {}", role_output(entry))),
                Some(arn) => ctx
                    .clients
                    .assume(arn, session_name, ctx.options.iam_propagation)
                    .await
                    .map(|credentials| Session {
                        role_arn: arn.clone(),
                        s3: ctx.clients.s3_as(Some(credentials.clone()), None),
                        sqs: ctx.clients.sqs_as(credentials.clone()),
                        s3_http: ctx.clients.s3_as(Some(credentials), Some(http)),
                    })
                    .map_err(|e| format!("cannot assume {arn}: {e} ({ASSUME_HINT})")),
            };
            (entry.name.clone(), session)
        }
    });
    futures::future::join_all(work).await.into_iter().collect()
}

/// Makes one request of the access matrix.
pub(super) async fn perform(s3: &aws_sdk_s3::Client, bucket: &str, action: Action, key: &str) -> Observed {
    match action {
        Action::Put => Observed::of(
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .content_type("application/json")
                .body(ByteStream::from_static(b"{\"probe\":\"provision smoke access check\"}"))
                .send()
                .await,
            "PutObject",
        ),
        Action::Get => Observed::of(s3.get_object().bucket(bucket).key(key).send().await, "GetObject"),
        Action::List => {
            Observed::of(s3.list_objects_v2().bucket(bucket).prefix(key).max_keys(10).send().await, "ListObjectsV2")
        }
        Action::Delete => Observed::of(s3.delete_object().bucket(bucket).key(key).send().await, "DeleteObject"),
    }
}

/// Writes the seed object of a place as the deployer.
pub(super) async fn seed(ctx: &Ctx<'_>, key: &str) -> Result<(), String> {
    ctx.clients
        .s3
        .put_object()
        .bucket(&ctx.bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from_static(b"{\"probe\":\"provision smoke seed\"}"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error(e, "PutObject").to_string())
}

/// Probe 5 for every entry (at once): one check per entry and the rows of the access matrix.
pub(super) async fn least_privilege(ctx: &Ctx<'_>, roles: &Roles) -> (Vec<Check>, Vec<AccessRow>) {
    let work = ctx.config.access.iter().map(|entry| entry_check(ctx, roles, entry));
    let mut checks = Vec::new();
    let mut rows = Vec::new();
    for (check, entry_rows) in futures::future::join_all(work).await {
        checks.push(check);
        rows.extend(entry_rows);
    }
    (checks, rows)
}

async fn entry_check(ctx: &Ctx<'_>, roles: &Roles, entry: &Access) -> (Check, Vec<AccessRow>) {
    let started = Instant::now();
    let places = probe_dirs(&ctx.layout, entry);
    let (rows, how) = if assumable(ctx.config, entry) {
        match roles.get(&entry.name) {
            Some(Ok(session)) if ctx.tls() => (requests(ctx, entry, session, &places).await, "as its role".to_string()),
            Some(Ok(_)) => {
                let reason = format!(
                    "the endpoint {} is plain HTTP, and the bucket policy denies every request over plain HTTP to \
                     a role: use the endpoint's HTTPS form (for the emulator: https://… with \
                     --ca-bundle \"$(scripts/local-aws ca-bundle)\")",
                    ctx.s3_endpoint.as_deref().unwrap_or_default()
                );
                (not_checked(entry, &places, &reason), String::new())
            }
            Some(Err(e)) => {
                // Said once, in the check; the rows only point at it.
                let (name, expected) = check_text(entry);
                return (Check::fail(name, expected, e.clone()).took(started), unassumed(entry, &places));
            }
            None => {
                let (name, expected) = check_text(entry);
                let check = Check::fail(name, expected, "the role was not assumed");
                return (check.took(started), unassumed(entry, &places));
            }
        }
    } else {
        match principal_arn(ctx, entry) {
            Ok(arn) => {
                let how = format!("simulated for {arn}");
                (simulate_entry(ctx, entry, &arn, &places).await, how)
            }
            Err(reason) => (not_checked(entry, &places, &reason), String::new()),
        }
    };
    (summarize(entry, &rows, &how).took(started), rows)
}

/// The name and the expectation of an entry's check.
fn check_text(entry: &Access) -> (String, String) {
    let verbs: Vec<&str> = entry.verbs.iter().map(|v| v.name()).collect();
    let expected = format!("{} on {} only; everything else denied", verbs.join(", "), entry.prefixes.join(", "));
    (format!("access {}", entry.name), expected)
}

/// The check of one entry, from its rows.
pub(super) fn summarize(entry: &Access, rows: &[AccessRow], how: &str) -> Check {
    let (name, expected) = check_text(entry);
    if rows.iter().all(|r| r.method == Method::NotChecked) {
        let reason = rows
            .first()
            .map(|r| r.observed.trim_start_matches("not checked: ").to_string())
            .unwrap_or_else(|| "nothing to check".to_string());
        return Check::skip(name, expected, reason);
    }
    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{} {} ({}): {}, expected {}", r.action, r.scope.name(), r.key, r.observed, r.expected))
        .collect();
    if wrong.is_empty() {
        let checked = rows.iter().filter(|r| r.method != Method::NotChecked).count();
        Check::pass(name, expected, format!("{checked}/{} requests as expected ({how})", rows.len()))
    } else {
        Check::fail(name, expected, wrong.join("; "))
    }
}

fn row(entry: &Access, action: Action, place: &ProbeDir, observed: String, ok: bool, method: Method) -> AccessRow {
    let key = place.key(action);
    AccessRow {
        entry: entry.name.clone(),
        action: action.name().to_string(),
        scope: place.scope,
        expected: allow_deny(expected(entry, action, &key)).to_string(),
        key,
        observed,
        ok,
        method,
        note: None,
    }
}

fn not_checked(entry: &Access, places: &[ProbeDir], reason: &str) -> Vec<AccessRow> {
    places
        .iter()
        .flat_map(|place| {
            Action::ALL.map(|a| row(entry, a, place, format!("not checked: {reason}"), true, Method::NotChecked))
        })
        .collect()
}

fn unassumed(entry: &Access, places: &[ProbeDir]) -> Vec<AccessRow> {
    let observed = "error: the role could not be assumed";
    places
        .iter()
        .flat_map(|place| Action::ALL.map(|a| row(entry, a, place, observed.to_string(), false, Method::Request)))
        .collect()
}

/// Real requests as the entry's role, every place at once. In a place, the deployer writes a seed that the role
/// then reads and deletes (in that order); its write and its listing go alongside.
async fn requests(ctx: &Ctx<'_>, entry: &Access, session: &Session, places: &[ProbeDir]) -> Vec<AccessRow> {
    let deadline = Instant::now() + ctx.options.iam_propagation;
    let work = places.iter().map(|place| async move {
        let seeded = async {
            match seed(ctx, &place.seed()).await {
                Ok(()) => vec![
                    request(ctx, entry, session, place, Action::Get, deadline).await,
                    request(ctx, entry, session, place, Action::Delete, deadline).await,
                ],
                Err(e) => [Action::Get, Action::Delete]
                    .map(|action| {
                        let observed = format!("error: the seed object could not be written: {e}");
                        row(entry, action, place, observed, false, Method::Request)
                    })
                    .to_vec(),
            }
        };
        let (put, list, mut rows) = futures::join!(
            request(ctx, entry, session, place, Action::Put, deadline),
            request(ctx, entry, session, place, Action::List, deadline),
            seeded
        );
        rows.extend([put, list]);
        rows.sort_by_key(|r| Action::ALL.iter().position(|a| a.name() == r.action));
        rows
    });
    futures::future::join_all(work).await.into_iter().flatten().collect()
}

/// One request of the matrix as the role.
async fn request(
    ctx: &Ctx<'_>,
    entry: &Access,
    session: &Session,
    place: &ProbeDir,
    action: Action,
    deadline: Instant,
) -> AccessRow {
    let key = place.key(action);
    let want = expected(entry, action, &key);
    let mut observed = perform(&session.s3, &ctx.bucket, action, &key).await;
    // Right after a deploy, AWS may not apply a new policy everywhere yet: retry a denied allowed request.
    while want && observed == Observed::Deny && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        observed = perform(&session.s3, &ctx.bucket, action, &key).await;
    }
    let mut ok = observed == if want { Observed::Allow } else { Observed::Deny };
    let mut note = None;
    if !ok && want && action == Action::List && observed == Observed::Deny && ctx.custom_endpoint() {
        (ok, note) = emulator_list_gap(ctx, &session.role_arn, &key).await;
    }
    let mut r = row(entry, action, place, observed.label(), ok, Method::Request);
    r.note = note;
    r
}

/// localemu (1.3.2) does not set the `s3:prefix` condition key, so it denies every ListBucket that a policy allows
/// only under a prefix (as ours always are). On such an endpoint the denied request is accepted when IAM's policy
/// simulator confirms that the role's policies grant the listing.
async fn emulator_list_gap(ctx: &Ctx<'_>, role_arn: &str, prefix: &str) -> (bool, Option<String>) {
    let gap = "emulator gap: localemu does not set the s3:prefix condition key and denies prefix-scoped listings";
    match simulate(ctx, role_arn, &[Action::List.iam_action()], &[bucket_arn(ctx)], &list_context(prefix), None).await {
        Ok(decisions) if decisions.values().all(|d| *d == Observed::Allow) && !decisions.is_empty() => {
            (true, Some(format!("{gap}; the policy simulator allows it")))
        }
        Ok(_) => (false, Some(format!("{gap}; the policy simulator does not allow it either"))),
        Err(Simulation::NotChecked(e) | Simulation::Failed(e)) => {
            (false, Some(format!("{gap}; the policy simulator could not confirm it: {e}")))
        }
    }
}

/// The principal of an entry that cannot be assumed, for the simulator.
pub(super) fn principal_arn(ctx: &Ctx<'_>, entry: &Access) -> Result<String, String> {
    match &entry.principal {
        Principal::Service { .. } => ctx
            .outputs
            .get(&role_output(entry))
            .cloned()
            .ok_or_else(|| format!("the stack has no output {}", role_output(entry))),
        Principal::Role { arn, .. } => Ok(arn.clone()),
        Principal::User { name } => {
            let output = format!("{}PolicyArn", pascal(&entry.name));
            let policy = ctx.outputs.get(&output).ok_or_else(|| format!("the stack has no output {output}"))?;
            let (_, account) = crate::names::arn_region_account(policy)
                .ok_or_else(|| format!("output {output} is not an ARN: {policy}"))?;
            Ok(format!("arn:{}:iam::{account}:user/{name}", ctx.partition))
        }
    }
}

fn bucket_arn(ctx: &Ctx<'_>) -> String {
    format!("arn:{}:s3:::{}", ctx.partition, ctx.bucket)
}

fn object_arn(ctx: &Ctx<'_>, key: &str) -> String {
    format!("{}/{key}", bucket_arn(ctx))
}

pub(super) fn context(key: &str, value: &str, kind: ContextKeyTypeEnum) -> ContextEntry {
    ContextEntry::builder().context_key_name(key).context_key_values(value).context_key_type(kind).build()
}

/// The request context of a listing: over TLS, under `prefix`.
fn list_context(prefix: &str) -> Vec<ContextEntry> {
    vec![
        context("aws:SecureTransport", "true", ContextKeyTypeEnum::Boolean),
        context("s3:prefix", prefix, ContextKeyTypeEnum::String),
    ]
}

/// Why a simulation gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Simulation {
    /// The API is missing (an emulator) or the deployer may not call it: the rows are "not checked".
    NotChecked(String),
    /// Another error: the rows fail.
    Failed(String),
}

/// SimulatePrincipalPolicy for `principal`: the decision of each (action, resource) pair.
pub(super) async fn simulate(
    ctx: &Ctx<'_>,
    principal: &str,
    actions: &[String],
    resources: &[String],
    context: &[ContextEntry],
    resource_policy: Option<&str>,
) -> Result<BTreeMap<(String, String), Observed>, Simulation> {
    let mut decisions = BTreeMap::new();
    let mut results = ctx
        .clients
        .iam
        .simulate_principal_policy()
        .policy_source_arn(principal)
        .set_action_names(Some(actions.to_vec()))
        .set_resource_arns(Some(resources.to_vec()))
        .set_context_entries(Some(context.to_vec()))
        .set_resource_policy(resource_policy.map(str::to_string))
        .into_paginator()
        .items()
        .send();
    while let Some(result) = results.next().await {
        let result = result.map_err(simulation_error)?;
        let observed = match result.eval_decision() {
            PolicyEvaluationDecisionType::Allowed => Observed::Allow,
            PolicyEvaluationDecisionType::ExplicitDeny | PolicyEvaluationDecisionType::ImplicitDeny => Observed::Deny,
            other => Observed::Error(format!("unknown decision {}", other.as_str())),
        };
        let resource = result.eval_resource_name().unwrap_or_default().to_string();
        decisions.insert((result.eval_action_name().to_string(), resource), observed);
    }
    Ok(decisions)
}

fn simulation_error<E>(error: aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::http::Response>) -> Simulation
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let missing = crate::aws::not_implemented(&error)
        || error.code() == Some("NotImplemented")
        || (error.code() == Some("InternalFailure")
            && error.message().is_some_and(|m| m.contains("not been implemented") || m.contains("not implemented")));
    let denied = error.code() == Some("AccessDenied");
    let text = aws_error(error, "SimulatePrincipalPolicy").to_string();
    if missing {
        Simulation::NotChecked(format!("the endpoint has no IAM policy simulator ({text})"))
    } else if denied {
        Simulation::NotChecked(format!("the deployer may not call iam:SimulatePrincipalPolicy ({text})"))
    } else {
        Simulation::Failed(text)
    }
}

/// The bucket policy as it is now, for the simulator (None when the bucket has none).
async fn bucket_policy(ctx: &Ctx<'_>) -> Result<Option<String>, String> {
    match ctx.clients.s3.get_bucket_policy().bucket(&ctx.bucket).send().await {
        Ok(output) => Ok(output.policy),
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => Ok(None),
        Err(e) => Err(aws_error(e, "GetBucketPolicy").to_string()),
    }
}

/// The access matrix of an entry from IAM's policy simulator. The bucket policy is passed as resource policy for
/// IAM users only: for a role, IAM requires a CallerArn naming an IAM user along with a resource policy. Our bucket
/// policy only denies requests without TLS (or with old TLS), which the simulated requests are not, so leaving it
/// out does not change a role's answers.
pub(super) async fn simulate_entry(
    ctx: &Ctx<'_>,
    entry: &Access,
    principal: &str,
    places: &[ProbeDir],
) -> Vec<AccessRow> {
    let resource_policy = if matches!(entry.principal, Principal::User { .. }) {
        match bucket_policy(ctx).await {
            Ok(policy) => policy,
            Err(e) => return failed(entry, places, &e),
        }
    } else {
        None
    };
    let object_actions: Vec<String> =
        [Action::Put, Action::Get, Action::Delete].iter().map(|a| a.iam_action()).collect();
    let mut resources: Vec<String> =
        places.iter().flat_map(|p| [object_arn(ctx, &p.key(Action::Put)), object_arn(ctx, &p.seed())]).collect();
    resources.dedup();
    let tls = [context("aws:SecureTransport", "true", ContextKeyTypeEnum::Boolean)];
    let mut decisions =
        match simulate(ctx, principal, &object_actions, &resources, &tls, resource_policy.as_deref()).await {
            Ok(decisions) => decisions,
            Err(Simulation::NotChecked(reason)) => return not_checked(entry, places, &reason),
            Err(Simulation::Failed(e)) => return failed(entry, places, &e),
        };
    for place in places {
        let listed = simulate(
            ctx,
            principal,
            &[Action::List.iam_action()],
            &[bucket_arn(ctx)],
            &list_context(&place.dir),
            resource_policy.as_deref(),
        )
        .await;
        match listed {
            Ok(found) => {
                for ((action, _), observed) in found {
                    decisions.insert((action, place.dir.clone()), observed);
                }
            }
            Err(Simulation::NotChecked(reason)) => return not_checked(entry, places, &reason),
            Err(Simulation::Failed(e)) => return failed(entry, places, &e),
        }
    }
    let mut rows = Vec::new();
    // The principal's own policies, read once if the emulator's simulator gap needs them.
    let mut documents = None;
    for place in places {
        for action in Action::ALL {
            let key = place.key(action);
            let lookup = match action {
                Action::List => (action.iam_action(), place.dir.clone()),
                _ => (action.iam_action(), object_arn(ctx, &key)),
            };
            let observed = decisions
                .get(&lookup)
                .cloned()
                .unwrap_or_else(|| Observed::Error("the simulator gave no decision".to_string()));
            let want = expected(entry, action, &key);
            let mut ok = observed == if want { Observed::Allow } else { Observed::Deny };
            let mut note = None;
            if !ok && !want && action == Action::List && observed == Observed::Allow && ctx.custom_iam {
                if documents.is_none() {
                    documents = Some(super::policy_eval::identity_policies(&ctx.clients.iam, principal).await);
                }
                if let Some(documents) = &documents {
                    (ok, note) = simulator_condition_gap(ctx, documents, &place.dir);
                }
            }
            let mut r = row(entry, action, place, observed.label(), ok, Method::Simulated);
            r.note = note;
            rows.push(r);
        }
    }
    rows
}

/// localemu's policy simulator (1.3.2) ignores `Condition` blocks and context entries, so it allows a
/// prefix-scoped listing under any prefix. On a custom IAM endpoint such an "allow" where the entry grants no
/// listing is accepted only when the principal's own policies (read from IAM: attached, inline, and its groups'),
/// evaluated with the request's `s3:prefix`, do not allow it. On AWS the simulator's answer stands.
fn simulator_condition_gap(
    ctx: &Ctx<'_>,
    documents: &Result<Vec<serde_json::Value>, String>,
    prefix: &str,
) -> (bool, Option<String>) {
    let gap = "emulator gap: localemu's policy simulator ignores conditions (s3:prefix) and allows every listing \
               that a policy grants under some prefix";
    let request = super::policy_eval::Listing { bucket_arn: &bucket_arn(ctx), prefix };
    let evaluated = documents.as_ref().map_err(String::clone).and_then(|d| super::policy_eval::allows(d, request));
    match evaluated {
        Ok(false) => {
            (true, Some(format!("{gap}; the principal's policies, evaluated with s3:prefix {prefix}, deny it")))
        }
        Ok(true) => {
            (false, Some(format!("{gap}; the principal's policies, evaluated with s3:prefix {prefix}, allow it too")))
        }
        Err(e) => (false, Some(format!("{gap}; the principal's policies could not be evaluated: {e}"))),
    }
}

fn failed(entry: &Access, places: &[ProbeDir], error: &str) -> Vec<AccessRow> {
    places
        .iter()
        .flat_map(|place| {
            Action::ALL.map(|a| row(entry, a, place, format!("error: {error}"), false, Method::Simulated))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::smoke::keys::Layout;

    fn entry(verbs: &[Verb], prefixes: &[&str]) -> Access {
        Access {
            name: "writer".to_string(),
            principal: Principal::Service { service: "lambda.amazonaws.com".to_string() },
            verbs: verbs.iter().copied().collect::<BTreeSet<_>>(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            managed_policies: Vec::new(),
        }
    }

    #[test]
    fn places_inside_each_prefix_and_outside() {
        let layout = Layout::new("_probe/", "R1");
        let places = probe_dirs(&layout, &entry(&[Verb::Write], &["calls/", "archive/"]));
        assert_eq!(
            places,
            [
                ProbeDir { scope: Scope::Inside, dir: "calls/_probe/R1/writer/".to_string() },
                ProbeDir { scope: Scope::Inside, dir: "archive/_probe/R1/writer/".to_string() },
                ProbeDir { scope: Scope::Outside, dir: "_probe/R1/access/writer/".to_string() },
            ]
        );
        assert_eq!(places[0].key(Action::Put), "calls/_probe/R1/writer/put.json");
        assert_eq!(places[0].key(Action::Get), "calls/_probe/R1/writer/seed.json");
        assert_eq!(places[0].key(Action::List), "calls/_probe/R1/writer/");
    }

    #[test]
    fn expected_follows_verbs_and_prefixes() {
        let writer = entry(&[Verb::Write, Verb::Read], &["calls/"]);
        assert!(expected(&writer, Action::Put, "calls/_probe/R1/writer/put.json"));
        assert!(expected(&writer, Action::Get, "calls/_probe/R1/writer/seed.json"));
        assert!(!expected(&writer, Action::List, "calls/_probe/R1/writer/"));
        assert!(!expected(&writer, Action::Delete, "calls/_probe/R1/writer/seed.json"));
        assert!(!expected(&writer, Action::Put, "_probe/R1/access/writer/put.json"));
        // An entry whose prefix covers the probe prefix is allowed there too: expectations follow the keys.
        let wide = entry(&[Verb::Write], &["_probe/"]);
        assert!(expected(&wide, Action::Put, "_probe/R1/access/writer/put.json"));
    }

    #[test]
    fn summary_names_each_unexpected_request() {
        let writer = entry(&[Verb::Write], &["calls/"]);
        let place = ProbeDir { scope: Scope::Inside, dir: "calls/_probe/R1/writer/".to_string() };
        let rows = vec![
            row(&writer, Action::Put, &place, "deny".to_string(), false, Method::Request),
            row(&writer, Action::Get, &place, "deny".to_string(), true, Method::Request),
        ];
        let check = summarize(&writer, &rows, "as its role");
        assert!(!check.ok);
        assert_eq!(check.expected, "write on calls/ only; everything else denied");
        assert_eq!(check.observed, "PutObject inside (calls/_probe/R1/writer/put.json): deny, expected allow");
        let fine = summarize(&writer, &rows[1..], "as its role");
        assert!(fine.ok);
        assert_eq!(fine.observed, "1/1 requests as expected (as its role)");
        let skipped = summarize(&writer, &not_checked(&writer, &[place], "no simulator"), "");
        assert!(skipped.ok && skipped.skipped);
        assert_eq!(skipped.observed, "skipped: no simulator");
    }
}
