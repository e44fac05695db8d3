//! Probe 3: each notification with a queue the tool created gets a probe object matching its filter, and the
//! event must arrive on the queue within `smoke.notification_timeout`.
//!
//! Only messages about this run's keys are deleted; any other message (a real event, S3's `s3:TestEvent`) is left
//! alone, hidden from other consumers only for [`VISIBILITY_SECS`] after a receive.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use super::keys::Layout;
use super::{Check, Ctx};
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
    // Keys under the run's root match the filter's prefix only if the root itself starts with it.
    if !layout.root.starts_with(&n.prefix) {
        return Plan::Skip(format!(
            "its prefix filter `{}` cannot be matched from under the probe prefix `{}` (probes never write outside it)",
            n.prefix, layout.root
        ));
    }
    let (remove, event) = if n.events.contains(&EventKind::Created) {
        (false, "ObjectCreated:")
    } else if n.events.contains(&EventKind::Removed) {
        (true, "ObjectRemoved:")
    } else {
        return Plan::Skip("only created and removed events can be caused by a probe".to_string());
    };
    Plan::Probe { queue_url, key: layout.notify_key(&n.name, &n.suffix), remove, event }
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

/// The notification checks: one per notification (skipped ones say why).
pub(super) async fn notifications(ctx: &Ctx<'_>) -> Vec<Check> {
    if ctx.config.notifications.is_empty() {
        return Vec::new();
    }
    if !ctx.config.smoke.check_notifications {
        return vec![Check::skip(
            "notifications",
            "each notification's event arrives",
            "smoke.check_notifications is off (the default for protected envs, where a real consumer reads the queue)",
        )];
    }
    let probes = ctx.config.notifications.iter().map(|n| notification(ctx, n));
    futures::future::join_all(probes).await
}

async fn notification(ctx: &Ctx<'_>, n: &Notification) -> Check {
    let name = format!("notification {}", n.name);
    let timeout = ctx.config.smoke.notification_timeout;
    let expected = format!("the event of a probe object arrives on the queue within {} s", timeout.as_secs());
    let (queue_url, key, remove, event) = match plan(n, &ctx.layout, ctx.outputs) {
        Plan::Skip(reason) => return Check::skip(name, expected, reason),
        Plan::Probe { queue_url, key, remove, event } => (queue_url, key, remove, event),
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
        return Check::fail(name, expected, aws_error(e, "PutObject").to_string()).took(started);
    }
    if remove && let Err(e) = ctx.clients.s3.delete_object().bucket(&ctx.bucket).key(&key).send().await {
        return Check::fail(name, expected, aws_error(e, "DeleteObject").to_string()).took(started);
    }
    let sent = Instant::now();
    match wait_for(ctx, &queue_url, &key, event, sent + timeout).await {
        Ok(true) => {
            Check::pass(name, expected, format!("{event}* for {key} arrived after {} ms", super::millis(sent.elapsed())))
                .took(sent)
        }
        Ok(false) => Check::fail(
            name,
            expected,
            format!(
                "no {event}* event for {key} within {} s (is the bucket's notification configuration in place, and does the queue policy admit S3?)",
                timeout.as_secs()
            ),
        )
        .took(sent),
        Err(e) => Check::fail(name, expected, e).took(sent),
    }
}

/// Long-polls `queue_url` until the probe's event arrives (true) or `deadline` passes (false). Deletes the
/// messages about this run's keys and no other.
pub(super) async fn wait_for(
    ctx: &Ctx<'_>,
    queue_url: &str,
    key: &str,
    event: &str,
    deadline: Instant,
) -> Result<bool, String> {
    let mut found = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if found || remaining.is_zero() {
            return Ok(found);
        }
        // Whole seconds, at least 1 (0 would be a short poll, spinning), at most SQS's 20.
        let wait = remaining.max(Duration::from_secs(1)).as_secs().min(20);
        let received = ctx
            .clients
            .sqs
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
            Err(e) => return Err(aws_error(e, "ReceiveMessage").to_string()),
        };
        for message in received.messages() {
            let records = records(message.body().unwrap_or_default());
            let ours = !records.is_empty() && records.iter().all(|r| ctx.layout.owns(&r.key));
            if !ours {
                continue;
            }
            if records.iter().any(|r| r.bucket == ctx.bucket && r.key == key && r.event.starts_with(event)) {
                found = true;
            }
            if let Some(handle) = message.receipt_handle() {
                // The event is ours: delete it. Failing to is not the bucket's fault; the message expires anyway.
                let _ = ctx.clients.sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await;
            }
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
        // A prefix the probe prefix lies under can be matched.
        let n = notification("_pro", "", vec![EventKind::Removed], Target::Queue);
        assert!(matches!(plan(&n, &layout, &outputs()), Plan::Probe { remove: true, .. }));
    }

    #[test]
    fn what_cannot_be_probed_is_skipped_with_the_reason() {
        let layout = Layout::new("_probe/", "R1");
        let skip = |n: Notification, outputs: &BTreeMap<String, String>| match plan(&n, &layout, outputs) {
            Plan::Skip(reason) => reason,
            other => panic!("expected a skip, got {other:?}"),
        };
        let reason = skip(notification("recordings/", ".wav", vec![EventKind::Created], Target::Queue), &outputs());
        assert!(reason.contains("prefix filter `recordings/`"), "{reason}");
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
