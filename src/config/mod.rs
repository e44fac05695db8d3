//! Configuration in two stages: [`raw`] mirrors `stacks/<env>.yaml`, [`model`] is the validated form.

pub mod error;
pub mod limits;
pub mod locate;
pub mod model;
pub mod raw;
pub mod read;

use std::path::{Path, PathBuf};

pub use error::{ConfigErrors, Diagnostic};
pub use model::*;

use locate::{Locator, Pos, Problem};
use raw::RawConfig;
use read::ReadError;
use serde::de::DeserializeOwned;

use crate::names;

/// Why an env could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("env name {} is invalid: {}", limits::quote(.0), limits::ENV_NAME_RULE)]
    BadEnv(String),
    #[error("no env `{env}` in {dir}{hint}")]
    UnknownEnv { env: String, dir: PathBuf, hint: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("instance name {} is invalid: use 1-24 lowercase letters, digits and hyphens", limits::quote(.0))]
    BadInstance(String),
    #[error(transparent)]
    Invalid(#[from] ConfigErrors),
}

/// Path of the file for `env` in `dir`. `env` must be a valid env name ([`limits::is_env_name`]), which makes
/// it a plain file name: [`load`] checks that before it reads anything.
pub fn env_file(dir: &Path, env: &str) -> PathBuf {
    dir.join(format!("{env}.yaml"))
}

/// The envs in `dir`: the stem of each `*.yaml` file, sorted. A file whose name is not a valid env name is listed
/// too (a name that is not UTF-8, lossily), so that loading it reports why it is not used instead of skipping it.
pub fn list_envs(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut envs: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "yaml").then(|| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))?
        })
        .collect();
    envs.sort();
    Ok(envs)
}

/// Reads and validates `dir/<env>.yaml` for an optional instance. The env and instance names are checked before
/// any file is read; the file must be a regular file (or a symlink to one) of at most 1 MiB of UTF-8 text.
pub fn load(dir: &Path, env: &str, instance: Option<&str>) -> Result<Config, LoadError> {
    if !limits::is_env_name(env) {
        return Err(LoadError::BadEnv(env.to_string()));
    }
    if let Some(instance) = instance
        && !names::is_instance_name(instance)
    {
        return Err(LoadError::BadInstance(instance.to_string()));
    }
    let path = env_file(dir, env);
    let bytes = match read::read_env_file(&path) {
        Ok(bytes) => bytes,
        Err(ReadError::NotFound { .. }) => {
            let envs: Vec<String> =
                list_envs(dir).unwrap_or_default().into_iter().filter(|e| limits::is_env_name(e)).collect();
            let hint = match names::suggest(env, envs.iter().map(String::as_str)) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None if envs.is_empty() => " (the directory has no *.yaml env files; see --stacks-dir)".to_string(),
                None => format!(" (envs there: {})", envs.join(", ")),
            };
            return Err(LoadError::UnknownEnv { env: env.to_string(), dir: dir.to_path_buf(), hint });
        }
        Err(other) => return Err(other.into()),
    };
    parse_bytes(&bytes, &path, env, instance).map_err(|diagnostics| ConfigErrors { diagnostics }.into())
}

/// [`parse`] for the bytes of a file: UTF-8 (a byte order mark is fine); anything else is one located error.
pub fn parse_bytes(bytes: &[u8], file: &Path, env: &str, instance: Option<&str>) -> Result<Config, Vec<Diagnostic>> {
    let source = read::decode(bytes, file).map_err(|d| vec![d])?;
    parse(source, file, env, instance)
}

/// Parses and validates one env file's text; `file` is only used in messages. At most
/// [`limits::MAX_DIAGNOSTICS`] problems are listed, then how many more there are.
pub fn parse(source: &str, file: &Path, env: &str, instance: Option<&str>) -> Result<Config, Vec<Diagnostic>> {
    parse_all(source, file, env, instance).map_err(|mut found| {
        if found.len() > limits::MAX_DIAGNOSTICS {
            let more = found.len() - limits::MAX_DIAGNOSTICS;
            let next = &found[limits::MAX_DIAGNOSTICS];
            let pos = Pos { line: next.line, col: next.col };
            found.truncate(limits::MAX_DIAGNOSTICS);
            found.push(Diagnostic::new(
                file,
                pos,
                "",
                format!("{more} more problem{} not shown", if more == 1 { " is" } else { "s are" }),
                Some("fix the problems above and validate again".into()),
            ));
        }
        found
    })
}

fn parse_all(source: &str, file: &Path, env: &str, instance: Option<&str>) -> Result<Config, Vec<Diagnostic>> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if source.len() as u64 > limits::MAX_FILE_BYTES {
        let message = format!("the file has {} bytes, over the limit of 1 MiB", source.len());
        return Err(vec![Diagnostic::new(file, Pos { line: 1, col: 1 }, "", message, None)]);
    }
    let locator = Locator::new(source);
    // The shape of the document comes first: nothing else it says can be trusted (and text nested too deep is
    // never handed to serde_yaml).
    if !locator.problems().is_empty() {
        return Err(locator.problems().iter().map(|p| shape_problem(file, p)).collect());
    }
    match serde_yaml::from_str::<RawConfig>(source) {
        Ok(raw) => model::build(raw, env, instance, file, &locator),
        Err(whole) => Err(structural_errors(source, file, &locator, &whole)),
    }
}

/// The diagnostic of a problem with the document's shape.
fn shape_problem(file: &Path, problem: &Problem) -> Diagnostic {
    let depth = limits::MAX_DEPTH;
    let (pos, key, message, hint) = match problem {
        Problem::TooDeep { pos } => (
            *pos,
            "",
            format!("maps and lists nest deeper than {depth} levels here"),
            "an env file nests at most 5 levels (bucket.lifecycle.rules[0].prefix): check the indentation, and \
             look for `[` or `{` that are not closed"
                .to_string(),
        ),
        Problem::KeyTooLong { pos, path, chars } => (
            *pos,
            path.as_str(),
            format!("a key of {chars} characters; keys are at most {} characters", limits::MAX_KEY_CHARS),
            "setting names are short, and names of entries at most 32 characters: check the indentation and the \
             `:` after the key"
                .to_string(),
        ),
        Problem::TooManyValues { pos } => (
            *pos,
            "",
            format!("the file has more than {} values; an env file has a few hundred", limits::MAX_VALUES),
            "split the env, or check that this is the file you meant".to_string(),
        ),
        Problem::Duplicate { pos, first, path } => {
            let name = path.rsplit('.').next().unwrap_or_default();
            let places = if first.line == pos.line {
                format!("on line {}, at columns {} and {}", pos.line, first.col, pos.col)
            } else {
                format!("at lines {} and {}", first.line, pos.line)
            };
            (
                *pos,
                path.as_str(),
                format!("{} appears twice in the same map, {places}", limits::quote(name)),
                "a key may appear only once in a map (YAML would keep only the last one): remove or merge one of \
                 the two"
                    .to_string(),
            )
        }
        Problem::Tag { pos, path, tag } => (
            *pos,
            path.as_str(),
            format!("YAML tag {} is not supported", limits::quote(tag)),
            "env files hold plain values: remove the tag (CloudFormation functions such as !Ref or !Sub do not \
             apply here; quote a value that starts with `!`)"
                .to_string(),
        ),
        Problem::SecondDocument { pos } => (
            *pos,
            "",
            "a second YAML document starts here; an env file is one document".to_string(),
            "remove this `---` line and what follows, or merge it into the settings above (a `---` at the very \
             top is fine)"
                .to_string(),
        ),
    };
    Diagnostic::new(file, pos, key, message, Some(hint))
}

/// serde stops at the first error; to report every one, each top-level section (and each entry of `access` and
/// `notifications`) is deserialized on its own, in place, so positions stay those of the file.
fn structural_errors(source: &str, file: &Path, locator: &Locator, whole: &serde_yaml::Error) -> Vec<Diagnostic> {
    // A syntax error is the cause of everything else, so it is reported alone. It is looked for first because
    // serde_yaml reads lazily: a typed read can stop at a type error (`versioning: "true tags"`) made by the same
    // broken indentation before the parser reaches the line it cannot read.
    if let Err(syntax) = serde_yaml::from_str::<serde::de::IgnoredAny>(source) {
        return vec![from_serde(file, source, locator, "", &syntax, 0)];
    }
    if let Some(shape) = document_shape_error(source, file) {
        return vec![shape];
    }
    let mut found = Vec::new();
    let top = locator.top_keys();
    if top.is_empty() {
        return vec![from_serde(file, source, locator, "", whole, 0)];
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
        let mut check = |path: &str, result: Result<(), (serde_yaml::Error, usize)>| {
            if let Err((e, line_offset)) = result
                // An alias whose anchor is in another section: the whole file read it (no syntax error above).
                && !e.to_string().starts_with("unknown anchor")
            {
                found.push(from_serde(file, source, locator, path, &e, line_offset));
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
        found.push(from_serde(file, source, locator, "", whole, 0));
    }
    found
}

/// The problem with a well-formed document that is not a map of settings (empty, a list, a lone value).
fn document_shape_error(source: &str, file: &Path) -> Option<Diagnostic> {
    use serde_yaml::Value;
    let example = "an env file is a map of settings with at least `project:` and `region:`, e.g. `project: call-data` \
                   and `region: us-west-1` on two lines";
    let (pos, message) = match serde_yaml::from_str::<Value>(source) {
        Ok(Value::Mapping(_)) | Err(_) => return None,
        Ok(Value::Null) => (Pos { line: 1, col: 1 }, "the file has no settings".to_string()),
        Ok(other) => {
            // The document starts at its first line that is neither blank nor a comment.
            let line = source.lines().position(|l| !(l.trim().is_empty() || l.trim_start().starts_with('#')));
            let what = match other {
                Value::Sequence(_) => "a list (lines starting with `- `)",
                _ => "a single value",
            };
            (Pos { line: line.map_or(1, |l| l + 1), col: 1 }, format!("the file is {what}, not a map of settings"))
        }
    };
    Some(Diagnostic::new(file, pos, "", message, Some(example.to_string())))
}

/// Reads the value at `path` alone as a `T`; an error comes with the number of lines before the value.
fn section<T: DeserializeOwned>(source: &str, locator: &Locator, path: &str) -> Result<(), (serde_yaml::Error, usize)> {
    match locator.isolate(source, path) {
        Some(isolated) => serde_yaml::from_str::<T>(&isolated.text).map(drop).map_err(|e| (e, isolated.line_offset)),
        None => Ok(()),
    }
}

/// A located diagnostic from a serde_yaml error raised while reading the value at `base`, from a text that
/// starts `line_offset` lines into the file.
fn from_serde(
    file: &Path,
    source: &str,
    locator: &Locator,
    base: &str,
    e: &serde_yaml::Error,
    line_offset: usize,
) -> Diagnostic {
    let mut pos = e.location().map(|l| Pos { line: l.line(), col: l.column() }).unwrap_or(Pos { line: 1, col: 1 });
    // The diagnostic carries the position; other positions in the text (where an unclosed `[` was opened) stay.
    let text = e.to_string().replacen(&format!(" at line {} column {}", pos.line, pos.col), "", 1);
    pos.line += line_offset;
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
    let message = plain_types(message);
    if message.starts_with("missing field ") && !key.is_empty() {
        // serde points at the first key of the map that lacks the field; the map's own key names the place.
        pos = locator.key_pos(&key);
    }
    let line = locator.line(source, pos.line);
    let hint = if line.chars().nth(pos.col.wrapping_sub(1)) == Some('\t') {
        Some("YAML indentation must be spaces: replace the tab".to_string())
    } else {
        hint_for(&key, &message)
    };
    Diagnostic::new(file, pos, &key, message, hint)
}

/// Rewrites Rust type names in serde's messages into the words of the config file.
fn plain_types(message: &str) -> String {
    let mut out = message
        .replace("expected u32", "expected a whole number (0 or more)")
        .replace("expected enum RawPrincipal", "expected one of: service, role_arn, user (as `{ service: ... }`)")
        .replace("expected enum RawTarget", "expected one of: queue, topic, eventbridge, or `{ lambda_arn: ... }`")
        .replace("expected enum RawEncryption", "expected one of: sse-s3, or `{ kms_key_arn: ... }`")
        .replace("expected map with a single key", "expected a map with exactly one key")
        .replace("invalid type: unit value", "invalid type: empty value");
    // `expected struct RawBucket`: the raw types are maps of settings.
    while let Some(at) = out.find("expected struct Raw") {
        let end = out[at..].find(|c: char| !(c.is_ascii_alphanumeric() || c == ' ')).map_or(out.len(), |e| at + e);
        out.replace_range(at..end, "expected a map of settings");
    }
    out
}

/// A way to fix a serde error at `key`, from the shape of its message.
fn hint_for(key: &str, message: &str) -> Option<String> {
    let quoted = |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_string).collect() };
    // The settings that are one of several kinds, some carrying a value as a one-key map: how they are written.
    let forms = match key.rsplit('.').next().unwrap_or_default() {
        "encryption" => Some("`encryption: sse-s3`, or `encryption: { kms_key_arn: \"arn:aws:kms:...:key/...\" }`"),
        "principal" => Some(
            "`principal: { service: lambda.amazonaws.com }`, \
             `{ role_arn: \"arn:aws:iam::<account>:role/<name>\" }` or `{ user: <name> }`",
        ),
        "target" => Some("`target: queue`, `topic`, `eventbridge`, or `{ lambda_arn: \"arn:aws:lambda:...\" }`"),
        _ => None,
    };
    if let Some(forms) = forms
        && (message.contains("expected one of: ") || message.contains("with exactly one key"))
    {
        return Some(format!("write {forms}"));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let words = quoted(rest);
        let (given, allowed) = words.split_first()?;
        let suggestion =
            names::suggest(given, allowed.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
        return Some(match (suggestion, forms) {
            (Some(s), Some(forms)) => format!("{s} write {forms}"),
            (None, Some(forms)) => format!("write {forms}"),
            (Some(s), None) => s,
            (None, None) if allowed.is_empty() => "remove it".to_string(),
            (None, None) => format!("use one of: {}", allowed.join(", ")),
        });
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
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
    if message.starts_with("duplicate field ") || message.starts_with("duplicate entry ") {
        return Some("a key may appear only once in a map: remove one of the two".into());
    }
    if message.contains("expected a boolean") {
        return Some("write true or false (unquoted)".into());
    }
    if message.contains("expected a whole number") {
        let unit = if key.ends_with("_days") {
            "days, e.g. 30"
        } else if key.ends_with("_secs") {
            "seconds, e.g. 20"
        } else {
            "e.g. 3"
        };
        return Some(format!("write a whole number of {unit}, without quotes or a unit"));
    }
    if message.contains("expected a string") {
        return Some("quote the value: \"...\"".into());
    }
    if message.contains("expected a sequence") {
        return Some("write a list, e.g. [a, b] or one `- item` per line".into());
    }
    if message.contains("expected a map") {
        return Some("write `key: value` pairs here, indented under the key, or `{ key: value }`".into());
    }
    if message.contains("while parsing a flow sequence") {
        return Some("a `[` list is not closed: add the missing `]`, or a comma between items".into());
    }
    if message.contains("while parsing a flow mapping") {
        return Some("a `{` map is not closed: add the missing `}`, or a comma between entries".into());
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
    fn syntax_error_is_reported_alone() {
        // serde_yaml alone would report `versioning: "true tags"` as a type error.
        let found = errors("project: demo\nregion: us-west-1\nbucket:\n  versioning: true\n    tags: {}\n");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("stacks/x.yaml:5:9: mapping values are not allowed"), "{}", found[0]);
    }

    #[test]
    fn messages_use_the_words_of_the_file() {
        let found = errors("project: demo\nregion: us-west-1\nbucket: 5\nsmoke:\n  notification_timeout_secs: -1\n");
        assert!(found[0].contains("bucket: invalid type: integer `5`, expected a map of settings"), "{}", found[0]);
        let seconds = "expected a whole number (0 or more)\n  hint: write a whole number of seconds";
        assert!(found[1].contains(seconds), "{}", found[1]);
        let found = errors("- project: demo\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("stacks/x.yaml:1:1: the file is a list (lines starting with `- `), not a map"));
    }

    #[test]
    fn unquoted_account_keeps_its_leading_zero() {
        let src = "project: demo\nregion: us-west-1\naccount: 012345678901\n";
        let c = parse(src, Path::new("x.yaml"), "dev", None).unwrap();
        assert_eq!(c.account.as_deref(), Some("012345678901"));
    }

    #[test]
    fn a_bad_project_is_reported_once() {
        let found = errors(
            "project: Demo\nregion: us-west-1\naccess:\n  w:\n    principal: { service: lambda.amazonaws.com }\n    \
             allow: [read]\n    prefixes: [a/]\n",
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("stacks/x.yaml:1:1: project: `Demo` is not a valid project name"));
    }

    #[test]
    fn clashing_logical_ids_are_reported() {
        let entry =
            |name: &str| format!("  {name}:\n    principal: {{ user: u }}\n    allow: [read]\n    prefixes: [a/]\n");
        let found = errors(&format!("project: demo\nregion: us-west-1\naccess:\n{}{}", entry("w-2"), entry("w2")));
        assert_eq!(found.len(), 1, "{found:#?}");
        let clash = "access.w2: the access entry `w2` would get the CloudFormation logical id `W2Policy`, which the \
                     access entry `w-2` already has";
        assert!(found[0].contains(clash), "{}", found[0]);
        let found = errors(&format!("project: demo\nregion: us-west-1\naccess:\n{}", entry("data-bucket")));
        assert!(found[0].contains("`DataBucketPolicy`, which the bucket policy already has"), "{}", found[0]);
    }

    #[test]
    fn semantic_errors_are_located() {
        let src = "project: demo\nregion: us-west-1\nbucket:\n  lifecycle:\n    glacier_after_days: 40\n";
        let found = errors(src);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("stacks/x.yaml:5:5: bucket.lifecycle.glacier_after_days: GLACIER at 40 days"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn durations_may_be_compound() {
        let src = "project: demo\nregion: us-west-1\nephemeral: true\nttl: 1h30m\n";
        let c = parse(src, Path::new("x.yaml"), "dev", None).unwrap();
        assert_eq!(c.ttl, Some(std::time::Duration::from_secs(5400)));
        let c = parse(&src.replace("1h30m", "\"1h 30m\""), Path::new("x.yaml"), "dev", None).unwrap();
        assert_eq!(c.ttl, Some(std::time::Duration::from_secs(5400)));
        let found = errors(&src.replace("1h30m", "366d"));
        assert!(
            found[0].starts_with("stacks/x.yaml:4:1: ttl: `366d` is longer than the maximum of 365 days"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn counts_are_bounded_by_what_aws_takes() {
        let rules: String =
            (0..1000).map(|i| format!("      - {{ id: r{i}, prefix: p{i}/, expire_after_days: 400 }}\n")).collect();
        let found = errors(&format!("project: demo\nregion: us-west-1\nbucket:\n  lifecycle:\n    rules:\n{rules}"));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("bucket.lifecycle.rules: 1001 rules, over S3's limit of 1000 per bucket"),
            "{}",
            found[0]
        );
        let entry = |i: usize| {
            format!(
                "  e{i}:\n    principal: {{ service: lambda.amazonaws.com }}\n    allow: [read]\n    prefixes: [p{i}/]\n"
            )
        };
        let entries: String = (0..250).map(entry).collect();
        let found = errors(&format!("project: demo\nregion: us-west-1\naccess:\n{entries}"));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with(
                "stacks/x.yaml:3:1: access: the env makes 502 CloudFormation resources (250 access entries"
            ),
            "{}",
            found[0]
        );
        let entries: String = (0..249).map(entry).collect();
        assert!(
            parse(&format!("project: demo\nregion: us-west-1\naccess:\n{entries}"), Path::new("x"), "x", None).is_ok()
        );
    }

    #[test]
    fn service_principals_have_a_known_form() {
        for good in ["lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "logging.s3.amazonaws.com"] {
            assert!(model_is_service_principal(good), "{good}");
        }
        for bad in [
            "lambda..amazonaws.com",
            "-lambda.amazonaws.com",
            "lambda-.amazonaws.com",
            ".amazonaws.com",
            "Lambda.amazonaws.com",
            "lambda.amazonaws.com.evil.com",
            "lambda",
        ] {
            assert!(!model_is_service_principal(bad), "{bad}");
        }
        let long = format!("{}.amazonaws.com", ["a".repeat(63), "b".repeat(63)].join("."));
        assert!(!model_is_service_principal(&long));
    }

    fn model_is_service_principal(s: &str) -> bool {
        let src = format!(
            "project: demo\nregion: us-west-1\naccess:\n  w:\n    principal: {{ service: \"{s}\" }}\n    allow: [read]\n    prefixes: [a/]\n"
        );
        parse(&src, Path::new("x.yaml"), "dev", None).is_ok()
    }

    #[test]
    fn at_most_50_problems_are_listed() {
        let keys: String = (0..500).map(|i| format!("unknown{i}: 1\n")).collect();
        let found = errors(&format!("project: demo\nregion: us-west-1\n{keys}"));
        assert_eq!(found.len(), 51);
        assert!(found[50].starts_with("stacks/x.yaml:53:1: 450 more problems are not shown"), "{}", found[50]);
    }

    #[test]
    fn shape_problems_are_reported_alone() {
        // A duplicate key and a type error: the duplicate changes what the file means, so it comes alone.
        let found = errors("project: demo\nregion: us-west-1\nbucket:\n  versioning: maybe\nregion: us-east-1\n");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("stacks/x.yaml:5:1: region: `region` appears twice in the same map, at lines 2 and 5")
        );
    }
}
