//! The CloudFormation template of every shipped env, snapshotted: a change to `templates/`, `policies/`,
//! `src/render.rs` or an env file shows up in review as a diff of what would be deployed. Each template must also
//! pass the least-privilege check.

use std::path::Path;

use provision::config::{self, load};
use provision::{privilege, render};

/// Every env in `stacks/`, and the ephemeral `test` env once more as a named instance.
fn cases(stacks: &Path) -> Vec<(String, Option<&'static str>)> {
    let mut cases: Vec<(String, Option<&'static str>)> =
        config::list_envs(stacks).unwrap().into_iter().map(|env| (env, None)).collect();
    assert!(cases.iter().any(|(env, _)| env == "test"), "stacks/ has no test env");
    cases.push(("test".to_string(), Some("pr-42")));
    cases
}

#[test]
fn rendered_templates() {
    let stacks = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks");
    let mut violations = Vec::new();
    for (env, instance) in cases(&stacks) {
        let name = match instance {
            Some(instance) => format!("{env}-{instance}"),
            None => env.clone(),
        };
        let config = load(&stacks, &env, instance).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rendered = render::render(&config).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        insta::with_settings!({ omit_expression => true, description => format!("stacks/{env}.yaml, instance {instance:?}") }, {
            insta::assert_snapshot!(name.clone(), rendered.template);
            if let Some(stack_policy) = &rendered.stack_policy {
                insta::assert_snapshot!(format!("{name}-stack-policy"), stack_policy);
            }
        });
        violations
            .extend(privilege::check(&config, &rendered.template_value).into_iter().map(|v| format!("{name}: {v}")));
    }
    assert!(violations.is_empty(), "least-privilege violations:\n{}", violations.join("\n"));
}
