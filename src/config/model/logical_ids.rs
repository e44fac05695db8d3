//! The template names each resource by a logical id made from an entry or notification name (see `crate::ids`):
//! `post-call-writer` becomes `PostCallWriterRole` and `PostCallWriterPolicy`. Two names that make the same id
//! (`writer-2` and `writer2`, or an entry `new-recording-queue` next to a queue notification `new-recording`) would
//! make an invalid template, so they are reported here, at the later name; so is a template over CloudFormation's
//! resource limit.

use std::collections::BTreeMap;

use super::super::limits;
use super::checker::Checker;
use super::types::{Config, Principal, Target};
use crate::ids::{BUCKET_ID, BUCKET_KEY_ALIAS_ID, BUCKET_KEY_ID, BUCKET_POLICY_ID, pascal};

/// The resources an entry or notification makes: its key path, how messages name it, and the suffixes of the
/// logical ids of its resources.
struct Claim {
    path: String,
    owner: String,
    suffixes: &'static [&'static str],
}

pub(super) fn check_logical_ids(c: &mut Checker, config: &Config) {
    let mut taken: BTreeMap<String, String> = BTreeMap::from([
        (BUCKET_ID.to_string(), "the data bucket".to_string()),
        (BUCKET_POLICY_ID.to_string(), "the bucket policy".to_string()),
    ]);
    if config.bucket.encryption == super::types::Encryption::Kms {
        taken.insert(BUCKET_KEY_ID.to_string(), "the bucket's key".to_string());
        taken.insert(BUCKET_KEY_ALIAS_ID.to_string(), "the alias of the bucket's key".to_string());
    }
    let claims = claims(config);
    let resources = taken.len() + claims.iter().map(|claim| claim.suffixes.len()).sum::<usize>();
    if resources > limits::MAX_RESOURCES {
        check_resource_count(c, config, resources);
        return;
    }
    for Claim { path, owner, suffixes } in claims {
        let name = path.split_once('.').map(|(_, name)| name).unwrap_or_default();
        let ids: Vec<String> = suffixes.iter().map(|suffix| format!("{}{suffix}", pascal(name))).collect();
        if let Some((id, other)) = ids.iter().find_map(|id| taken.get(id).map(|other| (id, other))) {
            c.error(
                &path,
                format!("the {owner} would get the CloudFormation logical id `{id}`, which {other} already has"),
                "rename it: an id is the name without hyphens, each word capitalised (post-call-writer: PostCallWriter)",
            );
            continue;
        }
        taken.extend(ids.into_iter().map(|id| (id, format!("the {owner}"))));
    }
}

/// What each access entry and notification makes, in the order of the file's sections.
fn claims(config: &Config) -> Vec<Claim> {
    let entries = config.access.iter().map(|entry| Claim {
        path: format!("access.{}", entry.name),
        owner: format!("access entry `{}`", entry.name),
        suffixes: match entry.principal {
            Principal::Service { .. } => &["Role", "Policy"],
            _ => &["Policy"],
        },
    });
    let notifications = config.notifications.iter().map(|n| Claim {
        path: format!("notifications.{}", n.name),
        owner: format!("notification `{}`", n.name),
        suffixes: match n.target {
            Target::Queue => &["Queue", "QueuePolicy", "DeadLetterQueue"],
            Target::Topic => &["Topic", "TopicPolicy"],
            Target::Lambda { .. } => &["InvokePermission"],
            Target::Eventbridge | Target::ExistingQueue { .. } | Target::ExistingTopic { .. } => &[],
        },
    });
    entries.chain(notifications).collect()
}

/// Reports `resources`, over CloudFormation's limit.
fn check_resource_count(c: &mut Checker, config: &Config, resources: usize) {
    // Entries that could not be read are not in the count: it is told only when it is the file's.
    if !c.read(&["access", "notifications"]) {
        return;
    }
    let at = if config.access.is_empty() { "notifications" } else { "access" };
    c.error(
        at,
        format!(
            "the env makes {resources} CloudFormation resources ({} access entries, {} notifications), over \
             CloudFormation's limit of {} per stack",
            config.access.len(),
            config.notifications.len(),
            limits::MAX_RESOURCES
        ),
        "each access entry makes a policy (and a role for a service), each queue notification three (with its \
         dead-letter queue), each topic notification two \
         resources: merge entries that share prefixes, or split the env",
    );
}
