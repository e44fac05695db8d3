//! The desired live state, read off the rendered template (resolved as AWS would store it), so that what is
//! checked is exactly what is deployed: one function per resource type, one per bucket setting.

mod bucket;
mod iam;
mod key;
mod queue_topic;

use std::collections::BTreeMap;

use super::intrinsics::Names;
use super::policy::normalize;
use super::{Expected, Resource};
use serde_json::{Value, json};

/// The value at a JSON pointer; null where there is none.
fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

/// A JSON string as owned text; empty for anything else.
fn str_or_empty(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// The template's resources, by logical id.
fn resources(template: &Value) -> impl Iterator<Item = (&String, &Value)> {
    template.get("Resources").and_then(Value::as_object).into_iter().flatten()
}

/// Names of every resource the template creates, for resolving `Ref`/`GetAtt` and reading them back.
pub fn names(template: &Value, account: &str, region: &str) -> Names {
    let mut names = Names::new(account, region);
    let base = names.clone();
    for (id, resource) in resources(template) {
        let props = at(resource, "/Properties");
        let name = |key: &str| str_or_empty(&base.resolve(at(props, &format!("/{key}"))));
        let (p, a, r) = (&base.partition, account, region);
        let (reference, arn) = match at(resource, "/Type").as_str().unwrap_or_default() {
            "AWS::S3::Bucket" => {
                let n = name("BucketName");
                (n.clone(), format!("arn:{p}:s3:::{n}"))
            }
            "AWS::IAM::Role" => {
                let n = name("RoleName");
                (n.clone(), format!("arn:{p}:iam::{a}:role/{n}"))
            }
            "AWS::IAM::ManagedPolicy" => {
                let arn = format!("arn:{p}:iam::{a}:policy/{}", name("ManagedPolicyName"));
                (arn.clone(), arn)
            }
            "AWS::SQS::Queue" => {
                let n = name("QueueName");
                (n.clone(), format!("arn:{p}:sqs:{r}:{a}:{n}"))
            }
            "AWS::SNS::Topic" => {
                let arn = format!("arn:{p}:sns:{r}:{a}:{}", name("TopicName"));
                (arn.clone(), arn)
            }
            "AWS::KMS::Alias" => {
                let n = name("AliasName");
                (n.clone(), format!("arn:{p}:kms:{r}:{a}:{n}"))
            }
            _ => continue,
        };
        names.refs.insert(id.clone(), reference);
        names.arns.insert(id.clone(), arn);
    }
    names
}

/// CloudFormation propagates the stack's tags onto every taggable resource it creates; a tag the template sets on
/// the resource itself keeps the template's value. AWS's own `aws:` tags are never compared.
pub fn add_propagated_tags(expected: &mut [Expected], stack_tags: &BTreeMap<String, String>) {
    for e in expected.iter_mut().filter(|e| e.property == "tags") {
        if let Value::Object(tags) = &mut e.value {
            for (key, value) in stack_tags.iter().filter(|(k, _)| !super::is_aws_tag(k)) {
                tags.entry(key.clone()).or_insert_with(|| json!(value));
            }
        }
    }
}

/// The template's resources, intrinsics resolved, by logical id; with the names they resolved through.
struct Template<'a> {
    resolved: BTreeMap<&'a String, Value>,
    names: &'a Names,
}

/// Every expected (resource, property, value) of the stack.
pub fn expected(template: &Value, names: &Names) -> Vec<Expected> {
    let template = Template { resolved: resources(template).map(|(id, r)| (id, names.resolve(r))).collect(), names };
    let mut out = Vec::new();
    for (id, resource) in &template.resolved {
        let props = at(resource, "/Properties");
        let of_resource = match at(resource, "/Type").as_str().unwrap_or_default() {
            "AWS::S3::Bucket" => bucket::bucket(&template, id, props),
            "AWS::IAM::Role" => iam::role(&template, id, props),
            "AWS::IAM::ManagedPolicy" => iam::managed_policy(&template, id, props),
            "AWS::SQS::Queue" => queue_topic::queue(&template, id, props),
            "AWS::SNS::Topic" => queue_topic::topic(&template, id),
            "AWS::KMS::Key" => key::key(&template, id, props),
            _ => continue,
        };
        out.extend(of_resource);
    }
    out
}

/// One resource's expected properties, in the order given.
fn expected_of(resource: Resource, values: Vec<(&'static str, Value)>) -> Vec<Expected> {
    values.into_iter().map(|(property, value)| Expected { resource: resource.clone(), property, value }).collect()
}

/// The normalized document of the first `kind` policy resource whose properties `covers` accepts; null when none.
fn policy_covering(template: &Template, kind: &str, covers: impl Fn(&Value) -> bool) -> Value {
    let policy = template.resolved.values().find(|r| at(r, "/Type") == kind && covers(at(r, "/Properties")));
    policy.map(|p| normalize(at(p, "/Properties/PolicyDocument"))).unwrap_or(Value::Null)
}
