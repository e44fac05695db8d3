//! The CloudFormation intrinsics of the rendered template (`Ref`, `Fn::GetAtt … Arn`, `Fn::Sub`) resolved to the
//! values AWS stores.

use std::collections::HashMap;

use serde_json::Value;

use crate::names::partition;

/// What `Ref` and `Fn::GetAtt ... Arn` of the template's resources stand for, plus the pseudo parameters.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub partition: String,
    pub account: String,
    pub region: String,
    pub refs: HashMap<String, String>,
    pub arns: HashMap<String, String>,
}

impl Names {
    /// The pseudo parameters of an account and region; no resource known yet.
    pub fn new(account: &str, region: &str) -> Names {
        Names {
            partition: partition(region).0.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            ..Names::default()
        }
    }

    /// `Fn::Sub`: replaces the pseudo parameters, `${Id}` and `${Id.Arn}` in `text`.
    fn substitute(&self, text: &str) -> String {
        let mut out = text
            .replace("${AWS::Partition}", &self.partition)
            .replace("${AWS::AccountId}", &self.account)
            .replace("${AWS::Region}", &self.region);
        for (id, value) in &self.refs {
            out = out.replace(&format!("${{{id}}}"), value);
        }
        for (id, value) in &self.arns {
            out = out.replace(&format!("${{{id}.Arn}}"), value);
        }
        out
    }

    /// Resolves `Fn::Sub`, `Ref` and `Fn::GetAtt [X, Arn]` everywhere in `value`.
    pub fn resolve(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, inner) = map.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
                match (key, inner) {
                    ("Fn::Sub", Value::String(s)) => Value::String(self.substitute(s)),
                    ("Ref", Value::String(id)) => match id.as_str() {
                        "AWS::AccountId" => Value::String(self.account.clone()),
                        "AWS::Region" => Value::String(self.region.clone()),
                        "AWS::Partition" => Value::String(self.partition.clone()),
                        _ => self.refs.get(id).map(|v| Value::String(v.clone())).unwrap_or_else(|| value.clone()),
                    },
                    ("Fn::GetAtt", Value::Array(parts)) if parts.len() == 2 && parts[1] == "Arn" => parts[0]
                        .as_str()
                        .and_then(|id| self.arns.get(id))
                        .map(|v| Value::String(v.clone()))
                        .unwrap_or_else(|| value.clone()),
                    _ => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.resolve(v))).collect()),
                }
            }
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.resolve(v))).collect()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_intrinsics() {
        let mut names = Names::new("123456789012", "us-west-1");
        names.arns.insert("Q".into(), "arn:aws:sqs:us-west-1:123456789012:q".into());
        let v = json!({"a": {"Fn::Sub": "arn:${AWS::Partition}:s3:::b-${AWS::AccountId}"}, "b": {"Fn::GetAtt": ["Q", "Arn"]},
                       "c": {"Ref": "AWS::AccountId"}});
        assert_eq!(
            names.resolve(&v),
            json!({"a": "arn:aws:s3:::b-123456789012",
            "b": "arn:aws:sqs:us-west-1:123456789012:q", "c": "123456789012"})
        );
        assert_eq!(partition("cn-north-1").0, "aws-cn");
    }
}
