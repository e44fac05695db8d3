//! Probe 3: each notification with a queue the tool created gets a probe object matching its filter, and the
//! event must arrive on the queue within `smoke.notification_timeout`. A notification with a prefix filter is
//! probed in the run's namespace under that prefix (`<prefix><probe_prefix><run id>/`), as the access checks are.
//!
//! Only messages about this run's keys are deleted; any other message (a real event, S3's `s3:TestEvent`) is left
//! alone, hidden from other consumers only for [`VISIBILITY_SECS`] after a receive.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use super::clients::Session;
use super::keys::Layout;
use super::{Check, Ctx, Observed, Roles};
use crate::aws::aws_error;
use crate::config::{EventKind, Notification, Target};
use crate::ids::pascal;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How long a message received by the probe stays hidden from other consumers: short, so that real messages the
/// probe does not own return to the queue quickly.
const VISIBILITY_SECS: i32 = 2;

/// What the probe does for one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    Skip(String),
    /// Write `key` (and delete it again when `remove`, for `removed` events) and wait for it on `queue_url`.
    Probe {
        queue_url: String,
        key: String,
        remove: bool,
        event: &'static str,
    },
}

/// Decides how a notification can be probed without writing outside the run's namespace.
pub(super) fn plan(n: &Notification, layout: &Layout, outputs: &std::collections::BTreeMap<String, String>) -> Plan {
    let url_output = format!("{}QueueUrl", pascal(&n.name));
    let queue_url = match (&n.target, outputs.get(&url_output)) {
        (Target::Queue, Some(url)) => url.clone(),
        (Target::Queue, None) => return Plan::Skip(format!("the stack has no output {url_output}")),
        (Target::Topic, _) => return Plan::Skip("a topic's messages cannot be read back by the tool".to_string()),
        (Target::ExistingQueue { .. } | Target::ExistingTopic { .. }, _) => {
            return Plan::Skip("an existing target is its owner's: the tool does not take its messages".to_string());
        }
        (Target::Lambda { .. }, _) => {
            return Plan::Skip("a Lambda function's invocations cannot be read back by the tool".to_string());
        }
        (Target::Eventbridge, _) => {
            return Plan::Skip("EventBridge events cannot be read back without a rule and target".to_string());
        }
    };
    let (remove, event) = if n.events.contains(&EventKind::Created) {
        (false, "ObjectCreated:")
    } else if n.events.contains(&EventKind::Removed) {
        (true, "ObjectRemoved:")
    } else {
        return Plan::Skip("only created and removed events can be caused by a probe".to_string());
    };
    // A prefix filter is matched from the run's namespace under that prefix, as the access checks do.
    Plan::Probe { queue_url, key: layout.notify_key(&n.prefix, &n.name, &n.suffix), remove, event }
}

/// The filter prefixes under which notification probes write in the run's namespace (see [`Layout::namespace_for`]):
/// those of the queue notifications the run probes that the probe prefix does not lie under.
pub(super) fn namespace_prefixes(config: &crate::config::Config, layout: &Layout) -> Vec<String> {
    if !config.smoke.check_notifications {
        return Vec::new();
    }
    config
        .notifications
        .iter()
        .filter(|n| matches!(n.target, Target::Queue) && !layout.root.starts_with(&n.prefix))
        .map(|n| n.prefix.clone())
        .collect()
}

/// One S3 event record: bucket, key (decoded), event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub bucket: String,
    pub key: String,
    pub event: String,
}

/// The S3 event records of a message body (none for `s3:TestEvent` or anything else).
pub(super) fn records(body: &str) -> Vec<Record> {
    let Ok(value) = serde_json::from_str::<Value>(body) else { return Vec::new() };
    let Some(records) = value.get("Records").and_then(Value::as_array) else { return Vec::new() };
    records
        .iter()
        .filter_map(|r| {
            let s3 = r.get("s3")?;
            Some(Record {
                bucket: s3.get("bucket")?.get("name")?.as_str()?.to_string(),
                // Keys in S3 events are URL-encoded (spaces as `+`).
                key: crate::s3key::url_decode(s3.get("object")?.get("key")?.as_str()?),
                event: r.get("eventName")?.as_str()?.to_string(),
            })
        })
        .collect()
}

/// What a queue consumer's own requests came to while the notification check received the probe's event as it:
/// the rows of the access matrix for those actions (see `queues`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AsConsumer {
    pub notification: String,
    pub entry: String,
    pub receive: Observed,
    /// On this run's messages, before deleting them (None when none arrived).
    pub change_visibility: Option<Observed>,
    pub delete: Option<Observed>,
}

/// The notification checks: one per notification (skipped ones say why), and what each consumer that received its
/// notification's probe event as itself was allowed to do.
pub(super) async fn notifications(ctx: &Ctx<'_>, roles: &Roles) -> (Vec<Check>, Vec<AsConsumer>) {
    if ctx.config.notifications.is_empty() {
        return (Vec::new(), Vec::new());
    }
    if !ctx.config.smoke.check_notifications {
        let check = Check::skip(
            "notifications",
            "each notification's event arrives",
            "smoke.check_notifications is off (the default for protected envs, where a real consumer reads the queue)",
        );
        return (vec![check], Vec::new());
    }
    let probes = ctx.config.notifications.iter().map(|n| notification(ctx, roles, n));
    let (checks, consumers): (Vec<Check>, Vec<Option<AsConsumer>>) =
        futures::future::join_all(probes).await.into_iter().unzip();
    (checks, consumers.into_iter().flatten().collect())
}

/// The consumer a notification's probe event is received as: the first of its consumers whose role the deployer
/// may assume (None: the deployer receives it), or why that role is not at hand.
fn consumer<'a>(ctx: &Ctx<'_>, roles: &'a Roles, n: &Notification) -> Result<Option<(String, &'a Session)>, String> {
    let assumable = n
        .consumers
        .iter()
        .find(|c| ctx.config.access.iter().any(|e| &e.name == *c && super::access::assumable(ctx.config, e)));
    let Some(name) = assumable else { return Ok(None) };
    match roles.get(name) {
        Some(Ok(session)) => Ok(Some((name.clone(), session))),
        Some(Err(e)) => Err(format!("cannot receive as its consumer {name}: {e}")),
        None => Err(format!("cannot receive as its consumer {name}: its role was not assumed")),
    }
}

async fn notification(ctx: &Ctx<'_>, roles: &Roles, n: &Notification) -> (Check, Option<AsConsumer>) {
    let name = format!("notification {}", n.name);
    let timeout = ctx.config.smoke.notification_timeout;
    let (queue_url, key, remove, event) = match plan(n, &ctx.layout, ctx.outputs) {
        Plan::Skip(reason) => {
            let expected = format!("the event of a probe object arrives within {} s", timeout.as_secs());
            return (Check::skip(name, expected, reason), None);
        }
        Plan::Probe { queue_url, key, remove, event } => (queue_url, key, remove, event),
    };
    let (sqs, consumer) = match consumer(ctx, roles, n) {
        Ok(Some((entry, session))) => (&session.sqs, Some(entry)),
        Ok(None) => (&ctx.clients.sqs, None),
        Err(e) => {
            let expected = "the event of a probe object is received by the queue's consumer";
            return (Check::fail(name, expected, e), None);
        }
    };
    let expected = match &consumer {
        Some(entry) => format!(
            "the event of a probe object arrives on the queue within {} s, and its consumer {entry} receives and \
             deletes it as itself",
            timeout.as_secs()
        ),
        None => format!("the event of a probe object arrives on the queue within {} s", timeout.as_secs()),
    };
    let started = Instant::now();
    let put = ctx
        .clients
        .s3
        .put_object()
        .bucket(&ctx.bucket)
        .key(&key)
        .body(ByteStream::from_static(b"provision smoke notification probe"))
        .send()
        .await;
    if let Err(e) = put {
        return (Check::fail(name, expected, aws_error(e, "PutObject").to_string()).took(started), None);
    }
    if remove && let Err(e) = ctx.clients.s3.delete_object().bucket(&ctx.bucket).key(&key).send().await {
        return (Check::fail(name, expected, aws_error(e, "DeleteObject").to_string()).took(started), None);
    }
    let sent = Instant::now();
    let waited = wait_for(ctx, sqs, &queue_url, &key, event, sent + timeout, consumer.is_some()).await;
    let as_consumer = consumer.as_ref().map(|entry| AsConsumer {
        notification: n.name.clone(),
        entry: entry.clone(),
        receive: match &waited {
            Ok(_) => Observed::Allow,
            Err((observed, _)) => observed.clone(),
        },
        change_visibility: waited.as_ref().ok().and_then(|r| r.change_visibility.clone()),
        delete: waited.as_ref().ok().and_then(|r| r.delete.clone()),
    });
    let by = consumer.as_ref().map(|entry| format!(", received as its consumer {entry}")).unwrap_or_default();
    let check = match waited {
        Ok(Received { found: true, delete, .. }) => {
            let deleted = match (&consumer, delete) {
                (Some(_), Some(Observed::Allow)) => " and deleted".to_string(),
                (Some(_), Some(other)) => format!(", but its DeleteMessage came to {}", other.label()),
                _ => String::new(),
            };
            let observed =
                format!("{event}* for {key} arrived after {} ms{by}{deleted}", super::millis(sent.elapsed()));
            let ok = consumer.is_none() || deleted == " and deleted";
            Check::new(name, ok, expected, observed)
        }
        Ok(Received { found: false, .. }) => Check::fail(
            name,
            expected,
            format!(
                "no {event}* event for {key} within {} s{by} (is the bucket's notification configuration in place, and does the queue policy admit S3?)",
                timeout.as_secs()
            ),
        ),
        Err((_, e)) => Check::fail(name, expected, format!("{e}{by}")),
    };
    (check.took(sent), as_consumer)
}

/// What the wait for a probe's event saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Received {
    /// The probe's event arrived.
    pub found: bool,
    /// ChangeMessageVisibility on this run's messages (made only by a consumer, before its DeleteMessage): the
    /// last outcome; None when no message of this run arrived.
    pub change_visibility: Option<Observed>,
    /// DeleteMessage of this run's messages: the last outcome.
    pub delete: Option<Observed>,
}

/// Long-polls `queue_url` with `sqs` (the deployer's client, or a consumer's) until the probe's event arrives or
/// `deadline` passes. Deletes the messages about this run's keys and no other; a consumer first extends their
/// visibility, as a worker does while it processes a message. Err: ReceiveMessage failed (how, and the error).
pub(super) async fn wait_for(
    ctx: &Ctx<'_>,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    key: &str,
    event: &str,
    deadline: Instant,
    consumer: bool,
) -> Result<Received, (Observed, String)> {
    let mut seen = Received::default();
    // Right after a deploy, AWS may not let a consumer's new role receive everywhere yet: a denial is retried.
    let propagated = Instant::now() + ctx.options.iam_propagation;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if seen.found || remaining.is_zero() {
            return Ok(seen);
        }
        // Whole seconds, at least 1 (0 would be a short poll, spinning), at most SQS's 20.
        let wait = remaining.max(Duration::from_secs(1)).as_secs().min(20);
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(wait).unwrap_or(20))
            .visibility_timeout(VISIBILITY_SECS)
            .send()
            .await;
        let received = match received {
            Ok(received) => received,
            // The queue's in-flight quota is reached (AWS's `OverLimit`): it clears as messages are deleted or
            // become visible again, so the wait polls again until its deadline rather than failing the check.
            Err(e) if e.code() == Some("OverLimit") => {
                tokio::time::sleep(remaining.min(Duration::from_millis(500))).await;
                continue;
            }
            Err(e) if consumer && super::denied(&e) && Instant::now() < propagated => {
                tokio::time::sleep(remaining.min(Duration::from_secs(2))).await;
                continue;
            }
            Err(e) => {
                let is_denied = super::denied(&e);
                let text = aws_error(e, "ReceiveMessage").to_string();
                return Err((if is_denied { Observed::Deny } else { Observed::Error(text.clone()) }, text));
            }
        };
        for message in received.messages() {
            let records = records(message.body().unwrap_or_default());
            let ours = !records.is_empty() && records.iter().all(|r| ctx.layout.owns(&r.key));
            if !ours {
                continue;
            }
            if records.iter().any(|r| r.bucket == ctx.bucket && r.key == key && r.event.starts_with(event)) {
                seen.found = true;
            }
            let Some(handle) = message.receipt_handle() else { continue };
            if consumer {
                let extended = sqs
                    .change_message_visibility()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(VISIBILITY_SECS)
                    .send()
                    .await;
                seen.change_visibility = Some(Observed::of(extended, "ChangeMessageVisibility"));
            }
            // The event is ours: delete it. As the deployer, failing to is not the bucket's fault (the message
            // expires anyway); as a consumer, the access matrix shows it.
            let deleted = sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await;
            seen.delete = Some(Observed::of(deleted, "DeleteMessage"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn notification(prefix: &str, suffix: &str, events: Vec<EventKind>, target: Target) -> Notification {
        Notification {
            name: "new-recording".to_string(),
            events,
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            target,
            consumers: Vec::new(),
            queue: None,
        }
    }

    fn outputs() -> BTreeMap<String, String> {
        BTreeMap::from([("NewRecordingQueueUrl".to_string(), "https://sqs/q".to_string())])
    }

    #[test]
    fn created_events_are_probed_with_a_matching_key() {
        let layout = Layout::new("_probe/", "R1");
        let n = notification("", ".wav", vec![EventKind::Created], Target::Queue);
        assert_eq!(
            plan(&n, &layout, &outputs()),
            Plan::Probe {
                queue_url: "https://sqs/q".to_string(),
                key: "_probe/R1/notify/new-recording/probe.wav".to_string(),
                remove: false,
                event: "ObjectCreated:",
            }
        );
        // A prefix the probe prefix lies under is matched from the run's root.
        let n = notification("_pro", "", vec![EventKind::Removed], Target::Queue);
        assert!(
            matches!(plan(&n, &layout, &outputs()), Plan::Probe { remove: true, key, .. } if key == "_probe/R1/notify/new-recording/probe")
        );
    }

    /// Regression: prod's only notification (`prefix: AC…/`, `suffix: .wav`) was always skipped, because a probe
    /// under `_probe/` cannot match its filter. It is probed in the run's namespace under the filter's prefix, as
    /// the access checks write inside an entry's prefix, and that namespace is cleaned up with the others.
    #[test]
    fn a_prefix_filter_is_probed_in_the_run_namespace_under_that_prefix() {
        let layout = Layout::new("_probe/", "R1");
        let n = notification("AC0123/", ".wav", vec![EventKind::Created], Target::Queue);
        let Plan::Probe { key, .. } = plan(&n, &layout, &outputs()) else { panic!("not probed") };
        assert_eq!(key, "AC0123/_probe/R1/notify/new-recording/probe.wav");
        assert!(key.starts_with(&n.prefix) && key.ends_with(&n.suffix) && layout.owns(&key));

        let src = "project: demo\nregion: us-east-1\nephemeral: true\nnotifications:\n  \
                   new-recording: { prefix: AC0123/, suffix: .wav, target: queue }\n  \
                   everything: { suffix: .json, target: queue }\n  \
                   topic: { prefix: t/, suffix: .txt, target: topic }\n";
        let config = crate::config::parse(src, std::path::Path::new("dev.yaml"), "dev", None).unwrap();
        assert_eq!(namespace_prefixes(&config, &layout), ["AC0123/"]);
        let prefixes = super::super::keys::cleanup_prefixes(&layout, &namespace_prefixes(&config, &layout));
        assert_eq!(prefixes, ["AC0123/_probe/R1/", "_probe/R1/"]);
        let protected = src.replace("ephemeral: true", "protected: true");
        let config = crate::config::parse(&protected, std::path::Path::new("p.yaml"), "p", None).unwrap();
        assert!(namespace_prefixes(&config, &layout).is_empty(), "check_notifications is off for a protected env");
    }

    #[test]
    fn what_cannot_be_probed_is_skipped_with_the_reason() {
        let layout = Layout::new("_probe/", "R1");
        let skip = |n: Notification, outputs: &BTreeMap<String, String>| match plan(&n, &layout, outputs) {
            Plan::Skip(reason) => reason,
            other => panic!("expected a skip, got {other:?}"),
        };
        assert!(skip(notification("", "", vec![EventKind::Created], Target::Topic), &outputs()).contains("topic"));
        assert!(
            skip(notification("", "", vec![EventKind::Created], Target::Queue), &BTreeMap::new()).contains("output")
        );
        assert!(skip(notification("", "", vec![EventKind::Expired], Target::Queue), &outputs()).contains("created"));
    }

    #[test]
    fn records_of_s3_events_and_nothing_else() {
        let event = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"_probe/R1/notify/a/probe+1%2Bx.wav"}}}]}"#;
        assert_eq!(
            records(event),
            [Record {
                bucket: "b".to_string(),
                key: "_probe/R1/notify/a/probe 1+x.wav".to_string(),
                event: "ObjectCreated:Put".to_string()
            }]
        );
        assert!(records(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).is_empty());
        assert!(records("not json").is_empty());
        assert!(records(r#"{"Records":[{"eventName":"x"}]}"#).is_empty());
    }
}
