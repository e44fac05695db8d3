//! What changes inside each resource, from the deployed template to the rendered one: the property-level lines a
//! user reads before confirming (`Properties.LifecycleConfiguration.Rules[recordings-retention].ExpirationInDays:
//! 400 → 365`). CloudFormation's change set names the changed properties at best (and the local emulator not even
//! that); the template diff always says what the values were and will be.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// One changed value inside a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyChange {
    /// Dotted path inside the resource; list items by their `Id`, `Sid`, `Key` or `Event` when they have one.
    pub path: String,
    /// None: added.
    pub before: Option<Value>,
    /// None: removed.
    pub after: Option<Value>,
}

impl fmt::Display for PropertyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => write!(f, "{}: {} → {}", self.path, short(before), short(after)),
            (None, Some(after)) => write!(f, "{}: added {}", self.path, short(after)),
            (Some(before), None) => write!(f, "{}: removed (was {})", self.path, short(before)),
            (None, None) => write!(f, "{}", self.path),
        }
    }
}

/// A value as one short line: long documents are clipped.
fn short(value: &Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The changed values of every resource present in both templates, by logical id. Added and removed resources
/// are whole changes already and get no lines.
pub fn resource_changes(deployed: &Value, rendered: &Value) -> BTreeMap<String, Vec<PropertyChange>> {
    let empty = serde_json::Map::new();
    let resources = |t: &Value| t.get("Resources").and_then(Value::as_object).cloned().unwrap_or_else(|| empty.clone());
    let (old, new) = (resources(deployed), resources(rendered));
    let mut out = BTreeMap::new();
    for (id, after) in &new {
        let Some(before) = old.get(id) else { continue };
        let mut changes = Vec::new();
        walk("", before, after, &mut changes);
        if !changes.is_empty() {
            out.insert(id.clone(), changes);
        }
    }
    out
}

/// Adds to each modified resource of `changes` the values that change inside it.
pub fn attach(changes: &mut [super::changeset::Change], deployed: &Value, rendered: &Value) {
    let mut by_resource = resource_changes(deployed, rendered);
    for change in changes.iter_mut().filter(|c| c.action == "Modify") {
        if let Some(values) = by_resource.remove(&change.logical_id) {
            change.values = values;
        }
    }
}

/// How a list item is named in a path: by a key that identifies it, or by its index.
fn item_name(item: &Value, index: usize) -> String {
    ["Id", "Sid", "Key", "Event"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .map_or_else(|| index.to_string(), str::to_string)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<PropertyChange>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, bv) in b {
                match a.get(key) {
                    Some(av) => walk(&join(path, key), bv, av, out),
                    None => out.push(PropertyChange { path: join(path, key), before: Some(bv.clone()), after: None }),
                }
            }
            for (key, av) in a.iter().filter(|(k, _)| !b.contains_key(*k)) {
                out.push(PropertyChange { path: join(path, key), before: None, after: Some(av.clone()) });
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            let named = |items: &[Value]| -> Vec<(String, Value)> {
                items.iter().enumerate().map(|(i, v)| (item_name(v, i), v.clone())).collect()
            };
            let (b, a) = (named(b), named(a));
            let unique = |items: &[(String, Value)]| {
                let mut names: Vec<&String> = items.iter().map(|(n, _)| n).collect();
                names.sort();
                names.dedup();
                names.len() == items.len()
            };
            if !(unique(&b) && unique(&a)) {
                out.push(PropertyChange {
                    path: path.to_string(),
                    before: Some(before.clone()),
                    after: Some(after.clone()),
                });
                return;
            }
            for (name, bv) in &b {
                let at = format!("{path}[{name}]");
                match a.iter().find(|(n, _)| n == name) {
                    Some((_, av)) => walk(&at, bv, av, out),
                    None => out.push(PropertyChange { path: at, before: Some(bv.clone()), after: None }),
                }
            }
            for (name, av) in a.iter().filter(|(n, _)| !b.iter().any(|(m, _)| m == n)) {
                out.push(PropertyChange { path: format!("{path}[{name}]"), before: None, after: Some(av.clone()) });
            }
        }
        _ => out.push(PropertyChange {
            path: path.to_string(),
            before: Some(before.clone()),
            after: Some(after.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bucket(rules: Value, tags: Value) -> Value {
        json!({ "Resources": {
            "DataBucket": { "Type": "AWS::S3::Bucket", "Properties": {
                "LifecycleConfiguration": { "Rules": rules }, "Tags": tags } },
            "Gone": { "Type": "AWS::SQS::Queue" },
        } })
    }

    #[test]
    fn lists_are_compared_by_their_items_ids() {
        let before = bucket(
            json!([{ "Id": "provision-default", "Status": "Enabled" }, { "Id": "recordings-retention", "ExpirationInDays": 400 }]),
            json!([{ "Key": "team", "Value": "voice" }]),
        );
        let after = bucket(
            json!([{ "Id": "recordings-retention", "ExpirationInDays": 365 }, { "Id": "provision-default", "Status": "Enabled" }]),
            json!([{ "Key": "team", "Value": "data" }, { "Key": "cost", "Value": "42" }]),
        );
        let changes = resource_changes(&before, &after);
        let lines: Vec<String> = changes["DataBucket"].iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "Properties.LifecycleConfiguration.Rules[recordings-retention].ExpirationInDays: 400 → 365",
                "Properties.Tags[team].Value: \"voice\" → \"data\"",
                "Properties.Tags[cost]: added {\"Key\":\"cost\",\"Value\":\"42\"}",
            ]
        );
        assert!(!changes.contains_key("Gone"), "a removed resource is a whole change, not property lines");
    }

    #[test]
    fn added_and_removed_properties_and_long_values() {
        let before = json!({ "Resources": { "P": { "Properties": { "Description": "d", "Old": 1 } } } });
        let after = json!({ "Resources": { "P": { "Properties": { "Description": "d", "Doc": "x".repeat(300) } } } });
        let lines: Vec<String> = resource_changes(&before, &after)["P"].iter().map(ToString::to_string).collect();
        assert_eq!(lines[0], "Properties.Old: removed (was 1)");
        assert!(lines[1].starts_with("Properties.Doc: added \"xxx") && lines[1].ends_with('…'), "{}", lines[1]);
        assert!(resource_changes(&before, &before).is_empty());
    }
}
