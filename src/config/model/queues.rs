//! A created queue's own settings (`max_receives`, `retention_days`: its dead-letter queue and how long it keeps
//! messages) and its `consumers`: access entries whose principals receive and delete its messages.

use super::checker::Checker;
use super::types::{Access, Notification, QueueSettings, Target};
use crate::names;

/// Receives of a message before SQS moves it to the dead-letter queue (as AWS's and CDK's examples).
pub(super) const DEFAULT_MAX_RECEIVES: u32 = 5;
/// SQS's own default retention: 4 days.
pub(super) const DEFAULT_RETENTION_DAYS: u32 = 4;
/// SQS's longest retention. A standard queue's message keeps its first enqueue time in the dead-letter queue, so
/// the dead-letter queue keeps messages longest, as AWS recommends.
pub(super) const DEAD_LETTER_RETENTION_DAYS: u32 = 14;
/// SQS: `maxReceiveCount` is 1 to 1,000.
const MAX_RECEIVES: u32 = 1_000;

/// The queue settings and consumers written on the notification at `path`, whose target is `target`. They apply to
/// a queue the tool creates only: on another target each written key is an error (and the consumers are dropped,
/// so that nothing more is said of them).
pub(super) fn check_queue_settings(
    c: &mut Checker,
    path: &str,
    target: &Target,
    max_receives: Option<u32>,
    retention_days: Option<u32>,
    consumers: Option<Vec<String>>,
) -> (Option<QueueSettings>, Vec<String>) {
    if *target != Target::Queue {
        let written = [
            ("consumers", consumers.is_some()),
            ("max_receives", max_receives.is_some()),
            ("retention_days", retention_days.is_some()),
        ];
        for (key, _) in written.iter().filter(|(_, set)| *set) {
            let (message, hint) = not_for_target(key, target);
            c.error(&format!("{path}.{key}"), message, hint);
        }
        return (None, Vec::new());
    }
    let max_receives = max_receives.unwrap_or(DEFAULT_MAX_RECEIVES);
    if !(1..=MAX_RECEIVES).contains(&max_receives) {
        c.error(
            &format!("{path}.max_receives"),
            format!("{max_receives} receives is outside 1 to 1,000"),
            "SQS moves a message to the dead-letter queue after 1 to 1,000 receives: e.g. 5",
        );
    }
    let retention_days = retention_days.unwrap_or(DEFAULT_RETENTION_DAYS);
    if !(1..=DEAD_LETTER_RETENTION_DAYS).contains(&retention_days) {
        c.error(
            &format!("{path}.retention_days"),
            format!("{retention_days} days is outside 1 to {DEAD_LETTER_RETENTION_DAYS}"),
            "SQS keeps a message at most 14 days: use 1 to 14 (default 4); the dead-letter queue keeps 14",
        );
    }
    let settings =
        QueueSettings { max_receives, retention_days, dead_letter_retention_days: DEAD_LETTER_RETENTION_DAYS };
    (Some(settings), consumers.unwrap_or_default())
}

/// Why `key` does not apply to `target`, and what to do instead.
fn not_for_target(key: &str, target: &Target) -> (String, String) {
    let kind = match target {
        Target::Queue => "a queue",
        Target::Topic => "a topic",
        Target::Eventbridge => "EventBridge",
        Target::Lambda { .. } => "a Lambda function",
        Target::ExistingQueue { .. } => "an existing queue",
        Target::ExistingTopic { .. } => "an existing topic",
    };
    let message = format!("`{key}` applies to a queue the tool creates (`target: queue`), not to {kind}");
    let hint = match (key, target) {
        ("consumers", Target::ExistingQueue { .. }) => {
            "an existing queue is its owner's: its consumers get their permissions where it is managed; remove the key"
        }
        (_, Target::ExistingQueue { .. }) => {
            "an existing queue's dead-letter queue and retention are set where it is managed; remove the key"
        }
        ("consumers", _) => "consumers receive from a queue: use `target: queue`, or remove the key",
        _ => "use `target: queue`, or remove the key",
    };
    (message, hint.to_string())
}

/// The consumers of every notification: each names an access entry of the file, none twice. `access` holds the
/// entries that could be read; an unknown name is reported only when every entry was read.
pub(super) fn check_consumers(c: &mut Checker, notifications: &[Notification], access: &[Access]) {
    let all_entries_read = c.read(&["access"]);
    for n in notifications {
        for (i, consumer) in n.consumers.iter().enumerate() {
            let path = format!("notifications.{}.consumers[{i}]", n.name);
            if n.consumers[..i].contains(consumer) {
                c.error(&path, format!("`{consumer}` is listed twice"), "remove the repeat");
            } else if all_entries_read && !access.iter().any(|a| a.name == *consumer) {
                let suggestion = names::suggest(consumer, access.iter().map(|a| a.name.as_str()));
                c.error(
                    &path,
                    format!("no access entry is named `{consumer}`"),
                    match suggestion {
                        Some(s) => format!("did you mean `{s}`? consumers name entries of `access`"),
                        None => "consumers name entries of `access`: add one for the consumer's principal (it may \
                                 also read the objects the events are about), or remove the name"
                            .to_string(),
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, Diagnostic, parse};

    const ENTRIES: &str = "project: demo\nregion: us-west-1\naccess:\n  transcriber:\n    principal: { service: ecs-tasks.amazonaws.com }\n    allow: [read]\n    prefixes: [recordings/]\n";

    fn config(notifications: &str) -> Result<Config, Vec<Diagnostic>> {
        parse(&format!("{ENTRIES}notifications:\n{notifications}"), Path::new("t.yaml"), "dev", None)
    }

    #[test]
    fn a_created_queue_gets_the_defaults_and_its_consumers() {
        let c =
            config("  new-recording:\n    suffix: .wav\n    target: queue\n    consumers: [transcriber]\n").unwrap();
        let n = &c.notifications[0];
        assert_eq!(n.consumers, ["transcriber"]);
        let defaults = QueueSettings { max_receives: 5, retention_days: 4, dead_letter_retention_days: 14 };
        assert_eq!(n.queue, Some(defaults));
        let c = config("  new-recording:\n    target: queue\n    max_receives: 3\n    retention_days: 14\n").unwrap();
        assert_eq!(c.notifications[0].queue.map(|q| (q.max_receives, q.retention_days)), Some((3, 14)));
        assert!(c.notifications[0].consumers.is_empty());
    }

    #[test]
    fn other_targets_have_no_queue_settings() {
        let c = config("  new-recording:\n    target: topic\n").unwrap();
        assert_eq!((c.notifications[0].queue, c.notifications[0].consumers.len()), (None, 0));
    }

    /// A consumer is not called unknown when the access entries could not all be read: the one it names may be
    /// the entry that could not be read.
    #[test]
    fn a_consumer_is_not_judged_against_unread_entries() {
        let src = "project: demo\nregion: us-west-1\naccess:\n  transcriber:\n    principal: { service: ecs-tasks.amazonaws.com }\n    allow: read\n    prefixes: [recordings/]\nnotifications:\n  new-recording:\n    target: queue\n    consumers: [transcriber]\n";
        let found = parse(src, Path::new("t.yaml"), "dev", None).unwrap_err();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].key, "access.transcriber.allow");
    }

    #[test]
    fn unknown_and_repeated_consumers_are_each_located() {
        let found =
            config("  new-recording:\n    target: queue\n    consumers: [transcriber, transcribr, transcriber]\n")
                .unwrap_err();
        let keys: Vec<&str> = found.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["notifications.new-recording.consumers[1]", "notifications.new-recording.consumers[2]"]);
        assert!(found[0].to_string().contains("did you mean `transcriber`?"), "{}", found[0]);
        assert!(found[1].message.contains("listed twice"), "{}", found[1]);
    }
}
