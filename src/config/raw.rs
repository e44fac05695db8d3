//! Serde types that mirror `stacks/<env>.yaml` one to one.
//!
//! Every struct denies unknown fields and nothing is flattened or untagged, so serde_yaml can point at the exact
//! line and column of a mistake. Defaults and meaning are applied later, in [`super::model`].
//!
//! serde stops at the first error of a value; [`config_shape`] describes the same types part by part, so that
//! [`super::structure`] can read each field, entry and item of a value that fails on its own and report every
//! problem. It must follow the types: the tests below check it against serde's own messages.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

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
    /// An IAM role of the env's account (`arn:aws:iam::<account>:role/<name>`) that commands assume first.
    #[serde(default)]
    pub deploy_role: Option<String>,
    /// The external id sent when assuming `deploy_role`, if its trust policy asks for one.
    #[serde(default)]
    pub external_id: Option<String>,
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
    "deploy_role",
    "external_id",
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
    /// Queues and topics the tool creates are encrypted with the bucket's own KMS key (`encryption: kms` only;
    /// default: on with it).
    #[serde(default)]
    pub encrypt_notifications: Option<bool>,
    /// S3 Object Lock with a default retention, set when the bucket is created.
    #[serde(default)]
    pub object_lock: Option<RawObjectLock>,
    #[serde(default)]
    pub lifecycle: RawLifecycle,
    #[serde(default)]
    pub access_logs: Option<RawAccessLogs>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// `bucket.object_lock`: the default retention of new object versions, in days or in years.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawObjectLock {
    /// `governance` or `compliance`.
    pub mode: String,
    #[serde(default)]
    pub days: Option<u32>,
    #[serde(default)]
    pub years: Option<u32>,
}

#[derive(Debug, serde::Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawEncryption {
    SseS3,
    /// SSE-KMS with a customer-managed key the stack creates for the bucket.
    Kms,
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
    /// Managed policies (ARNs) attached to the role the tool creates for a service principal.
    #[serde(default)]
    pub managed_policies: Option<Vec<String>>,
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
    /// Access entries whose principals receive and delete the messages of the queue (`target: queue` only).
    #[serde(default)]
    pub consumers: Option<Vec<String>>,
    /// Receives of a message before SQS moves it to the dead-letter queue (`target: queue` only).
    #[serde(default)]
    pub max_receives: Option<u32>,
    /// Days SQS keeps a message in the queue (`target: queue` only).
    #[serde(default)]
    pub retention_days: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawTarget {
    Queue,
    Topic,
    Eventbridge,
    LambdaArn(String),
    /// An existing queue, by ARN: its owner keeps its policy (which must let this bucket send to it).
    QueueArn(String),
    /// An existing topic, by ARN: its owner keeps its policy (which must let this bucket publish to it).
    TopicArn(String),
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

/// Reads a value's text as a `T`, for its errors.
pub type Read = fn(&str) -> Result<(), serde_yaml::Error>;

/// How a value of an env file is read, part by part.
pub enum Shape {
    /// A value read whole: a scalar, a list of scalars read as one, or a kind written as a one-key map.
    Value(Read),
    /// A struct (named as in the schema's `$defs`, `RawConfig` for the file) with its fields in declaration order:
    /// serde's order, which its "expected one of" lists follow.
    Struct(&'static str, Read, Vec<Field>),
    /// Named entries (`access`, `notifications`, `bucket.tags`), each of one shape.
    Map(Read, Box<Shape>),
    /// A list, each item of one shape.
    List(Read, Box<Shape>),
}

/// One field of a [`Shape::Struct`].
pub struct Field {
    pub name: &'static str,
    /// Without a default: a value that lacks it cannot be read at all.
    pub required: bool,
    pub shape: Shape,
}

/// serde's message for an unknown key of a struct with the fields `names` (`serde::de::Error::unknown_field`,
/// which takes only a static list).
pub fn unknown_field(key: &str, names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => format!("unknown field `{key}`, there are no fields"),
        [one] => format!("unknown field `{key}`, expected {one}"),
        [a, b] => format!("unknown field `{key}`, expected {a} or {b}"),
        all => format!("unknown field `{key}`, expected one of {}", all.join(", ")),
    }
}

impl Shape {
    /// The reader of the whole value.
    pub fn read(&self) -> Read {
        match self {
            Shape::Value(read) | Shape::Struct(_, read, _) | Shape::Map(read, _) | Shape::List(read, _) => *read,
        }
    }
}

fn read<T: DeserializeOwned>(text: &str) -> Result<(), serde_yaml::Error> {
    serde_yaml::from_str::<T>(text).map(drop)
}

/// [`read`] for a field written `#[serde(with = "serde_yaml::with::singleton_map")]`.
fn read_one_key_map<T: DeserializeOwned>(text: &str) -> Result<(), serde_yaml::Error> {
    serde_yaml::with::singleton_map::deserialize::<T, _>(serde_yaml::Deserializer::from_str(text)).map(drop)
}

fn optional(name: &'static str, shape: Shape) -> Field {
    Field { name, required: false, shape }
}

fn required(name: &'static str, shape: Shape) -> Field {
    Field { name, required: true, shape }
}

/// The shape of a whole env file ([`RawConfig`]).
pub fn config_shape() -> Shape {
    use Shape::*;
    let days = || Value(read::<Option<u32>>);
    let text = || Value(read::<Option<String>>);
    let strings = |whole| List(whole, Box::new(Value(read::<String>)));
    let noncurrent = Struct(
        "RawNoncurrent",
        read::<Option<RawNoncurrent>>,
        vec![
            optional("infrequent_access_after_days", days()),
            optional("glacier_after_days", days()),
            optional("expire_after_days", days()),
            optional("keep_newest", days()),
        ],
    );
    let rule = Struct(
        "RawLifecycleRule",
        read::<RawLifecycleRule>,
        vec![
            required("id", Value(read::<String>)),
            required("prefix", Value(read::<String>)),
            optional("infrequent_access_after_days", days()),
            optional("glacier_after_days", days()),
            optional("expire_after_days", days()),
        ],
    );
    let lifecycle = Struct(
        "RawLifecycle",
        read::<RawLifecycle>,
        vec![
            optional("infrequent_access_after_days", days()),
            optional("glacier_after_days", days()),
            optional("expire_after_days", days()),
            optional("noncurrent_versions", noncurrent),
            optional("abort_incomplete_uploads_after_days", days()),
            optional("rules", List(read::<Vec<RawLifecycleRule>>, Box::new(rule))),
        ],
    );
    let access_logs = Struct(
        "RawAccessLogs",
        read::<Option<RawAccessLogs>>,
        vec![required("bucket", Value(read::<String>)), optional("prefix", text())],
    );
    let object_lock = Struct(
        "RawObjectLock",
        read::<Option<RawObjectLock>>,
        vec![required("mode", Value(read::<String>)), optional("days", days()), optional("years", days())],
    );
    let bucket = Struct(
        "RawBucket",
        read::<RawBucket>,
        vec![
            optional("name", text()),
            optional("versioning", Value(read::<Option<bool>>)),
            optional("encryption", Value(read_one_key_map::<Option<RawEncryption>>)),
            optional("encrypt_notifications", Value(read::<Option<bool>>)),
            optional("object_lock", object_lock),
            optional("lifecycle", lifecycle),
            optional("access_logs", access_logs),
            optional("tags", Map(read::<BTreeMap<String, String>>, Box::new(Value(read::<String>)))),
        ],
    );
    let access = Struct(
        "RawAccess",
        read::<RawAccess>,
        vec![
            required("principal", Value(read_one_key_map::<RawPrincipal>)),
            required("allow", strings(read::<Vec<String>>)),
            required("prefixes", strings(read::<Vec<String>>)),
            optional("managed_policies", strings(read::<Option<Vec<String>>>)),
        ],
    );
    let notification = Struct(
        "RawNotification",
        read::<RawNotification>,
        vec![
            optional("events", strings(read::<Option<Vec<String>>>)),
            optional("prefix", text()),
            optional("suffix", text()),
            required("target", Value(read_one_key_map::<RawTarget>)),
            optional("consumers", strings(read::<Option<Vec<String>>>)),
            optional("max_receives", Value(read::<Option<u32>>)),
            optional("retention_days", Value(read::<Option<u32>>)),
        ],
    );
    let smoke = Struct(
        "RawSmoke",
        read::<RawSmoke>,
        vec![
            optional("probe_prefix", text()),
            optional("check_notifications", Value(read::<Option<bool>>)),
            optional("notification_timeout_secs", Value(read::<Option<u32>>)),
            optional("trust_deployer", Value(read::<bool>)),
        ],
    );
    let drift = Struct("RawDrift", read::<RawDrift>, vec![optional("self_heal", Value(read::<bool>))]);
    Struct(
        "RawConfig",
        read::<RawConfig>,
        vec![
            required("project", Value(read::<String>)),
            required("region", Value(read::<String>)),
            optional("account", text()),
            optional("deploy_role", text()),
            optional("external_id", text()),
            optional("endpoint", text()),
            optional("protected", Value(read::<bool>)),
            optional("ephemeral", Value(read::<bool>)),
            optional("ttl", text()),
            optional("allow_data_loss", Value(read::<bool>)),
            optional("bucket", bucket),
            optional("access", Map(read::<BTreeMap<String, RawAccess>>, Box::new(access))),
            optional("notifications", Map(read::<BTreeMap<String, RawNotification>>, Box::new(notification))),
            optional("smoke", smoke),
            optional("drift", drift),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A struct of the shape: its path, name, reader and fields (name, required).
    struct Found {
        path: String,
        name: &'static str,
        read: Read,
        fields: Vec<(&'static str, bool)>,
    }

    /// Every struct of the shape, depth first.
    fn structs(shape: &Shape, path: &str, out: &mut Vec<Found>) {
        match shape {
            Shape::Value(_) => {}
            Shape::Struct(name, read, fields) => {
                let own = fields.iter().map(|f| (f.name, f.required)).collect();
                out.push(Found { path: path.to_string(), name, read: *read, fields: own });
                for f in fields {
                    structs(&f.shape, &format!("{path}.{}", f.name), out);
                }
            }
            Shape::Map(_, entry) => structs(entry, &format!("{path}.<entry>"), out),
            Shape::List(_, item) => structs(item, &format!("{path}[]"), out),
        }
    }

    #[test]
    fn the_shape_has_the_fields_of_the_types() {
        let mut found = Vec::new();
        structs(&config_shape(), "", &mut found);
        let schema = serde_json::to_value(schemars::schema_for!(RawConfig)).unwrap();
        // Every struct of the file is in the shape.
        let mut in_schema: Vec<&str> = schema["$defs"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, def)| def.get("properties").is_some())
            .map(|(name, _)| name.as_str())
            .chain(["RawConfig"])
            .collect();
        in_schema.sort_unstable();
        let mut in_shape: Vec<&str> = found.iter().map(|f| f.name).collect();
        in_shape.sort_unstable();
        assert_eq!(in_shape, in_schema);
        for Found { path, name, read, fields } in found {
            // serde's own message for an unknown key names the fields in its order.
            let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
            let expected = unknown_field("zzz", &names);
            let message = read("zzz: 1\n").unwrap_err().to_string();
            assert!(message.starts_with(&expected), "{path}: {message} (shape: {expected})");
            // Required fields are those without a default.
            let def = if name == "RawConfig" { &schema } else { &schema["$defs"][name] };
            let mut required: Vec<&str> =
                def["required"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
            required.sort_unstable();
            let mut shape_required: Vec<&str> = fields.iter().filter(|(_, r)| *r).map(|(n, _)| *n).collect();
            shape_required.sort_unstable();
            assert_eq!(shape_required, required, "{path} ({name})");
        }
        let top: Vec<&str> = match config_shape() {
            Shape::Struct(_, _, fields) => fields.iter().map(|f| f.name).collect(),
            _ => unreachable!(),
        };
        assert_eq!(top, TOP_LEVEL_KEYS);
    }

    /// Whether a value was accepted: read, or only lacking a field that a text of one key cannot give.
    fn accepted(result: Result<(), serde_yaml::Error>) -> bool {
        match result {
            Ok(()) => true,
            Err(e) => e.to_string().contains("missing field"),
        }
    }

    #[test]
    fn each_part_is_read_as_its_type_reads_it() {
        // Values of every kind the file can hold; each part must take exactly those its type takes in place.
        const SAMPLES: &[&str] = &[
            "",
            "~",
            "true",
            "\"yes\"",
            "7",
            "-1",
            "4294967296",
            "1.5",
            "x",
            "sse-s3",
            "queue",
            "[a, b]",
            "[a, [b]]",
            "[]",
            "{}",
            "{ a: 1 }",
            "{ a: b }",
            "{ service: lambda.amazonaws.com }",
            "{ kms_key_arn: k }",
            "kms",
            "{ mode: governance, days: 30 }",
            "{ lambda_arn: l }",
            "{ id: r, prefix: p/ }",
            "[{ id: r, prefix: p/, expire_after_days: 9 }]",
            "{ bucket: b }",
            "{ expire_after_days: 3 }",
            "{ principal: { user: u }, allow: [read], prefixes: [a/] }",
            "{ target: queue }",
        ];
        /// A part of a value, and how it is written in the value: `before`, the part, `after`.
        struct Part<'a> {
            path: String,
            shape: &'a Shape,
            before: String,
            after: &'static str,
        }
        fn check(shape: &Shape, path: &str, failures: &mut Vec<String>) {
            let parts: Vec<Part> = match shape {
                Shape::Value(_) => return,
                Shape::Struct(_, _, fields) => fields
                    .iter()
                    .map(|f| Part {
                        path: format!("{path}.{}", f.name),
                        shape: &f.shape,
                        before: format!("{}: ", f.name),
                        after: "\n",
                    })
                    .collect(),
                Shape::Map(_, entry) => {
                    vec![Part { path: format!("{path}.<entry>"), shape: entry, before: "k: ".into(), after: "\n" }]
                }
                Shape::List(_, item) => {
                    vec![Part { path: format!("{path}[]"), shape: item, before: "[".into(), after: "]\n" }]
                }
            };
            for Part { path: child_path, shape: child, before, after } in parts {
                for sample in SAMPLES {
                    let in_place = accepted(shape.read()(&format!("{before}{sample}{after}")));
                    // An empty value is read alone as an empty document (see `Locator::isolate`).
                    let alone = accepted(child.read()(if sample.is_empty() { "---\n" } else { sample }));
                    if in_place != alone {
                        failures.push(format!("{child_path} = {sample}: in place {in_place}, alone {alone}"));
                    }
                }
                check(child, &child_path, failures);
            }
        }
        let mut failures = Vec::new();
        check(&config_shape(), "", &mut failures);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
