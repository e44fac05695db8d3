//! Serde types that mirror `stacks/<env>.yaml` one to one.
//!
//! Every struct denies unknown fields and nothing is flattened or untagged, so serde_yaml can point at the exact
//! line and column of a mistake. Defaults and meaning are applied later, in [`super::model`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A field that distinguishes "absent" (use the default) from an explicit `~` (turn the feature off).
pub type Setting<T> = Option<Option<T>>;

fn setting<'de, D, T>(deserializer: D) -> Result<Setting<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The whole env file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub project: String,
    pub region: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub protected: bool,
    #[serde(default)]
    pub ephemeral: bool,
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub allow_data_loss: bool,
    #[serde(default)]
    pub bucket: RawBucket,
    #[serde(default)]
    pub access: BTreeMap<String, RawAccess>,
    #[serde(default)]
    pub notifications: BTreeMap<String, RawNotification>,
    #[serde(default)]
    pub smoke: RawSmoke,
    #[serde(default)]
    pub drift: RawDrift,
}

/// Top-level keys, in the order the README documents them; used to report unknown keys one by one.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "project",
    "region",
    "account",
    "endpoint",
    "protected",
    "ephemeral",
    "ttl",
    "allow_data_loss",
    "bucket",
    "access",
    "notifications",
    "smoke",
    "drift",
];

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBucket {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub versioning: Option<bool>,
    #[serde(default, with = "serde_yaml::with::singleton_map")]
    #[schemars(with = "Option<RawEncryption>")]
    pub encryption: Option<RawEncryption>,
    #[serde(default)]
    pub lifecycle: RawLifecycle,
    #[serde(default)]
    pub access_logs: Option<RawAccessLogs>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, serde::Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawEncryption {
    SseS3,
    #[serde(rename = "kms_key_arn")]
    KmsKeyArn(String),
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    #[serde(default, deserialize_with = "setting")]
    #[schemars(with = "Option<u32>")]
    pub infrequent_access_after_days: Setting<u32>,
    #[serde(default, deserialize_with = "setting")]
    #[schemars(with = "Option<u32>")]
    pub glacier_after_days: Setting<u32>,
    #[serde(default)]
    pub expire_after_days: Option<u32>,
    #[serde(default, deserialize_with = "setting")]
    #[schemars(with = "Option<RawNoncurrent>")]
    pub noncurrent_versions: Setting<RawNoncurrent>,
    #[serde(default, deserialize_with = "setting")]
    #[schemars(with = "Option<u32>")]
    pub abort_incomplete_uploads_after_days: Setting<u32>,
    #[serde(default)]
    pub rules: Vec<RawLifecycleRule>,
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNoncurrent {
    #[serde(default)]
    pub infrequent_access_after_days: Option<u32>,
    #[serde(default)]
    pub glacier_after_days: Option<u32>,
    #[serde(default)]
    pub expire_after_days: Option<u32>,
    #[serde(default)]
    pub keep_newest: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycleRule {
    pub id: String,
    pub prefix: String,
    #[serde(default)]
    pub infrequent_access_after_days: Option<u32>,
    #[serde(default)]
    pub glacier_after_days: Option<u32>,
    #[serde(default)]
    pub expire_after_days: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLogs {
    pub bucket: String,
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    #[serde(with = "serde_yaml::with::singleton_map")]
    #[schemars(with = "RawPrincipal")]
    pub principal: RawPrincipal,
    pub allow: Vec<String>,
    pub prefixes: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawPrincipal {
    /// A role is created and trusted by this AWS service (e.g. `lambda.amazonaws.com`).
    Service(String),
    /// An existing role gets a managed policy attached.
    RoleArn(String),
    /// An existing IAM user gets a managed policy attached.
    User(String),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotification {
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(with = "serde_yaml::with::singleton_map")]
    #[schemars(with = "RawTarget")]
    pub target: RawTarget,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawTarget {
    Queue,
    Topic,
    Eventbridge,
    LambdaArn(String),
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSmoke {
    #[serde(default)]
    pub probe_prefix: Option<String>,
    #[serde(default)]
    pub check_notifications: Option<bool>,
    #[serde(default)]
    pub notification_timeout_secs: Option<u32>,
    #[serde(default)]
    pub trust_deployer: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    #[serde(default)]
    pub self_heal: bool,
}
