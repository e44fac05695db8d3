//! Configuration in two stages: [`raw`] mirrors `stacks/<env>.yaml`, [`model`] is the validated form.

pub mod error;
pub mod limits;
pub mod locate;
pub mod model;
pub mod raw;
pub mod read;
pub mod structure;

use std::path::{Path, PathBuf};

pub use error::{ConfigErrors, Diagnostic};
pub use model::*;

use locate::{Locator, Pos, Problem};
use raw::RawConfig;
use read::ReadError;
use structure::Unread;

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
        Ok(raw) => model::build(raw, env, instance, file, &locator, &Unread::default()),
        Err(whole) => {
            // Every problem of the structure, then the rules on what could be read; in the order of the file.
            let structure = structure::read(source, file, &locator, &whole)?;
            let mut found = structure.found;
            if let Ok(raw) = serde_yaml::from_str::<RawConfig>(&structure.readable)
                && let Err(more) = model::build(raw, env, instance, file, &locator, &structure.unread)
            {
                found.extend(more);
            }
            found.sort_by_key(|d| (d.line, d.col));
            Err(found)
        }
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
    fn every_problem_of_a_file_is_reported_in_one_run() {
        // Two in one map (a wrong type, a misspelt key), and a rule broken in another section.
        let found = errors(
            "project: demo\nregion: us-west-1\nbucket: {versioning: \"yes\", lifecyle: {}}\naccess:\n  w:\n    \
             principal: { service: lambda.amazonaws.com }\n    allow: [write]\n    prefixes: [/calls]\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0]
                .starts_with("stacks/x.yaml:3:22: bucket.versioning: invalid type: string \"yes\", expected a boolean"),
            "{}",
            found[0]
        );
        assert!(found[1].starts_with("stacks/x.yaml:3:29: bucket: unknown field `lifecyle`"), "{}", found[1]);
        assert!(found[1].ends_with("hint: did you mean `lifecycle`?"), "{}", found[1]);
        assert!(found[2].starts_with("stacks/x.yaml:8:16: access.w.prefixes[0]: prefix `/calls` starts with `/`"));
        assert!(found[2].ends_with("write `calls/`"), "{}", found[2]);
    }

    #[test]
    fn the_rules_check_what_could_be_read() {
        // A wrong type beside a broken rule in the same map, and a missing key beside a broken rule.
        let found =
            errors("project: demo\nregion: us-west-1\nbucket:\n  versioning: \"no\"\n  tags: { \"aws:x\": y }\n");
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[1].starts_with("stacks/x.yaml:5:11: bucket.tags.aws:x: tag key `aws:x` is reserved"),
            "{}",
            found[1]
        );
        // An unknown key in an entry that has all it needs: the entry's rules are checked.
        let found = errors(
            "project: demo\nregion: us-west-1\naccess:\n  w:\n    principal: { user: u }\n    allow: [read]\n    \
             prefixes: [/calls]\n    extra: 1\n",
        );
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("stacks/x.yaml:7:16: access.w.prefixes[0]: prefix `/calls`"), "{}", found[0]);
        assert!(found[1].starts_with("stacks/x.yaml:8:5: access.w: unknown field `extra`"), "{}", found[1]);
        let found = errors("region: us-west\nsmoke: { trust_deployer: maybe }\n");
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("stacks/x.yaml:1:1: project: missing key `project`"), "{}", found[0]);
        assert!(found[1].starts_with("stacks/x.yaml:1:1: region: `us-west` is not an AWS region name"), "{}", found[1]);
        assert!(found[2].starts_with("stacks/x.yaml:2:26: smoke.trust_deployer: invalid type"), "{}", found[2]);
    }

    #[test]
    fn no_rule_judges_a_value_that_was_not_read() {
        let head = "project: demo\nregion: us-west-1\n";
        let only = |body: &str, expected: &str| {
            let found = errors(&format!("{head}{body}"));
            assert_eq!(found.len(), 1, "{body}: {found:#?}");
            assert!(found[0].contains(expected), "{body}: {}", found[0]);
        };
        // `allow_data_loss` needs `protected`, which has the wrong type.
        only("protected: \"yes\"\nallow_data_loss: true\n", "protected: invalid type");
        // Beside a misspelt key, the keys it may stand for hold defaults: GLACIER at 90 days is not judged.
        only(
            "bucket:\n  lifecycle: { infrequent_access_after_days: 80, glacer_after_days: 200 }\n",
            "unknown field `glacer_after_days`",
        );
        // The default bucket name (64 characters with this project) is not judged beside a misspelt `name`.
        let long = format!("project: {}\nregion: us-west-1\nbucket: {{ nmae: b }}\n", "p".repeat(39));
        let found = errors(&long);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("unknown field `nmae`"), "{}", found[0]);
        assert!(errors(&long.replace("{ nmae: b }", "{}"))[0].contains("the default bucket name"));
        // A notification that was not read overlaps nothing (its events would be the default, `created`).
        only(
            "notifications:\n  a: { events: created, target: queue }\n  b: { target: queue }\n",
            "notifications.a.events: invalid type: string \"created\", expected a sequence",
        );
        // Entries that were not read are not counted.
        let entry = |i: usize, allow: &str| {
            format!(
                "  e{i}:\n    principal: {{ service: lambda.amazonaws.com }}\n    allow: {allow}\n    prefixes: [p{i}/]\n"
            )
        };
        let entries: String = (0..300).map(|i| entry(i, if i == 7 { "read" } else { "[read]" })).collect();
        only(&format!("access:\n{entries}"), "access.e7.allow: invalid type");
    }

    #[test]
    fn an_empty_value_is_reported_at_its_place() {
        let found = errors(
            "project: demo\nregion: us-west-1\naccess:\n  w:\n    principal:\n    allow: [read]\n    prefixes: [a/]\n",
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with(
                "stacks/x.yaml:5:5: access.w.principal: invalid type: empty value, expected one of: service, role_arn"
            ),
            "{}",
            found[0]
        );
    }

    #[test]
    fn hints_say_exactly_what_to_write() {
        let head = "project: demo\nregion: us-west-1\n";
        let access = |prefix: &str| {
            format!(
                "{head}access:\n  w:\n    principal: {{ user: u }}\n    allow: [read]\n    prefixes: [\"{prefix}\"]\n"
            )
        };
        let hints = |source: &str| -> Vec<String> {
            errors(source)
                .iter()
                .map(|e| e.split_once("hint: ").map(|(_, h)| h.to_string()).unwrap_or_default())
                .collect()
        };
        let slash = "S3 keys have no leading slash";
        assert_eq!(
            hints(&access("/calls")),
            [format!("{slash}, and the prefix of a folder ends with one: write `calls/`")]
        );
        assert_eq!(hints(&access("/calls/")), [format!("{slash}: write `calls/`")]);
        assert_eq!(
            hints(&access("/calls/2024-*")),
            [
                format!("{slash}: write `calls/2024-`"),
                "prefixes are literal, and match every key that starts with them: write `calls/2024-`".to_string()
            ]
        );
        let notification = format!("{head}notifications:\n  n:\n    prefix: /recordings\n    target: queue\n");
        assert!(hints(&notification)[0].ends_with("write `recordings/`"), "{:?}", hints(&notification));
        let probe = |prefix: &str| hints(&format!("{head}smoke:\n  probe_prefix: \"{prefix}\"\n"));
        assert_eq!(probe("/_probe").len(), 2);
        assert!(probe("/_probe").iter().all(|h| h.ends_with("write `_probe/`")), "{:?}", probe("/_probe"));
        assert_eq!(probe(""), ["probes stay under their own folder: write `_probe/`"]);
        // The transitions an expiration comes before may be defaults, which cannot be removed: they are turned off.
        let expire = hints(&format!("{head}bucket:\n  lifecycle:\n    expire_after_days: 20\n"));
        assert_eq!(
            expire,
            ["expire after more than 90 days, or turn off the transitions at or after day 20: \
              `infrequent_access_after_days: ~` and `glacier_after_days: ~`"]
        );
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
