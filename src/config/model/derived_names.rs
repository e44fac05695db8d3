//! Names derived from several keys: the stack, the bucket (from its pattern), the roles, policies, queues and
//! topics, and the stack's tags; and the checks that they fit what AWS takes.

use std::collections::BTreeMap;

use super::bucket::DEFAULT_BUCKET_NAME;
use super::checker::Checker;
use super::types::{Config, Principal, Target};
use crate::ids::{PLACEHOLDER_ACCOUNT, TAG_ENV, TAG_INSTANCE, TAG_MANAGED_BY, TAG_PROJECT, stack_name};
use crate::names;

impl Config {
    /// `<project>-<env>[-<instance>]`: the CloudFormation stack name.
    pub fn stack_name(&self) -> String {
        stack_name(&self.project, &self.env, self.instance.as_deref())
    }

    /// The bucket name for `account`, with every placeholder filled in.
    pub fn bucket_name(&self, account: &str) -> String {
        self.expand_bucket_name(account, &self.region)
    }

    /// The bucket name as a CloudFormation `Fn::Sub` string (account and region resolved at deploy time).
    pub fn bucket_name_sub(&self) -> String {
        self.expand_bucket_name("${AWS::AccountId}", "${AWS::Region}")
    }

    fn expand_bucket_name(&self, account: &str, region: &str) -> String {
        expand_pattern(&self.bucket.name_pattern, &self.placeholders(account, region))
            .unwrap_or_else(|unknown| format!("<unknown placeholder {unknown}>"))
    }

    fn placeholders<'a>(&'a self, account: &'a str, region: &'a str) -> [(&'static str, String); 6] {
        [
            ("project", self.project.clone()),
            ("env", self.env.clone()),
            ("instance", self.instance.clone().unwrap_or_default()),
            ("stack", self.stack_name()),
            ("account", account.to_string()),
            ("region", region.to_string()),
        ]
    }

    /// Name of the role or managed policy created for an access entry.
    pub fn iam_name(&self, entry: &str) -> String {
        format!("{}-{entry}", self.stack_name())
    }

    /// Name of the queue or topic created for a notification.
    pub fn target_name(&self, notification: &str) -> String {
        format!("{}-{notification}", self.stack_name())
    }

    /// Name of the dead-letter queue of the queue created for a notification. No notification's own queue can have
    /// it: a notification `<name>-dead-letter` would have the same logical id, which is refused.
    pub fn dead_letter_queue_name(&self, notification: &str) -> String {
        format!("{}-{notification}-dead-letter", self.stack_name())
    }

    /// Tags on the stack (propagated by CloudFormation to the resources that take tags).
    pub fn stack_tags(&self) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::from([
            (TAG_MANAGED_BY.to_string(), "provision".to_string()),
            (TAG_ENV.to_string(), self.env.clone()),
            (TAG_PROJECT.to_string(), self.project.clone()),
        ]);
        if let Some(instance) = &self.instance {
            tags.insert(TAG_INSTANCE.to_string(), instance.clone());
        }
        tags
    }
}

/// Fills `{name}` placeholders; Err(name) for an unknown one.
fn expand_pattern(pattern: &str, values: &[(&'static str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("{{{after}"));
        };
        let name = &after[..close];
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, value)) => out.push_str(value),
            None => return Err(format!("{{{name}}}")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks the names that are derived from several keys: the bucket name, role, policy and queue names. Their
/// lengths and characters are only checked when the parts (`project`, `region`, `account`) are valid: a bad part
/// is reported once, where it is written.
pub(super) fn check_derived_names(c: &mut Checker, config: &Config, parts_ok: bool) {
    check_bucket_name(c, config, parts_ok);
    if parts_ok {
        check_role_names(c, config);
        check_queue_names(c, config);
    }
}

/// The bucket name rendered from its pattern (with a placeholder account when the file names none).
fn check_bucket_name(c: &mut Checker, config: &Config, parts_ok: bool) {
    let account = config.account.as_deref().unwrap_or(PLACEHOLDER_ACCOUNT);
    let placeholders = config.placeholders(account, &config.region);
    // The pattern is the default when `bucket.name` could not be read: nothing is said about it then.
    let pattern_read = c.read(&["bucket.name"]);
    let name = match expand_pattern(&config.bucket.name_pattern, &placeholders) {
        Ok(name) => name,
        Err(_) if !pattern_read => return,
        Err(unknown) => {
            c.error(
                "bucket.name",
                format!("unknown placeholder `{unknown}` in the bucket name"),
                "placeholders are {project}, {env}, {instance}, {stack}, {account}, {region}",
            );
            return;
        }
    };
    if let Some(problem) = names::check_bucket_name(&name).err().filter(|_| parts_ok && pattern_read) {
        let note = if config.account.is_none() && config.bucket.name_pattern.contains("{account}") {
            " (account checked as a 12-digit placeholder)"
        } else {
            ""
        };
        // Without `bucket.name` the name comes from the default pattern, whose main part is the project.
        let (key, what) = if c.written("bucket.name") {
            ("bucket.name", "the bucket name".to_string())
        } else {
            ("project", format!("the default bucket name `{DEFAULT_BUCKET_NAME}`"))
        };
        c.error(key, format!("{what} renders as `{name}`{note}, which {problem}"), names::BUCKET_NAME_RULES);
    }
    let pattern = &config.bucket.name_pattern;
    if config.ephemeral
        && !(pattern.contains("{stack}") || pattern.contains("{instance}"))
        && c.read(&["ephemeral", "bucket.name"])
    {
        c.error(
            "bucket.name",
            "in an ephemeral env every instance needs its own bucket",
            "put {stack} or {instance} in the bucket name pattern",
        );
    }
    if config.bucket.access_logs.as_ref().is_some_and(|logs| logs.bucket == name)
        && c.read(&["bucket.access_logs", "bucket.name", "project", "region", "account"])
    {
        c.error("bucket.access_logs.bucket", "a bucket cannot log to itself", "send access logs to a separate bucket");
    }
}

/// The role created for a service principal is named `<stack>-<entry>`, within IAM's 64 characters.
fn check_role_names(c: &mut Checker, config: &Config) {
    for entry in &config.access {
        let name = config.iam_name(&entry.name);
        // An invalid entry name is reported as such; its length is part of that message's rule.
        let is_role = matches!(entry.principal, Principal::Service { .. });
        if is_role && names::is_entry_name(&entry.name) && name.len() > 64 {
            c.error(
                &format!("access.{}", entry.name),
                format!("the role name `{name}` is {} characters, over IAM's 64", name.len()),
                "shorten the entry name or the project name",
            );
        }
    }
}

/// The queue created for a notification is named `<stack>-<notification>`, and its dead-letter queue
/// `<stack>-<notification>-dead-letter`, within SQS's 80 characters.
fn check_queue_names(c: &mut Checker, config: &Config) {
    for n in &config.notifications {
        if n.target != Target::Queue || !names::is_entry_name(&n.name) {
            continue;
        }
        let (queue, dead_letter) = (config.target_name(&n.name), config.dead_letter_queue_name(&n.name));
        let (what, name) = if queue.len() > 80 { ("queue", queue) } else { ("dead-letter queue", dead_letter) };
        if name.len() > 80 {
            c.error(
                &format!("notifications.{}", n.name),
                format!("the {what} name `{name}` is {} characters, over SQS's 80", name.len()),
                "shorten the notification name or the project name",
            );
        }
    }
}
