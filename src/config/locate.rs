//! Where each key and value of a YAML document stands, so that errors found after deserialization
//! (semantic checks) can still name `file:line:col`.
//!
//! serde_yaml gives a location only for its own errors; this walks the same text with yaml-rust2's event parser
//! and records, for every node, its dotted path (`bucket.lifecycle.glacier_after_days`, `access.writer.prefixes[0]`),
//! the position of its key and the byte range of its value.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Position of the key for mapping entries, of the value otherwise.
    pub key: Pos,
    pub value: Pos,
    /// Byte range of the value in the source (end is where the next node starts).
    pub start: usize,
    pub end: usize,
}

/// Path → node for one document.
#[derive(Debug, Default)]
pub struct Locator {
    nodes: HashMap<String, Node>,
    /// Top-level keys in document order.
    top_keys: Vec<String>,
    len: usize,
}

impl Locator {
    /// Indexes `source`. A document yaml-rust2 cannot parse yields an empty index: serde_yaml reports that error.
    pub fn new(source: &str) -> Self {
        let mut recorder = Recorder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut recorder, false).is_err() {
            return Locator::default();
        }
        for index in recorder.awaiting_end.drain(..) {
            recorder.nodes[index].1.end = source.len();
        }
        let top_keys = recorder
            .nodes
            .iter()
            .filter(|(path, _)| !path.is_empty() && !path.contains(['.', '[']))
            .map(|(path, _)| path.clone())
            .collect();
        Locator { nodes: recorder.nodes.into_iter().collect(), top_keys, len: source.len() }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Position of the key at `path`, or of the closest ancestor that exists (a missing key is reported where
    /// its parent stands), or the start of the file.
    pub fn key_pos(&self, path: &str) -> Pos {
        let mut path = path;
        loop {
            if let Some(node) = self.nodes.get(path) {
                return node.key;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return Pos { line: 1, col: 1 },
            }
        }
    }

    pub fn top_keys(&self) -> &[String] {
        &self.top_keys
    }

    /// Child keys of the mapping at `path`, in document order.
    pub fn child_keys(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}.");
        let mut keys: Vec<(usize, String)> = self
            .nodes
            .iter()
            .filter_map(|(p, node)| {
                let rest = p.strip_prefix(&prefix)?;
                (!rest.contains(['.', '['])).then(|| (node.start, rest.to_string()))
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// The source with everything outside the value at `path` blanked out (newlines kept), so that the value
    /// can be deserialized alone while serde_yaml still reports positions in the original file.
    pub fn isolate(&self, source: &str, path: &str) -> Option<String> {
        let node = self.nodes.get(path)?;
        debug_assert_eq!(source.len(), self.len);
        let blank = |s: &str| s.chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect::<String>();
        let (start, end) = (node.start.min(source.len()), node.end.min(source.len()));
        let (before, rest) = (source.get(..start)?, source.get(start..)?);
        let (value, after) = (rest.get(..end - start)?, rest.get(end - start..)?);
        Some(format!("{}{}{}", blank(before), value, blank(after)))
    }
}

enum Frame {
    Map { path: String, key: Option<(String, Pos, usize)>, in_key: bool },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    nodes: Vec<(String, Node)>,
    /// Nodes whose value ended; their `end` is the start of the next event.
    awaiting_end: Vec<usize>,
    /// Index in `nodes` of each open collection, parallel to `stack`.
    open: Vec<Option<usize>>,
    /// Depth of complex (non-scalar) mapping keys being skipped.
    skipping: usize,
}

fn pos(mark: &Marker) -> Pos {
    Pos { line: mark.line(), col: mark.col() + 1 }
}

impl Recorder {
    /// Path and key position of a node starting now, or None when it is a mapping key.
    fn begin_node(&mut self, mark: &Marker) -> Option<(String, Pos)> {
        let (path, key_pos, key_index) = match self.stack.last_mut() {
            None => return Some((String::new(), pos(mark))),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                (p, pos(mark), mark.index())
            }
            Some(Frame::Map { path, key, in_key }) => {
                if *in_key {
                    return None;
                }
                *in_key = true;
                let (name, key_pos, key_index) = key.take()?;
                let p = if path.is_empty() { name } else { format!("{path}.{name}") };
                (p, key_pos, key_index)
            }
        };
        // yaml-rust2 marks a block collection after its first key; the first child shows where it really starts.
        if let Some(Some(parent)) = self.open.last() {
            let node = &mut self.nodes[*parent].1;
            if key_index < node.start {
                node.start = key_index;
                // A sequence item has no key: its position is where its value starts.
                if node.key == node.value {
                    node.key = key_pos;
                }
                node.value = key_pos;
            }
        }
        Some((path, key_pos))
    }

    fn record(&mut self, path: String, key: Pos, mark: &Marker) -> usize {
        let node = Node { key, value: pos(mark), start: mark.index(), end: mark.index() };
        self.nodes.push((path, node));
        self.nodes.len() - 1
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        for index in self.awaiting_end.drain(..) {
            self.nodes[index].1.end = mark.index();
        }
        if self.skipping > 0 {
            match event {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.skipping += 1,
                Event::MappingEnd | Event::SequenceEnd => self.skipping -= 1,
                _ => {}
            }
            if self.skipping == 0
                && let Some(Frame::Map { in_key, key, .. }) = self.stack.last_mut()
            {
                *in_key = false;
                *key = Some(("<complex key>".into(), pos(&mark), mark.index()));
            }
            return;
        }
        match event {
            Event::Scalar(value, ..) => match self.begin_node(&mark) {
                Some((path, key)) => {
                    let index = self.record(path, key, &mark);
                    self.awaiting_end.push(index);
                }
                None => {
                    if let Some(Frame::Map { key, in_key, .. }) = self.stack.last_mut() {
                        *key = Some((value, pos(&mark), mark.index()));
                        *in_key = false;
                    }
                }
            },
            Event::Alias(_) => {
                if let Some((path, key)) = self.begin_node(&mark) {
                    let index = self.record(path, key, &mark);
                    self.awaiting_end.push(index);
                } else if let Some(Frame::Map { key, in_key, .. }) = self.stack.last_mut() {
                    *key = Some(("<alias>".into(), pos(&mark), mark.index()));
                    *in_key = false;
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                match self.begin_node(&mark) {
                    Some((path, key)) => {
                        let index = self.record(path.clone(), key, &mark);
                        self.open.push(Some(index));
                        self.stack.push(if is_map {
                            Frame::Map { path, key: None, in_key: true }
                        } else {
                            Frame::Seq { path, index: 0 }
                        });
                    }
                    None => self.skipping = 1,
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                if let Some(Some(index)) = self.open.pop() {
                    self.awaiting_end.push(index);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "project: call-data\nbucket:\n  lifecycle:\n    glacier_after_days: 40\n  tags: { team: voice }\naccess:\n  writer:\n    prefixes: [\"calls/\", x]\n";

    #[test]
    fn records_key_and_value_positions() {
        let loc = Locator::new(DOC);
        let node = loc.get("bucket.lifecycle.glacier_after_days").unwrap();
        assert_eq!(node.key, Pos { line: 4, col: 5 });
        assert_eq!(node.value, Pos { line: 4, col: 25 });
        assert_eq!(loc.get("bucket.tags.team").unwrap().key, Pos { line: 5, col: 11 });
        assert_eq!(loc.get("access.writer.prefixes[1]").unwrap().value, Pos { line: 8, col: 26 });
    }

    #[test]
    fn a_map_in_a_list_starts_at_its_first_key() {
        let loc = Locator::new("rules:\n  - id: a\n    prefix: b/\n  - { id: c }\n");
        assert_eq!(loc.key_pos("rules[0]"), Pos { line: 2, col: 5 });
        assert_eq!(loc.get("rules[0]").unwrap().value, Pos { line: 2, col: 5 });
        assert_eq!(loc.key_pos("rules[1]"), Pos { line: 4, col: 5 });
        assert_eq!(loc.key_pos("rules"), Pos { line: 1, col: 1 });
    }

    #[test]
    fn missing_key_falls_back_to_parent() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.key_pos("bucket.lifecycle.nope"), Pos { line: 3, col: 3 });
        assert_eq!(loc.key_pos("nope"), Pos { line: 1, col: 1 });
    }

    #[test]
    fn isolate_keeps_positions() {
        let loc = Locator::new(DOC);
        let only_bucket = loc.isolate(DOC, "bucket").unwrap();
        assert_eq!(only_bucket.len(), DOC.len());
        assert!(!only_bucket.contains("project"));
        assert!(!only_bucket.contains("access"));
        let value: serde_yaml::Value = serde_yaml::from_str(&only_bucket).unwrap();
        assert_eq!(value["tags"]["team"].as_str(), Some("voice"));
    }

    #[test]
    fn lists_keys_in_document_order() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.top_keys(), ["project", "bucket", "access"]);
        assert_eq!(loc.child_keys("bucket"), ["lifecycle", "tags"]);
    }

    #[test]
    fn broken_yaml_gives_empty_index() {
        let loc = Locator::new("a: [1, 2\nb: {");
        assert!(loc.get("a").is_none());
    }
}
