//! Probe 4, transport: a request over plain HTTP is denied by the bucket policy (`aws:SecureTransport`).
//!
//! The request is one its sender is allowed to make, and is made over HTTPS too (the control), so that the denial
//! can only come from the transport. It is signed as an assumed role when one is available. Without one, on AWS
//! the deployer's own credentials are used (an explicit Deny in a bucket policy applies to every principal,
//! the account root included); on an emulator root bypasses bucket policies, so the check is skipped there.

use std::time::Instant;

use super::access::{Action, perform, seed};
use super::clients::plain_http_endpoint;
use super::{Check, Ctx, Observed, Roles};
use crate::config::Verb;

const NAME: &str = "transport";
const EXPECTED: &str = "a plain-HTTP request to the bucket is denied (AccessDenied); the same request over HTTPS works";

/// Which request to make with a role: the first of its allowed actions in this order. Requests without a body
/// come first (a body over plain HTTP brings its own signing rules, which must not be what fails); ListBucket comes
/// last because of an emulator gap (see `access`).
pub(super) fn preferred(verbs: &std::collections::BTreeSet<Verb>) -> Option<Action> {
    PREFERENCE.into_iter().find(|a| verbs.contains(&a.verb()))
}

const PREFERENCE: [Action; 4] = [Action::Get, Action::Delete, Action::Put, Action::List];

pub(super) async fn transport(ctx: &Ctx<'_>, roles: &Roles) -> Check {
    let started = Instant::now();
    let http = plain_http_endpoint(ctx.s3_endpoint.as_deref(), &ctx.region);
    // The role whose request is the most preferred.
    let role = ctx
        .config
        .access
        .iter()
        .filter_map(|entry| {
            let session = roles.get(&entry.name)?.as_ref().ok()?;
            Some((entry, session, preferred(&entry.verbs)?))
        })
        .min_by_key(|(_, _, action)| PREFERENCE.iter().position(|a| a == action));
    let (https_client, http_client, who, action, key) = match role {
        Some((entry, session, action)) => {
            // Inside the entry's first prefix, in the run's namespace there.
            let dir = format!("{}transport/", ctx.layout.inside(&entry.prefixes[0], &entry.name));
            let key = match action {
                Action::Put => format!("{dir}put.json"),
                Action::Get | Action::Delete => format!("{dir}seed.json"),
                Action::List => dir.clone(),
            };
            (session.s3.clone(), session.s3_http.clone(), format!("role {}", session.role_arn), action, key)
        }
        None if ctx.custom_endpoint() => {
            return Check::skip(
                NAME,
                EXPECTED,
                "no access entry's role may be assumed by the deployer, and on an emulator the account root bypasses bucket policies (set smoke.trust_deployer: true in a test or local env)",
            );
        }
        None => {
            let key = format!("{}transport.json", ctx.layout.root);
            (
                ctx.clients.s3.clone(),
                ctx.clients.s3_as(None, Some(&http)),
                "the deployer's credentials".to_string(),
                Action::Get,
                key,
            )
        }
    };
    if matches!(action, Action::Get | Action::Delete)
        && let Err(e) = seed(ctx, &key).await
    {
        return Check::fail(NAME, EXPECTED, format!("the object to read could not be written: {e}")).took(started);
    }
    let what = format!("{} {key} as {who}", action.name());
    // The control: the same request over TLS must work, or a denial over HTTP proves nothing.
    let control = if ctx.tls() { Some(perform(&https_client, &ctx.bucket, action, &key).await) } else { None };
    let plain = perform(&http_client, &ctx.bucket, action, &key).await;
    let (verdict, text) = judge(control.as_ref(), &plain, &http);
    let observed = format!("{what}: {text}");
    match verdict {
        Verdict::Pass => Check::pass(NAME, EXPECTED, observed),
        Verdict::Fail => Check::fail(NAME, EXPECTED, observed),
        Verdict::Skip => Check::skip(NAME, EXPECTED, observed),
    }
    .took(started)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Pass,
    Fail,
    /// The endpoint does not serve plain HTTP at all: nothing to deny.
    Skip,
}

/// Whether the transport check passed, and what to say about it.
pub(super) fn judge(control: Option<&Observed>, plain: &Observed, http: &str) -> (Verdict, String) {
    let over_http = match plain {
        Observed::Allow => {
            "allowed over plain HTTP: the bucket accepts requests without TLS (is the DenyInsecureTransport statement in the bucket policy?)".to_string()
        }
        Observed::Deny => "denied over plain HTTP".to_string(),
        Observed::Unreachable(e) => {
            return (Verdict::Skip, format!("{http} does not answer plain HTTP, so there is nothing to deny ({e})"));
        }
        Observed::Error(e) => format!("over plain HTTP: {e}"),
    };
    match control {
        Some(Observed::Allow) | None => {
            let note = if control.is_none() { " (no HTTPS control: the endpoint is plain HTTP)" } else { "" };
            let verdict = if *plain == Observed::Deny { Verdict::Pass } else { Verdict::Fail };
            (verdict, format!("{over_http}{note}"))
        }
        Some(other) => (
            Verdict::Fail,
            format!(
                "{over_http}, but the control request over HTTPS failed too ({}), so this proves nothing",
                other.label()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_preferred_then_requests_without_a_body() {
        assert_eq!(preferred(&[Verb::Read, Verb::Write].into_iter().collect()), Some(Action::Get));
        assert_eq!(preferred(&[Verb::Write, Verb::Delete].into_iter().collect()), Some(Action::Delete));
        assert_eq!(preferred(&[Verb::Write].into_iter().collect()), Some(Action::Put));
        assert_eq!(preferred(&[Verb::List].into_iter().collect()), Some(Action::List));
        assert_eq!(preferred(&Default::default()), None);
    }

    #[test]
    fn denied_over_http_with_a_working_control_passes() {
        let http = "http://127.0.0.1:1";
        assert_eq!(
            judge(Some(&Observed::Allow), &Observed::Deny, http),
            (Verdict::Pass, "denied over plain HTTP".to_string())
        );
        let (verdict, text) = judge(Some(&Observed::Allow), &Observed::Allow, http);
        assert!(verdict == Verdict::Fail && text.contains("DenyInsecureTransport"), "{text}");
        let (verdict, text) = judge(Some(&Observed::Deny), &Observed::Deny, http);
        assert!(verdict == Verdict::Fail && text.contains("proves nothing"), "{text}");
        let (verdict, text) = judge(None, &Observed::Deny, http);
        assert!(verdict == Verdict::Pass && text.contains("no HTTPS control"), "{text}");
        let (verdict, text) = judge(Some(&Observed::Allow), &Observed::Unreachable("connection refused".into()), http);
        assert!(verdict == Verdict::Skip && text.contains("does not answer plain HTTP"), "{text}");
    }
}
