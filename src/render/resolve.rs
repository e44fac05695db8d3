//! `render --resolve`: the template and its policy documents with every CloudFormation function (`Ref`,
//! `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`) and pseudo parameter (`AWS::Partition`, `AWS::AccountId`, `AWS::Region`,
//! `AWS::URLSuffix`, `AWS::StackName`) replaced by the literal CloudFormation would put there in one account and
//! region. Tools that read no intrinsics (parliament, IAM Access Analyzer's ValidatePolicy, standalone linters)
//! then see every ARN a policy names. A template parameter (`Ref: DeployerArn`) takes the value of the render
//! (`Rendered::parameters`, given where it is deployed), else the one [`Target`] gives, else its `Default`.
//!
//! Strict on purpose: a function it does not know, or a value known only once deployed (a role's `RoleId`, a
//! resource without a fixed name), is an error naming where it is, never left in place. The one exception is the
//! id of a KMS key the stack creates, which AWS makes up at creation: it resolves to a fixed placeholder id
//! ([`placeholder_key_id`]), so that the key's ARN still has the shape AWS gives it.
//!
//! `crate::live::intrinsics` resolves the same template for drift, as AWS stores the values it reads back.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value};

use super::Rendered;
use crate::ids::DEPLOYER_PARAMETER;
use crate::names;

/// Where the resolved documents are deployed: the values of the pseudo parameters, and of the template's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub account: String,
    pub region: String,
    pub stack_name: String,
    /// Values of template parameters, by name.
    pub parameters: BTreeMap<String, String>,
}

impl Target {
    /// A stack in `account` and `region`, deployed by the account's root: offline, the deploying principal
    /// (`DeployerArn`, which roles trust with `smoke.trust_deployer`) is not known, and the root stands for it.
    pub fn new(account: &str, region: &str, stack_name: &str) -> Target {
        let root = format!("arn:{}:iam::{account}:root", names::partition(region).0);
        Target {
            account: account.to_string(),
            region: region.to_string(),
            stack_name: stack_name.to_string(),
            parameters: BTreeMap::from([(DEPLOYER_PARAMETER.to_string(), root)]),
        }
    }
}

/// `rendered` with every function resolved for `target`: the template (text and value) and each policy document.
/// The stack policy names logical ids only and is kept as it is.
pub fn resolve(rendered: &Rendered, target: &Target) -> Result<Rendered> {
    if !names::is_account_id(&target.account) {
        bail!("cannot resolve for account `{}`: an account id has 12 digits", target.account);
    }
    if !names::is_region(&target.region) {
        bail!("cannot resolve for region `{}`: not a region name (e.g. us-west-1)", target.region);
    }
    let mut scope = Scope::of_template(&rendered.template_value, target)?;
    scope.parameters(&rendered.template_value, &rendered.parameters, &target.parameters)?;
    let mut template_value = scope.resolve(&rendered.template_value, "template")?;
    // Every parameter is resolved: a template that still declared them would ask for values nothing uses.
    if let Some(template) = template_value.as_object_mut() {
        template.remove("Parameters");
    }
    let mut policies = BTreeMap::new();
    for (name, document) in &rendered.policies {
        policies.insert(name.clone(), scope.resolve(document, &format!("policies/{name}"))?);
    }
    // JSON, which YAML reads too: plain YAML would leave `2012-10-17` unquoted, a date to YAML 1.1 readers.
    let json = serde_json::to_string_pretty(&template_value)?;
    let template = format!(
        "# Resolved for account {} in {} (stack {}) by `provision render --resolve`: for linters and policy\n\
         # analyzers; deploy the unresolved template.\n{json}\n",
        target.account, target.region, target.stack_name
    );
    Ok(Rendered { template, template_value, policies, ..rendered.clone() })
}

/// The id a KMS key created by the stack gets in resolved documents: AWS makes the real one up at creation. Shaped
/// like a key id (a UUID), the same for the same logical id, and all zeros but for a hash of that id, so that it
/// reads as a placeholder.
pub fn placeholder_key_id(logical_id: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let hash =
        logical_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("00000000-0000-0000-0000-{:012x}", hash & 0xffff_ffff_ffff)
}

/// What the functions of one template resolve to.
#[derive(Debug, Default)]
struct Scope {
    /// `AWS::AccountId` and the other pseudo parameters.
    pseudo: BTreeMap<&'static str, String>,
    /// `Ref` of each resource whose value is known before it is created.
    refs: BTreeMap<String, String>,
    /// `Fn::GetAtt` of those resources: (logical id, attribute) → value.
    attributes: BTreeMap<(String, String), String>,
}

impl Scope {
    /// `Ref` of each parameter the template declares: the render's value, else the target's, else its `Default`.
    fn parameters(
        &mut self,
        template: &Value,
        given: &BTreeMap<String, String>,
        fallback: &BTreeMap<String, String>,
    ) -> Result<()> {
        let declared = template.get("Parameters").and_then(Value::as_object).cloned().unwrap_or_default();
        for (name, parameter) in &declared {
            let default = parameter.get("Default").and_then(Value::as_str).map(str::to_string);
            let value = given.get(name).or_else(|| fallback.get(name)).cloned().or(default);
            let value = value.ok_or_else(|| anyhow!("template.Parameters.{name}: no value to resolve it with"))?;
            self.refs.insert(name.clone(), value);
        }
        Ok(())
    }

    /// The pseudo parameters of `target`, and what each resource of `template` resolves to.
    fn of_template(template: &Value, target: &Target) -> Result<Scope> {
        let (partition, url_suffix) = names::partition(&target.region);
        let pseudo = BTreeMap::from([
            ("AWS::Partition", partition.to_string()),
            ("AWS::AccountId", target.account.clone()),
            ("AWS::Region", target.region.clone()),
            ("AWS::URLSuffix", url_suffix.to_string()),
            ("AWS::StackName", target.stack_name.clone()),
        ]);
        let mut scope = Scope { pseudo, ..Scope::default() };
        let resources = template.get("Resources").and_then(Value::as_object).cloned().unwrap_or_default();
        // Names are resolved with the pseudo parameters alone: a name made from another resource is not supported.
        let names_only = Scope { pseudo: scope.pseudo.clone(), ..Scope::default() };
        let (p, a, r) = (partition, target.account.as_str(), target.region.as_str());
        for (id, resource) in &resources {
            let at = format!("template.Resources.{id}.Properties");
            let name = |key: &str| -> Result<Option<String>> {
                let Some(value) = resource.pointer(&format!("/Properties/{key}")) else { return Ok(None) };
                match names_only.resolve(value, &format!("{at}.{key}"))? {
                    Value::String(s) => Ok(Some(s)),
                    other => bail!("{at}.{key}: a name must be a string, not {other}"),
                }
            };
            let path = |key: &str| -> Result<String> { Ok(name(key)?.unwrap_or_else(|| "/".to_string())) };
            let mut set = |reference: String, attributes: Vec<(&str, String)>| {
                scope.refs.insert(id.clone(), reference);
                for (attribute, value) in attributes {
                    scope.attributes.insert((id.clone(), attribute.to_string()), value);
                }
            };
            match resource.get("Type").and_then(Value::as_str).unwrap_or_default() {
                "AWS::S3::Bucket" => {
                    if let Some(n) = name("BucketName")? {
                        let suffix = url_suffix;
                        set(
                            n.clone(),
                            vec![
                                ("Arn", format!("arn:{p}:s3:::{n}")),
                                ("DomainName", format!("{n}.s3.{suffix}")),
                                ("RegionalDomainName", format!("{n}.s3.{r}.{suffix}")),
                                ("DualStackDomainName", format!("{n}.s3.dualstack.{r}.{suffix}")),
                            ],
                        );
                    }
                }
                "AWS::IAM::Role" => {
                    if let Some(n) = name("RoleName")? {
                        set(n.clone(), vec![("Arn", format!("arn:{p}:iam::{a}:role{}{n}", path("Path")?))]);
                    }
                }
                "AWS::IAM::ManagedPolicy" => {
                    if let Some(n) = name("ManagedPolicyName")? {
                        let arn = format!("arn:{p}:iam::{a}:policy{}{n}", path("Path")?);
                        set(arn.clone(), vec![("PolicyArn", arn)]);
                    }
                }
                "AWS::SQS::Queue" => {
                    if let Some(n) = name("QueueName")? {
                        let url = format!("https://sqs.{r}.{url_suffix}/{a}/{n}");
                        set(
                            url.clone(),
                            vec![("Arn", format!("arn:{p}:sqs:{r}:{a}:{n}")), ("QueueName", n), ("QueueUrl", url)],
                        );
                    }
                }
                "AWS::SNS::Topic" => {
                    if let Some(n) = name("TopicName")? {
                        let arn = format!("arn:{p}:sns:{r}:{a}:{n}");
                        set(arn.clone(), vec![("TopicArn", arn), ("TopicName", n)]);
                    }
                }
                "AWS::KMS::Key" => {
                    let key_id = placeholder_key_id(id);
                    set(key_id.clone(), vec![("Arn", format!("arn:{p}:kms:{r}:{a}:key/{key_id}")), ("KeyId", key_id)]);
                }
                "AWS::KMS::Alias" => {
                    if let Some(n) = name("AliasName")? {
                        set(n, Vec::new());
                    }
                }
                "AWS::Events::Rule" => {
                    if let Some(n) = name("Name")? {
                        set(n.clone(), vec![("Arn", format!("arn:{p}:events:{r}:{a}:rule/{n}"))]);
                    }
                }
                _ => {}
            }
        }
        Ok(scope)
    }

    /// `value` with every function resolved; `at` says where it is, for errors.
    fn resolve(&self, value: &Value, at: &str) -> Result<Value> {
        match value {
            Value::Object(map) if map.len() == 1 && is_function(map.keys().next().map(String::as_str)) => {
                let (key, argument) = map.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
                self.function(key, argument, &format!("{at}.{key}")).map(Value::String)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, inner) in map {
                    out.insert(key.clone(), self.resolve(inner, &format!("{at}.{key}"))?);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.resolve(item, &format!("{at}[{i}]")))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    /// One function's value (every function the templates use yields a string).
    fn function(&self, key: &str, argument: &Value, at: &str) -> Result<String> {
        match (key, argument) {
            ("Ref", Value::String(name)) => self.reference(name).ok_or_else(|| anyhow!("{at}: {}", self.unknown(name))),
            ("Fn::GetAtt", Value::Array(parts)) if parts.len() == 2 => match (parts[0].as_str(), parts[1].as_str()) {
                (Some(id), Some(attribute)) => self.attribute(id, attribute, at),
                _ => bail!("{at}: expects [logical id, attribute], not {argument}"),
            },
            ("Fn::GetAtt", Value::String(dotted)) => match dotted.split_once('.') {
                Some((id, attribute)) => self.attribute(id, attribute, at),
                None => bail!("{at}: expects `LogicalId.Attribute`, not `{dotted}`"),
            },
            ("Fn::Sub", Value::String(text)) => self.substitute(text, &Map::new(), at),
            ("Fn::Sub", Value::Array(parts)) if parts.len() == 2 => {
                let (Some(text), Some(variables)) = (parts[0].as_str(), parts[1].as_object()) else {
                    bail!("{at}: expects [text, {{variables}}], not {argument}");
                };
                self.substitute(text, variables, at)
            }
            ("Fn::Join", Value::Array(parts)) if parts.len() == 2 => {
                let (Some(delimiter), Some(items)) = (parts[0].as_str(), parts[1].as_array()) else {
                    bail!("{at}: expects [delimiter, [values]], not {argument}");
                };
                let mut joined = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match self.resolve(item, &format!("{at}[1][{i}]"))? {
                        Value::String(s) => joined.push(s),
                        other => bail!("{at}[1][{i}]: joins strings only, not {other}"),
                    }
                }
                Ok(joined.join(delimiter))
            }
            _ => bail!("{at}: `{key}` with {argument} cannot be resolved before deploying"),
        }
    }

    fn reference(&self, name: &str) -> Option<String> {
        self.pseudo.get(name).or_else(|| self.refs.get(name)).cloned()
    }

    fn attribute(&self, id: &str, attribute: &str, at: &str) -> Result<String> {
        self.attributes.get(&(id.to_string(), attribute.to_string())).cloned().ok_or_else(|| {
            if self.refs.contains_key(id) {
                anyhow!("{at}: the `{attribute}` of `{id}` is known only once it is deployed")
            } else {
                anyhow!("{at}: {}", self.unknown(id))
            }
        })
    }

    fn unknown(&self, name: &str) -> String {
        if name.starts_with("AWS::") {
            format!("the pseudo parameter `{name}` is known only once the stack is deployed")
        } else {
            format!("`{name}` is no resource of the template whose name is known before it is deployed")
        }
    }

    /// `Fn::Sub`: `${Name}`, `${Id.Attribute}` and the pseudo parameters replaced; `${!Literal}` is `${Literal}`.
    fn substitute(&self, text: &str, variables: &Map<String, Value>, at: &str) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| anyhow!("{at}: `${{` without its `}}` in `{text}`"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                match self.resolve(value, &format!("{at}[1].{name}"))? {
                    Value::String(s) => out.push_str(&s),
                    other => bail!("{at}[1].{name}: a variable of Fn::Sub must be a string, not {other}"),
                }
            } else if let Some(value) = self.reference(name) {
                out.push_str(&value);
            } else if let Some((id, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(id, attribute, at)?);
            } else {
                bail!("{at}: `${{{name}}}` in `{text}`: {}", self.unknown(name));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Whether a one-key object is a CloudFormation function: `Ref`, or a key starting with `Fn::`.
fn is_function(key: Option<&str>) -> bool {
    key.is_some_and(|k| k == "Ref" || k.starts_with("Fn::"))
}

/// Where a document still has a function, if anywhere: resolved documents must have none.
pub fn first_function(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::Object(map) if map.len() == 1 && is_function(map.keys().next().map(String::as_str)) => {
            Some(format!("{at}.{}", map.keys().next().cloned().unwrap_or_default()))
        }
        Value::Object(map) => map.iter().find_map(|(k, v)| first_function(v, &format!("{at}.{k}"))),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| first_function(v, &format!("{at}[{i}]"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn target() -> Target {
        Target::new("123456789012", "us-west-1", "demo-dev")
    }

    fn rendered(src: &str) -> Rendered {
        let config = crate::config::parse(src, Path::new("t.yaml"), "dev", None).unwrap();
        super::super::render(&config).unwrap()
    }

    const FULL: &str = r#"project: demo
region: us-west-1
account: "123456789012"
ephemeral: true
access:
  writer:
    principal: { service: lambda.amazonaws.com }
    allow: [write, read, list]
    prefixes: [calls/]
  reader:
    principal: { role_arn: "arn:aws:iam::123456789012:role/analysts" }
    allow: [read]
    prefixes: [calls/]
notifications:
  wav:
    prefix: calls/
    suffix: .wav
    target: queue
  alerts:
    prefix: alerts/
    target: topic
smoke:
  trust_deployer: true
"#;

    /// Every document of a template with roles, managed policies, a queue and a topic comes out without a function,
    /// and with the values CloudFormation gives them.
    #[test]
    fn every_function_of_a_full_template_is_resolved() {
        let resolved = resolve(&rendered(FULL), &target()).unwrap();
        assert_eq!(first_function(&resolved.template_value, "template"), None);
        for (name, document) in &resolved.policies {
            assert_eq!(first_function(document, name), None);
            assert!(!document.to_string().contains("${"), "{name}: {document}");
        }
        assert!(!resolved.template.contains("Fn::") && !resolved.template.contains("\"Ref\""), "{}", resolved.template);
        let resources = &resolved.template_value["Resources"];
        assert_eq!(resources["DataBucket"]["Properties"]["BucketName"], "demo-dev-123456789012-us-west-1");
        assert_eq!(resources["DataBucketPolicy"]["Properties"]["Bucket"], "demo-dev-123456789012-us-west-1");
        assert_eq!(
            resources["WavQueuePolicy"]["Properties"]["Queues"][0],
            "https://sqs.us-west-1.amazonaws.com/123456789012/demo-dev-wav"
        );
        assert_eq!(
            resources["AlertsTopicPolicy"]["Properties"]["Topics"][0],
            "arn:aws:sns:us-west-1:123456789012:demo-dev-alerts"
        );
        assert_eq!(resources["WriterPolicy"]["Properties"]["Roles"][0], "demo-dev-writer");
        let outputs = &resolved.template_value["Outputs"];
        assert_eq!(outputs["WriterRoleArn"]["Value"], "arn:aws:iam::123456789012:role/demo-dev-writer");
        assert_eq!(outputs["WriterPolicyArn"]["Value"], "arn:aws:iam::123456789012:policy/demo-dev-writer");
        assert_eq!(outputs["WavQueueArn"]["Value"], "arn:aws:sqs:us-west-1:123456789012:demo-dev-wav");
        assert_eq!(outputs["BucketArn"]["Value"], "arn:aws:s3:::demo-dev-123456789012-us-west-1");
        // Offline, the deploying principal that `trust_deployer` roles trust is the account's root.
        let trust = &resolved.policies["trust-writer.json"];
        assert!(trust.to_string().contains(r#""AWS":"arn:aws:iam::123456789012:root""#), "{trust}");
        let queue = &resolved.policies["queue-wav.json"]["Statement"][0];
        assert_eq!(queue["Resource"], "arn:aws:sqs:us-west-1:123456789012:demo-dev-wav");
        assert_eq!(queue["Condition"]["ArnEquals"]["aws:SourceArn"], "arn:aws:s3:::demo-dev-123456789012-us-west-1");
        assert_eq!(queue["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
        // The resolved text is the resolved value, with its version quoted (YAML 1.1 would read a date).
        let reread: serde_yaml::Value = serde_yaml::from_str(&resolved.template).unwrap();
        assert_eq!(serde_json::to_value(reread).unwrap(), resolved.template_value);
        assert!(resolved.template.contains(r#""AWSTemplateFormatVersion": "2010-09-09""#), "{}", resolved.template);
        assert!(resolved.template_value.get("Parameters").is_none(), "resolved parameters stay declared");
    }

    /// The bucket policy names the bucket through `Fn::GetAtt` (for static rule engines); resolved, that is the
    /// bucket's ARN and every object under it.
    #[test]
    fn the_bucket_policy_resolves_to_the_bucket_and_its_objects() {
        let rendered = rendered(FULL);
        let statement = &rendered.policies["bucket-policy.json"]["Statement"][0];
        assert_eq!(
            statement["Resource"],
            json!([{ "Fn::GetAtt": ["DataBucket", "Arn"] }, { "Fn::Sub": "${DataBucket.Arn}/*" }])
        );
        let resolved = resolve(&rendered, &target()).unwrap();
        for document in [
            &resolved.policies["bucket-policy.json"],
            &resolved.template_value["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"],
        ] {
            let bucket = "arn:aws:s3:::demo-dev-123456789012-us-west-1";
            let objects = format!("{bucket}/*");
            let statements = document["Statement"].as_array().unwrap();
            // The TLS denials cover the bucket and every object; the other denials (of writes) the objects.
            for statement in &statements[..2] {
                assert_eq!(statement["Resource"], json!([bucket, objects]), "{statement}");
            }
            for statement in &statements[2..] {
                assert_eq!(statement["Resource"], json!(objects), "{statement}");
            }
        }
    }

    /// The partition and URL suffix follow the region: China and GovCloud ARNs and queue URLs.
    #[test]
    fn partition_and_url_suffix_follow_the_region() {
        let china = Target::new("123456789012", "cn-north-1", "demo-dev");
        let resolved = resolve(&rendered(FULL), &china).unwrap();
        let arn = &resolved.template_value["Outputs"]["BucketArn"]["Value"];
        assert!(arn.as_str().unwrap().starts_with("arn:aws-cn:s3:::"), "{arn}");
        let url = &resolved.template_value["Outputs"]["WavQueueUrl"]["Value"];
        assert_eq!(url, "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/demo-dev-wav");
        let gov = Target::new("123456789012", "us-gov-west-1", "demo-dev");
        let resolved = resolve(&rendered(FULL), &gov).unwrap();
        assert!(resolved.policies["access-writer.json"].to_string().contains("arn:aws-us-gov:s3:::"));
    }

    #[test]
    fn sub_forms_getatt_forms_join_and_literals() {
        let template = json!({ "Resources": {
            "Q": { "Type": "AWS::SQS::Queue", "Properties": { "QueueName": { "Fn::Sub": "q-${AWS::Region}" } } },
            "R": { "Type": "AWS::IAM::Role", "Properties": { "RoleName": "r", "Path": "/svc/" } },
            "K": { "Type": "AWS::KMS::Key", "Properties": {} },
        }});
        let scope = Scope::of_template(&template, &target()).unwrap();
        let cases = [
            (json!({ "Fn::GetAtt": "Q.Arn" }), "arn:aws:sqs:us-west-1:123456789012:q-us-west-1"),
            (json!({ "Fn::GetAtt": ["Q", "QueueName"] }), "q-us-west-1"),
            (json!({ "Ref": "Q" }), "https://sqs.us-west-1.amazonaws.com/123456789012/q-us-west-1"),
            (json!({ "Fn::GetAtt": ["R", "Arn"] }), "arn:aws:iam::123456789012:role/svc/r"),
            (json!({ "Fn::Sub": ["${X}-${AWS::StackName}", { "X": { "Ref": "R" } }] }), "r-demo-dev"),
            (json!({ "Fn::Sub": "${!aws:username} in ${AWS::URLSuffix}" }), "${aws:username} in amazonaws.com"),
            (json!({ "Fn::Join": [":", ["a", { "Ref": "AWS::AccountId" }]] }), "a:123456789012"),
            (json!({ "Fn::GetAtt": ["K", "Arn"] }), "arn:aws:kms:us-west-1:123456789012:key/00000000-0000-0000-0000-"),
        ];
        for (input, expected) in cases {
            let out = scope.resolve(&input, "x").unwrap();
            assert!(out.as_str().unwrap().starts_with(expected), "{input} → {out}, expected {expected}");
        }
        assert_eq!(placeholder_key_id("K"), placeholder_key_id("K"));
        assert_ne!(placeholder_key_id("K"), placeholder_key_id("L"));
        assert_eq!(placeholder_key_id("K").len(), 36);
    }

    /// What is known only once deployed, or is no function of the templates, is an error that says where.
    #[test]
    fn what_cannot_be_resolved_is_an_error_naming_where() {
        let template = json!({ "Resources": {
            "R": { "Type": "AWS::IAM::Role", "Properties": { "RoleName": "r" } },
            "P": { "Type": "AWS::SQS::QueuePolicy", "Properties": {} },
        }});
        let scope = Scope::of_template(&template, &target()).unwrap();
        let error = |value: Value| scope.resolve(&json!({ "a": [value] }), "doc").unwrap_err().to_string();
        assert!(
            error(json!({ "Fn::GetAtt": ["R", "RoleId"] }))
                .contains("doc.a[0].Fn::GetAtt: the `RoleId` of `R` is known only once")
        );
        assert!(error(json!({ "Ref": "P" })).contains("`P` is no resource of the template"));
        assert!(error(json!({ "Ref": "AWS::StackId" })).contains("pseudo parameter `AWS::StackId`"));
        assert!(error(json!({ "Fn::Sub": "x-${Nope}" })).contains("`${Nope}`"));
        assert!(error(json!({ "Fn::Sub": "x-${AWS::Region" })).contains("without its"));
        assert!(error(json!({ "Fn::If": ["C", "a", "b"] })).contains("`Fn::If`"));
        let bad_account = Target { account: "1234".into(), ..target() };
        assert!(resolve(&rendered(FULL), &bad_account).unwrap_err().to_string().contains("12 digits"));
        let bad_region = Target { region: "moon-1".into(), ..target() };
        assert!(resolve(&rendered(FULL), &bad_region).unwrap_err().to_string().contains("not a region"));
    }

    /// A parameter takes the render's value (a deploy's), else the target's, else its default; none is an error.
    #[test]
    fn parameters_take_the_renders_value_then_the_targets_then_their_default() {
        let template = json!({ "Parameters": {
            "DeployerArn": { "Type": "String" },
            "Other": { "Type": "String", "Default": "d" },
        }});
        let mut scope = Scope::of_template(&template, &target()).unwrap();
        scope.parameters(&template, &BTreeMap::new(), &target().parameters).unwrap();
        assert_eq!(scope.refs["DeployerArn"], "arn:aws:iam::123456789012:root");
        assert_eq!(scope.refs["Other"], "d");
        let deployed = BTreeMap::from([("DeployerArn".to_string(), "arn:aws:iam::123456789012:role/ci".to_string())]);
        scope.parameters(&template, &deployed, &target().parameters).unwrap();
        assert_eq!(scope.resolve(&json!({ "Ref": "DeployerArn" }), "x").unwrap(), "arn:aws:iam::123456789012:role/ci");
        let error = scope.parameters(&template, &BTreeMap::new(), &BTreeMap::new()).unwrap_err();
        assert!(error.to_string().contains("template.Parameters.DeployerArn: no value"), "{error}");
    }

    /// Plain strings and IAM's own policy variables outside `Fn::Sub` are data, not functions.
    #[test]
    fn plain_values_stay_as_they_are() {
        let scope = Scope::of_template(&json!({}), &target()).unwrap();
        let value = json!({ "Resource": "arn:aws:s3:::b/${aws:username}/*", "Ref": "two keys", "n": 3, "b": true });
        assert_eq!(scope.resolve(&value, "x").unwrap(), value);
        assert_eq!(first_function(&json!({ "a": [{ "Fn::Sub": "x" }] }), "d"), Some("d.a[0].Fn::Sub".into()));
    }
}
