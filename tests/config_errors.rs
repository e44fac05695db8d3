//! Every file in `tests/bad-configs/` breaks one rule (named by its first `# comment` line); the located messages
//! it produces are snapshotted, so a change in wording, position or hint shows up in review.
//!
//! Conventions for a corpus file:
//! - the first line is `# <the rule it breaks>`;
//! - a `# instance: <name>` line anywhere in the leading comments parses it for that instance (default: none);
//! - a file whose name contains `several-errors` must report more than one problem; every other file exactly one.

use std::path::Path;

use provision::config::{Diagnostic, parse};

/// The `# instance: <name>` marker in the file's leading comments.
fn instance_of(source: &str) -> Option<&str> {
    source
        .lines()
        .take_while(|line| line.starts_with('#'))
        .find_map(|line| line.strip_prefix("# instance:").map(str::trim))
}

fn joined(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n\n")
}

#[test]
fn bad_configs() {
    // Problems are collected so that one bad file does not hide the snapshots of the others.
    let problems = std::cell::RefCell::new(Vec::new());
    insta::glob!("bad-configs/*.yaml", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let rule = source.lines().next().and_then(|line| line.strip_prefix("# "));
        let rule = rule.unwrap_or_else(|| panic!("{name}: the first line must be `# <the rule it breaks>`"));
        let file = Path::new("stacks").join(name);
        let diagnostics = match parse(&source, &file, stem, instance_of(&source)) {
            Ok(_) => {
                problems.borrow_mut().push(format!("{name} ({rule}) validated, but it should not"));
                return;
            }
            Err(diagnostics) => diagnostics,
        };
        let text = joined(&diagnostics);
        let expected = if stem.contains("several-errors") { diagnostics.len() > 1 } else { diagnostics.len() == 1 };
        if !expected {
            problems.borrow_mut().push(format!(
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

/// A tiny deterministic generator (xorshift64*), so failures reproduce without a new dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Characters that mean something to YAML or to the rules, a few ordinary ones, and some beyond ASCII (a byte
/// order mark, a line separator, a two-byte letter).
const INTERESTING: &[char] = &[
    ' ', '\n', '\t', '\r', ':', '-', '[', ']', '{', '}', ',', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
    '?', '~', '/', '.', '\\', '0', '9', 'a', 'Z', '_', '\u{feff}', '\u{2028}', 'é',
];

/// Parses `source` and reports a panic, with the input that caused it, instead of aborting the whole test.
fn must_not_panic(source: &str, what: &str, instance: Option<&str>, failures: &mut Vec<String>) {
    let result = std::panic::catch_unwind(|| {
        let _ = parse(source, Path::new("stacks/fuzz.yaml"), "fuzz", instance);
    });
    if let Err(panic) = result {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        failures.push(format!("{what}: {message}\n--- input ---\n{source}\n---"));
    }
}

#[test]
fn mutated_stacks_never_panic() {
    let mut stacks: Vec<_> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    stacks.sort();
    assert!(!stacks.is_empty());
    // Silence the default hook: expected panics are collected and printed at the end.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for path in &stacks {
        let name = path.file_name().unwrap().to_string_lossy();
        let source = std::fs::read_to_string(path).unwrap();
        let instance = source.contains("ephemeral: true").then_some("pr-42");
        // Every prefix of the file, at every byte offset that is a char boundary.
        for cut in (0..=source.len()).filter(|i| source.is_char_boundary(*i)) {
            must_not_panic(&source[..cut], &format!("{name} cut at byte {cut}"), instance, &mut failures);
            cases += 1;
        }
        // Random edits: replace, insert or delete 1-3 characters.
        for round in 0..400 {
            let mut chars: Vec<char> = source.chars().collect();
            for _ in 0..=rng.below(3) {
                let at = rng.below(chars.len() + 1);
                let c = INTERESTING[rng.below(INTERESTING.len())];
                match rng.below(3) {
                    0 if at < chars.len() => chars[at] = c,
                    1 if at < chars.len() => drop(chars.remove(at)),
                    _ => chars.insert(at, c),
                }
            }
            let mutated: String = chars.into_iter().collect();
            must_not_panic(&mutated, &format!("{name} edit round {round}"), instance, &mut failures);
            cases += 1;
        }
    }
    std::panic::set_hook(hook);
    assert!(cases > 1000, "only {cases} cases");
    assert!(failures.is_empty(), "{} of {cases} inputs panicked:\n\n{}", failures.len(), failures.join("\n\n"));
}
