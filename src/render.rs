//! Rendering: validated [`Config`] → CloudFormation template and IAM policy documents, through the tera
//! templates in `templates/` and `policies/` (embedded at build time, so the binary runs from any directory).
//!
//! Templates only lay out values; every decision (which actions a verb grants, which lifecycle rules exist,
//! where `Fn::Sub` is needed) is made here, where unit tests reach it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use anyhow::{Context as _, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{Config, Encryption, Principal, Target, Verb};
use crate::ids::{BUCKET_ID, pascal};

const TEMPLATES: &[(&str, &str)] = &[
    ("stack.yaml", include_str!("../templates/stack.yaml.tera")),
    ("bucket.yaml", include_str!("../templates/bucket.yaml.tera")),
    ("access.yaml", include_str!("../templates/access.yaml.tera")),
    ("notifications.yaml", include_str!("../templates/notifications.yaml.tera")),
    ("outputs.yaml", include_str!("../templates/outputs.yaml.tera")),
    ("bucket-policy.json", include_str!("../policies/bucket-policy.json.tera")),
    ("access-policy.json", include_str!("../policies/access-policy.json.tera")),
    ("trust-policy.json", include_str!("../policies/trust-policy.json.tera")),
    ("target-policy.json", include_str!("../policies/target-policy.json.tera")),
    ("stack-policy.json", include_str!("../policies/stack-policy.json.tera")),
];

fn tera() -> &'static tera::Tera {
    static TERA: OnceLock<tera::Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("indent", indent_filter);
        // The templates are part of the binary and covered by tests: a syntax error there is a build defect.
        // Trailing newlines are trimmed so that included parts join without stray blank lines.
        tera.add_raw_templates(TEMPLATES.iter().map(|(name, text)| (*name, text.trim_end())))
            .expect("embedded templates parse");
        tera
    })
}

/// Indents every line after the first, so a multi-line JSON document can sit under a YAML key.
fn indent_filter(value: &Value, args: &std::collections::HashMap<String, Value>) -> tera::Result<Value> {
    let width = args.get("width").and_then(Value::as_u64).unwrap_or(2) as usize;
    let text = value.as_str().ok_or_else(|| tera::Error::msg("indent expects a string"))?;
    let pad = " ".repeat(width);
    Ok(Value::String(text.lines().collect::<Vec<_>>().join(&format!("\n{pad}"))))
}

fn render_one(name: &str, context: &impl Serialize) -> Result<String> {
    let context = tera::Context::from_serialize(context).context("building the template context")?;
    tera().render(name, &context).with_context(|| format!("rendering {name}"))
}

/// Renders a policy template and parses it: a policy that is not JSON is a template bug, caught here.
fn render_policy(name: &str, context: &impl Serialize) -> Result<Value> {
    let text = render_one(name, context)?;
    serde_json::from_str(&text).with_context(|| format!("{name} did not render to JSON:\n{text}"))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A string for CloudFormation: `{"Fn::Sub": s}` when it has `${...}` variables, the plain string otherwise.
pub fn sub(s: &str) -> Value {
    if s.contains("${") { json!({ "Fn::Sub": s }) } else { Value::String(s.to_string()) }
}

/// What `render` produces: the template text and the documents it embeds, by name.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub template: String,
    /// The template parsed (for comparisons and checks).
    pub template_value: Value,
    /// Policy documents, by file name (`access-post-call-writer.json`, ...), as embedded in the template.
    pub policies: BTreeMap<String, Value>,
    /// Stack policy for protected envs.
    pub stack_policy: Option<String>,
}

#[derive(Serialize)]
struct StackContext {
    description: String,
    bucket: BucketContext,
    bucket_arn: Value,
    bucket_policy: String,
    access: Vec<AccessContext>,
    queues: Vec<TargetContext>,
    topics: Vec<TargetContext>,
    lambda_permissions: Vec<LambdaPermission>,
    outputs: Vec<Output>,
}

#[derive(Serialize)]
struct BucketContext {
    name: Value,
    deletion_policy: &'static str,
    update_replace_policy: &'static str,
    depends_on: Vec<String>,
    versioning_status: &'static str,
    sse_algorithm: &'static str,
    kms_key_arn: Option<String>,
    transition_minimum_size: &'static str,
    lifecycle_rules: Vec<LifecycleRuleContext>,
    access_logs: Option<crate::config::AccessLogs>,
    has_notifications: bool,
    queue_configurations: Vec<NotificationContext>,
    topic_configurations: Vec<NotificationContext>,
    lambda_configurations: Vec<NotificationContext>,
    eventbridge: bool,
    tags: Vec<Tag>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct LifecycleRuleContext {
    pub id: String,
    pub prefix: Option<String>,
    pub transitions: Vec<TransitionContext>,
    pub expiration_days: Option<u32>,
    pub noncurrent_transitions: Vec<TransitionContext>,
    pub noncurrent_expiration_days: Option<u32>,
    pub noncurrent_keep_newest: Option<u32>,
    pub abort_incomplete_days: Option<u32>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct TransitionContext {
    pub storage_class: &'static str,
    pub days: u32,
}

#[derive(Serialize)]
struct NotificationContext {
    event: &'static str,
    target: Value,
    filter_rules: Vec<Value>,
}

#[derive(Serialize)]
struct Tag {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct AccessContext {
    role: Option<RoleContext>,
    policy_logical_id: String,
    policy_name: String,
    description: String,
    roles: Vec<Value>,
    users: Vec<String>,
    policy: String,
}

#[derive(Serialize)]
struct RoleContext {
    logical_id: String,
    name: String,
    description: String,
    trust_policy: String,
}

#[derive(Serialize)]
struct TargetContext {
    logical_id: String,
    policy_logical_id: String,
    name: String,
    policy: String,
}

#[derive(Serialize)]
struct LambdaPermission {
    logical_id: String,
    function_arn: String,
}

#[derive(Serialize)]
struct Output {
    name: String,
    description: String,
    value: Value,
}

/// ARN of the bucket as a CloudFormation value (built from the name, not `Ref`, so that policies of queues the
/// bucket depends on do not depend on the bucket in turn).
fn bucket_arn_string(config: &Config) -> String {
    format!("arn:${{AWS::Partition}}:s3:::{}", config.bucket_name_sub())
}

/// What happens to the bucket when the stack goes. Kept (with its data) unless the env is ephemeral, except when
/// the create that made it is rolled back: a `Retain` bucket would survive a rolled-back create, and the retried
/// create would then fail on its name, forever. A new bucket holds no data yet.
pub fn deletion_policy(config: &Config) -> &'static str {
    if config.ephemeral { "Delete" } else { "RetainExceptOnCreate" }
}

/// The lifecycle rules S3 gets: one bucket-wide rule from the top-level settings, then each extra rule.
pub fn lifecycle_rules(config: &Config) -> Vec<LifecycleRuleContext> {
    let l = &config.bucket.lifecycle;
    let transitions = |ia: Option<u32>, glacier: Option<u32>| {
        let mut out = Vec::new();
        if let Some(days) = ia {
            out.push(TransitionContext { storage_class: "STANDARD_IA", days });
        }
        if let Some(days) = glacier {
            out.push(TransitionContext { storage_class: "GLACIER", days });
        }
        out
    };
    let noncurrent = l.noncurrent.clone().unwrap_or_default();
    let mut rules = vec![LifecycleRuleContext {
        id: "provision-default".into(),
        prefix: None,
        transitions: transitions(l.infrequent_access_after_days, l.glacier_after_days),
        expiration_days: l.expire_after_days,
        noncurrent_transitions: transitions(noncurrent.infrequent_access_after_days, noncurrent.glacier_after_days),
        noncurrent_expiration_days: noncurrent.expire_after_days,
        noncurrent_keep_newest: noncurrent.keep_newest,
        abort_incomplete_days: l.abort_incomplete_uploads_after_days,
    }];
    let default_is_empty = {
        let r = &rules[0];
        r.transitions.is_empty()
            && r.expiration_days.is_none()
            && r.noncurrent_transitions.is_empty()
            && r.noncurrent_expiration_days.is_none()
            && r.abort_incomplete_days.is_none()
    };
    if default_is_empty {
        rules.clear();
    }
    rules.extend(l.rules.iter().map(|rule| LifecycleRuleContext {
        id: rule.id.clone(),
        prefix: Some(rule.prefix.clone()),
        transitions: transitions(rule.infrequent_access_after_days, rule.glacier_after_days),
        expiration_days: rule.expire_after_days,
        noncurrent_transitions: Vec::new(),
        noncurrent_expiration_days: None,
        noncurrent_keep_newest: None,
        abort_incomplete_days: None,
    }));
    rules
}

/// The IAM actions an access entry gets: (S3 object actions, whether it may list, KMS actions).
pub fn entry_actions(
    config: &Config,
    verbs: &std::collections::BTreeSet<Verb>,
) -> (Vec<&'static str>, bool, Vec<&'static str>) {
    let object: Vec<&str> =
        verbs.iter().filter(|v| **v != Verb::List).flat_map(|v| v.s3_actions().iter().copied()).collect();
    let mut kms: Vec<&str> = match config.bucket.encryption {
        Encryption::SseKms { .. } => verbs.iter().flat_map(|v| v.kms_actions().iter().copied()).collect(),
        Encryption::SseS3 => Vec::new(),
    };
    kms.sort_unstable();
    kms.dedup();
    (object, verbs.contains(&Verb::List), kms)
}

/// The policy document of one access entry.
pub fn access_policy(config: &Config, entry: &crate::config::Access) -> Result<Value> {
    let bucket = config.bucket_name_sub();
    let (object_actions, may_list, kms_actions) = entry_actions(config, &entry.verbs);
    let kms_key_arn = match &config.bucket.encryption {
        Encryption::SseKms { key_arn } => Some(key_arn.clone()),
        Encryption::SseS3 => None,
    };
    let list_prefixes: Vec<String> =
        if may_list { entry.prefixes.iter().map(|p| format!("{p}*")).collect() } else { Vec::new() };
    render_policy(
        "access-policy.json",
        &json!({
            "object_actions": object_actions,
            "object_resources": entry.prefixes.iter()
                .map(|p| sub(&format!("arn:${{AWS::Partition}}:s3:::{bucket}/{p}*")))
                .collect::<Vec<_>>(),
            "bucket_arn": sub(&bucket_arn_string(config)),
            "list_prefixes": list_prefixes,
            "kms_actions": kms_actions,
            "kms_key_arn": kms_key_arn,
        }),
    )
}

/// Renders the whole stack for `config`.
pub fn render(config: &Config) -> Result<Rendered> {
    let bucket_arn = bucket_arn_string(config);
    let mut policies = BTreeMap::new();

    let bucket_policy = render_policy(
        "bucket-policy.json",
        &json!({ "bucket_arn": sub(&bucket_arn), "objects_arn": sub(&format!("{bucket_arn}/*")) }),
    )?;
    policies.insert("bucket-policy.json".to_string(), bucket_policy.clone());

    let mut access = Vec::new();
    let mut outputs = vec![
        Output {
            name: "BucketName".into(),
            description: "Name of the data bucket".into(),
            value: json!({ "Ref": BUCKET_ID }),
        },
        Output {
            name: "BucketArn".into(),
            description: "ARN of the data bucket".into(),
            value: json!({ "Fn::GetAtt": [BUCKET_ID, "Arn"] }),
        },
    ];
    for entry in &config.access {
        let id = pascal(&entry.name);
        let policy = access_policy(config, entry)?;
        policies.insert(format!("access-{}.json", entry.name), policy.clone());
        // Static on purpose: a changed Description makes CloudFormation replace a managed policy, and a named
        // policy cannot be replaced ("already exists"). What it grants is in the document.
        let description = format!("provision access entry {} of {}", entry.name, config.stack_name());
        let (role, roles, users) = match &entry.principal {
            Principal::Service { service } => {
                let trust = render_policy(
                    "trust-policy.json",
                    &json!({
                        "service": service,
                        "deployer_account_root": config.smoke.trust_deployer
                            .then(|| sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                    }),
                )?;
                policies.insert(format!("trust-{}.json", entry.name), trust.clone());
                let logical_id = format!("{id}Role");
                outputs.push(Output {
                    name: format!("{id}RoleArn"),
                    description: format!("Role for access entry {}", entry.name),
                    value: json!({ "Fn::GetAtt": [logical_id, "Arn"] }),
                });
                let role = RoleContext {
                    logical_id: logical_id.clone(),
                    name: config.iam_name(&entry.name),
                    description: format!("Assumed by {service}: {description}"),
                    trust_policy: pretty(&trust),
                };
                (Some(role), vec![json!({ "Ref": logical_id })], Vec::new())
            }
            Principal::Role { name, .. } => (None, vec![Value::String(name.clone())], Vec::new()),
            Principal::User { name } => (None, Vec::new(), vec![name.clone()]),
        };
        let policy_logical_id = format!("{id}Policy");
        outputs.push(Output {
            name: format!("{id}PolicyArn"),
            description: format!("Managed policy for access entry {}", entry.name),
            value: json!({ "Ref": policy_logical_id }),
        });
        access.push(AccessContext {
            role,
            policy_logical_id,
            policy_name: config.iam_name(&entry.name),
            description,
            roles,
            users,
            policy: pretty(&policy),
        });
    }

    let mut queues = Vec::new();
    let mut topics = Vec::new();
    let mut lambda_permissions = Vec::new();
    let mut depends_on = Vec::new();
    let (mut queue_configs, mut topic_configs, mut lambda_configs) = (Vec::new(), Vec::new(), Vec::new());
    let mut eventbridge = false;
    for n in &config.notifications {
        let id = pascal(&n.name);
        let filter_rules: Vec<Value> = [("prefix", &n.prefix), ("suffix", &n.suffix)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, v)| json!({ "Name": name, "Value": v }))
            .collect();
        let (target, configs) = match &n.target {
            Target::Eventbridge => {
                eventbridge = true;
                continue;
            }
            Target::Queue | Target::Topic => {
                let is_queue = n.target == Target::Queue;
                let logical_id = format!("{id}{}", if is_queue { "Queue" } else { "Topic" });
                let target_arn =
                    if is_queue { json!({ "Fn::GetAtt": [logical_id, "Arn"] }) } else { json!({ "Ref": logical_id }) };
                let policy = render_policy(
                    "target-policy.json",
                    &json!({
                        "action": if is_queue { "sqs:SendMessage" } else { "sns:Publish" },
                        "target_arn": target_arn,
                        "bucket_arn": sub(&bucket_arn),
                    }),
                )?;
                let kind = if is_queue { "queue" } else { "topic" };
                policies.insert(format!("{kind}-{}.json", n.name), policy.clone());
                let policy_logical_id = format!("{logical_id}Policy");
                depends_on.push(policy_logical_id.clone());
                let context = TargetContext {
                    logical_id: logical_id.clone(),
                    policy_logical_id,
                    name: config.target_name(&n.name),
                    policy: pretty(&policy),
                };
                if is_queue {
                    outputs.push(Output {
                        name: format!("{logical_id}Url"),
                        description: format!("URL of the queue for notification {}", n.name),
                        value: json!({ "Ref": logical_id }),
                    });
                    outputs.push(Output {
                        name: format!("{logical_id}Arn"),
                        description: format!("ARN of the queue for notification {}", n.name),
                        value: target_arn.clone(),
                    });
                    queues.push(context);
                    (target_arn, &mut queue_configs)
                } else {
                    outputs.push(Output {
                        name: format!("{logical_id}Arn"),
                        description: format!("ARN of the topic for notification {}", n.name),
                        value: target_arn.clone(),
                    });
                    topics.push(context);
                    (target_arn, &mut topic_configs)
                }
            }
            Target::Lambda { arn } => {
                let logical_id = format!("{id}InvokePermission");
                depends_on.push(logical_id.clone());
                lambda_permissions.push(LambdaPermission { logical_id, function_arn: arn.clone() });
                (Value::String(arn.clone()), &mut lambda_configs)
            }
        };
        for event in &n.events {
            configs.push(NotificationContext {
                event: event.s3_event(),
                target: target.clone(),
                filter_rules: filter_rules.clone(),
            });
        }
    }

    let mut tags: Vec<Tag> = config.bucket.tags.iter().map(|(k, v)| Tag { key: k.clone(), value: v.clone() }).collect();
    tags.extend(config.stack_tags().into_iter().map(|(key, value)| Tag { key, value }));

    let (sse_algorithm, kms_key_arn) = match &config.bucket.encryption {
        Encryption::SseS3 => ("AES256", None),
        Encryption::SseKms { key_arn } => ("aws:kms", Some(key_arn.clone())),
    };
    let context = StackContext {
        description: format!(
            "provision: data bucket stack {} (project {}, env {})",
            config.stack_name(),
            config.project,
            config.env
        ),
        bucket: BucketContext {
            name: sub(&config.bucket_name_sub()),
            deletion_policy: deletion_policy(config),
            update_replace_policy: if config.ephemeral { "Delete" } else { "Retain" },
            depends_on,
            versioning_status: if config.bucket.versioning { "Enabled" } else { "Suspended" },
            sse_algorithm,
            kms_key_arn,
            // Objects under 128 KiB cost more in IA/GLACIER than in STANDARD; S3's default, set explicitly.
            transition_minimum_size: "all_storage_classes_128K",
            lifecycle_rules: lifecycle_rules(config),
            access_logs: config.bucket.access_logs.clone(),
            has_notifications: !(queue_configs.is_empty() && topic_configs.is_empty() && lambda_configs.is_empty())
                || eventbridge,
            queue_configurations: queue_configs,
            topic_configurations: topic_configs,
            lambda_configurations: lambda_configs,
            eventbridge,
            tags,
        },
        bucket_arn: sub(&bucket_arn),
        bucket_policy: pretty(&bucket_policy),
        access,
        queues,
        topics,
        lambda_permissions,
        outputs,
    };
    let template = render_one("stack.yaml", &context)? + "\n";
    // Through serde_yaml's own Value first: it rejects duplicate keys, which a JSON map would silently merge.
    let yaml: serde_yaml::Value = serde_yaml::from_str(&template)
        .with_context(|| format!("the rendered template is not valid YAML:\n{template}"))?;
    let template_value: Value = serde_json::to_value(yaml).context("the rendered template is not JSON-compatible")?;
    let stack_policy = if config.protected {
        Some(render_one("stack-policy.json", &json!({ "data_resources": [format!("LogicalResourceId/{BUCKET_ID}")] }))?)
    } else {
        None
    };
    Ok(Rendered { template, template_value, policies, stack_policy })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(src: &str) -> Config {
        crate::config::parse(src, Path::new("t.yaml"), "dev", None).unwrap()
    }

    #[test]
    fn sub_only_when_needed() {
        assert_eq!(sub("plain"), json!("plain"));
        assert_eq!(sub("a-${AWS::Region}"), json!({ "Fn::Sub": "a-${AWS::Region}" }));
    }

    /// Regression (AWS): with `DeletionPolicy: Retain` a bucket survived a rolled-back first create, and recovering
    /// the `ROLLBACK_COMPLETE` stack (delete, create afresh) then failed on the bucket name every time.
    #[test]
    fn a_kept_bucket_is_not_kept_after_a_rolled_back_create() {
        let rendered = render(&config("project: demo\nregion: us-west-1\n")).unwrap();
        let bucket = &rendered.template_value["Resources"][BUCKET_ID];
        assert_eq!(bucket["DeletionPolicy"], "RetainExceptOnCreate");
        assert_eq!(bucket["UpdateReplacePolicy"], "Retain", "RetainExceptOnCreate is not a replace policy");
        let ephemeral = render(&config("project: demo\nregion: us-west-1\nephemeral: true\n")).unwrap();
        assert_eq!(ephemeral.template_value["Resources"][BUCKET_ID]["DeletionPolicy"], "Delete");
    }

    #[test]
    fn default_lifecycle_is_one_bucket_wide_rule() {
        let rules = lifecycle_rules(&config("project: demo\nregion: us-west-1\n"));
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0].transitions,
            vec![
                TransitionContext { storage_class: "STANDARD_IA", days: 30 },
                TransitionContext { storage_class: "GLACIER", days: 90 },
            ]
        );
        assert_eq!(rules[0].noncurrent_expiration_days, Some(365));
        assert_eq!(rules[0].abort_incomplete_days, Some(7));
    }

    #[test]
    fn lifecycle_off_renders_no_rule() {
        let src = "project: demo\nregion: us-west-1\nbucket:\n  versioning: false\n  lifecycle:\n    infrequent_access_after_days: ~\n    glacier_after_days: ~\n    abort_incomplete_uploads_after_days: ~\n";
        assert!(lifecycle_rules(&config(src)).is_empty());
    }

    /// Regression (AWS): `write` granted only PutObject, so a writer could not abort its own failed multipart
    /// uploads (AbortMultipartUpload is a separate action); the parts stayed, billed, until the lifecycle rule.
    #[test]
    fn verbs_map_to_exact_actions() {
        let c = config("project: demo\nregion: us-west-1\n");
        let verbs = [Verb::Write, Verb::List].into_iter().collect();
        let (object, list, kms) = entry_actions(&c, &verbs);
        assert_eq!(object, ["s3:PutObject", "s3:AbortMultipartUpload"]);
        assert!(list);
        assert!(kms.is_empty());
    }

    #[test]
    fn kms_actions_only_with_kms() {
        let c = config(
            "project: demo\nregion: us-west-1\nbucket:\n  encryption: { kms_key_arn: \"arn:aws:kms:us-west-1:123456789012:key/abcd-1234\" }\n",
        );
        let verbs = [Verb::Read].into_iter().collect();
        let (_, _, kms) = entry_actions(&c, &verbs);
        assert_eq!(kms, ["kms:Decrypt"]);
    }
}

#[cfg(test)]
mod regression_tests {
    use super::*;
    use std::path::Path;

    /// Regression: the managed policy's Description listed the verbs, so changing them made CloudFormation
    /// replace the policy, which fails for a named policy ("already exists"). The Description must not change.
    #[test]
    fn changing_verbs_does_not_change_the_policy_description() {
        let src = |verbs: &str| {
            format!(
                "project: demo\nregion: us-west-1\naccess:\n  writer:\n    principal: {{ user: u }}\n    allow: [{verbs}]\n    prefixes: [calls/]\n"
            )
        };
        let description = |verbs: &str| {
            let config = crate::config::parse(&src(verbs), Path::new("t.yaml"), "dev", None).unwrap();
            render(&config).unwrap().template_value["Resources"]["WriterPolicy"]["Properties"]["Description"].clone()
        };
        assert_eq!(description("write"), description("write, read"));
    }
}
