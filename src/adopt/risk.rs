//! What adopting a bucket changes on it, grouped by risk: each live setting that differs from the config becomes
//! one or more [`Change`]s, risky ones naming what they affect. Pure: the live values come from `live::check`.

use serde::Serialize;
use serde_json::Value;

use crate::live::{Finding, Status, policy::statement_diff};

/// A kind of change that can hurt someone who uses the bucket today. Each has a name for `--accept-risk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// A lifecycle rule deletes objects or versions sooner than today, or where none did.
    DataExpiry,
    /// A bucket policy statement is removed.
    PolicyRemoval,
    /// A notification target stops receiving events.
    NotificationLoss,
    /// Object ownership moves to BucketOwnerEnforced: ACLs stop working.
    AclClients,
    /// Public access is blocked.
    PublicAccess,
    /// New objects are encrypted with another key.
    EncryptionKey,
    /// Versioning is turned on (it can then only be suspended, never turned off).
    Versioning,
}

impl Risk {
    /// The name `--accept-risk` takes.
    pub fn flag(self) -> &'static str {
        match self {
            Risk::DataExpiry => "data-expiry",
            Risk::PolicyRemoval => "policy-removal",
            Risk::NotificationLoss => "notification-loss",
            Risk::AclClients => "acl-clients",
            Risk::PublicAccess => "public-access",
            Risk::EncryptionKey => "encryption-key",
            Risk::Versioning => "versioning",
        }
    }
}

/// One change adoption makes to the live bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The bucket setting (`lifecycle`, `policy`, ...).
    pub setting: &'static str,
    /// None: harmless.
    pub risk: Option<Risk>,
    /// What changes and, for a risky change, whom it affects.
    pub what: String,
    /// The statement, rule or target concerned, as data.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

impl Change {
    fn risky(setting: &'static str, risk: Risk, what: String, detail: Value) -> Change {
        Change { setting, risk: Some(risk), what, detail }
    }

    fn harmless(setting: &'static str, what: String, detail: Value) -> Change {
        Change { setting, risk: None, what, detail }
    }
}

/// The changes that bring the live bucket to the config, from the bucket's compared settings.
pub fn classify(findings: &[&Finding]) -> Vec<Change> {
    let mut changes: Vec<Change> =
        findings.iter().filter(|f| f.status != Status::Ok).flat_map(|f| changes_of(f)).collect();
    // Risky first (in the order of `Risk`), then harmless, each in setting order.
    changes.sort_by_key(|c| (c.risk.is_none(), c.risk));
    changes
}

fn changes_of(finding: &Finding) -> Vec<Change> {
    let (expected, actual) = (&finding.expected, &finding.actual);
    match finding.property {
        "versioning" => versioning(expected, actual),
        "encryption" => encryption(expected, actual),
        "public_access_block" => vec![Change::risky(
            "public_access_block",
            Risk::PublicAccess,
            "public access is blocked (all four settings): anyone reading or writing through a public ACL or a \
             public bucket policy loses access"
                .into(),
            actual.clone(),
        )],
        "public_grants" => vec![Change::risky(
            "public_grants",
            Risk::PublicAccess,
            "the bucket's ACL grants to everyone stop applying (ACLs are disabled): public readers lose access".into(),
            actual.clone(),
        )],
        "ownership" => vec![Change::risky(
            "ownership",
            Risk::AclClients,
            format!(
                "object ownership moves from {} to BucketOwnerEnforced (ACLs disabled): clients that send an ACL \
                 other than bucket-owner-full-control get AccessControlListNotSupported, and existing ACL grants \
                 stop applying",
                actual.as_str().unwrap_or("ACLs enabled (no ownership controls)")
            ),
            Value::Null,
        )],
        "lifecycle" => lifecycle(expected, actual),
        "notifications" => notifications(expected, actual),
        "policy" => policy(expected, actual),
        "tags" => vec![Change::harmless("tags", format!("tags become {expected}"), actual.clone())],
        "logging" => vec![Change::harmless("logging", format!("access logs go to {expected}"), Value::Null)],
        other => vec![Change::harmless(other, format!("{other} becomes {expected}"), actual.clone())],
    }
}

fn versioning(expected: &Value, actual: &Value) -> Vec<Change> {
    let was = actual.as_str().unwrap_or("never enabled");
    if expected == "Enabled" {
        vec![Change::risky(
            "versioning",
            Risk::Versioning,
            format!(
                "versioning is turned on (today: {was}): it can later be suspended, never turned off, and every \
                 overwrite and delete keeps a noncurrent version (billed until a lifecycle rule expires it)"
            ),
            Value::Null,
        )]
    } else {
        vec![Change::risky(
            "versioning",
            Risk::Versioning,
            format!("versioning is suspended (today: {was}): overwrites and deletes no longer keep the old version"),
            Value::Null,
        )]
    }
}

fn encryption(expected: &Value, actual: &Value) -> Vec<Change> {
    let key = |v: &Value| (v["algorithm"].clone(), v.get("kms_key").cloned().unwrap_or(Value::Null));
    if key(expected) == key(actual) {
        return vec![Change::harmless("encryption", format!("default encryption becomes {expected}"), Value::Null)];
    }
    let describe = |v: &Value| match v["kms_key"].as_str() {
        Some(k) => format!("SSE-KMS with {k}"),
        None if v["algorithm"] == "aws:kms" => "SSE-KMS with the AWS-managed key".to_string(),
        None => "SSE-S3".to_string(),
    };
    vec![Change::risky(
        "encryption",
        Risk::EncryptionKey,
        format!(
            "new objects are encrypted with {} instead of {} (existing objects keep their key): readers need \
             kms:Decrypt on the key of each object they read",
            describe(expected),
            describe(actual)
        ),
        Value::Null,
    )]
}

/// A rule's expirations: (current objects, noncurrent versions), in days.
fn expirations(rule: &Value) -> (Option<i64>, Option<i64>) {
    (rule["expiration_days"].as_i64(), rule["noncurrent_expiration_days"].as_i64())
}

/// Whether `new` deletes sooner than `old` (or where `old` never does).
fn sooner(new: Option<i64>, old: Option<i64>) -> bool {
    match (new, old) {
        (Some(new), Some(old)) => new < old,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

fn lifecycle(expected: &Value, actual: &Value) -> Vec<Change> {
    let rules = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let (wanted, live) = (rules(expected), rules(actual));
    let mut changes = Vec::new();
    for rule in &wanted {
        let prefix = rule["prefix"].as_str().unwrap_or_default();
        // What deletes objects under this prefix today: the live rule of the same scope.
        let today = live.iter().find(|l| l["prefix"].as_str().unwrap_or_default() == prefix);
        let (current, noncurrent) = expirations(rule);
        let (live_current, live_noncurrent) = today.map(expirations).unwrap_or((None, None));
        let scope = if prefix.is_empty() { "the whole bucket".to_string() } else { format!("`{prefix}`") };
        let was = |days: Option<i64>| days.map_or("never".to_string(), |d| format!("after {d} days"));
        let deletions =
            [("expires objects", current, live_current), ("deletes noncurrent versions", noncurrent, live_noncurrent)];
        for (what, days, today) in deletions {
            if sooner(days, today) {
                changes.push(Change::risky(
                    "lifecycle",
                    Risk::DataExpiry,
                    format!(
                        "rule {} {what} under {scope} after {} days (today: {})",
                        rule["id"],
                        days.unwrap_or_default(),
                        was(today)
                    ),
                    rule.clone(),
                ));
            }
        }
    }
    let ids = |list: &[Value]| list.iter().map(|r| r["id"].to_string()).collect::<Vec<_>>().join(", ");
    changes.push(Change::harmless(
        "lifecycle",
        format!("the lifecycle rules become [{}] (today: [{}])", ids(&wanted), ids(&live)),
        actual.clone(),
    ));
    changes
}

fn notifications(expected: &Value, actual: &Value) -> Vec<Change> {
    let targets = |v: &Value| v["targets"].as_array().cloned().unwrap_or_default();
    let (wanted, live) = (targets(expected), targets(actual));
    let mut changes: Vec<Change> = live
        .iter()
        .filter(|t| !wanted.contains(t))
        .map(|t| {
            Change::risky(
                "notifications",
                Risk::NotificationLoss,
                format!(
                    "{} {} stops receiving {} events (prefix {:?}, suffix {:?})",
                    t["kind"].as_str().unwrap_or("target"),
                    t["arn"].as_str().unwrap_or_default(),
                    t["event"].as_str().unwrap_or_default(),
                    t["prefix"].as_str().unwrap_or_default(),
                    t["suffix"].as_str().unwrap_or_default()
                ),
                t.clone(),
            )
        })
        .collect();
    if actual["eventbridge"] == true && expected["eventbridge"] != true {
        changes.push(Change::risky(
            "notifications",
            Risk::NotificationLoss,
            "EventBridge stops receiving the bucket's events".into(),
            Value::Null,
        ));
    }
    changes.extend(wanted.iter().filter(|t| !live.contains(t)).map(|t| {
        Change::harmless(
            "notifications",
            format!(
                "{} {} receives {} events",
                t["kind"].as_str().unwrap_or("target"),
                t["arn"].as_str().unwrap_or_default(),
                t["event"].as_str().unwrap_or_default()
            ),
            t.clone(),
        )
    }));
    changes
}

/// `statement PartnerRead`, or `a statement` without a Sid.
fn statement_name(statement: &Value) -> String {
    match statement.get("Sid").and_then(Value::as_str) {
        Some(sid) => format!("statement {sid}"),
        None => "a statement".to_string(),
    }
}

/// What removing `statement` from the bucket policy does.
pub(super) fn removed_statement(statement: &Value) -> String {
    format!("bucket policy {} is removed: whoever it lets in loses that access", statement_name(statement))
}

fn policy(expected: &Value, actual: &Value) -> Vec<Change> {
    let (removed, added) = statement_diff(expected, actual);
    let name = statement_name;
    let mut changes: Vec<Change> =
        removed.into_iter().map(|s| Change::risky("policy", Risk::PolicyRemoval, removed_statement(&s), s)).collect();
    changes.extend(
        added.into_iter().map(|s| Change::harmless("policy", format!("bucket policy {} is added", name(&s)), s)),
    );
    changes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::live::Resource;

    fn finding(property: &'static str, expected: Value, actual: Value) -> Finding {
        let status = if actual.is_null() { Status::Missing } else { Status::Differs };
        Finding {
            resource: Resource::Bucket("b".into()),
            property,
            status,
            expected,
            actual,
            detail: None,
            latency_ms: 0,
        }
    }

    fn risks(findings: &[Finding]) -> Vec<Option<Risk>> {
        classify(&findings.iter().collect::<Vec<_>>()).into_iter().map(|c| c.risk).collect()
    }

    fn rule(id: &str, prefix: &str, expire: Option<i64>, noncurrent: Option<i64>) -> Value {
        json!({ "id": id, "prefix": prefix, "expiration_days": expire, "noncurrent_expiration_days": noncurrent })
    }

    #[test]
    fn a_rule_that_deletes_sooner_or_newly_is_risky_and_a_later_one_is_not() {
        let live = json!([rule("old", "calls/", Some(400), None)]);
        let sooner = finding("lifecycle", json!([rule("new", "calls/", Some(30), None)]), live.clone());
        assert_eq!(risks(&[sooner]), [Some(Risk::DataExpiry), None]);
        let later = finding("lifecycle", json!([rule("new", "calls/", Some(500), None)]), live.clone());
        assert_eq!(risks(&[later]), [None]);
        let newly = finding("lifecycle", json!([rule("d", "", None, Some(365))]), live);
        let changes = classify(&[&newly]);
        assert_eq!(changes[0].risk, Some(Risk::DataExpiry));
        assert!(changes[0].what.contains("noncurrent versions under the whole bucket after 365 days (today: never)"));
    }

    #[test]
    fn a_removed_statement_is_printed_and_an_added_one_is_harmless() {
        let theirs = json!({ "Sid": "PartnerRead", "Effect": "Allow", "Action": "s3:GetObject" });
        let tls = json!({ "Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:*" });
        let f = finding("policy", json!({ "Statement": [tls.clone()] }), json!({ "Statement": [theirs.clone()] }));
        let changes = classify(&[&f]);
        assert_eq!(changes[0].risk, Some(Risk::PolicyRemoval));
        assert_eq!(changes[0].detail, theirs);
        assert!(changes[0].what.contains("statement PartnerRead is removed"));
        assert_eq!((changes[1].risk, &changes[1].detail), (None, &tls));
    }

    #[test]
    fn a_target_that_stops_receiving_events_is_named() {
        let target = |arn: &str| json!({ "kind": "queue", "arn": arn, "event": "s3:ObjectCreated:*", "prefix": "", "suffix": ".wav" });
        let f = finding(
            "notifications",
            json!({ "targets": [target("arn:aws:sqs:us-west-1:1:ours")], "eventbridge": false }),
            json!({ "targets": [target("arn:aws:sqs:us-west-1:1:theirs")], "eventbridge": true }),
        );
        let changes = classify(&[&f]);
        assert_eq!(
            changes.iter().map(|c| c.risk).collect::<Vec<_>>(),
            [Some(Risk::NotificationLoss), Some(Risk::NotificationLoss), None]
        );
        assert!(changes[0].what.contains("arn:aws:sqs:us-west-1:1:theirs stops receiving"), "{}", changes[0].what);
    }

    #[test]
    fn every_risky_setting_names_its_risk_and_tags_are_harmless() {
        let findings = [
            finding("versioning", json!("Enabled"), Value::Null),
            finding("ownership", json!("BucketOwnerEnforced"), json!("ObjectWriter")),
            finding("public_access_block", json!({ "block_public_acls": true }), json!({ "block_public_acls": false })),
            finding(
                "encryption",
                json!({ "algorithm": "aws:kms", "kms_key": "arn:aws:kms:us-west-1:1:key/new", "bucket_key": true }),
                json!({ "algorithm": "AES256" }),
            ),
            finding("tags", json!({ "team": "voice" }), json!({})),
        ];
        assert_eq!(
            risks(&findings),
            [Some(Risk::AclClients), Some(Risk::PublicAccess), Some(Risk::EncryptionKey), Some(Risk::Versioning), None]
        );
        // Only the bucket-key flag differs: the same key, nothing for readers to lose.
        let same_key = finding(
            "encryption",
            json!({ "algorithm": "aws:kms", "kms_key": "k", "bucket_key": true }),
            json!({ "algorithm": "aws:kms", "kms_key": "k", "bucket_key": false }),
        );
        assert_eq!(risks(&[same_key]), [None]);
    }
}
