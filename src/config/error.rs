//! Located configuration errors.

use std::fmt;
use std::path::PathBuf;

use super::limits::{clip, clip_quoted};
use super::locate::Pos;

/// One problem in an env file, at a place, with a way to fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    /// Dotted path of the key (`bucket.lifecycle.glacier_after_days`), empty for the whole document.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic whose quoted values (between backticks or double quotes) are clipped to a readable length and
    /// whose control characters are escaped: a message stays short whatever the file holds.
    pub fn new(file: impl Into<PathBuf>, pos: Pos, key: &str, message: String, hint: Option<String>) -> Self {
        let key = key.split('.').map(clip).collect::<Vec<_>>().join(".");
        Diagnostic {
            file: file.into(),
            line: pos.line,
            col: pos.col,
            key,
            message: clip_quoted(&message),
            hint: hint.as_deref().map(clip_quoted),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.col)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one env file (never empty).
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        let file = self.diagnostics.first().map(|d| d.file.display().to_string()).unwrap_or_default();
        writeln!(f, "{file} is invalid ({n} problem{})", if n == 1 { "" } else { "s" })?;
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
