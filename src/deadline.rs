//! Deadlines: every command that talks to AWS ends, at the latest when its deadline passes, with an error that says
//! what it was waiting for; and while one AWS request goes unanswered, a line on stderr says so every few seconds.
//!
//! The seam ([`crate::aws`]) registers each AWS request here from sending it until its answer is read
//! ([`Waiting`]); [`with_deadline`] bounds a command and prints what is being waited for.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::output::{Hinted, Printer};

/// How often the waiting note is printed, and how long a request waits before the first one.
pub const TICK: Duration = Duration::from_secs(5);

struct Call {
    what: String,
    since: Instant,
    /// Waiting this much longer is expected (long polling), so the note starts later.
    grace: Duration,
}

/// The AWS requests in flight. One per process ([`REQUESTS`], which the seam fills); tests make their own.
pub struct Requests {
    calls: Mutex<BTreeMap<u64, Call>>,
    next: AtomicU64,
}

/// The requests of this process.
pub static REQUESTS: Requests = Requests::new();

impl Requests {
    pub const fn new() -> Requests {
        Requests { calls: Mutex::new(BTreeMap::new()), next: AtomicU64::new(0) }
    }

    /// Registers a request: `what` names it (`STS GetCallerIdentity at https://sts.us-west-1.amazonaws.com`).
    /// `grace`: how much longer than usual it may take without a note (a long poll).
    pub fn begin(&'static self, what: String, grace: Duration) -> Waiting {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let call = Call { what, since: Instant::now(), grace };
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).insert(id, call);
        Waiting { requests: self, id }
    }

    /// What is being waited for longest, for how long, and how many other requests are in flight; only requests
    /// that have waited at least `at_least` beyond their grace count.
    fn longest(&self, at_least: Duration, now: Instant) -> Option<(String, Duration, usize)> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let late: Vec<&Call> =
            calls.values().filter(|c| now.saturating_duration_since(c.since) >= at_least + c.grace).collect();
        let oldest = late.iter().min_by_key(|c| c.since)?;
        Some((oldest.what.clone(), now.saturating_duration_since(oldest.since), late.len() - 1))
    }
}

impl Default for Requests {
    fn default() -> Self {
        Requests::new()
    }
}

/// An AWS request in flight, registered from its sending until its answer is read; forgotten when dropped (also
/// when the request is abandoned: a timeout, a deadline, Ctrl-C).
pub struct Waiting {
    requests: &'static Requests,
    id: u64,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Waiting({})", self.id)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.requests.calls.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// `still waiting for STS GetCallerIdentity at http://127.0.0.1:4566 (10s)`, when a request has waited at least
/// [`TICK`].
fn waiting_note(requests: &Requests, now: Instant) -> Option<String> {
    let (what, waited, others) = requests.longest(TICK, now)?;
    let others = match others {
        0 => String::new(),
        n => format!("; {n} more request(s) waiting"),
    };
    Some(format!("still waiting for {what} ({}s{others})", waited.as_secs()))
}

/// Runs `work`, the command `what` (`plan`, `deploy`), to completion or until `deadline` has passed, whichever
/// comes first; meanwhile prints a note on stderr every [`TICK`] while an AWS request goes unanswered. When the
/// deadline passes, `work` is dropped where it stands (as if the process were killed: an operation already started
/// in CloudFormation goes on) and the error names the deadline and the request it was waiting for.
pub async fn with_deadline<T>(
    deadline: Option<Duration>,
    what: &str,
    printer: &Printer,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    bounded(&REQUESTS, deadline, what, printer, work).await
}

async fn bounded<T>(
    requests: &Requests,
    deadline: Option<Duration>,
    what: &str,
    printer: &Printer,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let ticker = async {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
        loop {
            ticks.tick().await;
            if let Some(note) = waiting_note(requests, Instant::now()) {
                printer.note(note);
            }
        }
    };
    // The work stays alive while the deadline's error is made, so that the error can name the request it waits for.
    let work = std::pin::pin!(work);
    let expired = async {
        match deadline {
            Some(deadline) => tokio::time::sleep(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = work => result,
        () = expired => Err(deadline_passed(requests, what, deadline.unwrap_or_default(), Instant::now())),
        never = ticker => never,
    }
}

/// The error of a command stopped by its deadline.
fn deadline_passed(requests: &Requests, what: &str, deadline: Duration, now: Instant) -> anyhow::Error {
    let waiting = match requests.longest(Duration::ZERO, now) {
        Some((request, waited, _)) => format!("still waiting for {request} ({}s)", waited.as_secs()),
        None => "no AWS request was in flight (between requests, e.g. while polling a stack)".to_string(),
    };
    let shown = humantime::format_duration(Duration::from_secs(deadline.as_secs().max(1)));
    Hinted {
        message: format!("{what} did not finish within its deadline of {shown}: {waiting}"),
        hint: Some(format!(
            "--timeout sets the deadline of the whole command (e.g. --timeout 30m; 0 for none); each AWS call also \
             gives up after --call-timeout. A {what} stopped by its deadline stops where it stands: run it again."
        )),
        source: None,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Format, format_error};

    /// A command that waits on a request that is never answered ends at its deadline, with an error naming the
    /// deadline and the request; meanwhile a note says what it is waiting for every few seconds.
    #[tokio::test(start_paused = true)]
    async fn a_hung_request_ends_at_the_deadline_and_is_named_while_waiting() {
        static REQUESTS: Requests = Requests::new();
        let (printer, _, stderr) = Printer::capture(Format::Text);
        let hung = async {
            let _request = REQUESTS.begin("STS GetCallerIdentity at http://127.0.0.1:9".to_string(), Duration::ZERO);
            std::future::pending::<()>().await;
            Ok(())
        };
        let started = tokio::time::Instant::now();
        let error = bounded(&REQUESTS, Some(Duration::from_secs(12)), "plan", &printer, hung).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(12));
        assert_eq!(
            format_error(&error),
            "error: plan did not finish within its deadline of 12s: still waiting for STS GetCallerIdentity at \
             http://127.0.0.1:9 (12s)\nhint: --timeout sets the deadline of the whole command (e.g. --timeout 30m; \
             0 for none); each AWS call also gives up after --call-timeout. A plan stopped by its deadline stops \
             where it stands: run it again."
        );
        assert_eq!(
            stderr.text(),
            "still waiting for STS GetCallerIdentity at http://127.0.0.1:9 (5s)\n\
             still waiting for STS GetCallerIdentity at http://127.0.0.1:9 (10s)\n"
        );
        // The abandoned request is forgotten.
        assert!(REQUESTS.longest(Duration::ZERO, Instant::now()).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_deadline_the_work_decides_and_quick_requests_are_not_noted() {
        static REQUESTS: Requests = Requests::new();
        let (printer, _, stderr) = Printer::capture(Format::Text);
        let work = async {
            for _ in 0..3 {
                let _request = REQUESTS.begin("S3 HeadBucket at http://127.0.0.1:9".to_string(), Duration::ZERO);
                tokio::time::sleep(Duration::from_secs(4)).await;
            }
            // A long poll within its grace is not noted either.
            let _poll = REQUESTS.begin("SQS ReceiveMessage".to_string(), Duration::from_secs(20));
            tokio::time::sleep(Duration::from_secs(22)).await;
            Ok(7)
        };
        assert_eq!(bounded(&REQUESTS, None, "list", &printer, work).await.unwrap(), 7);
        assert_eq!(stderr.text(), "");
    }
}
