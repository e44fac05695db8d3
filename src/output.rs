//! Where output goes, and how the process ends.
//!
//! Data goes to stdout (text, or one JSON document with `--output json`); progress and logs go to stderr, live on
//! a terminal and as plain lines elsewhere (CI). Commands write through a [`Printer`] so tests can capture both.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use comfy_table::{ColumnConstraint, Table, Width, presets};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Process exit codes, converted in one place ([`ExitStatus::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitStatus {
    /// 0: done, in sync.
    Success,
    /// 2: differences found (drift, pending changes, a plan with changes).
    Differences,
    /// 1: an error (invalid config, AWS failure, a failed check).
    Failure,
    /// 3: refused by a safety guard (data loss, protected env, missing confirmation).
    Refused,
    /// 64 (`EX_USAGE` of sysexits.h): the command line is wrong (unknown flag, bad value); nothing was done. A code
    /// no result uses, so that a CI job never reads a typo as "drift found".
    Usage,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Differences => 2,
            ExitStatus::Refused => 3,
            ExitStatus::Usage => 64,
        }
    }

    /// The worse of two outcomes (for several envs at once): refused > error > differences > success.
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        self.max(other)
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        // Every code is in 0..=64.
        std::process::ExitCode::from(u8::try_from(status.code()).unwrap_or(1))
    }
}

/// An action a safety guard refused; exits with code 3.
#[derive(Debug, thiserror::Error)]
#[error("refused: {reason}")]
pub struct Refused {
    pub reason: String,
}

pub fn refuse(reason: impl Into<String>) -> anyhow::Error {
    Refused { reason: reason.into() }.into()
}

/// The exit status an error stands for.
pub fn status_of(error: &anyhow::Error) -> ExitStatus {
    if error.chain().any(|e| e.is::<Refused>()) { ExitStatus::Refused } else { ExitStatus::Failure }
}

/// An error that knows what the user can do about it: printed after the error's chain as `hint: ...`.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: Option<String>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Links of an SDK error chain that only name the kind of the next one ("dispatch failure", "other", "io error"):
/// left out of the printed chain, which then shows what happened instead of how the SDK files it.
const KIND_ONLY: &[&str] = &[
    "dispatch failure",
    "other",
    "io error",
    "io",
    "timeout",
    "user",
    "connector error",
    "service error",
    "response error",
    "unhandled error",
    "construction failure",
];

/// `error: top` then `  Caused by: next` for each link of the chain (links that repeat the previous one or only
/// name an SDK error kind are left out), then `hint: ...` for each hint in the chain.
pub fn format_error(error: &anyhow::Error) -> String {
    let mut out = format!("error: {error}");
    let mut previous = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if text.trim().is_empty() || KIND_ONLY.contains(&text.as_str()) || previous.contains(&text) {
            continue;
        }
        // A link of several lines (the SDK lists each credential provider it tried) stays under its `Caused by:`.
        let indented: Vec<&str> = text.lines().map(str::trim_start).collect();
        out.push_str(&format!("\n  Caused by: {}", indented.join("\n    ")));
        previous = text;
    }
    for hint in error.chain().filter_map(|e| e.downcast_ref::<Hinted>()).filter_map(|h| h.hint.as_deref()) {
        out.push_str(&format!("\nhint: {hint}"));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Readable text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
    /// Text, plus GitHub Actions `::error` annotations for findings (drift).
    Github,
}

type Sink = Arc<Mutex<dyn Write + Send>>;

/// Hands out stdout/stderr and knows the output format and whether stderr is a live terminal.
#[derive(Clone)]
pub struct Printer {
    pub format: Format,
    /// Live progress (redrawn lines) only on a terminal and outside CI.
    pub live: bool,
    /// Whether stdin is a terminal (confirmation prompts).
    pub interactive: bool,
    out: Sink,
    err: Sink,
    /// The live progress line (a spinner on stderr), shared by clones; None while none is shown.
    spinner: Arc<Mutex<Option<ProgressBar>>>,
}

impl Printer {
    pub fn stdio(format: Format) -> Self {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        Printer {
            format,
            live: std::io::stderr().is_terminal() && !ci,
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            out: Arc::new(Mutex::new(std::io::stdout())),
            err: Arc::new(Mutex::new(std::io::stderr())),
            spinner: Arc::default(),
        }
    }

    /// A printer writing into buffers, for tests: (printer, stdout, stderr).
    pub fn capture(format: Format) -> (Self, Captured, Captured) {
        let out = Captured::default();
        let err = Captured::default();
        let printer = Printer {
            format,
            live: false,
            interactive: false,
            out: Arc::new(Mutex::new(out.clone())),
            err: Arc::new(Mutex::new(err.clone())),
            spinner: Arc::default(),
        };
        (printer, out, err)
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Writes data (a line of text) to stdout.
    pub fn data(&self, text: impl AsRef<str>) {
        self.line(&self.out, text.as_ref());
    }

    /// Writes a line to `sink`. A live progress line is taken off the terminal meanwhile and drawn again below, so
    /// that its redraws never overwrite the line (stdout and stderr share the terminal).
    fn line(&self, sink: &Sink, text: &str) {
        let write = || {
            let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(sink, "{text}");
            let _ = sink.flush();
        };
        // Cloned out of the lock: indicatif holds its own lock while `write` runs.
        let spinner = self.spinner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match spinner {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Writes one JSON document to stdout.
    pub fn json_doc(&self, value: &impl Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.data(text),
            Err(e) => self.log(format!("error: cannot encode JSON output: {e}")),
        }
    }

    /// Writes a progress or log line to stderr.
    pub fn log(&self, text: impl AsRef<str>) {
        self.line(&self.err, text.as_ref());
    }

    /// Writes a log line to stderr that may interrupt a live progress line: like every line, it goes above the
    /// progress line, which is drawn again below it.
    pub fn note(&self, text: impl AsRef<str>) {
        self.log(text);
    }

    /// Shows `text` on the live progress line on a terminal (a spinner, redrawn in place); a plain line elsewhere.
    pub fn progress(&self, text: impl AsRef<str>) {
        if self.live {
            let mut spinner = self.spinner.lock().unwrap_or_else(|e| e.into_inner());
            spinner.get_or_insert_with(spinner_line).set_message(text.as_ref().to_string());
        } else {
            self.log(text);
        }
    }

    /// Ends a live progress line, leaving its last text on the terminal.
    pub fn progress_done(&self) {
        let spinner = self.spinner.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(bar) = spinner {
            bar.set_style(ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            bar.finish();
        }
    }

    /// Asks a yes/no question on the terminal; false when not interactive.
    /// [`Printer::confirm`] from async code: the blocking read runs off the async threads, so that `interrupt`
    /// (Ctrl-C) ends the wait at once instead of after the next Enter. None when interrupted.
    pub async fn confirm_unless(
        &self,
        question: &str,
        interrupt: impl std::future::Future<Output = ()>,
    ) -> Option<bool> {
        let (prompt, question) = (self.clone(), question.to_string());
        let answer = tokio::task::spawn_blocking(move || prompt.confirm(&question));
        tokio::select! {
            answer = answer => Some(answer.unwrap_or(false)),
            () = interrupt => None,
        }
    }

    /// [`Printer::confirm_unless`] Ctrl-C.
    pub async fn confirm_async(&self, question: &str) -> Option<bool> {
        self.confirm_unless(question, async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
    }

    pub fn confirm(&self, question: &str) -> bool {
        if !self.interactive {
            return false;
        }
        // A spinner redrawn over the question would hide it.
        self.progress_done();
        {
            let mut err = self.err.lock().unwrap_or_else(|e| e.into_inner());
            let _ = write!(err, "{question} [y/N] ");
            let _ = err.flush();
        }
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
    }
}

/// A spinner on stderr that moves while nothing else does (a long CloudFormation wait), with the latest progress text
/// cut to the terminal's width so that it stays one line.
fn spinner_line() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The lines of a plain table (`provision list`, the smoke access matrix): a header, then one line per row; columns
/// left-aligned and two spaces apart, no borders, no trailing spaces. `min_widths` holds the least width of the first
/// columns, so that they line up the same whatever the rows hold.
pub fn table_lines<const N: usize>(header: [&str; N], min_widths: &[u16], rows: Vec<[String; N]>) -> Vec<String> {
    const GAP: u16 = 2;
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header).add_rows(rows);
    for (i, column) in table.column_iter_mut().enumerate() {
        let gap = if i + 1 == N { 0 } else { GAP };
        column.set_padding((0, gap));
        if let Some(&min) = min_widths.get(i) {
            // The lower boundary counts the padding too.
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(min + gap)));
        }
    }
    table.lines().map(|line| line.trim_end().to_string()).collect()
}

/// A shared buffer that implements `Write`, for capturing output in tests.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_wins() {
        assert_eq!(ExitStatus::Success.worst(ExitStatus::Differences), ExitStatus::Differences);
        assert_eq!(ExitStatus::Failure.worst(ExitStatus::Differences), ExitStatus::Failure);
        assert_eq!(ExitStatus::Refused.worst(ExitStatus::Failure), ExitStatus::Refused);
    }

    #[test]
    fn error_chain_and_refusal() {
        let e = anyhow::Error::from(Refused { reason: "protected".into() }).context("teardown of prod");
        assert_eq!(format_error(&e), "error: teardown of prod\n  Caused by: refused: protected");
        assert_eq!(status_of(&e), ExitStatus::Refused);
        assert_eq!(status_of(&anyhow::anyhow!("x")), ExitStatus::Failure);
    }

    #[test]
    fn usage_errors_have_a_code_of_their_own() {
        let codes: Vec<i32> = [ExitStatus::Success, ExitStatus::Failure, ExitStatus::Differences, ExitStatus::Refused]
            .iter()
            .map(|s| s.code())
            .collect();
        assert_eq!(ExitStatus::Usage.code(), 64);
        assert!(!codes.contains(&ExitStatus::Usage.code()));
    }

    /// Off a terminal (tests, CI, a pipe) progress is one plain line per update, and ending it writes nothing.
    #[test]
    fn progress_off_a_terminal_is_plain_lines() {
        let (printer, out, err) = Printer::capture(Format::Text);
        printer.progress("  step 1");
        printer.note("a note");
        printer.progress("  step 2");
        printer.progress_done();
        printer.data("data");
        assert_eq!(err.text(), "  step 1\na note\n  step 2\n");
        assert_eq!(out.text(), "data\n");
    }

    #[test]
    fn plain_tables_align_columns_two_spaces_apart() {
        let rows = vec![
            ["dev".to_string(), "l1".to_string(), "3".to_string()],
            ["staging".to_string(), String::new(), "1000+".to_string()],
        ];
        assert_eq!(
            table_lines(["ENV", "INSTANCE", "OBJECTS"], &[0, 10], rows),
            ["ENV      INSTANCE    OBJECTS", "dev      l1          3", "staging              1000+"]
        );
    }

    /// Every link of the chain is printed, down to the root cause (a link of several lines indented under its
    /// `Caused by:`); links that only name an SDK error kind or repeat the previous one are not; the hints come last.
    #[test]
    fn the_whole_chain_and_its_hint() {
        #[derive(Debug, thiserror::Error)]
        #[error("{0}")]
        struct Link(&'static str, #[source] Option<Box<Link>>);
        let root =
            Link("tcp connect error", Some(Box::new(Link("Connection refused:\n  port 9\n  host 127.0.0.1", None))));
        let kind = Link("io error", Some(Box::new(root)));
        let hinted = Hinted {
            message: "GetCallerIdentity: cannot connect to http://127.0.0.1:9".to_string(),
            hint: Some("is the emulator running?".to_string()),
            source: Some(Box::new(Link("dispatch failure", Some(Box::new(kind))))),
        };
        let error = anyhow::Error::from(hinted).context("cannot find out which AWS account the credentials belong to");
        assert_eq!(
            format_error(&error),
            "error: cannot find out which AWS account the credentials belong to\n  \
             Caused by: GetCallerIdentity: cannot connect to http://127.0.0.1:9\n  \
             Caused by: tcp connect error\n  \
             Caused by: Connection refused:\n    port 9\n    host 127.0.0.1\n\
             hint: is the emulator running?"
        );
    }
}
