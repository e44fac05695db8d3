//! `teardown` of an instance that never existed, against the local emulator: most likely a mistyped name, so it
//! fails (exit 1) naming the instances there are; an instance whose stack was deleted is `already gone` (exit 0).

mod common;

use common::*;

#[test]
fn an_instance_that_never_existed_is_not_already_gone() {
    let project = unique("it-td-unknown");
    let stacks = stacks("td-unknown", &[("dev.yaml", &env_file(&project))]);
    let deployed = provision(&stacks, &["--no-smoke", "--env", "dev", "--instance", "pr-7"]);
    assert_eq!(deployed.code, 0, "{deployed:?}");

    let typo = provision(&stacks, &["teardown", "--env", "dev", "--instance", "pr-77", "--yes"]);
    assert_eq!(typo.code, 1, "{typo:?}");
    assert!(
        typo.stderr.contains(&format!(
            "error: no such instance: pr-77 (env dev; stack {project}-dev-pr-77 does not exist and was not deleted in \
             the last 90 days); existing: pr-7"
        )),
        "{}",
        typo.stderr
    );
    assert!(!typo.stdout.contains("already gone"), "{}", typo.stdout);
    let json = provision(&stacks, &["teardown", "--env", "dev", "--instance", "pr-77", "--yes", "--output", "json"]);
    assert_eq!(json.code, 1, "{json:?}");
    assert_eq!(json.json()["teardowns"][0]["outcome"], "failed");

    let torn = provision(&stacks, &["teardown", "--env", "dev", "--instance", "pr-7", "--yes"]);
    assert_eq!(torn.code, 0, "{torn:?}");
    // Torn down: CloudFormation lists the deleted stack, so this one did exist.
    let again = provision(&stacks, &["teardown", "--env", "dev", "--instance", "pr-7", "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("already gone"), "{}", again.stdout);
    let none = provision(&stacks, &["teardown", "--env", "dev", "--instance", "pr-8", "--yes"]);
    assert_eq!(none.code, 1, "{none:?}");
    assert!(none.stderr.contains("existing: none"), "{}", none.stderr);
}
