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

use crate::config::Config;
use crate::ids::{BUCKET_ID, DEPLOYER_PARAMETER};

mod access;
mod bucket;
mod key;
mod notifications;
pub mod resolve;
mod trust;

pub use access::{access_policy, entry_actions};
pub use bucket::{LifecycleRuleContext, TransitionContext, deletion_policy, kms_key, lifecycle_rules, object_lock};
pub use key::{ADMIN_ACTIONS, KeyUse, alias_name, key_policy, key_uses, principal_arns};
pub use trust::source_conditions;

const TEMPLATES: &[(&str, &str)] = &[
    ("stack.yaml", include_str!("../../templates/stack.yaml.tera")),
    ("bucket.yaml", include_str!("../../templates/bucket.yaml.tera")),
    ("access.yaml", include_str!("../../templates/access.yaml.tera")),
    ("notifications.yaml", include_str!("../../templates/notifications.yaml.tera")),
    ("outputs.yaml", include_str!("../../templates/outputs.yaml.tera")),
    ("key.yaml", include_str!("../../templates/key.yaml.tera")),
    ("key-policy.json", include_str!("../../policies/key-policy.json.tera")),
    ("bucket-policy.json", include_str!("../../policies/bucket-policy.json.tera")),
    ("access-policy.json", include_str!("../../policies/access-policy.json.tera")),
    ("trust-policy.json", include_str!("../../policies/trust-policy.json.tera")),
    ("target-policy.json", include_str!("../../policies/target-policy.json.tera")),
    ("stack-policy.json", include_str!("../../policies/stack-policy.json.tera")),
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

/// The bucket and its objects as the bucket policy names them: `Fn::GetAtt` of the bucket's ARN, not the ARN built
/// from the name that the queue and topic policies use ([`bucket::arn_string`]), so that static rule engines
/// (cfn-guard, checkov) see which bucket the policy protects. The bucket policy depends on the bucket anyway
/// (`Bucket: Ref`), so this adds no dependency; the policies of queues and topics, which the bucket depends on,
/// keep the name-built ARN.
fn bucket_policy_resources() -> Value {
    json!({
        "bucket_arn": { "Fn::GetAtt": [BUCKET_ID, "Arn"] },
        "objects_arn": { "Fn::Sub": format!("${{{BUCKET_ID}.Arn}}/*") },
    })
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
    /// The values of the template's parameters (its `DeployerArn`), given where the stack is deployed or read:
    /// empty when rendered offline.
    pub parameters: BTreeMap<String, String>,
}

impl Rendered {
    /// Whether the template declares the parameter `name`.
    pub fn declares(&self, name: &str) -> bool {
        self.template_value.pointer(&format!("/Parameters/{name}")).is_some()
    }

    /// Whether the template names the deploying principal (and needs its ARN to be deployed).
    pub fn names_deployer(&self) -> bool {
        self.declares(DEPLOYER_PARAMETER)
    }

    /// This render with the parameter values of a deployed stack (or of a deploy), for the parameters the template
    /// declares.
    pub fn with_parameters(&self, values: &BTreeMap<String, String>) -> Rendered {
        let parameters = values.iter().filter(|(k, _)| self.declares(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        Rendered { parameters, ..self.clone() }
    }
}

/// A template parameter: its name and description, and the pattern CloudFormation checks its value against.
#[derive(Serialize)]
struct Parameter {
    name: &'static str,
    description: &'static str,
    pattern: &'static str,
}

#[derive(Serialize)]
struct StackContext {
    description: String,
    parameters: Vec<Parameter>,
    key: Option<key::KeyContext>,
    /// The key that encrypts the queues and topics the stack creates (`bucket.encrypt_notifications`); None: SQS's
    /// own encryption for queues, none for topics.
    notifications_key: Option<Value>,
    bucket: bucket::BucketContext,
    bucket_arn: Value,
    bucket_policy: String,
    access: Vec<access::AccessContext>,
    queues: Vec<notifications::TargetContext>,
    topics: Vec<notifications::TargetContext>,
    lambda_permissions: Vec<notifications::LambdaPermission>,
    outputs: Vec<Output>,
}

/// What the parts of the template collect as they are rendered: policy documents by file name, and outputs.
struct Collected {
    policies: BTreeMap<String, Value>,
    outputs: Vec<Output>,
}

#[derive(Serialize)]
struct Tag {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct Output {
    name: String,
    description: String,
    value: Value,
}

/// Renders the whole stack for `config`.
pub fn render(config: &Config) -> Result<Rendered> {
    let bucket_arn = bucket::arn_string(config);
    let mut collected = Collected { policies: BTreeMap::new(), outputs: bucket::outputs(config) };
    let mut bucket_policy_context = bucket_policy_resources();
    bucket_policy_context["encryption"] = serde_json::to_value(bucket::encryption_denials(config))?;
    let bucket_policy = render_policy("bucket-policy.json", &bucket_policy_context)?;
    collected.policies.insert("bucket-policy.json".to_string(), bucket_policy.clone());
    let access = access::contexts(config, &mut collected)?;
    let notifications = notifications::contexts(config, &bucket_arn, &mut collected)?;
    let key = key::context(config, &mut collected)?;
    let context = StackContext {
        description: format!(
            "provision: data bucket stack {} (project {}, env {})",
            config.stack_name(),
            config.project,
            config.env
        ),
        parameters: parameters(config),
        key,
        notifications_key: config.bucket.encrypt_notifications.then(|| kms_key(config)).flatten(),
        bucket: bucket::context(config, notifications.bucket),
        bucket_arn: sub(&bucket_arn),
        bucket_policy: pretty(&bucket_policy),
        access,
        queues: notifications.queues,
        topics: notifications.topics,
        lambda_permissions: notifications.lambda_permissions,
        outputs: collected.outputs,
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
    Ok(Rendered { template, template_value, policies: collected.policies, stack_policy, parameters: BTreeMap::new() })
}

/// The template's parameters: the deploying principal's ARN where roles trust it (`smoke.trust_deployer`) or the
/// bucket's own key lets it use the key for the smoke test's probes.
fn parameters(config: &Config) -> Vec<Parameter> {
    let roles_trust_deployer = config.smoke.trust_deployer
        && config.access.iter().any(|e| matches!(e.principal, crate::config::Principal::Service { .. }));
    let key_names_deployer = config.bucket.encryption == crate::config::Encryption::Kms;
    if !(roles_trust_deployer || key_names_deployer) {
        return Vec::new();
    }
    vec![Parameter {
        name: DEPLOYER_PARAMETER,
        description: "The IAM principal that deploys the stack (set by provision from STS GetCallerIdentity)",
        pattern: DEPLOYER_ARN_PATTERN,
    }]
}

/// What the deploying principal's ARN looks like once resolved: the account root, a role (never a role session),
/// a user, or a federated user.
pub const DEPLOYER_ARN_PATTERN: &str =
    "^arn:aws[a-z-]*:(iam::[0-9]{12}:(root|role/.+|user/.+)|sts::[0-9]{12}:federated-user/.+)$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Verb;
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

    /// A notification to an existing queue or topic names it by ARN and leaves its policy to its owner: no policy
    /// resource, nothing for the bucket to wait for.
    #[test]
    fn existing_targets_are_named_by_arn_without_a_policy() {
        let queue = "arn:aws:sqs:us-west-1:123456789012:transcriptions";
        let topic = "arn:aws:sns:us-west-1:210987654321:calls";
        let src = format!(
            "project: demo\nregion: us-west-1\nnotifications:\n  wav:\n    suffix: .wav\n    target: {{ queue_arn: \"{queue}\" }}\n  json:\n    suffix: .json\n    target: {{ topic_arn: \"{topic}\" }}\n"
        );
        let rendered = render(&config(&src)).unwrap();
        let resources = rendered.template_value["Resources"].as_object().unwrap();
        let bucket = &resources[BUCKET_ID];
        let notifications = &bucket["Properties"]["NotificationConfiguration"];
        assert_eq!(notifications["QueueConfigurations"][0]["Queue"], queue);
        assert_eq!(notifications["TopicConfigurations"][0]["Topic"], topic);
        assert!(bucket.get("DependsOn").is_none_or(|d| d.as_array().is_some_and(Vec::is_empty)), "{bucket}");
        let kinds: Vec<&str> = resources.values().filter_map(|r| r["Type"].as_str()).collect();
        assert!(!kinds.iter().any(|k| k.starts_with("AWS::SQS") || k.starts_with("AWS::SNS")), "{kinds:?}");
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
