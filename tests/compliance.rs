//! Object Lock and the bucket's own KMS key against the local emulator: set when the bucket is created, compared by
//! the live check, put back by `drift --revert`; and the Object Lock changes a deploy refuses before any change set
//! (the emulator, like CloudFormation on AWS, plans a change of `ObjectLockEnabled` as a replacement of the bucket,
//! and executing it deletes the bucket: see tests/README.md).

mod common;

use common::*;

/// A non-ephemeral env (a kept bucket) that heals the emulator's gaps on deploy, with `bucket` settings of its own.
fn kept_env(project: &str, bucket: &str) -> String {
    format!(
        "project: {project}\nregion: {REGION}\naccount: \"{ACCOUNT}\"\nbucket:\n{bucket}\
         access:\n  writer:\n    principal: {{ service: lambda.amazonaws.com }}\n    allow: [write, read]\n    prefixes: [calls/]\n\
         drift:\n  self_heal: true\n"
    )
}

fn object_lock_of(bucket: &str) -> Option<(String, Option<i32>)> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let aws = aws().await;
        let out = aws.s3.get_object_lock_configuration().bucket(bucket).send().await.ok()?;
        let retention = out.object_lock_configuration?.rule?.default_retention?;
        Some((retention.mode?.as_str().to_string(), retention.days))
    })
}

fn bucket_exists(bucket: &str) -> bool {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { aws().await.s3.head_bucket().bucket(bucket).send().await.is_ok() })
}

/// Object Lock is set when the tool creates the bucket and compared by drift; turning it on for a deployed bucket,
/// or off, is refused (exit 3) before any change set, and the bucket stays as it was.
#[test]
fn object_lock_is_set_at_creation_and_refused_on_a_deployed_bucket() {
    let project = unique("it-lock");
    let lock = "  object_lock: { mode: governance, days: 1 }\n";
    let locked = kept_env(&project, lock);
    let stacks = stacks("lock", &[("dev.yaml", &locked)]);
    let created = provision(&stacks, &["--no-smoke", "--env", "dev"]);
    assert_eq!(created.code, 0, "{created:?}");
    let bucket = format!("{project}-dev-{ACCOUNT}-{REGION}");
    assert_eq!(object_lock_of(&bucket), Some(("GOVERNANCE".to_string(), Some(1))));
    let drift = provision(&stacks, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:?}");

    // Off again: S3 cannot turn Object Lock off.
    std::fs::write(stacks.join("dev.yaml"), kept_env(&project, "  versioning: true\n")).unwrap();
    let off = provision(&stacks, &["--no-smoke", "--env", "dev"]);
    assert_eq!(off.code, 3, "{off:?}");
    assert!(off.stderr.contains("cannot be turned off"), "{}", off.stderr);
    assert_eq!(object_lock_of(&bucket), Some(("GOVERNANCE".to_string(), Some(1))));

    // On for a bucket deployed without it: refused, no change set, the bucket kept.
    let later = unique("it-lock-late");
    std::fs::write(stacks.join("late.yaml"), kept_env(&later, "  versioning: true\n")).unwrap();
    let plain = provision(&stacks, &["--no-smoke", "--env", "late"]);
    assert_eq!(plain.code, 0, "{plain:?}");
    std::fs::write(stacks.join("late.yaml"), kept_env(&later, lock)).unwrap();
    let plan = provision(&stacks, &["plan", "--env", "late"]);
    assert_eq!(plan.code, 3, "{plan:?}");
    let refused = provision(&stacks, &["--no-smoke", "--env", "late"]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("only when it creates the bucket"), "{}", refused.stderr);
    let late_bucket = format!("{later}-late-{ACCOUNT}-{REGION}");
    assert!(bucket_exists(&late_bucket), "the refused deploy left the bucket");
    assert_eq!(object_lock_of(&late_bucket), None);
}

/// `encryption: kms`: the stack creates the key (rotation on, its alias), the bucket, its policies and the live check
/// use it; rotation turned off out of band is drift, put back by `drift --revert`.
#[test]
fn the_buckets_own_key_is_deployed_checked_and_reverted() {
    let project = unique("it-kms");
    let stacks = stacks("kms", &[("dev.yaml", &kept_env(&project, "  encryption: kms\n"))]);
    let created = provision(&stacks, &["--no-smoke", "--env", "dev"]);
    assert_eq!(created.code, 0, "{created:?}");
    let drift = provision(&stacks, &["drift", "--env", "dev"]);
    assert_eq!(drift.code, 0, "{drift:?}");
    // Deployed again by the same principal (the same `DeployerArn`): nothing to change, no change set.
    let again = provision(&stacks, &["--no-smoke", "--env", "dev", "--output", "json"]);
    assert_eq!(again.json()["deploy"]["action"], "none", "{again:?}");
    let plan = provision(&stacks, &["plan", "--env", "dev"]);
    assert_eq!(plan.code, 0, "{plan:?}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let alias = format!("alias/{project}-dev");
    let key = runtime.block_on(async {
        let aws = aws().await;
        let key = aws.kms.describe_key().key_id(&alias).send().await.unwrap().key_metadata.unwrap().key_id;
        aws.kms.disable_key_rotation().key_id(&key).send().await.unwrap();
        key
    });
    let found = provision(&stacks, &["drift", "--env", "dev", "--output", "json"]);
    assert_eq!(found.code, 2, "{found:?}");
    let findings = found.json()["envs"][0]["report"]["findings"].clone();
    assert!(findings.to_string().contains("\"property\":\"rotation\""), "{findings}");
    let reverted = provision(&stacks, &["drift", "--env", "dev", "--revert"]);
    assert_eq!(reverted.code, 0, "{reverted:?}");
    let rotation = runtime.block_on(async {
        aws().await.kms.get_key_rotation_status().key_id(&key).send().await.unwrap().key_rotation_enabled
    });
    assert!(rotation, "rotation is on again");
}
