//! How a smoke run is shown: a table of checks on a terminal, one line per check elsewhere (CI), then the access
//! matrix; `--output json` prints one document instead.

use serde::Serialize;
use serde_json::json;

use super::{AccessRow, Check, Method, ProbeReport};
use crate::config::Config;
use crate::output::{Printer, table_lines};

/// A check's result as printed. A failed check is `FAIL` whatever else it says, as [`counts`] counts it.
fn result(check: &Check) -> &'static str {
    match (check.ok, check.skipped) {
        (false, _) => "FAIL",
        (true, true) => "skip",
        (true, false) => "ok",
    }
}

/// The checks, `extra` (the live configuration's) first, then the probes'. `terminal`: an aligned table with a
/// header; otherwise one self-contained line per check.
pub fn table(extra: &[Check], report: &ProbeReport, terminal: bool) -> Vec<String> {
    let checks: Vec<&Check> = extra.iter().chain(report.checks.iter()).collect();
    let details = |c: &Check| -> String {
        if c.ok && !c.skipped {
            String::new()
        } else if c.skipped {
            c.observed.clone()
        } else {
            format!("expected {}; observed {}", c.expected, c.observed)
        }
    };
    let mut lines = Vec::new();
    if terminal {
        let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0).max("CHECK".len());
        lines.push(format!("{:<width$}  {:<6}  {:>8}  DETAILS", "CHECK", "RESULT", "LATENCY"));
        for c in &checks {
            let line = format!("{:<width$}  {:<6}  {:>5} ms  {}", c.name, result(c), c.latency_ms, details(c));
            lines.push(line.trim_end().to_string());
        }
    } else {
        for c in &checks {
            let detail = details(c);
            let sep = if detail.is_empty() { "" } else { ": " };
            lines.push(format!("{:<4} {} ({} ms){sep}{detail}", result(c), c.name, c.latency_ms));
        }
    }
    lines
}

/// A row's result as printed. A failed row is `FAIL` whatever its method, as [`counts`] counts it.
fn row_result(row: &AccessRow) -> &'static str {
    match (row.ok, row.method) {
        (false, _) => "FAIL",
        (true, Method::NotChecked) => "skip",
        (true, _) => "ok",
    }
}

/// The access matrix, one row per request.
pub fn matrix(rows: &[AccessRow]) -> Vec<String> {
    if rows.is_empty() {
        return Vec::new();
    }
    let header = ["ENTRY", "ACTION", "SCOPE", "EXPECTED", "OBSERVED", "RESULT", "METHOD", "KEY"];
    // Fixed least widths: the columns line up with those of other runs, whatever the rows hold.
    let min_widths = [0, 12, 7, 8, 11, 6, 9];
    let cells = rows
        .iter()
        .map(|r| {
            // An error's text follows the key; why a row was not checked is said once, in its entry's check.
            let (observed, detail) = match r.observed.split_once(": ") {
                Some(("error", rest)) => ("error".to_string(), format!(" ({rest})")),
                Some(("not checked", _)) => ("not checked".to_string(), String::new()),
                _ => (r.observed.clone(), String::new()),
            };
            let method = match r.method {
                Method::Request => "request",
                Method::Simulated => "simulated",
                Method::NotChecked => "-",
            };
            let note = r.note.as_ref().map(|n| format!(" [{n}]")).unwrap_or_default();
            [
                r.entry.clone(),
                r.action.clone(),
                r.scope.name().to_string(),
                r.expected.clone(),
                observed,
                row_result(r).to_string(),
                method.to_string(),
                format!("{}{detail}{note}", r.key),
            ]
        })
        .collect();
    table_lines(header, &min_widths, cells)
}

/// What failed, one line each, for stderr: each failed check (`smoke check failed: NAME: ...`, as many as the
/// summary's `N failed`), then each failed row of the access matrix (`smoke access row failed: ...`, as many as
/// its `access matrix ... N failed`).
pub fn failures(extra: &[Check], report: &ProbeReport) -> Vec<String> {
    let mut out: Vec<String> = extra
        .iter()
        .chain(report.checks.iter())
        .filter(|c| !c.ok)
        .map(|c| format!("smoke check failed: {}: expected {}; observed {}", c.name, c.expected, c.observed))
        .collect();
    out.extend(report.access_matrix.iter().filter(|r| !r.ok).map(|r| {
        format!(
            "smoke access row failed: {} {} {} {}: expected {}, observed {}",
            r.entry,
            r.action,
            r.scope.name(),
            r.key,
            r.expected,
            r.observed
        )
    }));
    out
}

/// How many checks and access-matrix rows passed, failed and were skipped: the summary line, and `counts` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Checks run or skipped (the live configuration's and the probes').
    pub checks: usize,
    pub passed: usize,
    pub failed: usize,
    /// Checks not run (`observed` says why); they do not fail the run.
    pub skipped: usize,
    /// Rows of the access matrix.
    pub access: usize,
    pub access_failed: usize,
    /// Rows neither requested nor simulated (`not-checked`); they do not fail the run.
    pub access_not_checked: usize,
}

/// Counts the checks (`extra`, the live configuration's, and the probes') and the access matrix.
pub fn counts(extra: &[Check], report: &ProbeReport) -> Counts {
    let checks: Vec<&Check> = extra.iter().chain(report.checks.iter()).collect();
    let rows = &report.access_matrix;
    Counts {
        checks: checks.len(),
        passed: checks.iter().filter(|c| c.ok && !c.skipped).count(),
        failed: checks.iter().filter(|c| !c.ok).count(),
        skipped: checks.iter().filter(|c| c.ok && c.skipped).count(),
        access: rows.len(),
        access_failed: rows.iter().filter(|r| !r.ok).count(),
        access_not_checked: rows.iter().filter(|r| r.ok && r.method == Method::NotChecked).count(),
    }
}

/// `38 checks, 0 failed, 3 skipped; access matrix 24 rows, 0 failed, 4 not checked`.
pub fn summary(counts: &Counts) -> String {
    let mut line = format!("{} checks, {} failed, {} skipped", counts.checks, counts.failed, counts.skipped);
    if counts.access > 0 {
        line.push_str(&format!(
            "; access matrix {} rows, {} failed, {} not checked",
            counts.access, counts.access_failed, counts.access_not_checked
        ));
    }
    line
}

/// The smoke part of `deploy --output json`: the same `ok` and `counts` as `provision smoke` prints, with the
/// live configuration's checks and the probes' report.
pub fn deploy_json(extra: &[Check], report: &ProbeReport) -> serde_json::Value {
    json!({
        "ok": report.ok() && extra.iter().all(|c| c.ok),
        "counts": counts(extra, report),
        "live": extra,
        "probes": report,
    })
}

/// Prints a smoke run: `--output json` as one document (`extra` under `live`), text otherwise (the table, the
/// matrix and a summary on stdout, each failure on stderr).
pub fn print(printer: &Printer, config: &Config, extra: &[Check], report: &ProbeReport) {
    let ok = report.ok() && extra.iter().all(|c| c.ok);
    let counts = counts(extra, report);
    if printer.json() {
        printer.json_doc(&json!({
            "env": config.env,
            "instance": config.instance,
            "stack": config.stack_name(),
            "ok": ok,
            "counts": counts,
            "live": extra,
            "smoke": report,
        }));
    } else {
        for line in table(extra, report, printer.live) {
            printer.data(line);
        }
        let matrix = matrix(&report.access_matrix);
        if !matrix.is_empty() {
            printer.data("");
            printer.data("access matrix:");
            for line in matrix {
                printer.data(format!("  {line}"));
            }
        }
        printer.data("");
        printer.data(format!(
            "smoke {} ({}): {}; {} requests in {} ms; {} probe versions deleted, {} left",
            if ok { "passed" } else { "FAILED" },
            report.run_id,
            summary(&counts),
            report.requests,
            report.wall_ms,
            report.cleanup.versions_deleted,
            report.cleanup.left_text()
        ));
    }
    for line in failures(extra, report) {
        printer.log(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::{Cleanup, Scope};

    fn report() -> ProbeReport {
        let mut versioning = Check::fail("versioning", "2 versions", "1 version");
        versioning.latency_ms = 12;
        let mut probe = Check::pass("probe object", "round trip", "fine");
        probe.latency_ms = 7;
        ProbeReport {
            run_id: "R1".to_string(),
            bucket: "b".to_string(),
            checks: vec![probe, versioning, Check::skip("notification x", "arrives", "prefix filter")],
            access_matrix: vec![AccessRow {
                entry: "writer".to_string(),
                action: "GetObject".to_string(),
                scope: Scope::Inside,
                key: "calls/_probe/R1/writer/seed.json".to_string(),
                expected: "allow".to_string(),
                observed: "deny".to_string(),
                ok: false,
                method: Method::Request,
                note: None,
            }],
            requests: 9,
            cleanup: Cleanup::default(),
            earlier: None,
            interrupted: false,
            wall_ms: 100,
        }
    }

    #[test]
    fn ci_lines_name_the_failure_and_what_was_expected() {
        let lines = table(&[], &report(), false);
        assert_eq!(
            lines,
            [
                "ok   probe object (7 ms)",
                "FAIL versioning (12 ms): expected 2 versions; observed 1 version",
                "skip notification x (0 ms): skipped: prefix filter",
            ]
        );
    }

    #[test]
    fn terminal_table_puts_extra_checks_first() {
        let live = [Check::pass("live versioning", "Enabled", "Enabled")];
        let lines = table(&live, &report(), true);
        assert_eq!(lines[0], "CHECK            RESULT   LATENCY  DETAILS");
        assert_eq!(lines[1], "live versioning  ok          0 ms");
        assert_eq!(lines[3], "versioning       FAIL       12 ms  expected 2 versions; observed 1 version");
    }

    /// Skipped checks and unchecked matrix rows are counted apart from passed and failed ones.
    #[test]
    fn the_summary_counts_skipped_checks() {
        let live =
            [Check::pass("live versioning", "Enabled", "Enabled"), Check::skip("live logging", "on", "no bucket")];
        let mut r = report();
        let mut unchecked = r.access_matrix[0].clone();
        unchecked.method = Method::NotChecked;
        unchecked.ok = true;
        r.access_matrix.push(unchecked);
        let counts = counts(&live, &r);
        assert_eq!(
            counts,
            Counts { checks: 5, passed: 2, failed: 1, skipped: 2, access: 2, access_failed: 1, access_not_checked: 1 }
        );
        assert_eq!(summary(&counts), "5 checks, 1 failed, 2 skipped; access matrix 2 rows, 1 failed, 1 not checked");
        let json = serde_json::to_value(counts).unwrap();
        assert_eq!(json["skipped"], 2);
        assert_eq!(summary(&Counts { checks: 3, passed: 3, ..Counts::default() }), "3 checks, 0 failed, 0 skipped");
    }

    #[test]
    fn matrix_and_failures() {
        let r = report();
        let lines = matrix(&r.access_matrix);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].starts_with("writer  GetObject     inside   allow     deny         FAIL    request"),
            "{}",
            lines[1]
        );
        let failed = failures(&[], &r);
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0], "smoke check failed: versioning: expected 2 versions; observed 1 version");
        assert_eq!(
            failed[1],
            "smoke access row failed: writer GetObject inside calls/_probe/R1/writer/seed.json: expected allow, observed deny"
        );
    }

    /// Lines of `text` that start with `prefix` (after any indentation).
    fn lines_starting(text: &str, prefix: &str) -> usize {
        text.lines().filter(|l| l.trim_start().starts_with(prefix)).count()
    }

    /// Regression: "43 checks, 2 failed" was printed over one failed check, because a failed row of the access
    /// matrix was counted as a failed check, and printed on stderr as a second `smoke check failed` line. The
    /// summary's counts, the FAIL lines of the table and of the matrix, the lines on stderr and JSON's `counts` now
    /// say the same, also for a check marked both skipped and failed, and for an unchecked row that failed.
    #[test]
    fn the_counts_match_what_is_printed_in_text_and_json() {
        let config = crate::config::parse(
            "project: demo\nregion: us-east-1\nephemeral: true\n",
            std::path::Path::new("dev.yaml"),
            "dev",
            None,
        )
        .unwrap();
        let mut r = report();
        let mut odd = Check::skip("notification y", "arrives", "no queue");
        odd.ok = false;
        r.checks.push(odd);
        let mut unchecked = r.access_matrix[0].clone();
        (unchecked.method, unchecked.ok, unchecked.observed) = (Method::NotChecked, false, "not checked: x".into());
        let mut fine = r.access_matrix[0].clone();
        (fine.ok, fine.observed) = (true, "allow".into());
        let mut skipped = fine.clone();
        (skipped.method, skipped.observed) = (Method::NotChecked, "not checked: no simulator".into());
        r.access_matrix.extend([unchecked, fine, skipped]);
        let live = [Check::pass("live versioning", "Enabled", "Enabled"), Check::fail("live tags", "a", "b")];
        let c = counts(&live, &r);
        assert_eq!(
            c,
            Counts { checks: 6, passed: 2, failed: 3, skipped: 1, access: 4, access_failed: 2, access_not_checked: 1 }
        );

        let (printer, out, err) = Printer::capture(crate::output::Format::Text);
        print(&printer, &config, &live, &r);
        let (out, err) = (out.text(), err.text());
        assert_eq!(lines_starting(&out, "FAIL "), c.failed, "{out}");
        assert_eq!(lines_starting(&out, "skip "), c.skipped, "{out}");
        assert_eq!(lines_starting(&out, "ok "), c.passed, "{out}");
        let matrix_rows: Vec<&str> = out.lines().filter(|l| l.starts_with("  writer ")).collect();
        assert_eq!(matrix_rows.iter().filter(|l| l.contains(" FAIL ")).count(), c.access_failed, "{out}");
        assert_eq!(matrix_rows.iter().filter(|l| l.contains(" skip ")).count(), c.access_not_checked, "{out}");
        assert_eq!(matrix_rows.len(), c.access);
        assert_eq!(lines_starting(&err, "smoke check failed: "), c.failed, "{err}");
        assert_eq!(lines_starting(&err, "smoke access row failed: "), c.access_failed, "{err}");
        assert!(
            out.contains(
                "smoke FAILED (R1): 6 checks, 3 failed, 1 skipped; access matrix 4 rows, 2 failed, 1 not checked;"
            ),
            "{out}"
        );

        let (printer, out, err) = Printer::capture(crate::output::Format::Json);
        print(&printer, &config, &live, &r);
        let doc: serde_json::Value = serde_json::from_str(&out.text()).unwrap();
        assert_eq!(doc["counts"], serde_json::to_value(c).unwrap());
        assert_eq!(doc["ok"], false);
        let failed_checks = doc["live"].as_array().unwrap().iter().chain(doc["smoke"]["checks"].as_array().unwrap());
        assert_eq!(failed_checks.filter(|c| c["ok"] == false).count(), c.failed);
        let rows = doc["smoke"]["access_matrix"].as_array().unwrap();
        assert_eq!(rows.iter().filter(|r| r["ok"] == false).count(), c.access_failed);
        assert_eq!(lines_starting(&err.text(), "smoke check failed: "), c.failed);
        // deploy --output json carries the same counts.
        let deployed = deploy_json(&live, &r);
        assert_eq!(deployed["counts"], doc["counts"]);
        assert_eq!(deployed["ok"], false);

        // Nothing failed: passed, and every count says so.
        let clean =
            ProbeReport { checks: vec![Check::pass("probe object", "x", "x")], access_matrix: vec![], ..report() };
        let c = counts(&[], &clean);
        assert_eq!(
            (c.failed, c.access_failed, deploy_json(&[], &clean)["ok"].clone()),
            (0, 0, serde_json::json!(true))
        );
    }
}
