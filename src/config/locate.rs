//! Where each key and value of a YAML document stands, so that errors found after deserialization
//! (semantic checks) can still name `file:line:col`.
//!
//! serde_yaml gives a location only for its own errors; this walks the same text with yaml-rust2's event parser
//! and records, for every node, its dotted path (`bucket.lifecycle.glacier_after_days`, `access.writer.prefixes[0]`),
//! the position of its key and the byte range of its value.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use super::limits::{MAX_DEPTH, MAX_INDEX_BYTES, MAX_KEY_CHARS, MAX_VALUES};

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    /// `*name`: another node's value.
    Alias,
    Map,
    List,
}

/// What a node is written in: its value ends differently in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// The document itself.
    Document,
    /// A map or list written with indentation: the value ends where the next entry or item starts.
    Block,
    /// A list written with `- ` items: the value ends before the `-` of the next item.
    BlockList,
    /// A map or list written with `{` or `[`: the value ends at the next `,`, `]` or `}`.
    Flow,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Position of the key for mapping entries, of the value otherwise.
    pub key: Pos,
    pub value: Pos,
    /// Byte range of the value in the source (end is where the next node starts).
    pub start: usize,
    pub end: usize,
    /// Byte offset of the entry: its key in a map, its value in a list (`key_start..end` is the whole entry).
    pub key_start: usize,
    pub kind: Kind,
    pub within: Within,
    /// The keys of a map, in document order (empty for other kinds).
    pub keys: Vec<String>,
    /// The number of items of a list (0 for other kinds).
    pub items: usize,
}

/// A problem with the shape of the document, found while indexing it. These are reported before (and instead of)
/// anything serde or the rules would say, since they change what the rest of the file means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Maps and lists nest deeper than [`MAX_DEPTH`]. Indexing stops here.
    TooDeep { pos: Pos },
    /// A key longer than [`MAX_KEY_CHARS`]. Indexing stops here.
    KeyTooLong { pos: Pos, path: String, chars: usize },
    /// More than [`MAX_VALUES`] values (or key paths over [`MAX_INDEX_BYTES`]). Indexing stops here.
    TooManyValues { pos: Pos },
    /// The same key twice in one map (serde_yaml would keep the last silently).
    Duplicate { pos: Pos, first: Pos, path: String },
    /// A YAML tag (`!!int`, `!Ref`): env files hold plain values.
    Tag { pos: Pos, path: String, tag: String },
    /// A second YAML document (`---`).
    SecondDocument { pos: Pos },
}

impl Problem {
    /// A problem after which nothing was indexed, and the text must not be handed to another parser.
    pub fn stops_parsing(&self) -> bool {
        matches!(self, Problem::TooDeep { .. } | Problem::KeyTooLong { .. } | Problem::TooManyValues { .. })
    }
}

/// Path → node for one document.
#[derive(Debug, Default)]
pub struct Locator {
    nodes: HashMap<String, Node>,
    /// Top-level keys in document order.
    top_keys: Vec<String>,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
    len: usize,
    problems: Vec<Problem>,
    /// yaml-rust2 found a syntax error: the index is empty (serde_yaml reports the error).
    broken: bool,
}

impl Locator {
    /// Indexes `source`. A document yaml-rust2 cannot parse yields an empty index: serde_yaml reports that error.
    /// Indexing stops at the first problem that [stops parsing](Problem::stops_parsing).
    pub fn new(source: &str) -> Self {
        let line_starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        if let Some(pos) = flow_nesting_beyond(source, 2 * MAX_DEPTH) {
            // Found without a parser; the parsers would take quadratic time to get there.
            let problems = vec![Problem::TooDeep { pos }];
            return Locator { line_starts, len: source.len(), problems, ..Locator::default() };
        }
        let mut recorder = Recorder { offsets: Offsets::new(source), source, ..Recorder::default() };
        let mut parser = Parser::new_from_str(source);
        let mut documents = 0;
        loop {
            let (event, mark) = match parser.next_token() {
                Ok(next) => next,
                Err(_) => {
                    let problems = recorder.problems.into_iter().filter(Problem::stops_parsing).collect();
                    return Locator { line_starts, len: source.len(), problems, broken: true, ..Locator::default() };
                }
            };
            match event {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        recorder.problems.push(Problem::SecondDocument { pos: pos(&mark) });
                        break;
                    }
                }
                _ => {}
            }
            recorder.on_event(event, mark);
            if recorder.stopped {
                break;
            }
        }
        for index in recorder.awaiting_end.drain(..) {
            recorder.nodes[index].1.end = source.len();
        }
        // A `- ` item ends where the next one starts: yaml-rust2 marks a block map after its first key, so the event
        // after an item can be inside the next item.
        for (item, next) in std::mem::take(&mut recorder.next_items) {
            let next_start = recorder.nodes[next].1.start;
            let node = &mut recorder.nodes[item].1;
            node.end = node.end.min(next_start).max(node.start);
        }
        let Recorder { nodes, top_keys, mut problems, .. } = recorder;
        let mut locator = Locator {
            nodes: HashMap::new(),
            top_keys,
            line_starts,
            len: source.len(),
            problems: Vec::new(),
            broken: false,
        };
        // yaml-rust2 marks a tagged node where its value starts: point at the tag, written before it on the line.
        for problem in &mut problems {
            if let Problem::Tag { pos, tag, .. } = problem {
                let line = locator.line(source, pos.line);
                let before: String = line.chars().take(pos.col.saturating_sub(1)).collect();
                if let Some(at) = before.rfind(tag.as_str()) {
                    pos.col = before[..at].chars().count() + 1;
                }
            }
        }
        locator.problems = problems;
        locator.nodes = nodes.into_iter().collect();
        locator
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Problems with the document's shape, in the order found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Whether yaml-rust2 found a syntax error.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Line `line` (1-based) of `source`, without its line break.
    pub fn line<'a>(&self, source: &'a str, line: usize) -> &'a str {
        let Some(start) = line.checked_sub(1).and_then(|i| self.line_starts.get(i)) else { return "" };
        let end = self.line_starts.get(line).map_or(source.len(), |next| next - 1);
        source.get(*start..end.max(*start)).unwrap_or_default().trim_end_matches('\r')
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
        self.nodes.get(path).map(|node| node.keys.clone()).unwrap_or_default()
    }

    /// The value at `path` alone, as a document that serde_yaml reads the same way as in place: add `line_offset`
    /// to the line of a position serde_yaml reports in it, and `col_offset` to a column on its first line. Its size
    /// is the value's, so every entry can be read alone in linear time.
    /// What separates it from the next entry or item (a `,` in a flow map or list, the `-` of the next item) is
    /// left out.
    pub fn isolate(&self, source: &str, path: &str) -> Option<Isolated> {
        let node = self.nodes.get(path)?;
        debug_assert_eq!(source.len(), self.len);
        let (start, end) = (node.start.min(source.len()), node.end.min(source.len()));
        let mut value = source.get(start..end.max(start))?;
        match node.within {
            Within::Flow => value = &value[..flow_value_len(value)],
            Within::BlockList => {
                // The `-` of the next item, alone on the last line.
                let trimmed = value.trim_end();
                if let Some(cut) = trimmed.rfind('\n')
                    && trimmed[cut + 1..].trim() == "-"
                {
                    value = &value[..cut + 1];
                }
            }
            Within::Document | Within::Block => {}
        }
        let line_offset = node.value.line.saturating_sub(1);
        if value.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with('#')) {
            // An empty value (`key:` and nothing): serde_yaml reads an empty document otherwise than an empty value
            // in place, but an explicit document with nothing in it the same way.
            return Some(Isolated { text: "---\n".to_string(), line_offset, col_offset: 0, empty: true });
        }
        // A map or list written with indentation is indented as in the file: its next lines line up with its first.
        // Anything else is read from the first column (a value far to the right on a long line is not padded), and
        // positions on its first line are shifted back.
        let indented = matches!(node.kind, Kind::Map | Kind::List) && !value.starts_with(['{', '[']);
        let col_offset = node.value.col.saturating_sub(1);
        let mut text = if indented { " ".repeat(col_offset) } else { String::new() };
        text.push_str(value);
        Some(Isolated { text, line_offset, col_offset: if indented { 0 } else { col_offset }, empty: false })
    }

    /// The byte range of the entry at `path`: from its key (in a map) to the end of its value, with what separates
    /// it from the next entry. Blanking it out (spaces for everything but line breaks) leaves a document that
    /// means the same without the entry.
    pub fn entry_range(&self, path: &str) -> Option<std::ops::Range<usize>> {
        let node = self.nodes.get(path)?;
        let end = node.end.min(self.len);
        Some(node.key_start.min(end)..end)
    }
}

/// The length of a value written in a flow map or list (`{ a: 1, b: [2, 3] }`): up to the `,`, `]` or `}` that
/// ends it, or a comment. Brackets and quotes inside the value are skipped.
fn flow_value_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    // At the start of a node: a quote here opens a quoted scalar (in `it's`, it does not).
    let mut node_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' if node_start => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if b == b'"' => i += 1,
                        b'\'' if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
                        q if q == b => break,
                        _ => {}
                    }
                    i += 1;
                }
                node_start = false;
            }
            b'[' | b'{' => {
                depth += 1;
                node_start = true;
            }
            b']' | b'}' | b',' if depth == 0 => return i,
            b']' | b'}' => {
                depth -= 1;
                node_start = false;
            }
            b',' => node_start = true,
            b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                if depth == 0 {
                    return i;
                }
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b':' | b'?' | b'-' if bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()) => node_start = true,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'&' | b'!' if node_start => {
                // An anchor or a tag: the node starts after it.
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                continue;
            }
            _ => node_start = false,
        }
        i += 1;
    }
    bytes.len()
}

/// Whether the collection whose event is marked at `byte` is written in flow style (`{`, `[`), after its anchor
/// and tag if any.
fn starts_flow(source: &str, byte: usize) -> bool {
    let mut rest = source.get(byte..).unwrap_or_default();
    loop {
        rest = rest.trim_start();
        match rest.as_bytes().first() {
            Some(b'&' | b'!') => rest = rest.find(char::is_whitespace).map_or("", |at| &rest[at..]),
            Some(b'{' | b'[') => return true,
            _ => return false,
        }
    }
}

/// One value of a document, cut out to be read alone (see [`Locator::isolate`]).
pub struct Isolated {
    pub text: String,
    pub line_offset: usize,
    /// Columns to add to a position on the first line of `text`.
    pub col_offset: usize,
    /// The value is empty, and `text` a document of nothing: a position serde_yaml reports in it is not the
    /// value's.
    pub empty: bool,
}

/// Byte offsets of yaml-rust2's marks, which count characters.
#[derive(Default)]
struct Offsets {
    /// The byte offset of every character (and of the end); `None` for ASCII text, where they are the same.
    bytes: Option<Vec<u32>>,
}

impl Offsets {
    fn new(source: &str) -> Self {
        if source.is_ascii() {
            return Offsets { bytes: None };
        }
        let ends = source.char_indices().map(|(i, _)| i).chain(std::iter::once(source.len()));
        Offsets { bytes: Some(ends.map(|i| i as u32).collect()) }
    }

    fn byte(&self, chars: usize) -> usize {
        match &self.bytes {
            None => chars,
            Some(bytes) => bytes.get(chars).or(bytes.last()).map_or(0, |b| *b as usize),
        }
    }
}

enum Frame {
    Map { path: String, key: Option<(String, Pos, usize)>, in_key: bool, seen: HashMap<String, Pos>, flow: bool },
    Seq { path: String, index: usize, flow: bool, last_item: Option<usize> },
}

#[derive(Default)]
struct Recorder<'a> {
    source: &'a str,
    offsets: Offsets,
    stack: Vec<Frame>,
    nodes: Vec<(String, Node)>,
    top_keys: Vec<String>,
    /// Nodes whose value ended; their `end` is the start of the next event.
    awaiting_end: Vec<usize>,
    /// Index in `nodes` of each open collection, parallel to `stack`.
    open: Vec<Option<usize>>,
    /// Depth of complex (non-scalar) mapping keys being skipped.
    skipping: usize,
    /// Open maps and lists, skipped ones included.
    depth: usize,
    path_bytes: usize,
    problems: Vec<Problem>,
    /// A limit was reached: no more events are taken.
    stopped: bool,
    /// Consecutive items of `- ` lists (indices in `nodes`): the first ends where the second starts.
    next_items: Vec<(usize, usize)>,
}

/// A node starting now: its path, where its entry starts, and what it is written in.
struct Begun {
    path: String,
    key: Pos,
    key_start: usize,
    within: Within,
}

fn pos(mark: &Marker) -> Pos {
    Pos { line: mark.line(), col: mark.col() + 1 }
}

fn tag_text(tag: &yaml_rust2::parser::Tag) -> String {
    match tag.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        handle => format!("{handle}{}", tag.suffix),
    }
}

impl Recorder<'_> {
    fn stop(&mut self, problem: Problem) {
        self.problems.push(problem);
        self.stopped = true;
    }

    /// Dotted path of the collection being filled.
    fn current_path(&self) -> &str {
        match self.stack.last() {
            Some(Frame::Map { path, .. } | Frame::Seq { path, .. }) => path,
            None => "",
        }
    }

    /// A YAML tag (`!!int`, `!Ref`) changes what a value means and serde ignores it: refused where it stands, at
    /// the node's path (or where the parser is, for a key).
    fn refuse_tag(&mut self, tag: Option<&yaml_rust2::parser::Tag>, path: Option<&str>, mark: &Marker) {
        if let Some(tag) = tag {
            let path = path.map_or_else(|| self.current_path().to_string(), str::to_string);
            self.problems.push(Problem::Tag { pos: pos(mark), path, tag: tag_text(tag) });
        }
    }

    /// The node starting now, or None when it is a mapping key.
    fn begin_node(&mut self, mark: &Marker, byte: usize) -> Option<Begun> {
        let top_level = self.stack.len() == 1;
        let parent = self.open.last().copied().flatten();
        let (path, key_pos, key_index, within) = match self.stack.last_mut() {
            None => {
                return Some(Begun { path: String::new(), key: pos(mark), key_start: byte, within: Within::Document });
            }
            Some(Frame::Seq { path, index, flow, .. }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                (p, pos(mark), byte, if *flow { Within::Flow } else { Within::BlockList })
            }
            Some(Frame::Map { path, key, in_key, flow, .. }) => {
                if *in_key {
                    return None;
                }
                *in_key = true;
                let (name, key_pos, key_index) = key.take()?;
                if top_level && !self.top_keys.contains(&name) {
                    self.top_keys.push(name.clone());
                }
                if let Some(parent) = parent {
                    self.nodes[parent].1.keys.push(name.clone());
                }
                let p = if path.is_empty() { name } else { format!("{path}.{name}") };
                (p, key_pos, key_index, if *flow { Within::Flow } else { Within::Block })
            }
        };
        if let Some(parent) = parent
            && matches!(self.stack.last(), Some(Frame::Seq { .. }))
        {
            self.nodes[parent].1.items += 1;
        }
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
        Some(Begun { path, key: key_pos, key_start: key_index, within })
    }

    fn record(&mut self, begun: Begun, kind: Kind, mark: &Marker, byte: usize) -> usize {
        let Begun { path, key, key_start, within } = begun;
        self.path_bytes += path.len();
        if self.nodes.len() >= MAX_VALUES || self.path_bytes > MAX_INDEX_BYTES {
            self.stop(Problem::TooManyValues { pos: pos(mark) });
        }
        let node =
            Node { key, value: pos(mark), start: byte, end: byte, key_start, kind, within, keys: Vec::new(), items: 0 };
        self.nodes.push((path, node));
        let index = self.nodes.len() - 1;
        if within == Within::BlockList
            && let Some(Frame::Seq { last_item, .. }) = self.stack.last_mut()
            && let Some(previous) = last_item.replace(index)
        {
            self.next_items.push((previous, index));
        }
        index
    }

    /// A scalar that is a mapping key.
    fn key(&mut self, value: String, mark: &Marker, byte: usize) {
        let chars = value.chars().count();
        if chars > MAX_KEY_CHARS {
            let path = self.current_path().to_string();
            self.stop(Problem::KeyTooLong { pos: pos(mark), path, chars });
            return;
        }
        let mut duplicate = None;
        if let Some(Frame::Map { path, key, in_key, seen, .. }) = self.stack.last_mut() {
            match seen.get(&value) {
                Some(first) => {
                    let at = if path.is_empty() { value.clone() } else { format!("{path}.{value}") };
                    duplicate = Some(Problem::Duplicate { pos: pos(mark), first: *first, path: at });
                }
                None => {
                    seen.insert(value.clone(), pos(mark));
                }
            }
            *key = Some((value, pos(mark), byte));
            *in_key = false;
        }
        self.problems.extend(duplicate);
    }

    fn on_event(&mut self, event: Event, mark: Marker) {
        let byte = self.offsets.byte(mark.index());
        for index in self.awaiting_end.drain(..) {
            self.nodes[index].1.end = byte;
        }
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    self.stop(Problem::TooDeep { pos: pos(&mark) });
                    return;
                }
            }
            Event::MappingEnd | Event::SequenceEnd => self.depth = self.depth.saturating_sub(1),
            _ => {}
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
                *key = Some(("<complex key>".into(), pos(&mark), byte));
            }
            return;
        }
        let is_map = matches!(event, Event::MappingStart(..));
        match event {
            Event::Scalar(value, _, _, tag) => {
                let begun = self.begin_node(&mark, byte);
                self.refuse_tag(tag.as_ref(), begun.as_ref().map(|b| b.path.as_str()), &mark);
                match begun {
                    Some(begun) => {
                        let index = self.record(begun, Kind::Scalar, &mark, byte);
                        self.awaiting_end.push(index);
                    }
                    None => self.key(value, &mark, byte),
                }
            }
            Event::Alias(_) => {
                if let Some(begun) = self.begin_node(&mark, byte) {
                    let index = self.record(begun, Kind::Alias, &mark, byte);
                    self.awaiting_end.push(index);
                } else if let Some(Frame::Map { key, in_key, .. }) = self.stack.last_mut() {
                    *key = Some(("<alias>".into(), pos(&mark), byte));
                    *in_key = false;
                }
            }
            Event::MappingStart(_, tag) | Event::SequenceStart(_, tag) => {
                let begun = self.begin_node(&mark, byte);
                self.refuse_tag(tag.as_ref(), begun.as_ref().map(|b| b.path.as_str()), &mark);
                match begun {
                    Some(begun) => {
                        let path = begun.path.clone();
                        let flow = starts_flow(self.source, byte);
                        let index = self.record(begun, if is_map { Kind::Map } else { Kind::List }, &mark, byte);
                        self.open.push(Some(index));
                        self.stack.push(if is_map {
                            Frame::Map { path, key: None, in_key: true, seen: HashMap::new(), flow }
                        } else {
                            Frame::Seq { path, index: 0, flow, last_item: None }
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

/// Where `[` and `{` first nest deeper than `limit`, found by a scan of the text alone: both YAML parsers take time
/// that grows with the square of the flow nesting depth (100,000 `{` take a minute), so the text must not reach
/// them before this. The scan skips comments, quoted scalars, block scalars (`|`, `>`) and the brackets inside
/// plain scalars of block context (`suffix: a{b`), so it may count fewer levels than there are, never more.
pub fn flow_nesting_beyond(source: &str, limit: usize) -> Option<Pos> {
    let chars: Vec<char> = source.chars().collect();
    let (mut i, mut line, mut col) = (0, 1, 1);
    let mut depth = 0usize;
    // At the start of a node: a bracket or quote here opens a collection or a quoted scalar.
    let mut node_start = true;
    let mut line_indent = 0;
    let mut at_line_start = true;
    // Inside a block scalar: lines indented more than this belong to it.
    let mut block_scalar: Option<usize> = None;
    let blank = |c: Option<&char>| c.is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    while i < chars.len() {
        let c = chars[i];
        if at_line_start {
            let indent = chars[i..].iter().take_while(|c| **c == ' ').count();
            let rest_blank = blank(chars.get(i + indent)) && chars.get(i + indent).is_none_or(|c| *c != '\t');
            if let Some(parent) = block_scalar {
                if rest_blank || indent > parent {
                    // A line of the block scalar (or a blank line): skipped.
                    let end = chars[i..].iter().position(|c| *c == '\n').map_or(chars.len(), |p| i + p + 1);
                    i = end;
                    line += 1;
                    col = 1;
                    continue;
                }
                block_scalar = None;
            }
            at_line_start = false;
            line_indent = indent;
            i += indent;
            col += indent;
            if depth == 0 {
                node_start = true;
            }
            continue;
        }
        let next = chars.get(i + 1);
        let prev_blank = i == 0 || matches!(chars[i - 1], ' ' | '\t' | '\n' | '\r');
        match c {
            '\n' => {
                line += 1;
                col = 1;
                i += 1;
                at_line_start = true;
                continue;
            }
            '#' if prev_blank => {
                // A comment, to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                    col += 1;
                }
                continue;
            }
            ' ' | '\t' | '\r' => {}
            '"' | '\'' if node_start => {
                // A quoted scalar, which may span lines.
                i += 1;
                col += 1;
                while i < chars.len() {
                    let q = chars[i];
                    // `\x` in a double-quoted scalar, `''` in a single-quoted one: two characters, no end.
                    let escaped =
                        (q == '\\' && c == '"') || (q == '\'' && c == '\'' && chars.get(i + 1) == Some(&'\''));
                    if escaped {
                        i += 1;
                        col += 1;
                    } else if q == c {
                        break;
                    }
                    if chars.get(i) == Some(&'\n') {
                        line += 1;
                        col = 0;
                    }
                    i += 1;
                    col += 1;
                }
                node_start = false;
            }
            '[' | '{' if node_start || depth > 0 => {
                depth += 1;
                if depth > limit {
                    return Some(Pos { line, col });
                }
                node_start = true;
            }
            ']' | '}' if depth > 0 => {
                depth -= 1;
                node_start = false;
            }
            ',' if depth > 0 => node_start = true,
            '|' | '>' if node_start && depth == 0 => {
                block_scalar = Some(line_indent);
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                    col += 1;
                }
                continue;
            }
            '-' | '?' | ':' if blank(next) => node_start = true,
            ':' if depth > 0 => node_start = true,
            '-' if depth == 0
                && col == 1
                && chars.get(i..i + 3) == Some(&['-', '-', '-'][..])
                && blank(chars.get(i + 3)) =>
            {
                // A document marker `---`.
                i += 3;
                col += 3;
                node_start = true;
                continue;
            }
            '&' | '!' if node_start => {
                // An anchor or a tag: the node starts after it.
                while i < chars.len() && !blank(chars.get(i)) {
                    i += 1;
                    col += 1;
                }
                continue;
            }
            _ => node_start = false,
        }
        i += 1;
        col += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
        assert_eq!(only_bucket.line_offset, 2);
        assert!(only_bucket.text.starts_with("  lifecycle:"), "{:?}", only_bucket.text);
        assert!(!only_bucket.text.contains("project"));
        assert!(!only_bucket.text.contains("access"));
        let value: serde_yaml::Value = serde_yaml::from_str(&only_bucket.text).unwrap();
        assert_eq!(value["tags"]["team"].as_str(), Some("voice"));
        // serde_yaml's positions in the value, plus the offset, are those of the file.
        let e = serde_yaml::from_str::<std::collections::BTreeMap<String, u32>>(&only_bucket.text).unwrap_err();
        let at = e.location().unwrap();
        assert_eq!((at.line() + only_bucket.line_offset, at.column()), (4, 5));
        // A value that starts in the middle of a line keeps its column, through `col_offset` (it is not padded).
        let writer = loc.isolate(DOC, "access.writer.prefixes").unwrap();
        assert_eq!((writer.line_offset, writer.col_offset + writer.text.find('[').unwrap()), (7, 14));
        // `"calls/"`, the first item, is not a number: serde_yaml points at it, and the offsets at its place.
        let e = serde_yaml::from_str::<Vec<u32>>(&writer.text).unwrap_err();
        let at = e.location().unwrap();
        assert_eq!((at.line() + writer.line_offset, at.column() + writer.col_offset), (8, 16));
    }

    #[test]
    fn non_ascii_text_before_a_value_keeps_byte_ranges() {
        let doc = "# Grüße — notes\nproject: demo\nbucket:\n  tags: { team: \"Straße\" }\n  versioning: 1 bucket\n";
        let loc = Locator::new(doc);
        let bucket = loc.isolate(doc, "bucket").unwrap();
        assert!(bucket.text.trim_start().starts_with("tags:"), "{:?}", bucket.text);
        assert!(bucket.text.trim_end().ends_with("1 bucket"), "{:?}", bucket.text);
        let node = loc.get("bucket.versioning").unwrap();
        assert_eq!(&doc[node.start..node.end], "1 bucket\n");
        assert_eq!(node.value, Pos { line: 5, col: 15 });
        assert_eq!(loc.get("bucket.tags.team").unwrap().value, Pos { line: 4, col: 17 });
    }

    #[test]
    fn duplicate_keys_are_found_in_every_map() {
        let doc = "a: 1\nb:\n  x: 1\n  y: { k: 1, k: 2 }\n  x: 2\na: 3\n";
        let found = Locator::new(doc).problems().to_vec();
        assert_eq!(
            found,
            [
                Problem::Duplicate {
                    pos: Pos { line: 4, col: 14 },
                    first: Pos { line: 4, col: 8 },
                    path: "b.y.k".into()
                },
                Problem::Duplicate { pos: Pos { line: 5, col: 3 }, first: Pos { line: 3, col: 3 }, path: "b.x".into() },
                Problem::Duplicate { pos: Pos { line: 6, col: 1 }, first: Pos { line: 1, col: 1 }, path: "a".into() },
            ]
        );
        // The same key in two different maps is fine.
        assert!(Locator::new("a: { k: 1 }\nb: { k: 1 }\nc: [{ k: 1 }, { k: 2 }]\n").problems().is_empty());
    }

    #[test]
    fn tags_and_second_documents_are_found() {
        let found = Locator::new("a: !!int 5\nb: !Ref x\nc: !custom { k: 1 }\n").problems().to_vec();
        let tags: Vec<(usize, &str, &str)> = found
            .iter()
            .map(|p| match p {
                Problem::Tag { pos, path, tag } => (pos.line, path.as_str(), tag.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tags, [(1, "a", "!!int"), (2, "b", "!Ref"), (3, "c", "!custom")]);
        let found = Locator::new("a: 1\n---\nb: 2\n").problems().to_vec();
        assert_eq!(found, [Problem::SecondDocument { pos: Pos { line: 2, col: 1 } }]);
        let found = Locator::new("---\na: 1\n...\n---\nb: 2\n").problems().to_vec();
        assert_eq!(found, [Problem::SecondDocument { pos: Pos { line: 4, col: 1 } }]);
        assert!(Locator::new("---\na: 1\n").problems().is_empty());
    }

    #[test]
    fn nesting_and_size_are_bounded() {
        let deep = "{".repeat(100_000);
        assert!(matches!(Locator::new(&deep).problems(), [Problem::TooDeep { pos: Pos { line: 1, col: 65 } }]));
        let flow = format!("a: {}1{}\n", "[".repeat(33), "]".repeat(33));
        assert!(matches!(Locator::new(&flow).problems(), [Problem::TooDeep { pos: Pos { line: 1, col: 35 } }]));
        let block: String = (0..40).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(matches!(Locator::new(&block).problems(), [Problem::TooDeep { pos: Pos { line: 33, .. } }]));
        let ok: String = (0..32).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(Locator::new(&ok).problems().is_empty());
        let long_key = format!("bucket:\n  {}: 1\n", "k".repeat(300));
        assert!(matches!(Locator::new(&long_key).problems(), [Problem::KeyTooLong { chars: 300, .. }]));
        let many = format!("a: [{}]\n", "1,".repeat(MAX_VALUES));
        assert!(matches!(Locator::new(&many).problems(), [Problem::TooManyValues { .. }]));
    }

    #[test]
    fn the_nesting_scan_skips_what_is_not_a_bracket() {
        let limit = 2;
        let beyond = |s: &str| flow_nesting_beyond(s, limit).map(|p| (p.line, p.col));
        assert_eq!(beyond("a: [[[x]]]\n"), Some((1, 6)));
        assert_eq!(beyond("a: [[x]]\nb: [{c: 1}]\n"), None);
        assert_eq!(beyond("a: [{c: [[1]]}]\n"), Some((1, 9)));
        // Quoted, commented, plain and block scalars hold no brackets.
        assert_eq!(beyond("a: \"[[[[\"\nb: '{{{{'\nc: x[[[[ # [[[[\n# {{{{\n"), None);
        assert_eq!(beyond("a: [\"]]]\", '[[[', x]\n"), None);
        assert_eq!(beyond("a: |\n  [[[[\n  {{{{\n\n  [[[\nb: >-\n   {{{\nc: [[1]]\n"), None);
        assert_eq!(beyond("- |\n  [[[[\n- [[[1]]]\n"), Some((3, 5)));
        assert_eq!(beyond("--- [[[1]]]\n"), Some((1, 7)));
        assert_eq!(beyond("a: &x [[[1]]]\nb: !t {{{c}}}\n"), Some((1, 9)));
    }

    #[test]
    fn lists_keys_in_document_order() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.top_keys(), ["project", "bucket", "access"]);
        assert_eq!(loc.child_keys("bucket"), ["lifecycle", "tags"]);
    }

    #[test]
    fn maps_know_their_keys_and_lists_their_items() {
        let doc = "a:\n  x: 1\n  y: [1, 2]\nb: { k: v }\nc:\n  - 1\n";
        let loc = Locator::new(doc);
        let node = |path: &str| loc.get(path).unwrap();
        assert_eq!((node("").kind, node("").keys.clone()), (Kind::Map, vec!["a".to_string(), "b".into(), "c".into()]));
        assert_eq!(
            (node("a").kind, node("a").within, node("a").keys.clone()),
            (Kind::Map, Within::Block, vec!["x".into(), "y".into()])
        );
        assert_eq!((node("a.y").kind, node("a.y").items, node("a.y[1]").within), (Kind::List, 2, Within::Flow));
        assert_eq!((node("b.k").kind, node("b.k").within), (Kind::Scalar, Within::Flow));
        assert_eq!((node("c").items, node("c[0]").within), (1, Within::BlockList));
        assert_eq!(loc.child_keys("b"), ["k"]);
        assert_eq!(Locator::new("a: &x 1\nb: *x\n").get("b").map(|n| n.kind), Some(Kind::Alias));
    }

    #[test]
    fn a_value_in_a_flow_map_or_list_ends_at_its_separator() {
        let doc = "bucket: {versioning: \"yes\", lifecyle: {}, tags: {a: \"x, y\", b: [1, {c: 2}]}}\nl: [a, 'it''s', b # c\n  , d]\n";
        let loc = Locator::new(doc);
        let text = |path: &str| loc.isolate(doc, path).unwrap().text;
        assert_eq!(text("bucket.versioning"), "\"yes\"");
        assert_eq!(text("bucket.lifecyle"), "{}");
        assert_eq!(text("bucket.tags.a"), "\"x, y\"");
        assert_eq!(text("bucket.tags.b"), "[1, {c: 2}]");
        assert_eq!(text("l[0]"), "a");
        assert_eq!(text("l[1]"), "'it''s'");
        assert_eq!(text("l[2]").trim_end(), "b");
        // Read alone, each reads as in place; positions add up to those of the file.
        let versioning = loc.isolate(doc, "bucket.versioning").unwrap();
        let e = serde_yaml::from_str::<bool>(&versioning.text).unwrap_err();
        assert_eq!(e.location().unwrap().column() + versioning.col_offset, 22);
        assert_eq!(serde_yaml::from_str::<Vec<String>>(&text("l")).unwrap(), ["a", "it's", "b", "d"]);
    }

    #[test]
    fn a_value_far_to_the_right_is_not_padded() {
        // Each of 10,000 values of a one-line map is read alone in the size of the value, not of the line before it.
        let entries: Vec<String> = (0..10_000).map(|i| format!("t{i}: [x]")).collect();
        let doc = format!("bucket: {{ tags: {{ {} }} }}\n", entries.join(", "));
        let loc = Locator::new(&doc);
        let last = loc.isolate(&doc, "bucket.tags.t9999").unwrap();
        assert_eq!(last.text.trim_end(), "[x]");
        assert_eq!(last.col_offset + 1, loc.get("bucket.tags.t9999").unwrap().value.col);
        // A map written with indentation is indented as in the file: its next lines line up with its first.
        let doc = "rules:\n  - id: a\n    prefix: b\n";
        let first = Locator::new(doc).isolate(doc, "rules[0]").unwrap();
        assert_eq!((first.text.as_str(), first.col_offset), ("    id: a\n    prefix: b\n", 0));
    }

    #[test]
    fn an_item_of_a_dash_list_ends_before_the_next_dash() {
        let doc = "rules:\n  - id: a\n    prefix: b\n  - id: c\n  - x   # note\n  -\n    y\nnext: 1\n";
        let loc = Locator::new(doc);
        let text = |path: &str| loc.isolate(doc, path).unwrap().text;
        let first: BTreeMap<String, String> = serde_yaml::from_str(&text("rules[0]")).unwrap();
        assert_eq!(first, BTreeMap::from([("id".into(), "a".into()), ("prefix".into(), "b".into())]));
        assert_eq!(serde_yaml::from_str::<BTreeMap<String, String>>(&text("rules[1]")).unwrap().len(), 1);
        assert_eq!(serde_yaml::from_str::<String>(&text("rules[2]")).unwrap(), "x");
        assert_eq!(serde_yaml::from_str::<String>(&text("rules[3]")).unwrap(), "y");
    }

    #[test]
    fn an_empty_value_is_read_alone_as_in_place() {
        let doc = "a:\nb: # nothing\nc: 1\n";
        let loc = Locator::new(doc);
        for path in ["a", "b"] {
            let alone = loc.isolate(doc, path).unwrap();
            assert!(alone.empty, "{path}");
            // In place, an empty value is an empty string, and an empty list.
            assert_eq!(serde_yaml::from_str::<String>(&alone.text).unwrap(), "");
            assert!(serde_yaml::from_str::<Vec<String>>(&alone.text).unwrap().is_empty());
        }
        assert!(!loc.isolate(doc, "c").unwrap().empty);
    }

    #[test]
    fn without_an_entry_the_document_means_the_same() {
        let doc = "a: 1\nb:\n  x: 1\n  y: 2\nf: {p: 1, q: [2, 3], r: 4}\nl:\n  - {s: 1}\nz: 9\n";
        let loc = Locator::new(doc);
        let without = |paths: &[&str]| -> serde_yaml::Value {
            let mut text: Vec<char> = doc.chars().collect();
            for path in paths {
                for i in loc.entry_range(path).unwrap() {
                    if text[i] != '\n' {
                        text[i] = ' ';
                    }
                }
            }
            serde_yaml::from_str(&text.into_iter().collect::<String>()).unwrap()
        };
        let expected = |text: &str| serde_yaml::from_str::<serde_yaml::Value>(text).unwrap();
        assert_eq!(without(&["a"]), expected("b: {x: 1, y: 2}\nf: {p: 1, q: [2, 3], r: 4}\nl: [{s: 1}]\nz: 9\n"));
        assert_eq!(without(&["b.y", "f.p", "z"]), expected("a: 1\nb: {x: 1}\nf: {q: [2, 3], r: 4}\nl: [{s: 1}]\n"));
        assert_eq!(without(&["b.x", "b.y", "f.r", "f.q"]), expected("a: 1\nb:\nf: {p: 1}\nl: [{s: 1}]\nz: 9\n"));
        assert_eq!(without(&["l[0].s", "b"]), expected("a: 1\nf: {p: 1, q: [2, 3], r: 4}\nl: [{}]\nz: 9\n"));
    }

    #[test]
    fn broken_yaml_gives_empty_index() {
        let loc = Locator::new("a: [1, 2\nb: {");
        assert!(loc.get("a").is_none());
    }
}
