//! Policy documents compared by meaning: parsed as each service returns them and put in one canonical form.

use serde_json::{Map, Value, json};

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

/// A string as itself, anything else as its JSON text (`false` and `"false"` mean the same to IAM).
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
    // Keys in one order, so that the sort below (by text) does not depend on the order a source wrote them in.
    let mut normalized: Vec<Value> = statements.iter().map(|s| sorted_keys(normalize_statement(s))).collect();
    normalized.sort_by_key(|s| s.to_string());
    json!({ "Version": document.get("Version").cloned().unwrap_or(Value::Null), "Statement": normalized })
}

/// `value` with the keys of every object in sorted order.
fn sorted_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

/// One statement in canonical form: no Sid; actions, resources, principals and condition values as sorted lists.
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

/// IAM encodes policy documents per RFC 3986: `+` is a literal plus, unlike in S3 keys (`crate::s3key`).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
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

    /// Regression: statements were sorted by their text, which follows the order their keys were written in, so
    /// two statements written in other key orders (a template's `Effect, Principal, ...`, IAM's alphabetical answer)
    /// sorted differently and the same trust policy compared as differing.
    #[test]
    fn statements_compare_whatever_order_their_keys_were_written_in() {
        let template = json!({ "Statement": [
            { "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::1:root" }, "Action": "sts:AssumeRole" },
            { "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole",
              "Condition": { "StringEquals": { "aws:SourceAccount": "1" } } }]});
        let iam = json!({ "Statement": [
            { "Action": "sts:AssumeRole", "Condition": { "StringEquals": { "aws:SourceAccount": "1" } },
              "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" } },
            { "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::1:root" } }]});
        assert_eq!(normalize(&template), normalize(&iam));
    }

    #[test]
    fn parses_url_encoded_iam_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse_document(encoded), Some(json!({"Version": "2012-10-17", "Statement": []})));
        assert_eq!(parse_document("{\"a\":1}"), Some(json!({"a": 1})));
        // A `+` in an IAM document is a plus, not a space.
        assert_eq!(parse_document("%7B%22a%22%3A%22x+y%22%7D"), Some(json!({"a": "x+y"})));
        assert_eq!(parse_document("%"), None);
    }
}
