//! Validated configuration: what the rest of the tool works with.
//!
//! [`build`] turns a [`RawConfig`] into a [`Config`], applying the secure defaults and checking every rule it
//! can before any AWS call. All problems are collected, each located in the file, instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::error::Diagnostic;
use super::limits::{self, MAX_KEY_BYTES, MAX_LIFECYCLE_DAYS, quote};
use super::locate::Locator;
use super::raw::*;
use super::structure::Unread;
use crate::names;

/// Placeholder used to check bucket-name rules offline when `account:` is not set.
pub const PLACEHOLDER_ACCOUNT: &str = "000000000000";
/// Tag keys every managed stack carries; teardown and `list` find stacks by them.
pub const TAG_MANAGED_BY: &str = "managed-by";
pub const TAG_ENV: &str = "provision:env";
pub const TAG_PROJECT: &str = "provision:project";
pub const TAG_INSTANCE: &str = "provision:instance";
pub const TAG_CREATED: &str = "provision:created";
pub const TAG_EXPIRES: &str = "provision:expires";
/// How many tags the tool adds to the bucket itself (managed-by, env, project, instance).
const MANAGED_BUCKET_TAGS: usize = 4;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    pub env: String,
    pub instance: Option<String>,
    pub project: String,
    pub region: String,
    pub account: Option<String>,
    pub endpoint: Option<String>,
    pub protected: bool,
    pub ephemeral: bool,
    #[serde(skip)]
    pub ttl: Option<Duration>,
    pub allow_data_loss: bool,
    pub bucket: Bucket,
    pub access: Vec<Access>,
    pub notifications: Vec<Notification>,
    pub smoke: Smoke,
    pub self_heal: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Bucket {
    /// Name pattern with `{project}`, `{env}`, `{instance}`, `{stack}`, `{account}`, `{region}`.
    pub name_pattern: String,
    pub versioning: bool,
    pub encryption: Encryption,
    pub lifecycle: Lifecycle,
    pub access_logs: Option<AccessLogs>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Encryption {
    SseS3,
    SseKms { key_arn: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lifecycle {
    pub infrequent_access_after_days: Option<u32>,
    pub glacier_after_days: Option<u32>,
    pub expire_after_days: Option<u32>,
    pub noncurrent: Option<Noncurrent>,
    pub abort_incomplete_uploads_after_days: Option<u32>,
    pub rules: Vec<LifecycleRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Noncurrent {
    pub infrequent_access_after_days: Option<u32>,
    pub glacier_after_days: Option<u32>,
    pub expire_after_days: Option<u32>,
    pub keep_newest: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LifecycleRule {
    pub id: String,
    pub prefix: String,
    pub infrequent_access_after_days: Option<u32>,
    pub glacier_after_days: Option<u32>,
    pub expire_after_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessLogs {
    pub bucket: String,
    pub prefix: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Access {
    pub name: String,
    pub principal: Principal,
    pub verbs: BTreeSet<Verb>,
    pub prefixes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Principal {
    /// A role this tool creates, trusted by an AWS service.
    Service { service: String },
    /// An existing role; the tool attaches a managed policy to it.
    Role { arn: String, name: String },
    /// An existing IAM user; the tool attaches a managed policy to it.
    User { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Write,
    Read,
    List,
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 4] = [Verb::Write, Verb::Read, Verb::List, Verb::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Verb::Write => "write",
            Verb::Read => "read",
            Verb::List => "list",
            Verb::Delete => "delete",
        }
    }

    /// The S3 actions a verb grants; nothing more (no ACL, no version deletion).
    pub fn s3_actions(self) -> &'static [&'static str] {
        match self {
            // A writer must be able to abort its own failed multipart uploads (as CDK's grantPut allows).
            Verb::Write => &["s3:PutObject", "s3:AbortMultipartUpload"],
            Verb::Read => &["s3:GetObject", "s3:GetObjectVersion"],
            Verb::List => &["s3:ListBucket"],
            Verb::Delete => &["s3:DeleteObject"],
        }
    }

    /// KMS actions needed on the bucket key: writes need a data key (and Decrypt for multipart uploads), reads
    /// need Decrypt.
    pub fn kms_actions(self) -> &'static [&'static str] {
        match self {
            Verb::Write => &["kms:GenerateDataKey", "kms:Decrypt"],
            Verb::Read => &["kms:Decrypt"],
            Verb::List | Verb::Delete => &[],
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Notification {
    pub name: String,
    pub events: Vec<EventKind>,
    pub prefix: String,
    pub suffix: String,
    pub target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Created,
    Removed,
    Restored,
    Expired,
    Transitioned,
}

impl EventKind {
    const NAMES: [(&'static str, EventKind); 5] = [
        ("created", EventKind::Created),
        ("removed", EventKind::Removed),
        ("restored", EventKind::Restored),
        ("expired", EventKind::Expired),
        ("transitioned", EventKind::Transitioned),
    ];

    /// The S3 event type this stands for.
    pub fn s3_event(self) -> &'static str {
        match self {
            EventKind::Created => "s3:ObjectCreated:*",
            EventKind::Removed => "s3:ObjectRemoved:*",
            EventKind::Restored => "s3:ObjectRestore:*",
            EventKind::Expired => "s3:LifecycleExpiration:*",
            EventKind::Transitioned => "s3:LifecycleTransition",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// An SQS queue created with the stack.
    Queue,
    /// An SNS topic created with the stack.
    Topic,
    /// EventBridge delivery for the whole bucket.
    Eventbridge,
    /// An existing Lambda function, given permission to be invoked by this bucket.
    Lambda { arn: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Smoke {
    pub probe_prefix: String,
    pub check_notifications: bool,
    pub notification_timeout: Duration,
    /// Add the deploying account to created roles' trust so the smoke test can assume them (never protected).
    pub trust_deployer: bool,
}

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

pub fn stack_name(project: &str, env: &str, instance: Option<&str>) -> String {
    match instance {
        Some(instance) => format!("{project}-{env}-{instance}"),
        None => format!("{project}-{env}"),
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

const DEFAULT_BUCKET_NAME: &str = "{stack}-{account}-{region}";
const DEFAULT_IA_DAYS: u32 = 30;
const DEFAULT_GLACIER_DAYS: u32 = 90;
const DEFAULT_NONCURRENT_EXPIRE_DAYS: u32 = 365;
const DEFAULT_ABORT_DAYS: u32 = 7;
const DEFAULT_PROBE_PREFIX: &str = "_probe/";

/// Collects located diagnostics while the raw config is checked.
struct Checker<'a> {
    file: &'a Path,
    locator: &'a Locator,
    /// Parts of the file that could not be read: the raw config holds defaults there, which no rule may judge.
    unread: &'a Unread,
    found: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// Whether every one of `paths` was read, so that a rule may judge them.
    fn read(&self, paths: &[&str]) -> bool {
        paths.iter().all(|path| self.unread.read(path))
    }

    /// Runs `check` and keeps what it finds only if every one of `paths` was read.
    fn judge<T>(&mut self, paths: &[&str], check: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.found.len();
        let value = check(self);
        if !self.read(paths) {
            self.found.truncate(before);
        }
        value
    }

    fn error(&mut self, key: &str, message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        let pos = self.locator.key_pos(key);
        self.found.push(Diagnostic::new(self.file, pos, key, message.into(), (!hint.is_empty()).then_some(hint)));
    }
}

/// Validates `raw` (read from `file`, indexed by `locator`) for `env`/`instance`. The parts of the file in
/// `unread` could not be read (they hold defaults): the rules that read them are not checked.
pub fn build(
    raw: RawConfig,
    env: &str,
    instance: Option<&str>,
    file: &Path,
    locator: &Locator,
    unread: &Unread,
) -> Result<Config, Vec<Diagnostic>> {
    let mut c = Checker { file, locator, unread, found: Vec::new() };

    // Problems with the parts of derived names (bucket, role, queue) are reported once, at the part.
    let before = c.found.len();
    if c.read(&["project"]) {
        check_project(&mut c, &raw.project);
    }
    if c.read(&["region"]) && !names::is_region(&raw.region) {
        c.error(
            "region",
            format!("`{}` is not an AWS region name", raw.region),
            "use a region code such as us-west-1 or eu-central-1",
        );
    }
    if let Some(account) = &raw.account
        && c.read(&["account"])
        && !names::is_account_id(account)
    {
        c.error(
            "account",
            format!("`{account}` is not an AWS account id"),
            "an account id is exactly 12 digits; quote it so YAML keeps leading zeros: account: \"012345678901\"",
        );
    }
    if let Some(endpoint) = raw.endpoint.as_ref().filter(|_| c.read(&["endpoint"])) {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) || endpoint.len() < 10 {
            c.error(
                "endpoint",
                format!("`{endpoint}` is not an http(s) URL"),
                "write the emulator's URL, e.g. http://127.0.0.1:4566, or remove the key for real AWS",
            );
        }
        if raw.protected && c.read(&["protected"]) {
            c.error(
                "endpoint",
                "a protected env cannot point at a custom endpoint",
                "protected envs deploy to real AWS; remove `endpoint` or `protected`",
            );
        }
    }
    let name_parts_ok = c.found.len() == before && c.read(&["project", "region", "account"]);
    if raw.protected && raw.ephemeral && c.read(&["protected", "ephemeral"]) {
        c.error(
            "ephemeral",
            "an env cannot be both protected and ephemeral",
            "protected envs are never torn down; ephemeral ones always are: keep one of the two",
        );
    }
    let ttl = match &raw.ttl {
        None => None,
        Some(_) if !c.read(&["ttl", "ephemeral"]) => None,
        Some(_) if !raw.ephemeral => {
            c.error("ttl", "`ttl` only applies to ephemeral envs", "remove `ttl`, or set `ephemeral: true`");
            None
        }
        Some(text) => match limits::parse_duration(text, limits::MAX_TTL) {
            Ok(d) => Some(d),
            Err(e) if e.contains("longer than the maximum") => {
                c.error("ttl", e, "an ephemeral instance lives at most 365 days: write e.g. 24h, 7d or 30d");
                None
            }
            Err(e) => {
                c.error("ttl", e, "write a duration such as 30m, 12h or 7d");
                None
            }
        },
    };
    if let Some(instance) = instance
        && !raw.ephemeral
        && c.read(&["ephemeral"])
    {
        c.error(
            "ephemeral",
            format!("instance `{instance}` given, but env `{env}` is not ephemeral"),
            "named instances exist only for ephemeral (test) envs: drop --instance, or set `ephemeral: true`",
        );
    }
    if raw.allow_data_loss && !raw.protected && c.read(&["allow_data_loss", "protected"]) {
        c.error(
            "allow_data_loss",
            "`allow_data_loss` only applies to protected envs",
            "other envs accept --allow-data-loss on the command line; remove the key",
        );
    }

    let place = Place {
        region: c.read(&["region"]).then_some(raw.region.as_str()),
        account: raw.account.as_deref().filter(|_| c.read(&["account"])),
    };
    let bucket = check_bucket(&mut c, raw.bucket, place);
    let access = check_access(&mut c, raw.access, place);
    let notifications = check_notifications(&mut c, raw.notifications, place);
    let smoke = check_smoke(&mut c, raw.smoke, raw.protected);

    let config = Config {
        env: env.to_string(),
        instance: instance.map(str::to_string),
        project: raw.project,
        region: raw.region,
        account: raw.account,
        endpoint: raw.endpoint,
        protected: raw.protected,
        ephemeral: raw.ephemeral,
        ttl,
        allow_data_loss: raw.allow_data_loss,
        bucket,
        access,
        notifications,
        smoke,
        self_heal: raw.drift.self_heal,
    };
    check_derived_names(&mut c, &config, name_parts_ok);
    check_logical_ids(&mut c, &config);
    if c.found.is_empty() { Ok(config) } else { Err(c.found) }
}

fn check_project(c: &mut Checker, project: &str) {
    let ok = (2..=40).contains(&project.len())
        && project.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && project.as_bytes()[0].is_ascii_lowercase()
        && !project.ends_with('-');
    if !ok {
        c.error(
            "project",
            format!("`{project}` is not a valid project name"),
            "use 2-40 lowercase letters, digits and hyphens, starting with a letter (it names the stack and bucket)",
        );
    }
}

/// Where the env deploys, for the ARNs that must be in the same region or account.
#[derive(Clone, Copy)]
struct Place<'a> {
    /// `None` when the file's region could not be read.
    region: Option<&'a str>,
    /// `None` when the file does not say; the account is then only known at deploy time.
    account: Option<&'a str>,
}

impl Place<'_> {
    /// Checks that a (well-formed) ARN at `path` is in this env's region and/or account.
    fn check_arn(&self, c: &mut Checker, path: &str, arn: &str, same_region: Option<&str>, same_account: Option<&str>) {
        let Some((region, account)) = names::arn_region_account(arn) else { return };
        if let (Some(why), Some(own)) = (same_region, self.region.filter(|own| *own != region)) {
            c.error(
                path,
                format!("the ARN is in region `{region}`, but the env deploys to `{own}`"),
                format!("{why}: use one in {own}"),
            );
        }
        if let (Some(why), Some(own)) = (same_account, self.account.filter(|own| *own != account)) {
            c.error(
                path,
                format!("the ARN is in account `{account}`, but the env deploys to account `{own}`"),
                format!("{why}: use one from account {own}"),
            );
        }
    }
}

fn check_bucket(c: &mut Checker, raw: RawBucket, place: Place) -> Bucket {
    let encryption = c.judge(&["bucket.encryption"], |c| match raw.encryption {
        None | Some(RawEncryption::SseS3) => Encryption::SseS3,
        Some(RawEncryption::KmsKeyArn(arn)) => {
            let path = "bucket.encryption.kms_key_arn";
            if !names::is_kms_key_arn(&arn) {
                c.error(
                    path,
                    format!("`{arn}` is not a KMS key ARN"),
                    "use arn:aws:kms:<region>:<account>:key/<key id> (an alias ARN cannot be used in key policies)",
                );
            } else {
                let why = "S3 encrypts a bucket only with a KMS key of the bucket's region";
                place.check_arn(c, path, &arn, Some(why), None);
            }
            Encryption::SseKms { key_arn: arn }
        }
    });
    let versioning = raw.versioning.unwrap_or(true);
    let lifecycle =
        c.judge(&["bucket.lifecycle", "bucket.versioning"], |c| check_lifecycle(c, raw.lifecycle, versioning));
    let access_logs = c.judge(&["bucket.access_logs"], |c| raw.access_logs.map(|logs| check_access_logs(c, logs)));
    c.judge(&["bucket.tags"], |c| check_tags(c, &raw.tags));
    Bucket {
        name_pattern: raw.name.unwrap_or_else(|| DEFAULT_BUCKET_NAME.to_string()),
        versioning,
        encryption,
        lifecycle,
        access_logs,
        tags: raw.tags,
    }
}

fn check_access_logs(c: &mut Checker, logs: RawAccessLogs) -> AccessLogs {
    if let Err(problem) = names::check_bucket_name(&logs.bucket) {
        c.error(
            "bucket.access_logs.bucket",
            format!("`{}` is not a valid bucket name: {problem}", logs.bucket),
            "name an existing bucket in the same region that accepts S3 server access logs",
        );
    }
    let prefix = logs.prefix.unwrap_or_default();
    check_prefix(c, "bucket.access_logs.prefix", &prefix, false);
    AccessLogs { bucket: logs.bucket, prefix }
}

fn check_tags(c: &mut Checker, tags: &BTreeMap<String, String>) {
    if tags.len() + MANAGED_BUCKET_TAGS > 50 {
        c.error(
            "bucket.tags",
            format!("{} tags, plus {MANAGED_BUCKET_TAGS} the tool adds, exceed S3's limit of 50", tags.len()),
            "merge or drop tags",
        );
    }
    for (key, value) in tags {
        let path = format!("bucket.tags.{key}");
        if key.is_empty() {
            c.error(&path, "tag key is empty", "tag keys have 1 to 128 characters");
        } else if key.chars().count() > 128 {
            let n = key.chars().count();
            c.error(&path, format!("tag key has {n} characters, over the limit of 128"), "shorten the key");
        }
        if value.chars().count() > 256 {
            c.error(
                &path,
                format!("tag value has {} characters, over the limit of 256", value.chars().count()),
                "shorten the value",
            );
        }
        if key.to_ascii_lowercase().starts_with("aws:") || key == TAG_MANAGED_BY || key.starts_with("provision:") {
            c.error(
                &path,
                format!("tag key `{key}` is reserved"),
                "`aws:` belongs to AWS and `managed-by`/`provision:` to this tool; choose another key",
            );
        }
    }
}

/// Checks a key prefix; `folder` when it must end in `/` (the probe prefix).
fn check_prefix(c: &mut Checker, path: &str, prefix: &str, folder: bool) {
    let meant = meant_prefix(prefix, folder);
    if prefix.starts_with('/') {
        let hint = if meant.is_empty() || meant == "/" {
            "S3 keys have no leading slash: name the folder without it, e.g. `calls/`".to_string()
        } else if meant.ends_with('/') && !prefix.ends_with('/') && !prefix.contains(['*', '?']) {
            format!("S3 keys have no leading slash, and the prefix of a folder ends with one: write `{meant}`")
        } else {
            format!("S3 keys have no leading slash: write `{meant}`")
        };
        c.error(path, format!("prefix `{prefix}` starts with `/`"), hint);
    }
    if prefix.contains(['*', '?']) {
        let hint = if meant.is_empty() || meant == "/" {
            "prefixes are literal; remove `*` and `?`".to_string()
        } else {
            format!("prefixes are literal, and match every key that starts with them: write `{meant}`")
        };
        c.error(path, format!("prefix `{prefix}` contains a wildcard"), hint);
    }
    check_key_part(c, path, "prefix", prefix);
}

/// The prefix that `prefix` stands for, written as S3 takes it: without leading slashes (`/calls` is written as a
/// path to the folder `calls/`, which then ends with one), and literal (what comes before a wildcard: `calls/*` is
/// `calls/`). With `folder`, it always ends with `/`.
fn meant_prefix(prefix: &str, folder: bool) -> String {
    let rooted = prefix.starts_with('/');
    let mut meant = prefix.trim_start_matches('/').to_string();
    let cut = meant.find(['*', '?']);
    if let Some(at) = cut {
        meant.truncate(at);
    }
    if !meant.ends_with('/') && (folder || (rooted && cut.is_none() && !meant.is_empty())) {
        meant.push('/');
    }
    meant
}

/// What S3 accepts in a part of an object key (a prefix or a suffix): at most 1,024 bytes of UTF-8, and no
/// control characters (XML 1.0, in which S3 lists keys and filter rules, cannot carry most of them).
fn check_key_part(c: &mut Checker, path: &str, what: &str, value: &str) {
    if value.len() > MAX_KEY_BYTES {
        c.error(
            path,
            format!("{what} has {} bytes, over S3's {MAX_KEY_BYTES}-byte key limit", value.len()),
            "shorten it",
        );
    }
    if let Some((at, control)) = value.chars().enumerate().find(|(_, ch)| ch.is_control()) {
        c.error(
            path,
            format!(
                "{what} {} contains the control character {} (character {})",
                quote(value),
                control.escape_unicode(),
                at + 1
            ),
            "S3 keys and filters are printable text: remove it",
        );
    }
}

/// A service principal: `<service>.amazonaws.com`, where the service is one or more dot-separated labels of
/// lowercase letters, digits and hyphens (`lambda`, `ecs-tasks`, `logging.s3`), each starting and ending with a
/// letter or digit.
fn is_service_principal(s: &str) -> bool {
    s.len() <= 128
        && names::is_service_principal(s)
        && s.strip_suffix(".amazonaws.com").is_some_and(|service| {
            service.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
        })
}

fn check_lifecycle(c: &mut Checker, raw: RawLifecycle, versioning: bool) -> Lifecycle {
    let ia = raw.infrequent_access_after_days.unwrap_or(Some(DEFAULT_IA_DAYS));
    let glacier = raw.glacier_after_days.unwrap_or(Some(DEFAULT_GLACIER_DAYS));
    let base = "bucket.lifecycle";
    check_transitions(c, base, ia, glacier, raw.expire_after_days);

    let noncurrent = match raw.noncurrent_versions {
        None => versioning
            .then_some(Noncurrent { expire_after_days: Some(DEFAULT_NONCURRENT_EXPIRE_DAYS), ..Noncurrent::default() }),
        Some(None) => None,
        Some(Some(n)) => {
            let path = format!("{base}.noncurrent_versions");
            if !versioning {
                c.error(
                    &path,
                    "noncurrent-version rules need versioning, which is off",
                    "remove `noncurrent_versions`, or turn `bucket.versioning` on",
                );
            }
            check_transitions(c, &path, n.infrequent_access_after_days, n.glacier_after_days, n.expire_after_days);
            if n.keep_newest.is_some() && n.expire_after_days.is_none() {
                c.error(
                    &format!("{path}.keep_newest"),
                    "`keep_newest` only applies together with `expire_after_days`",
                    "add expire_after_days, or remove keep_newest",
                );
            }
            if let Some(k) = n.keep_newest
                && !(1..=100).contains(&k)
            {
                c.error(
                    &format!("{path}.keep_newest"),
                    format!("{k} is outside 1 to 100"),
                    "S3 keeps 1 to 100 newer noncurrent versions",
                );
            }
            if n == RawNoncurrent::default() {
                c.error(
                    &path,
                    "no noncurrent-version action is set",
                    "set expire_after_days, or write `noncurrent_versions: ~` to keep old versions forever",
                );
            }
            Some(Noncurrent {
                infrequent_access_after_days: n.infrequent_access_after_days,
                glacier_after_days: n.glacier_after_days,
                expire_after_days: n.expire_after_days,
                keep_newest: n.keep_newest,
            })
        }
    };
    let abort = raw.abort_incomplete_uploads_after_days.unwrap_or(Some(DEFAULT_ABORT_DAYS));
    bounded_days(c, &format!("{base}.abort_incomplete_uploads_after_days"), abort);
    if abort == Some(0) {
        c.error(
            &format!("{base}.abort_incomplete_uploads_after_days"),
            "0 days is not allowed",
            "use 1 or more days, or `~` to keep incomplete uploads",
        );
    }

    // S3 takes 1,000 rules, one of which is the bucket-wide rule made from the keys above.
    if raw.rules.len() >= limits::MAX_LIFECYCLE_RULES {
        c.error(
            &format!("{base}.rules"),
            format!(
                "{} rules, over S3's limit of {} per bucket (the bucket-wide rule included)",
                raw.rules.len() + 1,
                limits::MAX_LIFECYCLE_RULES
            ),
            "merge rules that share a prefix or a retention",
        );
    }
    let mut ids = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, rule) in raw.rules.into_iter().enumerate() {
        let path = format!("{base}.rules[{i}]");
        if !ids.insert(rule.id.clone()) {
            c.error(&format!("{path}.id"), format!("rule id `{}` is used twice", rule.id), "give each rule its own id");
        }
        if rule.id.is_empty() || rule.id.len() > 200 || rule.id.starts_with("provision-") {
            c.error(
                &format!("{path}.id"),
                format!("`{}` is not a usable rule id", rule.id),
                "use 1-200 characters, not starting with `provision-` (reserved for the default rules)",
            );
        }
        check_prefix(c, &format!("{path}.prefix"), &rule.prefix, false);
        if rule.prefix.is_empty() {
            c.error(
                &format!("{path}.prefix"),
                "extra rules need a prefix",
                "the bucket-wide rule is set by the keys above; give this rule a prefix such as recordings/",
            );
        }
        if rule.infrequent_access_after_days.is_none()
            && rule.glacier_after_days.is_none()
            && rule.expire_after_days.is_none()
        {
            c.error(
                &path,
                "the rule has no action",
                "set infrequent_access_after_days, glacier_after_days or expire_after_days",
            );
        }
        check_transitions(c, &path, rule.infrequent_access_after_days, rule.glacier_after_days, rule.expire_after_days);
        rules.push(LifecycleRule {
            id: rule.id,
            prefix: rule.prefix,
            infrequent_access_after_days: rule.infrequent_access_after_days,
            glacier_after_days: rule.glacier_after_days,
            expire_after_days: rule.expire_after_days,
        });
    }
    Lifecycle {
        infrequent_access_after_days: ia,
        glacier_after_days: glacier,
        expire_after_days: raw.expire_after_days,
        noncurrent,
        abort_incomplete_uploads_after_days: abort,
        rules,
    }
}

/// A number of days within [`MAX_LIFECYCLE_DAYS`]; a larger one is reported and left out of the other checks.
fn bounded_days(c: &mut Checker, path: &str, days: Option<u32>) -> Option<u32> {
    match days {
        Some(n) if n > MAX_LIFECYCLE_DAYS => {
            c.error(
                path,
                format!("{n} days is over the limit of {MAX_LIFECYCLE_DAYS} days (100 years)"),
                "use a number of days up to 36500, or `~` where the setting can be turned off",
            );
            None
        }
        other => other,
    }
}

/// S3's ordering rules for one set of transitions and an expiration.
fn check_transitions(c: &mut Checker, path: &str, ia: Option<u32>, glacier: Option<u32>, expire: Option<u32>) {
    let ia = bounded_days(c, &format!("{path}.infrequent_access_after_days"), ia);
    let glacier = bounded_days(c, &format!("{path}.glacier_after_days"), glacier);
    let expire = bounded_days(c, &format!("{path}.expire_after_days"), expire);
    if let Some(days) = ia
        && days < 30
    {
        c.error(
            &format!("{path}.infrequent_access_after_days"),
            format!("STANDARD_IA at {days} days is too early"),
            "S3 moves objects to STANDARD_IA no earlier than 30 days after creation: use 30 or more",
        );
    }
    if let (Some(ia), Some(glacier)) = (ia, glacier)
        && glacier < ia.saturating_add(30)
    {
        c.error(
            &format!("{path}.glacier_after_days"),
            format!("GLACIER at {glacier} days is less than 30 days after STANDARD_IA ({ia} days)"),
            format!("objects must stay 30 days in STANDARD_IA: use {} or more", ia.saturating_add(30)),
        );
    }
    if glacier == Some(0) && ia.is_none() {
        c.error(&format!("{path}.glacier_after_days"), "0 days is not allowed", "use 1 or more days");
    }
    if let Some(expire) = expire {
        let last = glacier.or(ia);
        if expire == 0 {
            c.error(&format!("{path}.expire_after_days"), "0 days is not allowed", "use 1 or more days");
        } else if let Some(last) = last.filter(|last| expire <= *last) {
            // The transitions at or after the expiration never happen; they may be defaults, not in the file.
            let never: Vec<String> = [("infrequent_access_after_days", ia), ("glacier_after_days", glacier)]
                .into_iter()
                .filter(|(_, days)| days.is_some_and(|days| days >= expire))
                .map(|(key, _)| format!("`{key}: ~`"))
                .collect();
            c.error(
                &format!("{path}.expire_after_days"),
                format!("expiration at {expire} days is not after the last transition ({last} days)"),
                format!(
                    "expire after more than {last} days, or turn off the transitions at or after day {expire}: {}",
                    never.join(" and ")
                ),
            );
        }
    }
}

fn check_access(c: &mut Checker, raw: BTreeMap<String, RawAccess>, place: Place) -> Vec<Access> {
    let mut out = Vec::new();
    for (name, entry) in raw {
        let path = format!("access.{name}");
        if !c.read(&[&path]) {
            continue;
        }
        if !names::is_entry_name(&name) {
            c.error(
                &path,
                format!("`{name}` is not a valid access entry name"),
                "use 1-32 lowercase letters, digits and hyphens, starting with a letter (it names the role and policy)",
            );
        }
        let principal = match entry.principal {
            RawPrincipal::Service(service) => {
                if !is_service_principal(&service) {
                    c.error(
                        &format!("{path}.principal.service"),
                        format!("`{service}` is not an AWS service principal"),
                        "write the service's principal, e.g. lambda.amazonaws.com or ecs-tasks.amazonaws.com",
                    );
                }
                Principal::Service { service }
            }
            RawPrincipal::RoleArn(arn) => match names::role_name_from_arn(&arn) {
                Some(role) => {
                    // The policy is attached by role *name*: a role of another account would be mistaken for the
                    // role of that name in this one.
                    let why = "the managed policy is attached to a role of the account the stack is in";
                    place.check_arn(c, &format!("{path}.principal.role_arn"), &arn, None, Some(why));
                    Principal::Role { name: role.to_string(), arn }
                }
                None => {
                    c.error(
                        &format!("{path}.principal.role_arn"),
                        format!("`{arn}` is not an IAM role ARN"),
                        "use arn:aws:iam::<12-digit account>:role/<name>",
                    );
                    Principal::Role { name: String::new(), arn }
                }
            },
            RawPrincipal::User(user) => {
                if !names::is_iam_name(&user, 64) {
                    c.error(
                        &format!("{path}.principal.user"),
                        format!("`{user}` is not a valid IAM user name"),
                        "use 1-64 letters, digits and + = , . @ _ -",
                    );
                }
                Principal::User { name: user }
            }
        };
        let mut verbs = BTreeSet::new();
        if entry.allow.is_empty() {
            c.error(&format!("{path}.allow"), "no verbs are allowed", "list at least one of write, read, list, delete");
        }
        for (i, verb) in entry.allow.iter().enumerate() {
            match Verb::ALL.iter().find(|v| v.name() == verb) {
                Some(v) => {
                    if !verbs.insert(*v) {
                        c.error(
                            &format!("{path}.allow[{i}]"),
                            format!("`{verb}` is listed twice"),
                            "remove the repeat",
                        );
                    }
                }
                None => c.error(
                    &format!("{path}.allow[{i}]"),
                    format!("unknown verb `{verb}`"),
                    names::suggest(verb, Verb::ALL.iter().map(|v| v.name()))
                        .map(|s| format!("did you mean `{s}`? verbs are write, read, list, delete"))
                        .unwrap_or_else(|| "verbs are write, read, list, delete".to_string()),
                ),
            }
        }
        if entry.prefixes.is_empty() {
            c.error(
                &format!("{path}.prefixes"),
                "no prefixes are given",
                "access is always scoped: list the key prefixes this entry may use, e.g. [\"calls/\"]",
            );
        }
        for (i, prefix) in entry.prefixes.iter().enumerate() {
            let p = format!("{path}.prefixes[{i}]");
            check_prefix(c, &p, prefix, false);
            if prefix.is_empty() {
                c.error(&p, "an empty prefix grants the whole bucket", "name the prefix the entry needs, e.g. calls/");
            }
        }
        out.push(Access { name, principal, verbs, prefixes: entry.prefixes });
    }
    out
}

fn check_notifications(c: &mut Checker, raw: BTreeMap<String, RawNotification>, place: Place) -> Vec<Notification> {
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
        let target = match n.target {
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
                    place.check_arn(
                        c,
                        &arn_path,
                        &arn,
                        Some("S3 notifies only functions in the bucket's region"),
                        Some("the stack lets S3 invoke the function, which it can do only in its own account"),
                    );
                }
                Target::Lambda { arn }
            }
        };
        let filters = [("events", n.events.is_some()), ("prefix", n.prefix.is_some()), ("suffix", n.suffix.is_some())];
        if let (Target::Eventbridge, Some((filter, _))) = (&target, filters.iter().find(|(_, set)| *set)) {
            c.error(
                &format!("{path}.{filter}"),
                "EventBridge receives every event of the bucket; events, prefix and suffix do not apply",
                "remove events/prefix/suffix and filter in an EventBridge rule instead",
            );
        }
        let mut events = Vec::new();
        let raw_events = n.events.unwrap_or_else(|| vec!["created".to_string()]);
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
                Some(_) => {
                    c.error(&format!("{path}.events[{i}]"), format!("`{e}` is listed twice"), "remove the repeat")
                }
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
        let prefix = n.prefix.unwrap_or_default();
        let suffix = n.suffix.unwrap_or_default();
        check_prefix(c, &format!("{path}.prefix"), &prefix, false);
        check_key_part(c, &format!("{path}.suffix"), "suffix", &suffix);
        let note = Notification { name, events, prefix, suffix, target };
        // Every notification but EventBridge makes a resource, so more than the resource limit is reported there;
        // the pairwise check is skipped then (it takes time with the square of their number).
        if note.target != Target::Eventbridge && out.len() <= limits::MAX_RESOURCES {
            for other in out.iter().filter(|o| o.target != Target::Eventbridge) {
                let shared = note.events.iter().find(|e| other.events.contains(e));
                let prefixes_overlap = note.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&note.prefix);
                let suffixes_overlap = note.suffix.ends_with(&other.suffix) || other.suffix.ends_with(&note.suffix);
                if let (Some(event), true, true) = (shared, prefixes_overlap, suffixes_overlap) {
                    c.error(
                        &path,
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
        out.push(note);
    }
    out
}

fn check_smoke(c: &mut Checker, raw: RawSmoke, protected: bool) -> Smoke {
    let probe_prefix = raw.probe_prefix.unwrap_or_else(|| DEFAULT_PROBE_PREFIX.to_string());
    c.judge(&["smoke.probe_prefix"], |c| {
        check_prefix(c, "smoke.probe_prefix", &probe_prefix, true);
        if probe_prefix.is_empty() || !probe_prefix.ends_with('/') {
            let meant = match meant_prefix(&probe_prefix, true) {
                meant if meant == "/" => DEFAULT_PROBE_PREFIX.to_string(),
                meant => meant,
            };
            c.error(
                "smoke.probe_prefix",
                format!("probe prefix `{probe_prefix}` must be a folder-like prefix ending in `/`"),
                format!("probes stay under their own folder: write `{meant}`"),
            );
        }
    });
    if raw.trust_deployer && protected && c.read(&["smoke.trust_deployer", "protected"]) {
        c.error(
            "smoke.trust_deployer",
            "a protected env cannot trust the deploying account in its roles",
            "the smoke test of a protected env checks access with IAM's policy simulator instead; remove the key",
        );
    }
    let timeout = raw.notification_timeout_secs.unwrap_or(20);
    if !(1..=300).contains(&timeout) && c.read(&["smoke.notification_timeout_secs"]) {
        c.error(
            "smoke.notification_timeout_secs",
            format!("{timeout} s is outside 1 to 300 seconds"),
            "wait 1 to 300 seconds (5 minutes), e.g. 20",
        );
    }
    Smoke {
        probe_prefix,
        check_notifications: raw.check_notifications.unwrap_or(!protected),
        notification_timeout: Duration::from_secs(timeout.into()),
        trust_deployer: raw.trust_deployer,
    }
}

/// Checks the names that are derived from several keys: the bucket name, role, policy and queue names. Their
/// lengths and characters are only checked when the parts (`project`, `region`, `account`) are valid: a bad part
/// is reported once, where it is written.
fn check_derived_names(c: &mut Checker, config: &Config, parts_ok: bool) {
    let account = config.account.as_deref().unwrap_or(PLACEHOLDER_ACCOUNT);
    let region = config.region.clone();
    let placeholders = config.placeholders(account, &region);
    // The pattern is the default when `bucket.name` could not be read: nothing is said about it then.
    let pattern_read = c.read(&["bucket.name"]);
    match expand_pattern(&config.bucket.name_pattern, &placeholders) {
        Err(_) if !pattern_read => {}
        Err(unknown) => c.error(
            "bucket.name",
            format!("unknown placeholder `{unknown}` in the bucket name"),
            "placeholders are {project}, {env}, {instance}, {stack}, {account}, {region}",
        ),
        Ok(name) => {
            let problem = if parts_ok && pattern_read { names::check_bucket_name(&name).err() } else { None };
            if let Some(problem) = problem {
                let note = if config.account.is_none() && config.bucket.name_pattern.contains("{account}") {
                    " (account checked as a 12-digit placeholder)"
                } else {
                    ""
                };
                // Without `bucket.name` the name comes from the default pattern, whose main part is the project.
                let (key, what) = if c.locator.get("bucket.name").is_some() {
                    ("bucket.name", "the bucket name".to_string())
                } else {
                    ("project", format!("the default bucket name `{DEFAULT_BUCKET_NAME}`"))
                };
                c.error(key, format!("{what} renders as `{name}`{note}, which {problem}"), names::BUCKET_NAME_RULES);
            }
            if config.ephemeral
                && !(config.bucket.name_pattern.contains("{stack}")
                    || config.bucket.name_pattern.contains("{instance}"))
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
                c.error(
                    "bucket.access_logs.bucket",
                    "a bucket cannot log to itself",
                    "send access logs to a separate bucket",
                );
            }
        }
    }
    if !parts_ok {
        return;
    }
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
    for n in &config.notifications {
        let name = config.target_name(&n.name);
        if n.target == Target::Queue && names::is_entry_name(&n.name) && name.len() > 80 {
            c.error(
                &format!("notifications.{}", n.name),
                format!("the queue name `{name}` is {} characters, over SQS's 80", name.len()),
                "shorten the notification name or the project name",
            );
        }
    }
}

/// The template names each resource by a logical id made from an entry or notification name (see
/// `crate::render`): `post-call-writer` becomes `PostCallWriterRole` and `PostCallWriterPolicy`. Two names that
/// make the same id (`writer-2` and `writer2`, or an entry `new-recording-queue` next to a queue notification
/// `new-recording`) would make an invalid template, so they are reported here, at the later name.
fn check_logical_ids(c: &mut Checker, config: &Config) {
    use crate::render::{BUCKET_ID, BUCKET_POLICY_ID, pascal};
    let mut taken: BTreeMap<String, String> = BTreeMap::from([
        (BUCKET_ID.to_string(), "the data bucket".to_string()),
        (BUCKET_POLICY_ID.to_string(), "the bucket policy".to_string()),
    ]);
    let mut claims: Vec<(String, String, Vec<&str>)> = Vec::new();
    for entry in &config.access {
        let suffixes = match entry.principal {
            Principal::Service { .. } => vec!["Role", "Policy"],
            _ => vec!["Policy"],
        };
        claims.push((format!("access.{}", entry.name), format!("access entry `{}`", entry.name), suffixes));
    }
    for n in &config.notifications {
        let suffixes = match n.target {
            Target::Queue => vec!["Queue", "QueuePolicy"],
            Target::Topic => vec!["Topic", "TopicPolicy"],
            Target::Lambda { .. } => vec!["InvokePermission"],
            Target::Eventbridge => vec![],
        };
        claims.push((format!("notifications.{}", n.name), format!("notification `{}`", n.name), suffixes));
    }
    let resources = taken.len() + claims.iter().map(|(_, _, suffixes)| suffixes.len()).sum::<usize>();
    if resources > limits::MAX_RESOURCES {
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
            "each access entry makes a policy (and a role for a service), each queue or topic notification two \
             resources: merge entries that share prefixes, or split the env",
        );
        return;
    }
    for (path, owner, suffixes) in claims {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meant_prefix_is_written_as_s3_takes_it() {
        for (prefix, folder, meant) in [
            ("/calls", false, "calls/"),
            ("/calls/", false, "calls/"),
            ("//calls", false, "calls/"),
            ("/calls/2024-*", false, "calls/2024-"),
            ("calls/*", false, "calls/"),
            ("calls*.wav", false, "calls"),
            ("calls", false, "calls"),
            ("/", false, ""),
            ("*", false, ""),
            ("_probe", true, "_probe/"),
            ("/_probe*", true, "_probe/"),
            ("", true, "/"),
        ] {
            assert_eq!(meant_prefix(prefix, folder), meant, "{prefix} (folder: {folder})");
        }
    }
}
