//! Configuration in two stages: [`raw`] mirrors `stacks/<env>.yaml`, [`model`] is the validated form.

pub mod error;
pub mod locate;
pub mod model;
pub mod raw;

use std::path::{Path, PathBuf};

pub use error::{ConfigErrors, Diagnostic};
pub use model::*;

use locate::{Locator, Pos};
use raw::RawConfig;
use serde::de::DeserializeOwned;

use crate::names;

/// Why an env could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no env `{env}` in {dir}{hint}")]
    UnknownEnv { env: String, dir: PathBuf, hint: String },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("instance name `{0}` is invalid: use 1-24 lowercase letters, digits and hyphens")]
    BadInstance(String),
    #[error(transparent)]
    Invalid(#[from] ConfigErrors),
}

/// Path of the file for `env` in `dir`.
pub fn env_file(dir: &Path, env: &str) -> PathBuf {
    dir.join(format!("{env}.yaml"))
}

/// The envs in `dir` (each `*.yaml` file), sorted.
pub fn list_envs(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut envs: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "yaml").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    envs.sort();
    Ok(envs)
}

/// Reads and validates `dir/<env>.yaml` for an optional instance.
pub fn load(dir: &Path, env: &str, instance: Option<&str>) -> Result<Config, LoadError> {
    if let Some(instance) = instance {
        if !names::is_instance_name(instance) {
            return Err(LoadError::BadInstance(instance.to_string()));
        }
    }
    let path = env_file(dir, env);
    let source = match std::fs::read_to_string(&path) {
        Ok(source) => source,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let envs = list_envs(dir).unwrap_or_default();
            let hint = match names::suggest(env, envs.iter().map(String::as_str)) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None if envs.is_empty() => " (the directory has no *.yaml env files; see --stacks-dir)".to_string(),
                None => format!(" (envs there: {})", envs.join(", ")),
            };
            return Err(LoadError::UnknownEnv { env: env.to_string(), dir: dir.to_path_buf(), hint });
        }
        Err(source) => return Err(LoadError::Read { path, source }),
    };
    parse(&source, &path, env, instance).map_err(|diagnostics| ConfigErrors { diagnostics }.into())
}

/// Parses and validates one env file's text; `file` is only used in messages.
pub fn parse(source: &str, file: &Path, env: &str, instance: Option<&str>) -> Result<Config, Vec<Diagnostic>> {
    let locator = Locator::new(source);
    match serde_yaml::from_str::<RawConfig>(source) {
        Ok(raw) => model::build(raw, env, instance, file, &locator),
        Err(whole) => Err(structural_errors(source, file, &locator, &whole)),
    }
}

/// serde stops at the first error; to report every one, each top-level section (and each entry of `access` and
/// `notifications`) is deserialized on its own, in place, so positions stay those of the file.
fn structural_errors(source: &str, file: &Path, locator: &Locator, whole: &serde_yaml::Error) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let top = locator.top_keys();
    if top.is_empty() {
        return vec![from_serde(file, "", whole)];
    }
    for key in top {
        if !raw::TOP_LEVEL_KEYS.contains(&key.as_str()) {
            let hint = match names::suggest(key, raw::TOP_LEVEL_KEYS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("top-level keys are: {}", raw::TOP_LEVEL_KEYS.join(", ")),
            };
            found.push(Diagnostic::new(file, locator.key_pos(key), key, format!("unknown key `{key}`"), Some(hint)));
            continue;
        }
        let mut check = |path: &str, result: Result<(), serde_yaml::Error>| {
            if let Err(e) = result {
                found.push(from_serde(file, path, &e));
            }
        };
        match key.as_str() {
            "access" | "notifications" if locator.child_keys(key).is_empty() => {
                check(key, section::<std::collections::BTreeMap<String, serde_yaml::Value>>(source, locator, key));
            }
            "access" | "notifications" => {
                for entry in locator.child_keys(key) {
                    let path = format!("{key}.{entry}");
                    let result = if key == "access" {
                        section::<raw::RawAccess>(source, locator, &path)
                    } else {
                        section::<raw::RawNotification>(source, locator, &path)
                    };
                    check(&path, result);
                }
            }
            "project" | "region" => check(key, section::<String>(source, locator, key)),
            "account" | "endpoint" | "ttl" => check(key, section::<Option<String>>(source, locator, key)),
            "protected" | "ephemeral" | "allow_data_loss" => check(key, section::<bool>(source, locator, key)),
            "bucket" => check(key, section::<raw::RawBucket>(source, locator, key)),
            "smoke" => check(key, section::<raw::RawSmoke>(source, locator, key)),
            "drift" => check(key, section::<raw::RawDrift>(source, locator, key)),
            _ => {}
        }
    }
    for required in ["project", "region"] {
        if !top.iter().any(|k| k == required) {
            found.push(Diagnostic::new(
                file,
                Pos { line: 1, col: 1 },
                required,
                format!("missing key `{required}`"),
                Some(format!("add `{required}: ...` at the top level")),
            ));
        }
    }
    if found.is_empty() {
        found.push(from_serde(file, "", whole));
    }
    found
}

fn section<T: DeserializeOwned>(source: &str, locator: &Locator, path: &str) -> Result<(), serde_yaml::Error> {
    match locator.isolate(source, path) {
        Some(isolated) => serde_yaml::from_str::<T>(&isolated).map(drop),
        None => Ok(()),
    }
}

/// A located diagnostic from a serde_yaml error raised while reading the value at `base`.
fn from_serde(file: &Path, base: &str, e: &serde_yaml::Error) -> Diagnostic {
    let pos = e.location().map(|l| Pos { line: l.line(), col: l.column() }).unwrap_or(Pos { line: 1, col: 1 });
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) if text[cut..].contains(" column ") => text[..cut].to_string(),
        _ => text,
    };
    // serde_yaml puts the path of the failing key before the message: `lifecycle.rules[0]: unknown field ...`.
    let (inner_path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c)) => (p, m),
        _ => ("", text.as_str()),
    };
    let key = match (base, inner_path) {
        ("", p) => p.to_string(),
        (b, "") => b.to_string(),
        (b, p) => format!("{b}.{p}"),
    };
    let hint = hint_for(message);
    Diagnostic::new(file, pos, &key, message.to_string(), hint)
}

/// A way to fix a serde error, from the shape of its message.
fn hint_for(message: &str) -> Option<String> {
    let quoted = |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_string).collect() };
    if let Some(rest) = message.strip_prefix("unknown field ").or_else(|| message.strip_prefix("unknown variant ")) {
        let words = quoted(rest);
        let (given, allowed) = words.split_first()?;
        return Some(match names::suggest(given, allowed.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None if allowed.is_empty() => "remove it".to_string(),
            None => format!("use one of: {}", allowed.join(", ")),
        });
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return Some(format!("add `{}: ...`", quoted(rest).first()?));
    }
    if message.contains("expected a boolean") {
        return Some("write true or false (unquoted)".into());
    }
    if message.contains("expected u32") || message.contains("expected u64") {
        return Some("write a whole number of days, e.g. 30".into());
    }
    if message.contains("expected a string") {
        return Some("quote the value: \"...\"".into());
    }
    if message.contains("expected a sequence") {
        return Some("write a list, e.g. [a, b] or one `- item` per line".into());
    }
    if message.contains("EOF while parsing") {
        return Some("the file is empty or cut short: it needs at least `project:` and `region:`".into());
    }
    if message.contains("did not find expected") || message.contains("mapping values are not allowed") {
        return Some("check indentation and quoting near this position".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(source: &str) -> Vec<String> {
        parse(source, Path::new("stacks/x.yaml"), "x", None).unwrap_err().iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn minimal_file_gets_secure_defaults() {
        let c = parse("project: demo\nregion: us-west-1\n", Path::new("x.yaml"), "dev", None).unwrap();
        assert!(c.bucket.versioning);
        assert_eq!(c.bucket.encryption, Encryption::SseS3);
        assert_eq!(c.bucket.lifecycle.infrequent_access_after_days, Some(30));
        assert_eq!(c.bucket.lifecycle.glacier_after_days, Some(90));
        assert_eq!(c.bucket.lifecycle.abort_incomplete_uploads_after_days, Some(7));
        assert_eq!(c.stack_name(), "demo-dev");
        assert_eq!(c.bucket_name("123456789012"), "demo-dev-123456789012-us-west-1");
        assert_eq!(c.bucket_name_sub(), "demo-dev-${AWS::AccountId}-${AWS::Region}");
    }

    #[test]
    fn explicit_null_turns_a_default_off() {
        let src = "project: demo\nregion: us-west-1\nbucket:\n  lifecycle:\n    glacier_after_days: ~\n";
        let c = parse(src, Path::new("x.yaml"), "dev", None).unwrap();
        assert_eq!(c.bucket.lifecycle.glacier_after_days, None);
        assert_eq!(c.bucket.lifecycle.infrequent_access_after_days, Some(30));
    }

    #[test]
    fn reports_errors_of_every_section() {
        let src = "project: demo\nregion: us-west-1\nbucket:\n  versionin: true\nsmoke:\n  probe_prefx: x/\nextra: 1\n";
        let found = errors(src);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("stacks/x.yaml:4:3: bucket: unknown field `versionin`"), "{}", found[0]);
        assert!(found[0].contains("did you mean `versioning`?"));
        assert!(found[1].starts_with("stacks/x.yaml:6:3: smoke: unknown field `probe_prefx`"), "{}", found[1]);
        assert!(found[2].starts_with("stacks/x.yaml:7:1: extra: unknown key `extra`"), "{}", found[2]);
    }

    #[test]
    fn semantic_errors_are_located() {
        let src = "project: demo\nregion: us-west-1\nbucket:\n  lifecycle:\n    glacier_after_days: 40\n";
        let found = errors(src);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("stacks/x.yaml:5:5: bucket.lifecycle.glacier_after_days: GLACIER at 40 days"), "{}", found[0]);
    }
}
