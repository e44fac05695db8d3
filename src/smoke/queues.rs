//! Probe 5, queue consumers: each consumer of a queue notification may receive its messages, change their
//! visibility, delete them, read the queue's attributes and find its URL (as CDK's `grantConsumeMessages`), and
//! another access entry may do none of it. One check per such notification; the requests are rows of the access
//! matrix, keyed by the queue's ARN (scope `inside` for a consumer, `outside` for the other entry).
//!
//! Where the deployer may assume an entry's role (`smoke.trust_deployer`, test and local envs), the requests are
//! real, signed as the role. A consumer's ReceiveMessage, ChangeMessageVisibility and DeleteMessage are the ones
//! the notification check made as it, on this run's own messages; its GetQueueAttributes and GetQueueUrl are made
//! here. The other entry's requests are made here and must be denied: its ReceiveMessage asks for one message
//! without waiting and with a visibility timeout of 0 (were it allowed, the message would stay visible), and its
//! DeleteMessage and ChangeMessageVisibility carry a receipt handle that names no message (IAM decides before SQS
//! reads the handle; were they allowed, SQS would answer `ReceiptHandleIsInvalid`, and the row fails).
//! Elsewhere, and for a consumer whose requests the notification check did not make, IAM's policy simulator
//! answers for the principal on the queue's ARN.

use std::time::{Duration, Instant};

use aws_sdk_iam::types::ContextKeyTypeEnum;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::access::{Simulation, assumable, context, principal_arn, simulate};
use super::clients::Session;
use super::notify::AsConsumer;
use super::{AccessRow, Check, Ctx, Method, Observed, Roles, Scope};
use crate::config::{Access, Notification, Target};
use crate::ids::pascal;

/// The requests of a consumer, in the order a worker makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueueAction {
    GetUrl,
    GetAttributes,
    Receive,
    ChangeVisibility,
    Delete,
}

impl QueueAction {
    pub const ALL: [QueueAction; 5] = [
        QueueAction::GetUrl,
        QueueAction::GetAttributes,
        QueueAction::Receive,
        QueueAction::ChangeVisibility,
        QueueAction::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueueAction::GetUrl => "GetQueueUrl",
            QueueAction::GetAttributes => "GetQueueAttributes",
            QueueAction::Receive => "ReceiveMessage",
            QueueAction::ChangeVisibility => "ChangeMessageVisibility",
            QueueAction::Delete => "DeleteMessage",
        }
    }

    fn iam_action(self) -> String {
        format!("sqs:{}", self.name())
    }
}

/// A receipt handle that names no message: the other entry's DeleteMessage and ChangeMessageVisibility carry it.
const NO_MESSAGE: &str = "provision-smoke-names-no-message";

/// The entries whose access to a notification's queue is checked: its consumers (expected allowed), then the first
/// other entry (expected denied), if there is one.
pub(super) fn members<'a>(entries: &'a [Access], n: &Notification) -> Vec<(&'a Access, bool)> {
    let consumers = entries.iter().filter(|e| n.consumers.contains(&e.name)).map(|e| (e, true));
    let other = entries.iter().find(|e| !n.consumers.contains(&e.name)).map(|e| (e, false));
    consumers.chain(other).collect()
}

/// One check per queue notification with consumers, and the rows of the access matrix.
pub(super) async fn consumers(ctx: &Ctx<'_>, roles: &Roles, seen: &[AsConsumer]) -> (Vec<Check>, Vec<AccessRow>) {
    let work = ctx
        .config
        .notifications
        .iter()
        .filter(|n| n.target == Target::Queue && !n.consumers.is_empty())
        .map(|n| notification(ctx, roles, seen, n));
    let mut checks = Vec::new();
    let mut rows = Vec::new();
    for (check, found) in futures::future::join_all(work).await {
        checks.push(check);
        rows.extend(found);
    }
    (checks, rows)
}

/// The queue a notification's stack outputs name: (ARN, URL).
fn queue(ctx: &Ctx<'_>, n: &Notification) -> Result<(String, String), String> {
    let output = |suffix: &str| {
        let name = format!("{}Queue{suffix}", pascal(&n.name));
        ctx.outputs.get(&name).cloned().ok_or_else(|| format!("the stack has no output {name}"))
    };
    Ok((output("Arn")?, output("Url")?))
}

async fn notification(ctx: &Ctx<'_>, roles: &Roles, seen: &[AsConsumer], n: &Notification) -> (Check, Vec<AccessRow>) {
    let started = Instant::now();
    let members = members(&ctx.config.access, n);
    let name = format!("consumers {}", n.name);
    let mut expected =
        format!("{} receive, delete and extend its messages, read its attributes and URL", n.consumers.join(", "));
    if let Some((other, _)) = members.iter().find(|(_, consumer)| !consumer) {
        expected.push_str(&format!("; {} may not", other.name));
    }
    let (arn, url) = match queue(ctx, n) {
        Ok(queue) => queue,
        Err(reason) => return (Check::skip(name, expected, reason), Vec::new()),
    };
    let work = members.iter().map(|(entry, consumer)| {
        let (arn, url) = (&arn, &url);
        async move {
            let own = seen.iter().find(|s| s.notification == n.name && s.entry == entry.name);
            entry_rows(ctx, roles, entry, *consumer, own, arn, url).await
        }
    });
    let rows: Vec<AccessRow> = futures::future::join_all(work).await.into_iter().flatten().collect();
    (summarize(name, expected, &rows).took(started), rows)
}

/// The check of a queue, from its rows (as an access entry's check is made from its own).
pub(super) fn summarize(name: String, expected: String, rows: &[AccessRow]) -> Check {
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
        .map(|r| format!("{} {}: {}, expected {}", r.entry, r.action, r.observed, r.expected))
        .collect();
    if wrong.is_empty() {
        let checked = rows.iter().filter(|r| r.method != Method::NotChecked).count();
        let how: Vec<&str> = [(Method::Request, "as their roles"), (Method::Simulated, "simulated")]
            .into_iter()
            .filter(|(method, _)| rows.iter().any(|r| r.method == *method))
            .map(|(_, how)| how)
            .collect();
        Check::pass(name, expected, format!("{checked}/{} requests as expected ({})", rows.len(), how.join(", ")))
    } else {
        Check::fail(name, expected, wrong.join("; "))
    }
}

fn row(
    entry: &Access,
    action: QueueAction,
    consumer: bool,
    arn: &str,
    observed: &Observed,
    method: Method,
) -> AccessRow {
    let want = if consumer { Observed::Allow } else { Observed::Deny };
    AccessRow {
        entry: entry.name.clone(),
        action: action.name().to_string(),
        scope: if consumer { Scope::Inside } else { Scope::Outside },
        key: arn.to_string(),
        expected: if consumer { "allow" } else { "deny" }.to_string(),
        observed: observed.label(),
        ok: *observed == want,
        method,
        note: None,
    }
}

fn labelled(entry: &Access, consumer: bool, arn: &str, observed: &str, ok: bool, method: Method) -> Vec<AccessRow> {
    QueueAction::ALL
        .iter()
        .map(|&action| AccessRow {
            observed: observed.to_string(),
            ok,
            ..row(entry, action, consumer, arn, &Observed::Allow, method)
        })
        .collect()
}

async fn entry_rows(
    ctx: &Ctx<'_>,
    roles: &Roles,
    entry: &Access,
    consumer: bool,
    own: Option<&AsConsumer>,
    arn: &str,
    url: &str,
) -> Vec<AccessRow> {
    if assumable(ctx.config, entry) {
        return match roles.get(&entry.name) {
            Some(Ok(session)) => requests(ctx, session, entry, consumer, own, arn, url).await,
            _ => labelled(entry, consumer, arn, "error: the role could not be assumed", false, Method::Request),
        };
    }
    match principal_arn(ctx, entry) {
        Ok(principal) => simulated(ctx, entry, consumer, &principal, &QueueAction::ALL, arn).await,
        Err(reason) => labelled(entry, consumer, arn, &format!("not checked: {reason}"), true, Method::NotChecked),
    }
}

/// The rows of `actions` from IAM's policy simulator for `principal` on the queue.
async fn simulated(
    ctx: &Ctx<'_>,
    entry: &Access,
    consumer: bool,
    principal: &str,
    actions: &[QueueAction],
    arn: &str,
) -> Vec<AccessRow> {
    let names: Vec<String> = actions.iter().map(|a| a.iam_action()).collect();
    let tls = [context("aws:SecureTransport", "true", ContextKeyTypeEnum::Boolean)];
    let decisions = simulate(ctx, principal, &names, &[arn.to_string()], &tls, None).await;
    actions
        .iter()
        .map(|&action| match &decisions {
            Ok(decisions) => {
                let observed = decisions
                    .get(&(action.iam_action(), arn.to_string()))
                    .cloned()
                    .unwrap_or_else(|| Observed::Error("the simulator gave no decision".to_string()));
                row(entry, action, consumer, arn, &observed, Method::Simulated)
            }
            Err(Simulation::NotChecked(reason)) => AccessRow {
                observed: format!("not checked: {reason}"),
                ok: true,
                ..row(entry, action, consumer, arn, &Observed::Allow, Method::NotChecked)
            },
            Err(Simulation::Failed(e)) => {
                row(entry, action, consumer, arn, &Observed::Error(e.clone()), Method::Simulated)
            }
        })
        .collect()
}

/// Real requests as the entry's role.
async fn requests(
    ctx: &Ctx<'_>,
    session: &Session,
    entry: &Access,
    consumer: bool,
    own: Option<&AsConsumer>,
    arn: &str,
    url: &str,
) -> Vec<AccessRow> {
    let deadline = Instant::now() + ctx.options.iam_propagation;
    let mut rows = Vec::new();
    let mut not_seen = Vec::new();
    for action in QueueAction::ALL {
        let observed = match (action, consumer, own) {
            (QueueAction::Receive, true, Some(own)) => Some(own.receive.clone()),
            (QueueAction::ChangeVisibility, true, Some(own)) => own.change_visibility.clone(),
            (QueueAction::Delete, true, Some(own)) => own.delete.clone(),
            (QueueAction::Receive | QueueAction::ChangeVisibility | QueueAction::Delete, true, _) => None,
            _ => Some(request(session, action, consumer, arn, url, deadline).await),
        };
        match observed {
            Some(observed) => rows.push(row(entry, action, consumer, arn, &observed, Method::Request)),
            None => not_seen.push(action),
        }
    }
    // The notification check did not make these as the consumer (notifications not checked, none of this run's
    // messages arrived, or another consumer received them): the simulator answers.
    if !not_seen.is_empty() {
        rows.extend(simulated(ctx, entry, consumer, &session.role_arn, &not_seen, arn).await);
    }
    rows.sort_by_key(|r| QueueAction::ALL.iter().position(|a| a.name() == r.action));
    rows
}

/// One request of a queue's row as the role. An allowed request denied right after a deploy is retried until
/// `deadline` (IAM changes take a few seconds to reach every AWS endpoint).
async fn request(
    session: &Session,
    action: QueueAction,
    consumer: bool,
    arn: &str,
    url: &str,
    deadline: Instant,
) -> Observed {
    loop {
        let observed = perform(&session.sqs, action, arn, url).await;
        if !(consumer && observed == Observed::Deny && Instant::now() < deadline) {
            return observed;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn perform(sqs: &aws_sdk_sqs::Client, action: QueueAction, arn: &str, url: &str) -> Observed {
    match action {
        QueueAction::GetUrl => {
            let name = arn.rsplit(':').next().unwrap_or_default();
            let answer = sqs.get_queue_url().queue_name(name).send().await;
            // SQS answers a caller without sqs:GetQueueUrl as if the queue did not exist; the queue exists (the
            // stack's outputs name it), so that answer is a denial.
            match answer {
                Err(e) if matches!(e.code(), Some("QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue")) => {
                    Observed::Deny
                }
                other => Observed::of(other, "GetQueueUrl"),
            }
        }
        QueueAction::GetAttributes => Observed::of(
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await,
            "GetQueueAttributes",
        ),
        QueueAction::Receive => Observed::of(
            sqs.receive_message()
                .queue_url(url)
                .max_number_of_messages(1)
                .wait_time_seconds(0)
                .visibility_timeout(0)
                .send()
                .await,
            "ReceiveMessage",
        ),
        QueueAction::ChangeVisibility => Observed::of(
            sqs.change_message_visibility()
                .queue_url(url)
                .receipt_handle(NO_MESSAGE)
                .visibility_timeout(0)
                .send()
                .await,
            "ChangeMessageVisibility",
        ),
        QueueAction::Delete => {
            Observed::of(sqs.delete_message().queue_url(url).receipt_handle(NO_MESSAGE).send().await, "DeleteMessage")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> crate::config::Config {
        let src = "project: demo\nregion: us-east-1\nephemeral: true\naccess:\n  \
                   writer: { principal: { service: lambda.amazonaws.com }, allow: [write], prefixes: [calls/] }\n  \
                   transcriber: { principal: { service: ecs-tasks.amazonaws.com }, allow: [read], prefixes: [AC/] }\n\
                   notifications:\n  new-recording: { suffix: .wav, target: queue, consumers: [transcriber] }\n  \
                   other: { suffix: .json, target: queue }\n";
        crate::config::parse(src, std::path::Path::new("dev.yaml"), "dev", None).unwrap()
    }

    #[test]
    fn the_consumers_and_another_entry_are_checked() {
        let config = config();
        let members = members(&config.access, &config.notifications[0]);
        let names: Vec<(&str, bool)> = members.iter().map(|(e, c)| (e.name.as_str(), *c)).collect();
        assert_eq!(names, [("transcriber", true), ("writer", false)]);
    }

    #[test]
    fn rows_expect_the_consumer_allowed_and_the_other_denied() {
        let config = config();
        let entry = |name: &str| config.access.iter().find(|e| e.name == name).unwrap();
        let (writer, transcriber) = (entry("writer"), entry("transcriber"));
        let arn = "arn:aws:sqs:us-east-1:000000000000:demo-dev-new-recording";
        let allowed = row(transcriber, QueueAction::Receive, true, arn, &Observed::Allow, Method::Request);
        assert!(allowed.ok && allowed.scope == Scope::Inside && allowed.expected == "allow" && allowed.key == arn);
        let leak = row(writer, QueueAction::Receive, false, arn, &Observed::Allow, Method::Request);
        assert!(!leak.ok && leak.scope == Scope::Outside && leak.expected == "deny");
        // A receipt handle SQS rejects is not a denial: were the other entry allowed, its row fails.
        let invalid = Observed::Error("DeleteMessage failed: ReceiptHandleIsInvalid".to_string());
        assert!(!row(writer, QueueAction::Delete, false, arn, &invalid, Method::Request).ok);

        let check = summarize("consumers new-recording".into(), "x".into(), &[allowed.clone(), leak.clone()]);
        assert!(!check.ok);
        assert_eq!(check.observed, "writer ReceiveMessage: allow, expected deny");
        let fine = row(writer, QueueAction::Receive, false, arn, &Observed::Deny, Method::Simulated);
        let check = summarize("consumers new-recording".into(), "x".into(), &[allowed, fine]);
        assert!(check.ok);
        assert_eq!(check.observed, "2/2 requests as expected (as their roles, simulated)");
    }
}
