//! The safety decisions of teardown, made from what was read before any mutating call. Each returns the reason to
//! refuse (exit 3), or None.

use serde_json::Value;

use crate::config::Config;
use crate::ids::{MANAGED_BY, TAG_ENV, TAG_INSTANCE, TAG_MANAGED_BY, TAG_PROJECT};
use crate::stack::StackInfo;

/// Refuses protected and non-ephemeral envs: only test instances are ever torn down.
pub fn env_refusal(config: &Config) -> Option<String> {
    if config.protected {
        return Some(format!("env {} is protected: its data is never torn down", config.env));
    }
    if !config.ephemeral {
        return Some(format!(
            "env {} is not ephemeral: teardown removes only instances of ephemeral (test) envs, whose bucket is not retained",
            config.env
        ));
    }
    None
}

/// Refuses a stack that is not this tool's stack for this env and instance, or that is protected against deletion.
pub fn stack_refusal(config: &Config, stack: &StackInfo) -> Option<String> {
    let tag = |key: &str| stack.tags.get(key).map(String::as_str);
    if tag(TAG_MANAGED_BY) != Some(MANAGED_BY) {
        return Some(format!(
            "stack {} lacks the tag {TAG_MANAGED_BY}={MANAGED_BY}: it was not deployed by this tool, so teardown leaves it alone",
            stack.name
        ));
    }
    let expected = [
        (TAG_ENV, Some(config.env.as_str())),
        (TAG_PROJECT, Some(config.project.as_str())),
        (TAG_INSTANCE, config.instance.as_deref()),
    ];
    for (key, want) in expected {
        if tag(key) != want {
            return Some(format!(
                "stack {} is tagged {key}={}, but the teardown is for {}; it is not this env's stack",
                stack.name,
                tag(key).unwrap_or("(none)"),
                want.unwrap_or("(none)")
            ));
        }
    }
    if stack.termination_protection {
        return Some(format!("stack {} has termination protection on", stack.name));
    }
    None
}

/// Refuses a deployed template whose buckets would survive the stack (DeletionPolicy Retain), or that cannot be read.
pub fn template_refusal(stack: &str, template_body: &str) -> Option<String> {
    let template: Value = match serde_yaml::from_str(template_body) {
        Ok(template) => template,
        Err(e) => {
            return Some(format!(
                "cannot read the deployed template of stack {stack} to check that its bucket is not retained: {e}"
            ));
        }
    };
    let resources = template.get("Resources").and_then(Value::as_object);
    for (id, resource) in resources.into_iter().flatten() {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::S3::Bucket") {
            continue;
        }
        match resource.get("DeletionPolicy") {
            None => {}
            Some(Value::String(policy)) if policy == "Delete" => {}
            Some(Value::String(policy)) => {
                return Some(format!(
                    "bucket {id} of stack {stack} is retained (DeletionPolicy {policy}): its data outlives the stack, so it is not torn down"
                ));
            }
            Some(other) => {
                return Some(format!(
                    "bucket {id} of stack {stack} has a computed DeletionPolicy ({other}); cannot tell that it is not retained"
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::stack::status::Health;

    fn config(env: &str, instance: Option<&str>) -> Config {
        crate::config::load(Path::new("stacks"), env, instance).unwrap()
    }

    fn stack(tags: &[(&str, &str)]) -> StackInfo {
        StackInfo {
            id: "arn:aws:cloudformation:us-east-1:000000000000:stack/call-data-local-pr-1/x".into(),
            name: "call-data-local-pr-1".into(),
            status: "CREATE_COMPLETE".into(),
            stack_status: aws_sdk_cloudformation::types::StackStatus::CreateComplete,
            health: Health::Ready,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            outputs: BTreeMap::new(),
            parameters: Default::default(),
            termination_protection: false,
            created: None,
        }
    }

    const TAGS: &[(&str, &str)] = &[
        ("managed-by", "provision"),
        ("provision:env", "local"),
        ("provision:project", "call-data"),
        ("provision:instance", "pr-1"),
    ];

    #[test]
    fn protected_and_long_lived_envs_are_refused() {
        assert!(env_refusal(&config("prod", None)).unwrap().contains("protected"));
        assert!(env_refusal(&config("staging", None)).unwrap().contains("not ephemeral"));
        assert_eq!(env_refusal(&config("local", Some("pr-1"))), None);
        assert_eq!(env_refusal(&config("test", None)), None);
    }

    #[test]
    fn stacks_must_carry_this_tools_tags_for_this_instance() {
        let local = config("local", Some("pr-1"));
        assert_eq!(stack_refusal(&local, &stack(TAGS)), None);
        let untagged = stack(&[("provision:env", "local")]);
        assert!(stack_refusal(&local, &untagged).unwrap().contains("lacks the tag managed-by=provision"));
        let other = stack(&[TAGS[0], TAGS[1], TAGS[2], ("provision:instance", "pr-2")]);
        assert!(stack_refusal(&local, &other).unwrap().contains("provision:instance=pr-2"));
        let no_instance = stack(&TAGS[..3]);
        assert!(stack_refusal(&local, &no_instance).unwrap().contains("(none)"));
        let mut protected = stack(TAGS);
        protected.termination_protection = true;
        assert!(stack_refusal(&local, &protected).unwrap().contains("termination protection"));
    }

    #[test]
    fn retained_buckets_are_refused() {
        let delete = "Resources:\n  DataBucket:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Delete\n  Q:\n    Type: AWS::SQS::Queue\n    DeletionPolicy: Retain\n";
        assert_eq!(template_refusal("s", delete), None);
        let default = r#"{"Resources":{"DataBucket":{"Type":"AWS::S3::Bucket"}}}"#;
        assert_eq!(template_refusal("s", default), None);
        let retain = "Resources:\n  DataBucket:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n";
        assert!(template_refusal("s", retain).unwrap().contains("retained (DeletionPolicy Retain)"));
        let except = "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: RetainExceptOnCreate\n";
        assert!(template_refusal("s", except).is_some());
        let computed =
            r#"{"Resources":{"B":{"Type":"AWS::S3::Bucket","DeletionPolicy":{"Fn::If":["C","Retain","Delete"]}}}}"#;
        assert!(template_refusal("s", computed).unwrap().contains("computed"));
        assert!(template_refusal("s", "Resources: [unclosed").unwrap().contains("cannot read"));
    }

    #[test]
    fn rendered_templates_pass_for_ephemeral_envs_only() {
        let local = crate::render::render(&config("local", Some("pr-1"))).unwrap();
        assert_eq!(template_refusal("s", &local.template), None);
        let prod = crate::render::render(&config("prod", None)).unwrap();
        assert!(template_refusal("s", &prod.template).is_some());
    }
}
