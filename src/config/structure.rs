//! An env file that serde cannot read whole: every problem of its structure (a wrong type, an unknown or a
//! missing key), each at its place, and what can still be read, for the rules to check.
//!
//! serde stops at the first error of a value. Here a value that fails is read again part by part, following
//! [`raw::config_shape`]: each field of a struct, each entry of a map, each item of a list, cut out of the file in
//! place ([`Locator::isolate`]), so that positions stay those of the file and messages those of serde. Only values
//! that fail are taken apart, so the file is read a few times at most, whatever it holds.
//!
//! What could not be read is blanked out of a copy of the file, which then reads as a [`RawConfig`]; the rules
//! check it, except what reads a part that was not read ([`Unread`]): nothing is said about a value the file did
//! not give.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use super::error::Diagnostic;
use super::locate::{Kind, Locator, Pos};
use super::raw::{self, Shape};
use crate::names;

/// What was learnt from a file that does not read whole.
pub struct Structure {
    /// Every problem of its structure.
    pub found: Vec<Diagnostic>,
    /// The parts that could not be read.
    pub unread: Unread,
    /// The file without those parts (and with a placeholder for a required top-level key among them): it reads as a
    /// [`raw::RawConfig`], unless a part left out held an anchor used elsewhere.
    pub readable: String,
}

/// The parts of a file that were not read, by dotted path: a value of the wrong type, a missing key, and beside an
/// unknown key (which may be a misspelt one) every key of its map that is not there. A rule that reads any of them
/// is not checked.
#[derive(Debug, Default, Clone)]
pub struct Unread(BTreeSet<String>);

impl Unread {
    /// Whether all of the value at `path` was read: nothing at it, inside it or around it is unread.
    pub fn read(&self, path: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let inside = |sep: char| {
            let prefix = format!("{path}{sep}");
            self.0.range(prefix.clone()..).next().is_some_and(|u| u.starts_with(&prefix))
        };
        let mut around = path;
        loop {
            if self.0.contains(around) {
                return false;
            }
            match around.rfind(['.', '[']) {
                Some(cut) => around = &around[..cut],
                None => break,
            }
        }
        !(inside('.') || inside('['))
    }
}

/// Reads the structure of a file whose whole read failed with `whole`. A syntax error, or a document that is not a
/// map, is the cause of everything else: it comes back alone, as the error.
pub fn read(
    source: &str,
    file: &Path,
    locator: &Locator,
    whole: &serde_yaml::Error,
) -> Result<Structure, Vec<Diagnostic>> {
    // A syntax error is looked for first because serde_yaml reads lazily: a typed read can stop at a type error
    // (`versioning: "true tags"`) made by the same broken indentation before the parser reaches the line it cannot
    // read.
    if let Err(syntax) = serde_yaml::from_str::<serde::de::IgnoredAny>(source) {
        return Err(vec![whole_error(file, source, locator, &syntax)]);
    }
    if let Some(shape) = document_shape_error(source, file) {
        return Err(vec![shape]);
    }
    let Some(root) = locator.get("").filter(|root| root.kind == Kind::Map && !root.keys.is_empty()) else {
        return Err(vec![whole_error(file, source, locator, whole)]);
    };
    let mut walker = Walker {
        source,
        file,
        locator,
        found: Vec::new(),
        unread: BTreeSet::new(),
        blank: Vec::new(),
        placeholders: Vec::new(),
    };
    let Shape::Struct(_, _, fields) = raw::config_shape() else { unreachable!("the file is a struct") };
    walker.walk_struct(&fields, "", &root.keys, &Removable::Placeholder(""));
    if walker.found.is_empty() {
        // Nothing the parts show: the whole error stands, and nothing else is checked.
        walker.found.push(whole_error(file, source, locator, whole));
        return Ok(Structure { found: walker.found, unread: Unread::default(), readable: String::new() });
    }
    let readable = walker.readable();
    Ok(Structure { found: walker.found, unread: Unread(walker.unread), readable })
}

/// What to leave out of the readable file when a value cannot be read.
#[derive(Clone)]
enum Removable {
    /// The entry at this path: an optional key, or an entry of `access`, `notifications`, `bucket.tags`.
    Entry(String),
    /// A required top-level key: left out, and a placeholder stands in for it (empty: nothing to leave out).
    Placeholder(&'static str),
}

struct Walker<'a> {
    source: &'a str,
    file: &'a Path,
    locator: &'a Locator,
    found: Vec<Diagnostic>,
    unread: BTreeSet<String>,
    /// Byte ranges of the entries left out of the readable file.
    blank: Vec<Range<usize>>,
    placeholders: Vec<&'static str>,
}

/// The path of `key` in the map at `path`.
fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

impl Walker<'_> {
    /// Reads the value at `path` as `shape`, and, if that fails, each of its parts; `removable` is what to leave
    /// out when it cannot be read.
    fn walk(&mut self, shape: &Shape, path: &str, removable: &Removable) {
        let Some(isolated) = self.locator.isolate(self.source, path) else { return };
        let Err(error) = shape.read()(&isolated.text) else { return };
        let Some(node) = self.locator.get(path) else { return };
        // Keys that are not plain scalars (`? [a, b]`, `*alias`) are serde's to report.
        let plain_keys = !node.keys.iter().any(|k| k == "<complex key>" || k == "<alias>");
        let before = self.found.len();
        match (shape, node.kind) {
            (Shape::Struct(_, _, fields), Kind::Map) if plain_keys => {
                self.walk_struct(fields, path, &node.keys, removable)
            }
            (Shape::Map(_, entry), Kind::Map) if plain_keys => {
                for key in &node.keys {
                    let entry_path = child(path, key);
                    self.walk(entry, &entry_path, &Removable::Entry(entry_path.clone()));
                }
            }
            (Shape::List(_, item), Kind::List) => {
                for i in 0..node.items {
                    self.walk(item, &format!("{path}[{i}]"), removable);
                }
            }
            _ => {}
        }
        // An alias whose anchor is elsewhere in the file cannot be read alone; the whole file read it.
        if self.found.len() == before && !error.to_string().starts_with("unknown anchor") {
            let offset = (isolated.line_offset, isolated.col_offset);
            let mut found = from_serde(self.file, self.locator, path, &error, offset);
            if isolated.empty {
                // Where the value should be, after its key.
                (found.line, found.col) = (node.key.line, node.key.col);
            }
            self.found.push(found);
            self.leave_out(removable);
        }
    }

    /// Reads each key of the map at `path` as a field of a struct (the file itself at ""): unknown keys, missing
    /// required ones, and each field's value.
    fn walk_struct(&mut self, fields: &[raw::Field], path: &str, keys: &[String], removable: &Removable) {
        let top = path.is_empty();
        let names: Vec<&'static str> = fields.iter().map(|f| f.name).collect();
        let mut unknown = Vec::new();
        for key in keys {
            let field_path = child(path, key);
            let Some(field) = fields.iter().find(|f| f.name == key) else {
                unknown.push(key.as_str());
                continue;
            };
            let removable = match (top, field.required) {
                (true, true) => Removable::Placeholder(field.name),
                (false, true) => removable.clone(),
                (_, false) => Removable::Entry(field_path.clone()),
            };
            self.walk(&field.shape, &field_path, &removable);
        }
        let suggestion = |key: &str| names::suggest(key, names.iter().copied());
        for key in &unknown {
            let key_path = child(path, key);
            let pos = self.locator.key_pos(&key_path);
            self.found.push(if top {
                let hint = match suggestion(key) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("top-level keys are: {}", names.join(", ")),
                };
                Diagnostic::new(self.file, pos, key, format!("unknown key `{key}`"), Some(hint))
            } else {
                let message = raw::unknown_field(key, &names);
                let hint = hint_for(path, &message);
                Diagnostic::new(self.file, pos, path, message, hint)
            });
            // Left out of the readable file; it holds nothing the rules read.
            self.blank.extend(self.locator.entry_range(&key_path));
        }
        let mut complete = true;
        for field in fields.iter().filter(|f| f.required && !keys.iter().any(|k| k == f.name)) {
            complete = false;
            // A misspelt key is the problem, already reported: `prefix:` for `prefixes:`.
            if !unknown.iter().any(|key| suggestion(key) == Some(field.name)) {
                let name = field.name;
                self.found.push(if top {
                    let hint = format!("add `{name}: ...` at the top level");
                    Diagnostic::new(
                        self.file,
                        Pos { line: 1, col: 1 },
                        name,
                        format!("missing key `{name}`"),
                        Some(hint),
                    )
                } else {
                    let message = <serde_yaml::Error as serde::de::Error>::missing_field(name).to_string();
                    let hint = hint_for(path, &message);
                    Diagnostic::new(self.file, self.locator.key_pos(path), path, message, hint)
                });
            }
            if top {
                self.leave_out(&Removable::Placeholder(field.name));
            }
        }
        if !complete && !top {
            self.leave_out(removable);
        }
        if !unknown.is_empty() {
            // An unknown key may be one of these, misspelt: what they hold is not known.
            for field in fields.iter().filter(|f| !keys.iter().any(|k| k == f.name)) {
                self.unread.insert(child(path, field.name));
            }
        }
    }

    fn leave_out(&mut self, removable: &Removable) {
        let path = match removable {
            Removable::Entry(path) => path.as_str(),
            Removable::Placeholder("") => return,
            Removable::Placeholder(name) => {
                if !self.placeholders.contains(name) {
                    self.placeholders.push(name);
                }
                name
            }
        };
        self.unread.insert(path.to_string());
        self.blank.extend(self.locator.entry_range(path));
    }

    /// The file with every entry left out blanked (spaces, line breaks kept, so that the rest keeps its place in
    /// the structure), then a placeholder for each required top-level key left out.
    fn readable(&self) -> String {
        let mut blank = self.blank.clone();
        blank.sort_by_key(|r| r.start);
        let mut out = String::with_capacity(self.source.len() + 32);
        let mut ranges = blank.iter().peekable();
        for (i, c) in self.source.char_indices() {
            while ranges.peek().is_some_and(|r| r.end <= i) {
                ranges.next();
            }
            let left_out = ranges.peek().is_some_and(|r| r.start <= i) && c != '\n' && c != '\r';
            out.push(if left_out { ' ' } else { c });
        }
        for name in &self.placeholders {
            out.push_str(&format!("\n{name}: \"\"\n"));
        }
        out
    }
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

/// The diagnostic of an error of the whole document (a syntax error, most often).
fn whole_error(file: &Path, source: &str, locator: &Locator, e: &serde_yaml::Error) -> Diagnostic {
    let mut found = from_serde(file, locator, "", e, (0, 0));
    // A tab in the indentation is a syntax error, found where the tab is.
    if locator.line(source, found.line).chars().nth(found.col.wrapping_sub(1)) == Some('\t') {
        found.hint = Some("YAML indentation must be spaces: replace the tab".to_string());
    }
    found
}

/// A located diagnostic from a serde_yaml error raised while reading the value at `base`, from a text that
/// starts `line_offset` lines into the file, and `col_offset` columns into its line.
fn from_serde(
    file: &Path,
    locator: &Locator,
    base: &str,
    e: &serde_yaml::Error,
    (line_offset, col_offset): (usize, usize),
) -> Diagnostic {
    let mut pos = e.location().map(|l| Pos { line: l.line(), col: l.column() }).unwrap_or(Pos { line: 1, col: 1 });
    // The diagnostic carries the position; other positions in the text (where an unclosed `[` was opened) stay.
    let text = e.to_string().replacen(&format!(" at line {} column {}", pos.line, pos.col), "", 1);
    if pos.line == 1 {
        pos.col += col_offset;
    }
    pos.line += line_offset;
    // serde_yaml puts the path of the failing key before the message: `lifecycle.rules[0]: unknown field ...`.
    let (inner_path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c)) => (p, m),
        _ => ("", text.as_str()),
    };
    // A list read alone is the root of its text: serde_yaml names its items `.[1]`.
    let inner_path = inner_path.strip_prefix('.').unwrap_or(inner_path);
    let key = match (base, inner_path) {
        ("", p) => p.to_string(),
        (b, "") => b.to_string(),
        (b, p) if p.starts_with('[') => format!("{b}{p}"),
        (b, p) => format!("{b}.{p}"),
    };
    let message = plain_types(message);
    if message.starts_with("missing field ") && !key.is_empty() {
        // serde points at the first key of the map that lacks the field; the map's own key names the place.
        pos = locator.key_pos(&key);
    }
    let hint = hint_for(&key, &message);
    Diagnostic::new(file, pos, &key, message, hint)
}

/// Rewrites Rust type names in serde's messages into the words of the config file.
fn plain_types(message: &str) -> String {
    let mut out = message
        .replace("expected u32", "expected a whole number (0 or more)")
        .replace("expected enum RawPrincipal", "expected one of: service, role_arn, user (as `{ service: ... }`)")
        .replace("expected enum RawTarget", "expected one of: queue, topic, eventbridge, or `{ lambda_arn: ... }`, `{ queue_arn: ... }`, `{ topic_arn: ... }`")
        .replace("expected enum RawEncryption", "expected one of: sse-s3, kms, or `{ kms_key_arn: ... }`")
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
        "encryption" => Some(
            "`encryption: sse-s3`, `encryption: kms` (a key of the stack's own), or \
             `encryption: { kms_key_arn: \"arn:aws:kms:...:key/...\" }`",
        ),
        "principal" => Some(
            "`principal: { service: lambda.amazonaws.com }`, \
             `{ role_arn: \"arn:aws:iam::<account>:role/<name>\" }` or `{ user: <name> }`",
        ),
        "target" => Some(
            "`target: queue`, `topic`, `eventbridge`, or an existing target by ARN: `{ queue_arn: \"arn:aws:sqs:...\" }`, \
             `{ topic_arn: \"arn:aws:sns:...\" }`, `{ lambda_arn: \"arn:aws:lambda:...\" }`",
        ),
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
        // Quoting turns a list or a map into text, which is not what was meant.
        return Some(if message.contains("invalid type: sequence") {
            "write one value here, not a list (quote a value that starts with `[`)".into()
        } else if message.contains("invalid type: map") {
            "write one value here, not a map (quote a value that contains `: ` or starts with `{`)".into()
        } else {
            "quote the value: \"...\"".into()
        });
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

    #[test]
    fn a_value_is_read_when_nothing_at_inside_or_around_it_is_unread() {
        let unread = Unread(["bucket.versioning", "access.w", "bucket.lifecycle.rules"].map(String::from).into());
        for not_read in [
            "bucket",
            "bucket.versioning",
            "access",
            "access.w",
            "access.w.prefixes[0]",
            "bucket.lifecycle",
            "bucket.lifecycle.rules[3].id",
        ] {
            assert!(!unread.read(not_read), "{not_read}");
        }
        for read in [
            "bucket.name",
            "bucket.versioning2",
            "access.w-2",
            "access.w2.allow",
            "bucket.lifecycle.rulesx",
            "smoke",
            "project",
        ] {
            assert!(unread.read(read), "{read}");
        }
        assert!(Unread::default().read("bucket"));
    }

    fn structure(source: &str) -> Structure {
        let locator = Locator::new(source);
        let whole = serde_yaml::from_str::<raw::RawConfig>(source).unwrap_err();
        read(source, Path::new("x.yaml"), &locator, &whole).unwrap_or_else(|alone| panic!("{alone:?}"))
    }

    #[test]
    fn what_cannot_be_read_is_left_out_and_the_rest_reads() {
        let s = structure(
            "project: [demo]\nregion: us-west-1\nbucket: {versioning: \"yes\", lifecyle: {}, tags: {a: b}}\naccess:\n  w:\n    \
             principal: { user: u }\n    allow: write\n    prefixes: [a/]\n  r:\n    principal: { user: u }\n    allow: [read]\n    \
             prefixes: [b/]\n",
        );
        let keys: Vec<&str> = s.found.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["project", "bucket.versioning", "bucket", "access.w.allow"]);
        for unread in ["project", "bucket.versioning", "bucket.lifecycle", "bucket.name", "access.w"] {
            assert!(!s.unread.read(unread), "{unread}");
        }
        for read in ["region", "bucket.tags", "access.r"] {
            assert!(s.unread.read(read), "{read}");
        }
        let raw: raw::RawConfig = serde_yaml::from_str(&s.readable).unwrap();
        assert_eq!(raw.project, "", "a placeholder");
        assert_eq!((raw.bucket.versioning, raw.bucket.tags.len()), (None, 1));
        assert_eq!(raw.access.keys().collect::<Vec<_>>(), ["r"]);
    }

    #[test]
    fn a_missing_key_is_reported_unless_a_misspelt_one_is() {
        let s = structure(
            "project: demo\nregion: us-west-1\naccess:\n  w:\n    allow: [read]\n    prefix: [a/]\n    extra: 1\n",
        );
        let messages: Vec<&str> = s.found.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert!(messages[0].starts_with("unknown field `prefix`"), "{}", messages[0]);
        assert!(messages[1].starts_with("unknown field `extra`"), "{}", messages[1]);
        assert_eq!(messages[2], "missing field `principal`");
        assert!(!s.unread.read("access.w"));
    }

    #[test]
    fn a_value_whose_parts_show_nothing_is_reported_whole() {
        // A key that is a list is not taken apart: serde's error for the whole map is reported, once.
        let s = structure("project: demo\nregion: us-west-1\nsmoke: { ? [a, b] : 1, probe_prefix: 5 }\n");
        assert_eq!(s.found.len(), 1, "{:?}", s.found);
        assert_eq!((s.found[0].key.as_str(), s.found[0].line), ("smoke", 3), "{:?}", s.found);
        assert!(!s.unread.read("smoke.probe_prefix"));
    }
}
