//! `notifications`: S3 event notifications, each a target, the events it takes and a key filter; no two may
//! overlap, as S3 refuses that.

use std::collections::BTreeMap;

use super::super::limits;
use super::super::raw::{RawNotification, RawTarget};
use super::checker::{Checker, RegionAccount};
use super::prefixes::{check_key_part, check_prefix};
use super::queues::check_queue_settings;
use super::types::{EventKind, Notification, Target};
use crate::names;

pub(super) fn check_notifications(
    c: &mut Checker,
    raw: BTreeMap<String, RawNotification>,
    home: RegionAccount,
) -> Vec<Notification> {
    let mut out: Vec<Notification> = Vec::new();
    for (name, n) in raw {
        let path = format!("notifications.{name}");
        // An entry that was not read is left out, also of the overlap checks (it holds defaults).
        if !c.read(&[&path]) {
            continue;
        }
        if !names::is_entry_name(&name) {
            c.error(
                &path,
                format!("`{name}` is not a valid notification name"),
                "use 1-32 lowercase letters, digits and hyphens, starting with a letter (it names the queue or topic)",
            );
        }
        let target = check_target(c, &path, n.target, home);
        if target == Target::Eventbridge {
            let written =
                [("events", n.events.is_some()), ("prefix", n.prefix.is_some()), ("suffix", n.suffix.is_some())];
            check_no_filters(c, &path, written);
        }
        let events = check_events(c, &path, n.events);
        let prefix = n.prefix.unwrap_or_default();
        let suffix = n.suffix.unwrap_or_default();
        check_prefix(c, &format!("{path}.prefix"), &prefix, false);
        check_key_part(c, &format!("{path}.suffix"), "suffix", &suffix);
        let (queue, consumers) = check_queue_settings(c, &path, &target, n.max_receives, n.retention_days, n.consumers);
        let note = Notification { name, events, prefix, suffix, target, consumers, queue };
        // Every notification but EventBridge makes a resource, so more than the resource limit is reported there;
        // the pairwise check is skipped then (it takes time with the square of their number).
        if note.target != Target::Eventbridge && out.len() <= limits::MAX_RESOURCES {
            check_overlaps(c, &path, &note, &out);
        }
        out.push(note);
    }
    out
}

/// The target of the notification at `path`; a Lambda function must be one S3 of this env can invoke.
fn check_target(c: &mut Checker, path: &str, raw: RawTarget, home: RegionAccount) -> Target {
    match raw {
        RawTarget::Queue => Target::Queue,
        RawTarget::Topic => Target::Topic,
        RawTarget::Eventbridge => Target::Eventbridge,
        RawTarget::LambdaArn(arn) => {
            let arn_path = format!("{path}.target.lambda_arn");
            if !names::is_lambda_arn(&arn) {
                c.error(
                    &arn_path,
                    format!("`{arn}` is not a Lambda function ARN"),
                    "use arn:aws:lambda:<region>:<account>:function:<name>",
                );
            } else {
                home.check_arn(
                    c,
                    &arn_path,
                    &arn,
                    Some("S3 notifies only functions in the bucket's region"),
                    Some("the stack lets S3 invoke the function, which it can do only in its own account"),
                );
            }
            Target::Lambda { arn }
        }
        RawTarget::QueueArn(arn) => {
            check_existing_target(c, &format!("{path}.target.queue_arn"), &arn, "sqs", home);
            Target::ExistingQueue { arn }
        }
        RawTarget::TopicArn(arn) => {
            check_existing_target(c, &format!("{path}.target.topic_arn"), &arn, "sns", home);
            Target::ExistingTopic { arn }
        }
    }
}

/// An existing queue's or topic's ARN: well formed, standard (S3 does not send to FIFO queues or topics), in the
/// bucket's region (S3 notifies only there). Another account's is fine: its owner's policy decides.
fn check_existing_target(c: &mut Checker, path: &str, arn: &str, service: &str, home: RegionAccount) {
    let (kind, what, max) = if service == "sqs" { ("SQS", "queue", 80) } else { ("SNS", "topic", 256) };
    let name = match names::arn_region_account(arn).and(arn.strip_prefix("arn:")) {
        Some(rest) if rest.split(':').nth(1) == Some(service) => rest.splitn(5, ':').nth(4).unwrap_or_default(),
        _ => {
            c.error(
                path,
                format!("`{arn}` is not an {kind} {what} ARN"),
                format!("use arn:aws:{service}:<region>:<account>:<{what} name>"),
            );
            return;
        }
    };
    if name.ends_with(".fifo") {
        c.error(
            path,
            format!("`{name}` is a FIFO {what}: S3 event notifications are not delivered to FIFO {what}s"),
            format!("use a standard {what}"),
        );
    } else if name.is_empty()
        || name.len() > max
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        c.error(
            path,
            format!("`{name}` is not a valid {what} name"),
            format!("{what} names have 1-{max} letters, digits, hyphens and underscores"),
        );
    } else {
        home.check_arn(c, path, arn, Some("S3 notifies only targets in the bucket's region"), None);
    }
}

/// EventBridge takes every event of the bucket: the first filter `written` on it is reported.
fn check_no_filters(c: &mut Checker, path: &str, written: [(&str, bool); 3]) {
    if let Some((filter, _)) = written.iter().find(|(_, set)| *set) {
        c.error(
            &format!("{path}.{filter}"),
            "EventBridge receives every event of the bucket; events, prefix and suffix do not apply",
            "remove events/prefix/suffix and filter in an EventBridge rule instead",
        );
    }
}

/// The events of the notification at `path` (by default `created`): each known, none twice.
fn check_events(c: &mut Checker, path: &str, raw: Option<Vec<String>>) -> Vec<EventKind> {
    let mut events = Vec::new();
    let raw_events = raw.unwrap_or_else(|| vec!["created".to_string()]);
    if raw_events.is_empty() {
        c.error(
            &format!("{path}.events"),
            "no events are listed",
            "list at least one of created, removed, restored, expired, transitioned",
        );
    }
    for (i, e) in raw_events.iter().enumerate() {
        match EventKind::NAMES.iter().find(|(k, _)| k == e) {
            Some((_, kind)) if !events.contains(kind) => events.push(*kind),
            Some(_) => c.error(&format!("{path}.events[{i}]"), format!("`{e}` is listed twice"), "remove the repeat"),
            None => c.error(
                &format!("{path}.events[{i}]"),
                format!("unknown event `{e}`"),
                format!(
                    "{}events are created, removed, restored, expired, transitioned",
                    names::suggest(e, EventKind::NAMES.iter().map(|(k, _)| *k))
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default()
                ),
            ),
        }
    }
    events
}

/// `note` (at `path`) against the notifications before it: S3 refuses two rules that match the same event type
/// for the same keys.
fn check_overlaps(c: &mut Checker, path: &str, note: &Notification, before: &[Notification]) {
    for other in before.iter().filter(|o| o.target != Target::Eventbridge) {
        let shared = note.events.iter().find(|e| other.events.contains(e));
        let prefixes_overlap = note.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&note.prefix);
        let suffixes_overlap = note.suffix.ends_with(&other.suffix) || other.suffix.ends_with(&note.suffix);
        if let (Some(event), true, true) = (shared, prefixes_overlap, suffixes_overlap) {
            c.error(
                path,
                format!(
                    "overlaps notification `{}`: both match `{}` for keys with prefix `{}` and suffix `{}`",
                    other.name,
                    event.s3_event(),
                    if note.prefix.len() > other.prefix.len() { &note.prefix } else { &other.prefix },
                    if note.suffix.len() > other.suffix.len() { &note.suffix } else { &other.suffix },
                ),
                "S3 rejects overlapping rules for the same event type: make the prefixes or suffixes disjoint, or merge the two",
            );
        }
    }
}
