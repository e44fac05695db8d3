//! Every file in `tests/bad-configs/` breaks one rule (named by its first `# comment` line); the located messages
//! it produces are snapshotted, so a change in wording, position or hint shows up in review.
//!
//! Conventions for a corpus file:
//! - the first line is `# <the rule it breaks>` (in the file's own encoding: a UTF-16 file is read as such for
//!   this line only; the file itself is parsed from its bytes, as `provision` reads it);
//! - a `# instance: <name>` line anywhere in the leading comments parses it for that instance (default: none);
//! - a file whose name contains `several-errors` must report more than one problem; every other file exactly one.
//!
//! Then: hostile input read from disk (a FIFO, `/dev/zero`, a file too large, deep nesting) and env names that
//! are paths, each rejected with a clear error; and mutated or random input (proptest, with a fixed seed) never
//! panics and is refused only with located errors in the words of the file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::RngSeed;
use provision::config::{self, Diagnostic, parse, parse_bytes};

/// The `# instance: <name>` marker in the file's leading comments.
fn instance_of(source: &str) -> Option<&str> {
    source
        .lines()
        .take_while(|line| line.starts_with('#'))
        .find_map(|line| line.strip_prefix("# instance:").map(str::trim))
}

/// The text of a corpus file for its comment lines: UTF-8 (lossily), or UTF-16 when it looks like it.
fn comment_text(bytes: &[u8]) -> String {
    let utf16 = |bytes: &[u8], le: bool| {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|p| if le { u16::from_le_bytes([p[0], p[1]]) } else { u16::from_be_bytes([p[0], p[1]]) })
            .collect();
        String::from_utf16_lossy(&units).trim_start_matches('\u{feff}').to_string()
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(bytes, true),
        [0xFE, 0xFF, ..] => utf16(bytes, false),
        [0, b'#', ..] => utf16(bytes, false),
        [b'#', 0, ..] => utf16(bytes, true),
        _ => String::from_utf8_lossy(bytes).trim_start_matches('\u{feff}').to_string(),
    }
}

fn joined(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\n")
}

#[test]
fn bad_configs() {
    // Problems are collected so that one bad file does not hide the snapshots of the others (and printed at once,
    // since failed snapshots end the test before the list is).
    let problems = std::cell::RefCell::new(Vec::new());
    let report = |problem: String| {
        eprintln!("corpus file is wrong: {problem}");
        problems.borrow_mut().push(problem);
    };
    insta::glob!("bad-configs/*.yaml", |path| {
        let bytes = std::fs::read(path).unwrap();
        let source = comment_text(&bytes);
        let name = path.file_name().unwrap().to_str().unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let rule = source.lines().next().and_then(|line| line.strip_prefix("# "));
        let rule = rule.unwrap_or_else(|| panic!("{name}: the first line must be `# <the rule it breaks>`"));
        let file = Path::new("stacks").join(name);
        let diagnostics = match parse_bytes(&bytes, &file, stem, instance_of(&source)) {
            Ok(_) => {
                report(format!("{name} ({rule}) validated, but it should not"));
                return;
            }
            Err(diagnostics) => diagnostics,
        };
        let text = joined(&diagnostics);
        if let Some(word) = RUST_WORDS.iter().find(|w| text.contains(*w)) {
            report(format!("{name} ({rule}): a message says `{word}`, a word of Rust:\n{text}"));
        }
        let expected = if stem.contains("several-errors") { diagnostics.len() > 1 } else { diagnostics.len() == 1 };
        if !expected {
            report(format!(
                "{name} ({rule}) reports {} problems; a corpus file breaks exactly one rule, except `several-errors` \
                 files, which break more than one:\n{text}",
                diagnostics.len()
            ));
        }
        insta::with_settings!({ description => rule, omit_expression => true }, {
            insta::assert_snapshot!(text);
        });
    });
    let problems = problems.into_inner();
    assert!(problems.is_empty(), "{} corpus files are wrong:\n\n{}", problems.len(), problems.join("\n\n"));
}

/// A fresh directory under `target/tmp/` for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-errors").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `f` on another thread and gives its result, or fails the test if it has not finished after a minute:
/// a guard against hanging forever (a FIFO), not a timing assertion.
fn finishes<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("{what} did not finish (it blocks or loops)"))
}

/// `config::load` of `env` in `dir`, which must fail: its error as printed, with its causes.
fn load_error(dir: &Path, env: &str) -> String {
    let (dir, env) = (dir.to_path_buf(), env.to_string());
    let result = finishes(&format!("loading {env}"), move || config::load(&dir, &env, None).map(drop));
    let error = result.expect_err("the env loaded, but it should not");
    format!("{:#}", anyhow::Error::from(error))
}

const VALID: &str = "project: demo\nregion: us-west-1\n";

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = scratch("fifo");
    let status = Command::new("mkfifo").arg(dir.join("pipe.yaml")).status().expect("mkfifo runs");
    assert!(status.success());
    let text = load_error(&dir, "pipe");
    assert!(text.contains("pipe.yaml is a FIFO (named pipe), not a regular file"), "{text}");
}

#[test]
fn a_symlink_to_dev_zero_is_refused_without_reading_it() {
    let dir = scratch("dev-zero");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
    let text = load_error(&dir, "zero");
    assert!(text.contains("zero.yaml is a character device, not a regular file"), "{text}");
}

#[test]
fn a_symlink_to_a_regular_file_is_read() {
    let dir = scratch("symlink");
    std::fs::write(dir.join("real.txt"), VALID).unwrap();
    std::os::unix::fs::symlink(dir.join("real.txt"), dir.join("linked.yaml")).unwrap();
    let config = config::load(&dir, "linked", None).unwrap();
    assert_eq!(config.stack_name(), "demo-linked");
    std::os::unix::fs::symlink(dir.join("gone.txt"), dir.join("broken.yaml")).unwrap();
    let text = load_error(&dir, "broken");
    assert!(text.contains("broken.yaml is a symlink to") && text.contains("which does not exist"), "{text}");
}

#[test]
fn a_file_over_1_mib_is_refused() {
    let dir = scratch("large");
    let mut big = String::from(VALID);
    big.push_str(&format!("# {}\n", "x".repeat(2 * 1024 * 1024)));
    std::fs::write(dir.join("big.yaml"), &big).unwrap();
    let text = load_error(&dir, "big");
    let expected = format!("big.yaml is larger than the limit of 1 MiB ({} bytes)", big.len());
    assert!(text.contains(&expected), "{text}");
    // Text handed to `parse` directly is bounded the same way.
    let e = parse(&"#".repeat(2 * 1024 * 1024), Path::new("x.yaml"), "x", None).unwrap_err();
    assert!(e[0].message.contains("over the limit of 1 MiB"), "{e:?}");
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let dir = scratch("nesting");
    for (env, text) in [
        ("braces", "{".repeat(100_000)),
        ("brackets", format!("{VALID}bucket:\n  tags: {}\n", "[".repeat(100_000))),
        ("mixed", format!("{VALID}access: {}\n", "{a: [".repeat(50_000))),
    ] {
        std::fs::write(dir.join(format!("{env}.yaml")), &text).unwrap();
        let message = load_error(&dir, env);
        assert!(message.contains("maps and lists nest deeper than 32 levels here"), "{env}: {message}");
    }
}

#[test]
fn env_names_are_checked_before_any_file_is_read() {
    let dir = scratch("env-names");
    let (stacks, other) = (dir.join("stacks"), dir.join("other"));
    std::fs::create_dir_all(&stacks).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    // Valid files outside the stacks dir, and one inside whose name is not an env name.
    std::fs::write(other.join("named.yaml"), VALID).unwrap();
    std::fs::write(dir.join("top.yaml"), VALID).unwrap();
    std::fs::write(stacks.join("Weird.Env_1.yaml"), VALID).unwrap();
    std::fs::write(stacks.join("good.yaml"), VALID).unwrap();
    for env in ["../other/named", "../top", "/etc/passwd", "Weird.Env_1", "", "a/b", &"e".repeat(33)] {
        let text = load_error(&stacks, env);
        assert!(text.starts_with("env name `"), "{env}: {text}");
        assert!(text.contains("is invalid: an env name has 1-32 lowercase letters, digits and hyphens"), "{text}");
    }
    // Listing the directory shows the file, so that loading it says why it is not used.
    assert_eq!(config::list_envs(&stacks).unwrap(), ["Weird.Env_1", "good"]);
    assert!(config::load(&stacks, "good", None).is_ok());
}

/// `provision` itself, run with `args`: exit code, stdout, stderr.
fn provision(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_provision")).args(args).env("CI", "true").output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

/// The JSON Schema of env files (`provision schema`, for editors): a change to the keys an env file takes shows up
/// in review.
#[test]
fn env_file_schema() {
    let (code, stdout, stderr) = provision(&["schema"]);
    assert_eq!(code, 0, "{stderr}");
    insta::with_settings!({ omit_expression => true }, {
        insta::assert_snapshot!("env_file_schema", stdout);
    });
}

#[test]
fn validate_refuses_an_env_name_that_is_a_path() {
    let dir = scratch("validate-env-path");
    let (stacks, other) = (dir.join("stacks"), dir.join("other"));
    std::fs::create_dir_all(&stacks).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("named.yaml"), VALID).unwrap();
    std::fs::write(dir.join("x.yaml"), VALID).unwrap();
    let stacks_arg = stacks.to_str().unwrap();
    for env in ["../x", "../other/named"] {
        let (code, stdout, stderr) = provision(&["validate", "--stacks-dir", stacks_arg, "--env", env]);
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(!stdout.contains("ok "), "{stdout}");
        assert!(stderr.contains(&format!("env name `{env}` is invalid")), "{stderr}");
    }
    // Without --env, every *.yaml file is listed; one whose name is not an env name is reported, not used.
    std::fs::write(stacks.join("Weird.Env_1.yaml"), VALID).unwrap();
    std::fs::write(stacks.join("good.yaml"), VALID).unwrap();
    let (code, stdout, stderr) = provision(&["validate", "--stacks-dir", stacks_arg]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("FAIL") && stdout.contains("Weird.Env_1.yaml"), "{stdout}");
    assert!(stdout.contains("ok ") && stdout.contains("good.yaml"), "{stdout}");
    assert!(stderr.contains("env name `Weird.Env_1` is invalid"), "{stderr}");
}

#[test]
fn validate_reports_a_missing_env_on_stderr_only() {
    let dir = scratch("validate-missing-env");
    std::fs::write(dir.join("good.yaml"), VALID).unwrap();
    std::fs::write(
        dir.join("bad.yaml"),
        "project: demo\nregion: us-west-1\nbucket: {versioning: \"yes\", lifecyle: {}}\n",
    )
    .unwrap();
    let dir_arg = dir.to_str().unwrap();
    // Alone: no result line on stdout, the error on stderr, exit 1.
    let (code, stdout, stderr) = provision(&["validate", "--stacks-dir", dir_arg, "--env", "nope"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stdout, "", "stdout holds results only");
    assert!(stderr.contains("error: no env `nope` in "), "{stderr}");
    // Among envs that are checked: their result lines stay, in order; the missing one has none.
    let (code, stdout, stderr) =
        provision(&["validate", "--stacks-dir", dir_arg, "--env", "good", "--env", "nope", "--env", "bad"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("ok ") && lines[0].contains("good.yaml"), "{stdout}");
    assert!(lines[1].starts_with("FAIL ") && lines[1].contains("bad.yaml"), "{stdout}");
    assert!(!stdout.contains("nope"), "{stdout}");
    assert!(stderr.contains("no env `nope`"), "{stderr}");
    // Both problems of the bad file, in one run.
    assert!(stderr.contains("bad.yaml:3:22: bucket.versioning: invalid type"), "{stderr}");
    assert!(stderr.contains("bad.yaml:3:29: bucket: unknown field `lifecyle`"), "{stderr}");
    // JSON: one document on stdout, with every env named on the command line.
    let (code, stdout, stderr) =
        provision(&["validate", "--stacks-dir", dir_arg, "--env", "good", "--env", "nope", "--output", "json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["envs"][0]["ok"], true);
    assert_eq!((doc["envs"][1]["env"].as_str(), doc["envs"][1]["ok"].as_bool()), (Some("nope"), Some(false)));
    assert!(doc["envs"][1]["errors"][0].as_str().unwrap().starts_with("no env `nope` in "), "{stdout}");
}

/// Characters that mean something to YAML or to the rules, a few ordinary ones, and some beyond ASCII (a byte
/// order mark, a line separator, a two-byte letter).
const INTERESTING: &[char] = &[
    ' ', '\n', '\t', '\r', ':', '-', '[', ']', '{', '}', ',', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
    '?', '~', '/', '.', '\\', '0', '9', 'a', 'Z', '_', '\u{feff}', '\u{2028}', 'é',
];

/// Pieces of YAML an attacker would try (`{n}` becomes a run of up to 2,000 characters).
const HOSTILE: &[&str] = &[
    "\n---\n",
    "\n...\n",
    " !!int ",
    " !Ref x",
    " !custom ",
    " &a ",
    " *a",
    " *nope",
    "\n<<: *a\n",
    "\nproject: demo\n",
    "\naccess:\n  w:\n    principal: { service: lambda.amazonaws.com }\n    allow: [read]\n    prefixes: [a/]\n",
    "{a: 1, a: 2}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{",
    "]]]]}}}}",
    "\"{n}\"",
    "'{n}'",
    "{n}: {n}",
    "ttl: 99999999w\n",
    "99999999999999999999",
    "-1",
    "|\n  {n}\n",
    "? [a, b]\n: c\n",
    "\u{0}",
    "\u{1b}[31m",
    "Grüße — ü 東京",
    "\u{feff}",
    "\t",
    "%YAML 1.2\n---\n",
    "%TAG ! tag:x,2000:\n---\n",
];

/// Words of Rust, not of env files, that serde puts in its messages unless they are rewritten.
const RUST_WORDS: &[&str] =
    &["Raw", "enum ", "struct ", "u32", "u64", "usize", "Some(", "None", "unit value", "Option"];

/// What is wrong with how `provision` reads `bytes` as an env file, if anything: a panic, an error without a place
/// in the file, or a message in the words of Rust rather than of the file.
fn misread(bytes: &[u8], instance: Option<&str>) -> Option<String> {
    let file = Path::new("stacks/fuzz.yaml");
    let diagnostics = match std::panic::catch_unwind(|| parse_bytes(bytes, file, "fuzz", instance)) {
        Ok(Ok(_)) => return None,
        Ok(Err(diagnostics)) => diagnostics,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Some(format!("panicked: {message}"));
        }
    };
    if diagnostics.is_empty() {
        return Some("refused without saying why".to_string());
    }
    diagnostics.iter().find_map(|d| {
        let text = d.to_string();
        if d.file != file || d.line == 0 || d.col == 0 {
            Some(format!("an error is not located in the file: {text}"))
        } else {
            RUST_WORDS.iter().find(|w| text.contains(*w)).map(|word| format!("a message says `{word}`: {text}"))
        }
    })
}

/// The shipped env files (name, text), which the mutations start from.
fn stacks() -> &'static [(String, String)] {
    static STACKS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    STACKS.get_or_init(|| {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        assert!(!paths.is_empty());
        paths
            .iter()
            .map(|path| {
                (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(path).unwrap())
            })
            .collect()
    })
}

/// The instance a shipped env file is parsed for: ephemeral envs are deployed as named instances.
fn instance_for(source: &str) -> Option<&'static str> {
    source.contains("ephemeral: true").then_some("pr-42")
}

#[test]
fn every_cut_of_a_stack_is_read_without_panic() {
    let mut failures = Vec::new();
    for (name, source) in stacks() {
        // Every prefix of the file, at every byte offset that is a char boundary.
        for cut in (0..=source.len()).filter(|i| source.is_char_boundary(*i)) {
            if let Some(problem) = misread(&source.as_bytes()[..cut], instance_for(source)) {
                failures.push(format!("{name} cut at byte {cut}: {problem}\n--- input ---\n{}\n---", &source[..cut]));
            }
        }
    }
    assert!(failures.is_empty(), "{} cuts were misread:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// An input for the properties below, shown as text when a case fails.
struct Input {
    what: String,
    bytes: Vec<u8>,
    instance: Option<&'static str>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (instance {:?}):\n--- input ---\n{}\n---",
            self.what,
            self.instance,
            String::from_utf8_lossy(&self.bytes)
        )
    }
}

/// A change to a shipped env file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace, delete or insert (0, 1, 2) one of the interesting characters, at 1-3 places.
    Edit(Vec<(Index, char, u8)>),
    /// Any byte value at 1-4 places (invalid UTF-8, NUL, UTF-16-looking heads).
    Bytes(Vec<(Index, u8)>),
    /// A hostile fragment spliced in, `{n}` in it becoming a run of up to 2,000 characters.
    Splice(Index, &'static str, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        vec((any::<Index>(), select(INTERESTING), 0..3u8), 1..=3).prop_map(Mutation::Edit),
        vec((any::<Index>(), any::<u8>()), 1..=4).prop_map(Mutation::Bytes),
        (any::<Index>(), select(HOSTILE), 0..2000usize).prop_map(|(at, fragment, n)| Mutation::Splice(at, fragment, n)),
    ]
}

fn mutate(source: &str, mutation: &Mutation) -> Vec<u8> {
    match mutation {
        Mutation::Edit(edits) => {
            let mut chars: Vec<char> = source.chars().collect();
            for (at, c, how) in edits {
                let at = at.index(chars.len() + 1);
                match how {
                    0 if at < chars.len() => chars[at] = *c,
                    1 if at < chars.len() => drop(chars.remove(at)),
                    _ => chars.insert(at, *c),
                }
            }
            chars.into_iter().collect::<String>().into_bytes()
        }
        Mutation::Bytes(changes) => {
            let mut bytes = source.as_bytes().to_vec();
            for (at, byte) in changes {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
            bytes
        }
        Mutation::Splice(at, fragment, n) => {
            let boundaries: Vec<usize> = (0..=source.len()).filter(|i| source.is_char_boundary(*i)).collect();
            let mut text = source.to_string();
            text.insert_str(boundaries[at.index(boundaries.len())], &fragment.replace("{n}", &"x".repeat(*n)));
            text.into_bytes()
        }
    }
}

fn mutated_stack() -> impl Strategy<Value = Input> {
    (0..stacks().len(), mutation()).prop_map(|(i, mutation)| {
        let (name, source) = &stacks()[i];
        Input {
            what: format!("{name}, {mutation:?}"),
            bytes: mutate(source, &mutation),
            instance: instance_for(source),
        }
    })
}

/// Strings of the interesting characters and hostile fragments, or any bytes.
fn random_input() -> impl Strategy<Value = Input> {
    let piece =
        prop_oneof![3 => select(INTERESTING).prop_map(String::from), 1 => select(HOSTILE).prop_map(String::from)];
    prop_oneof![
        vec(piece, 0..60).prop_map(|pieces| Input {
            what: "random text".into(),
            bytes: pieces.concat().into_bytes(),
            instance: None
        }),
        vec(any::<u8>(), 0..200).prop_map(|bytes| Input { what: "random bytes".into(), bytes, instance: None }),
    ]
}

/// A fixed seed and number of cases: the same inputs on every run, in a few seconds; no files of failures written.
fn fixed() -> ProptestConfig {
    ProptestConfig {
        cases: 4096,
        rng_seed: RngSeed::Fixed(0x9E37_79B9_7F4A_7C15),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fixed())]

    #[test]
    fn mutated_stacks_are_read_without_panic(input in mutated_stack()) {
        let problem = misread(&input.bytes, input.instance);
        prop_assert!(problem.is_none(), "{}: {input:?}", problem.unwrap_or_default());
    }

    #[test]
    fn random_input_is_read_without_panic(input in random_input()) {
        let problem = misread(&input.bytes, input.instance);
        prop_assert!(problem.is_none(), "{}: {input:?}", problem.unwrap_or_default());
    }
}
