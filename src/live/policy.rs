//! Policy documents compared by meaning, and the CloudFormation intrinsics of the rendered template resolved
//! to the values AWS stores.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// What `Ref` and `Fn::GetAtt ... Arn` of the template's resources stand for, plus the pseudo parameters.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub partition: String,
    pub account: String,
    pub region: String,
    pub refs: HashMap<String, String>,
    pub arns: HashMap<String, String>,
}

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl Names {
    pub fn new(account: &str, region: &str) -> Names {
        Names {
            partition: partition(region).to_string(),
            account: account.to_string(),
            region: region.to_string(),
            ..Names::default()
        }
    }

    fn sub(&self, text: &str) -> String {
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
                    ("Fn::Sub", Value::String(s)) => Value::String(self.sub(s)),
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

/// A string or a list of strings as a sorted list.
fn sorted_strings(value: &Value) -> Value {
    let mut items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        other => vec![scalar_text(other)],
    };
    items.sort();
    items.dedup();
    json!(items)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A policy document in a canonical form: no Sids, every list sorted, scalars as strings, statements sorted.
/// Two documents that AWS treats the same compare equal.
pub fn normalize(document: &Value) -> Value {
    let statements = match document.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    let mut normalized: Vec<Value> = statements.iter().map(normalize_statement).collect();
    normalized.sort_by_key(|s| s.to_string());
    json!({ "Version": document.get("Version").cloned().unwrap_or(Value::Null), "Statement": normalized })
}

fn normalize_statement(statement: &Value) -> Value {
    let mut out = Map::new();
    let Some(map) = statement.as_object() else { return statement.clone() };
    for (key, value) in map {
        let normalized = match key.as_str() {
            "Sid" => continue,
            "Action" | "NotAction" | "Resource" | "NotResource" => sorted_strings(value),
            "Principal" | "NotPrincipal" => match value {
                Value::Object(p) => Value::Object(p.iter().map(|(k, v)| (k.clone(), sorted_strings(v))).collect()),
                other => other.clone(),
            },
            "Condition" => match value {
                Value::Object(ops) => Value::Object(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Object(k) => {
                                    Value::Object(k.iter().map(|(k, v)| (k.clone(), sorted_strings(v))).collect())
                                }
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), normalized);
    }
    Value::Object(out)
}

/// Parses a policy as IAM returns it (URL-encoded JSON) or as S3/SQS/SNS return it (plain JSON).
pub fn parse_document(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok().or_else(|| serde_json::from_str(&percent_decode(text)).ok())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Statements of `actual` that `expected` lacks, and the other way round (both normalized).
pub fn statement_diff(expected: &Value, actual: &Value) -> (Vec<Value>, Vec<Value>) {
    let list = |v: &Value| v.get("Statement").and_then(Value::as_array).cloned().unwrap_or_default();
    let (e, a) = (list(expected), list(actual));
    let extra = a.iter().filter(|s| !e.contains(s)).cloned().collect();
    let missing = e.iter().filter(|s| !a.contains(s)).cloned().collect();
    (extra, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_by_meaning() {
        let a = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/x*",
             "Condition": {"Bool": {"aws:SecureTransport": false}}}]});
        let b = json!({"Version": "2012-10-17", "Statement": {
            "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": ["arn:aws:s3:::b/x*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}});
        assert_eq!(normalize(&a), normalize(&b));
        let c = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        assert_ne!(normalize(&a), normalize(&c));
        let (extra, missing) = statement_diff(&normalize(&a), &normalize(&c));
        assert_eq!((extra.len(), missing.len()), (1, 1));
    }

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
        assert_eq!(partition("cn-north-1"), "aws-cn");
    }

    #[test]
    fn parses_url_encoded_iam_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse_document(encoded), Some(json!({"Version": "2012-10-17", "Statement": []})));
        assert_eq!(parse_document("{\"a\":1}"), Some(json!({"a": 1})));
        assert_eq!(parse_document("%"), None);
    }
}
