//! One property compared: its live value against the expected one, and what differs, in words.

use serde_json::Value;

use super::{Expected, Finding, Status};

/// Compares one property (None: the resource or setting does not exist).
pub fn compare(expected: Expected, actual: Option<Value>) -> Finding {
    let (status, detail) = match &actual {
        None => (Status::Missing, None),
        Some(a) if *a == expected.value => (Status::Ok, None),
        Some(a) => (Status::Differs, describe(expected.property, &expected.value, a)),
    };
    Finding {
        resource: expected.resource,
        property: expected.property,
        status,
        expected: expected.value,
        actual: actual.unwrap_or(Value::Null),
        detail,
        latency_ms: 0,
    }
}

/// A short description of a difference in a list-like property or in tags; None for the others.
fn describe(property: &str, expected: &Value, actual: &Value) -> Option<String> {
    match property {
        "tags" => tag_differences(expected, actual),
        "policy" | "trust" | "document" => item_differences(expected, actual, Some("Statement")),
        "notifications" => item_differences(expected, actual, Some("targets")),
        "lifecycle" | "attached_policies" | "inline_policies" | "public_grants" | "attached_roles"
        | "attached_users" => item_differences(expected, actual, None),
        _ => None,
    }
}

/// Extra, changed and missing tags.
fn tag_differences(expected: &Value, actual: &Value) -> Option<String> {
    let (e, a) = (expected.as_object()?, actual.as_object()?);
    let mut parts = Vec::new();
    for (k, v) in a {
        match e.get(k) {
            None => parts.push(format!("extra tag {k}={v}")),
            Some(ev) if ev != v => parts.push(format!("tag {k}: expected {ev}, actual {v}")),
            _ => {}
        }
    }
    parts.extend(e.keys().filter(|k| !a.contains_key(*k)).map(|k| format!("missing tag {k}")));
    Some(parts.join("; "))
}

/// Extra and missing items of a list: the value itself (`key` None) or the list under `key`; with the same items,
/// the EventBridge flag where that differs.
fn item_differences(expected: &Value, actual: &Value, key: Option<&str>) -> Option<String> {
    let items = |v: &Value| -> Vec<Value> {
        key.map_or(Some(v), |k| v.get(k)).and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let (e, a) = (items(expected), items(actual));
    let extra: Vec<String> = a.iter().filter(|x| !e.contains(x)).map(Value::to_string).collect();
    let missing: Vec<String> = e.iter().filter(|x| !a.contains(x)).map(Value::to_string).collect();
    let mut parts = Vec::new();
    if !extra.is_empty() {
        parts.push(format!("extra: {}", extra.join(", ")));
    }
    if !missing.is_empty() {
        parts.push(format!("missing: {}", missing.join(", ")));
    }
    if parts.is_empty() {
        if expected.get("eventbridge") != actual.get("eventbridge") {
            return Some(format!(
                "eventbridge: expected {}, actual {}",
                expected["eventbridge"], actual["eventbridge"]
            ));
        }
        return None;
    }
    Some(parts.join("; "))
}
