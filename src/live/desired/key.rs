//! The bucket's own KMS key (`encryption: kms`): enabled, rotated, under the key policy of the template.

use serde_json::{Value, json};

use super::{Template, at, expected_of, str_or_empty};
use crate::live::policy::normalize;
use crate::live::{Expected, Resource};

/// A key's state, rotation and key policy. The key is known by its ARN once its alias has been looked up (see
/// `read::key_arns`), by its alias otherwise (then it is missing: the alias names no key).
pub(super) fn key(template: &Template, id: &str, props: &Value) -> Vec<Expected> {
    let alias = template
        .resolved
        .values()
        .find(|r| at(r, "/Type") == "AWS::KMS::Alias" && at(r, "/Properties/TargetKeyId") == &json!({ "Ref": id }))
        .map(|r| str_or_empty(at(r, "/Properties/AliasName")));
    let known_as = template.names.arns.get(id).cloned().or(alias).unwrap_or_default();
    expected_of(
        Resource::Key(known_as),
        vec![
            ("state", json!("Enabled")),
            ("rotation", json!(at(props, "/EnableKeyRotation").as_bool().unwrap_or(false))),
            ("policy", normalize(at(props, "/KeyPolicy"))),
        ],
    )
}
