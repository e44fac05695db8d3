//! The customer-managed KMS key the stack creates for the bucket (`encryption: kms`): its key policy, its alias and
//! how long it lives. Administration goes to the account (its IAM policies decide who); use goes only to the
//! principals that need it, only through the service that needs it, each statement with its conditions.

use anyhow::Result;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Collected, bucket, pretty, render_policy, sub};
use crate::config::{Access, Config, Encryption, Principal, Target, Verb};
use crate::ids::{BUCKET_KEY_ALIAS_ID, BUCKET_KEY_ID, DEPLOYER_PARAMETER};

/// What the account may do with the key through IAM: manage it, never use it. No wildcard, no `kms:CreateGrant`
/// (a grant would hand out use past this policy), no cryptographic operation.
pub const ADMIN_ACTIONS: [&str; 22] = [
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListKeyRotations",
    "kms:RotateKeyOnDemand",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ListGrants",
    "kms:RevokeGrant",
];

/// What writing through S3 needs (a data key, and Decrypt for multipart uploads), and reading.
const WRITE_ACTIONS: [&str; 2] = ["kms:GenerateDataKey", "kms:Decrypt"];
const READ_ACTIONS: [&str; 1] = ["kms:Decrypt"];

/// The key's part of the template.
#[derive(Serialize)]
pub(super) struct KeyContext {
    pub(super) logical_id: &'static str,
    pub(super) alias_logical_id: &'static str,
    pub(super) alias_name: String,
    pub(super) description: String,
    pub(super) deletion_policy: &'static str,
    pub(super) update_replace_policy: &'static str,
    pub(super) pending_window_days: u32,
    pub(super) policy: String,
}

/// One statement of the key policy that allows use of the key.
#[derive(Serialize, Debug)]
pub struct KeyUse {
    pub sid: &'static str,
    pub principal: Value,
    pub actions: Vec<&'static str>,
    pub condition: Value,
}

/// The account's root: the principal of administration, and of each use statement (narrowed by `aws:PrincipalArn`:
/// a principal named only in a condition need not exist when the key is created, and a created role is named before
/// IAM has spread it).
fn account_root() -> Value {
    sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
}

/// The `aws:PrincipalArn` values of an access entry's principal: its role (created or existing), or its user under
/// any path (an entry names a user, whose ARN carries its path).
pub fn principal_arns(config: &Config, entry: &Access) -> Vec<Value> {
    match &entry.principal {
        Principal::Service { .. } => {
            vec![sub(&format!(
                "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{}",
                config.iam_name(&entry.name)
            ))]
        }
        Principal::Role { arn, .. } => vec![Value::String(arn.clone())],
        Principal::User { name } => vec![
            sub(&format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:user/{name}")),
            sub(&format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:user/*/{name}")),
        ],
    }
}

/// The deploying principal (a template parameter): the smoke test writes and reads its probes as it.
fn deployer() -> Value {
    json!({ "Ref": DEPLOYER_PARAMETER })
}

/// Use through S3, for this bucket only: `kms:ViaService` and the encryption context S3 sends with a bucket key
/// (the bucket's ARN), from the principals listed.
fn through_s3(sid: &'static str, actions: &[&'static str], principals: Vec<Value>, bucket_arn: &Value) -> KeyUse {
    KeyUse {
        sid,
        principal: json!({ "AWS": account_root() }),
        actions: actions.to_vec(),
        condition: json!({
            "StringEquals": {
                "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com"),
                "kms:EncryptionContext:aws:s3:arn": bucket_arn,
            },
            "ArnLike": { "aws:PrincipalArn": principals },
        }),
    }
}

/// Every use statement of the key policy, in order.
pub fn key_uses(config: &Config) -> Vec<KeyUse> {
    let bucket_arn = sub(&bucket::arn_string(config));
    let with = |verb: Verb| config.access.iter().filter(move |e| e.verbs.contains(&verb));
    let mut writers: Vec<Value> = with(Verb::Write).flat_map(|e| principal_arns(config, e)).collect();
    writers.push(deployer());
    let readers: Vec<Value> =
        with(Verb::Read).filter(|e| !e.verbs.contains(&Verb::Write)).flat_map(|e| principal_arns(config, e)).collect();
    let mut uses = vec![through_s3("WriteThroughS3", &WRITE_ACTIONS, writers, &bucket_arn)];
    if !readers.is_empty() {
        uses.push(through_s3("ReadThroughS3", &READ_ACTIONS, readers, &bucket_arn));
    }
    if !config.bucket.encrypt_notifications {
        return uses;
    }
    let queues: Vec<_> = config.notifications.iter().filter(|n| n.target == Target::Queue).collect();
    if !queues.is_empty() {
        // Whoever receives from an encrypted queue decrypts its messages through SQS: its consumers, and the
        // deployer for the smoke test's notification probes.
        let mut receivers: Vec<Value> = config
            .access
            .iter()
            .filter(|e| queues.iter().any(|n| n.consumers.contains(&e.name)))
            .flat_map(|e| principal_arns(config, e))
            .collect();
        receivers.push(deployer());
        uses.push(KeyUse {
            sid: "ReceiveThroughSqs",
            principal: json!({ "AWS": account_root() }),
            actions: READ_ACTIONS.to_vec(),
            condition: json!({
                "StringEquals": { "kms:ViaService": sub("sqs.${AWS::Region}.amazonaws.com") },
                "ArnLike": { "aws:PrincipalArn": receivers },
            }),
        });
    }
    if config.notifications.iter().any(|n| matches!(n.target, Target::Queue | Target::Topic)) {
        // S3 sends event notifications to an encrypted queue or topic only with a data key of the target's key
        // (an AWS-managed key's policy cannot admit it): for this bucket of this account only.
        uses.push(KeyUse {
            sid: "S3SendsNotifications",
            principal: json!({ "Service": "s3.amazonaws.com" }),
            actions: WRITE_ACTIONS.to_vec(),
            condition: json!({
                "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } },
                "ArnLike": { "aws:SourceArn": bucket_arn },
            }),
        });
    }
    uses
}

/// The key policy of the bucket's own key.
pub fn key_policy(config: &Config) -> Result<Value> {
    render_policy(
        "key-policy.json",
        &json!({ "account_root": account_root(), "admin_actions": ADMIN_ACTIONS, "uses": key_uses(config) }),
    )
}

/// The key's template context, with its policy document; None unless the config asks the stack for a key.
pub(super) fn context(config: &Config, collected: &mut Collected) -> Result<Option<KeyContext>> {
    if config.bucket.encryption != Encryption::Kms {
        return Ok(None);
    }
    let policy = key_policy(config)?;
    collected.policies.insert("key-policy.json".to_string(), policy.clone());
    Ok(Some(KeyContext {
        logical_id: BUCKET_KEY_ID,
        alias_logical_id: BUCKET_KEY_ALIAS_ID,
        alias_name: alias_name(config),
        // Static, like a managed policy's: what the key may do is in its policy.
        description: format!("provision: key of the data bucket of stack {}", config.stack_name()),
        // The bucket's data cannot be read without its key: the key is kept wherever the bucket is.
        deletion_policy: bucket::deletion_policy(config),
        update_replace_policy: if config.ephemeral { "Delete" } else { "Retain" },
        // How long a deleted key can still be recovered: KMS's longest for a kept env, its shortest for a test one.
        pending_window_days: if config.ephemeral { 7 } else { 30 },
        policy: pretty(&policy),
    }))
}

/// `alias/<stack>`: the key's name in the console and in KMS calls.
pub fn alias_name(config: &Config) -> String {
    format!("alias/{}", config.stack_name())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::ids::BUCKET_ID;

    fn config(src: &str) -> Config {
        crate::config::parse(src, Path::new("t.yaml"), "dev", None).unwrap()
    }

    const ENTRIES: &str = "access:\n  writer:\n    principal: { service: lambda.amazonaws.com }\n    allow: [write, read]\n    \
        prefixes: [calls/]\n  reader:\n    principal: { user: analyst }\n    allow: [read]\n    prefixes: [calls/]\n";

    /// `encryption: kms` makes a key with rotation on that is kept wherever the bucket is (its objects cannot be read
    /// without it), with the longest recovery window; a test env's key goes with its bucket, after the shortest.
    #[test]
    fn the_buckets_own_key_is_rotated_and_kept_like_the_bucket() {
        let kept =
            crate::render::render(&config("project: demo\nregion: us-west-1\nbucket:\n  encryption: kms\n")).unwrap();
        let resources = &kept.template_value["Resources"];
        let key = &resources[BUCKET_KEY_ID];
        assert_eq!(key["Type"], "AWS::KMS::Key");
        assert_eq!(key["Properties"]["EnableKeyRotation"], true);
        assert_eq!(key["Properties"]["PendingWindowInDays"], 30);
        assert_eq!(key["DeletionPolicy"], resources[BUCKET_ID]["DeletionPolicy"]);
        assert_eq!(key["UpdateReplacePolicy"], "Retain");
        assert_eq!(resources[BUCKET_KEY_ALIAS_ID]["Properties"]["AliasName"], "alias/demo-dev");
        let encryption =
            &resources[BUCKET_ID]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
        assert_eq!(
            encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"],
            json!({ "Fn::GetAtt": [BUCKET_KEY_ID, "Arn"] })
        );
        assert_eq!(
            encryption["BucketKeyEnabled"], true,
            "the encryption context is the bucket's ARN with a bucket key"
        );
        assert!(kept.names_deployer(), "the key policy names the deployer for the smoke test's probes");

        let test = config("project: demo\nregion: us-west-1\nephemeral: true\nbucket:\n  encryption: kms\n");
        let key = &crate::render::render(&test).unwrap().template_value["Resources"][BUCKET_KEY_ID];
        assert_eq!(
            (key["DeletionPolicy"].as_str(), key["Properties"]["PendingWindowInDays"].as_u64()),
            (Some("Delete"), Some(7))
        );

        let plain = crate::render::render(&config("project: demo\nregion: us-west-1\n")).unwrap();
        assert!(plain.template_value["Resources"].get(BUCKET_KEY_ID).is_none());
        assert!(!plain.names_deployer());
    }

    /// The account administers the key and never uses it (no cryptographic action, no grant, no wildcard); writers
    /// and the deployer get a data key and Decrypt, readers Decrypt, all only through S3 for this bucket.
    #[test]
    fn the_key_policy_gives_use_only_through_s3_for_this_bucket() {
        let config = config(&format!("project: demo\nregion: us-west-1\nbucket:\n  encryption: kms\n{ENTRIES}"));
        assert!(ADMIN_ACTIONS.iter().all(|a| !a.contains('*') && !["kms:Decrypt", "kms:CreateGrant"].contains(a)));
        assert!(!ADMIN_ACTIONS.iter().any(|a| a.starts_with("kms:GenerateDataKey") || a.starts_with("kms:Encrypt")));
        let uses = key_uses(&config);
        let sids: Vec<&str> = uses.iter().map(|u| u.sid).collect();
        assert_eq!(sids, ["WriteThroughS3", "ReadThroughS3"], "no queue or topic, so neither SQS nor S3 itself");
        let (write, read) = (&uses[0], &uses[1]);
        assert_eq!(write.actions, ["kms:GenerateDataKey", "kms:Decrypt"]);
        assert_eq!(read.actions, ["kms:Decrypt"]);
        for u in &uses {
            assert_eq!(
                u.condition["StringEquals"]["kms:ViaService"],
                json!({ "Fn::Sub": "s3.${AWS::Region}.amazonaws.com" })
            );
            assert_eq!(
                u.condition["StringEquals"]["kms:EncryptionContext:aws:s3:arn"],
                json!({ "Fn::Sub": "arn:${AWS::Partition}:s3:::demo-dev-${AWS::AccountId}-${AWS::Region}" })
            );
        }
        let writers = write.condition["ArnLike"]["aws:PrincipalArn"].to_string();
        assert!(writers.contains("role/demo-dev-writer") && writers.contains("DeployerArn"), "{writers}");
        assert!(!writers.contains("analyst"), "a reader gets no data key");
        let readers = &read.condition["ArnLike"]["aws:PrincipalArn"];
        assert_eq!(
            readers,
            &json!([
                { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/analyst" },
                { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*/analyst" }
            ]),
            "a user is named under any path"
        );
    }

    /// With `encrypt_notifications` (on by default with the bucket's own key), S3 may use the key for this bucket's
    /// notifications only, and the queue's consumers and the deployer may decrypt through SQS.
    #[test]
    fn encrypted_targets_admit_s3_for_this_bucket_and_the_consumers_through_sqs() {
        let src = format!(
            "project: demo\nregion: us-west-1\nbucket:\n  encryption: kms\n{ENTRIES}notifications:\n  wav:\n    suffix: .wav\n    \
             target: queue\n    consumers: [reader]\n"
        );
        let uses = key_uses(&config(&src));
        let sids: Vec<&str> = uses.iter().map(|u| u.sid).collect();
        assert_eq!(sids, ["WriteThroughS3", "ReadThroughS3", "ReceiveThroughSqs", "S3SendsNotifications"]);
        assert_eq!(
            uses[2].condition["StringEquals"]["kms:ViaService"],
            json!({ "Fn::Sub": "sqs.${AWS::Region}.amazonaws.com" })
        );
        assert_eq!(uses[3].principal, json!({ "Service": "s3.amazonaws.com" }));
        assert_eq!(uses[3].condition["StringEquals"]["aws:SourceAccount"], json!({ "Ref": "AWS::AccountId" }));
        let off = src.replace("encryption: kms\n", "encryption: kms\n  encrypt_notifications: false\n");
        assert_eq!(key_uses(&config(&off)).len(), 2);
    }
}
