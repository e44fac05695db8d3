//! What the scanners of scripts/test read (tests/scanners/README.md), checked without them: every shipped env and
//! every variant env file of `tests/scanners/envs` loads, renders, passes the least-privilege check and resolves
//! (`render --resolve`) with no CloudFormation function left; together the variants cover what they are kept for.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use provision::config::{self, load};
use provision::render::resolve::{self, Target};
use provision::{privilege, render};
use serde_json::Value;

fn dir(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Renders and resolves every env of `stacks`; returns each env's resolved template.
fn render_and_resolve(stacks: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for env in config::list_envs(stacks).unwrap() {
        let config = load(stacks, &env, None).unwrap_or_else(|e| panic!("{}/{env}.yaml: {e}", stacks.display()));
        let rendered = render::render(&config).unwrap_or_else(|e| panic!("{env}: {e:#}"));
        let violations = privilege::check(&config, &rendered.template_value);
        assert!(violations.is_empty(), "{env}: least-privilege violations: {violations:?}");
        let target = Target::new("123456789012", &config.region, &config.stack_name());
        let resolved = resolve::resolve(&rendered, &target).unwrap_or_else(|e| panic!("{env}: {e:#}"));
        assert_eq!(resolve::first_function(&resolved.template_value, &env), None);
        assert_eq!(resolved.policies.keys().collect::<Vec<_>>(), rendered.policies.keys().collect::<Vec<_>>());
        for (name, document) in &resolved.policies {
            assert_eq!(resolve::first_function(document, name), None, "{env}");
            let text = document.to_string();
            assert!(!text.contains("${AWS::") && !text.contains(".Arn}"), "{env} {name}: {text}");
        }
        out.push((env, resolved.template_value));
    }
    out
}

#[test]
fn shipped_envs_resolve_without_functions() {
    let resolved = render_and_resolve(&dir("stacks"));
    assert!(resolved.iter().any(|(env, _)| env == "prod"), "stacks/ has no prod env");
}

/// The variants are there for the settings the shipped envs lack: each must still render what it is kept for.
#[test]
fn scanner_variants_render_resolve_and_cover_their_settings() {
    let resolved = render_and_resolve(&dir("tests/scanners/envs"));
    let mut covered = BTreeSet::new();
    for (env, template) in &resolved {
        for resource in template["Resources"].as_object().unwrap().values() {
            covered.insert(resource["Type"].as_str().unwrap_or_default().to_string());
            let props = &resource["Properties"];
            let encryption = &props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
            if encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" {
                covered.insert("kms".into());
            }
            for (key, name) in [
                ("LoggingConfiguration", "access logs"),
                ("ObjectLockConfiguration", "object lock"),
                ("NotificationConfiguration", "notifications"),
            ] {
                if !props[key].is_null() {
                    covered.insert(name.into());
                }
            }
            if props["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] == true {
                covered.insert("eventbridge".into());
            }
        }
        // A variant without access logs would fail checkov's CKV_AWS_18, which the skip list allows only for
        // the shipped envs that have none.
        assert!(template.to_string().contains("LoggingConfiguration"), "{env}: a variant keeps access logs");
    }
    let wanted = [
        "kms",
        "AWS::KMS::Key",
        "object lock",
        "access logs",
        "eventbridge",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::Lambda::Permission",
    ];
    for wanted in wanted {
        assert!(covered.contains(wanted), "no variant in tests/scanners/envs renders {wanted}: {covered:?}");
    }
}
