//! The validated domain types: what the rest of the tool works with once [`super::build`] has checked a file.
//! The tables that say what a verb grants and which S3 event an event kind stands for sit with their types.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    pub env: String,
    pub instance: Option<String>,
    pub project: String,
    pub region: String,
    pub account: Option<String>,
    /// The role a deploy assumes, for an env in another account than the caller's.
    pub deploy_role: Option<DeployRole>,
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

/// `deploy_role` (and `external_id`): an IAM role of the env's account that the deploy assumes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeployRole {
    pub arn: String,
    /// The 12-digit account of the role, which is the account the env deploys to.
    pub account: String,
    /// Passed to `sts:AssumeRole` when the role's trust policy asks for one.
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Bucket {
    /// Name pattern with `{project}`, `{env}`, `{instance}`, `{stack}`, `{account}`, `{region}`.
    pub name_pattern: String,
    pub versioning: bool,
    pub encryption: Encryption,
    /// Queues and topics the stack creates are encrypted with the bucket's created key (`Encryption::Kms` only).
    pub encrypt_notifications: bool,
    pub object_lock: Option<ObjectLock>,
    pub lifecycle: Lifecycle,
    pub access_logs: Option<AccessLogs>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Encryption {
    SseS3,
    /// SSE-KMS with an existing key.
    SseKms {
        key_arn: String,
    },
    /// SSE-KMS with a customer-managed key the stack creates (rotation on, kept like the bucket).
    Kms,
}

impl Encryption {
    /// Whether objects are encrypted with a KMS key (an existing one or the stack's own).
    pub fn uses_kms(&self) -> bool {
        !matches!(self, Encryption::SseS3)
    }
}

/// `bucket.object_lock`: S3 Object Lock with a default retention for new object versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ObjectLock {
    pub mode: LockMode,
    pub retention: Retention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Principals with `s3:BypassGovernanceRetention` can still delete or shorten a retention.
    Governance,
    /// Nobody, the account root included, can delete a locked version before its retention ends.
    Compliance,
}

impl LockMode {
    /// The mode as S3 and CloudFormation spell it.
    pub fn s3_name(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }
}

/// A default retention period: S3 takes days or years, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    Days(u32),
    Years(u32),
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
    /// Managed policies (ARNs) attached to the role created for a service principal, besides the entry's own.
    pub managed_policies: Vec<String>,
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
    /// Athena (or another engine that locates the bucket first): `s3:GetBucketLocation` on the bucket; with `read`
    /// and `list`, which Athena also needs of the data it queries.
    Query,
}

impl Verb {
    pub const ALL: [Verb; 5] = [Verb::Write, Verb::Read, Verb::List, Verb::Delete, Verb::Query];

    pub fn name(self) -> &'static str {
        match self {
            Verb::Write => "write",
            Verb::Read => "read",
            Verb::List => "list",
            Verb::Delete => "delete",
            Verb::Query => "query",
        }
    }

    /// Whether the verb's actions apply to the bucket (ARN without a key) rather than to objects under prefixes.
    pub fn on_bucket(self) -> bool {
        matches!(self, Verb::List | Verb::Query)
    }

    /// The S3 actions a verb grants; nothing more (no ACL, no version deletion).
    pub fn s3_actions(self) -> &'static [&'static str] {
        match self {
            // A writer must be able to abort its own failed multipart uploads (as CDK's grantPut allows).
            Verb::Write => &["s3:PutObject", "s3:AbortMultipartUpload"],
            Verb::Read => &["s3:GetObject", "s3:GetObjectVersion"],
            Verb::List => &["s3:ListBucket"],
            Verb::Delete => &["s3:DeleteObject"],
            Verb::Query => &["s3:GetBucketLocation"],
        }
    }

    /// KMS actions needed on the bucket key: writes need a data key (and Decrypt for multipart uploads), reads
    /// need Decrypt.
    pub fn kms_actions(self) -> &'static [&'static str] {
        match self {
            Verb::Write => &["kms:GenerateDataKey", "kms:Decrypt"],
            Verb::Read => &["kms:Decrypt"],
            Verb::List | Verb::Delete | Verb::Query => &[],
        }
    }
}

/// What a consumer of a queue notification gets on that queue, and nothing else (as CDK's `grantConsumeMessages`):
/// receive, delete, extend the visibility of a message it works on, read the queue's attributes and find its URL.
pub const QUEUE_CONSUMER_ACTIONS: [&str; 5] = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
];

#[derive(Debug, Clone, serde::Serialize)]
pub struct Notification {
    pub name: String,
    pub events: Vec<EventKind>,
    pub prefix: String,
    pub suffix: String,
    pub target: Target,
    /// Names of the access entries that consume the queue (a created queue only; empty otherwise).
    pub consumers: Vec<String>,
    /// The created queue's own settings (`target: queue` only).
    pub queue: Option<QueueSettings>,
}

/// A created queue's message retention and dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueSettings {
    /// Receives of a message before SQS moves it to the dead-letter queue (`maxReceiveCount`).
    pub max_receives: u32,
    /// Days SQS keeps a message in the queue (`MessageRetentionPeriod`).
    pub retention_days: u32,
    /// Days SQS keeps a message in the dead-letter queue: counted from when it was first sent, so the longest.
    pub dead_letter_retention_days: u32,
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
    pub(super) const NAMES: [(&'static str, EventKind); 5] = [
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
    /// An existing SQS queue: its policy is its owner's to keep (it must let this bucket send).
    ExistingQueue { arn: String },
    /// An existing SNS topic: its policy is its owner's to keep (it must let this bucket publish).
    ExistingTopic { arn: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Smoke {
    pub probe_prefix: String,
    pub check_notifications: bool,
    pub notification_timeout: Duration,
    /// Add the deploying principal (its role or user, resolved at deploy time) to created roles' trust so the smoke
    /// test can assume them (ephemeral and custom-endpoint envs only).
    pub trust_deployer: bool,
}
