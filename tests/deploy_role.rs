//! `deploy_role:` in an env file: every command for that env first assumes the role (STS AssumeRole, a session
//! named after the tool and env, the external id if given), and the account check runs against the assumed
//! identity. Against a scripted STS on loopback that answers as AWS does: GetCallerIdentity names the account of
//! whichever credentials signed it.

mod common;

use std::sync::{Arc, Mutex};

use common::http::{Message, respond, serve};

const BASE_KEY: &str = "AKIDBASE";
const ASSUMED_KEY: &str = "ASIAASSUMED";
const BASE_ACCOUNT: &str = "999999999999";
const ROLE_ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/ci/provision-deployer";

fn assumed(session: &str) -> String {
    format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>{ASSUMED_KEY}</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:{session}</AssumedRoleId><Arn>arn:aws:sts::{ROLE_ACCOUNT}:assumed-role/provision-deployer/{session}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>"#
    )
}

fn identity(account: &str) -> String {
    format!(
        r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/ci</Arn><UserId>AIDAEXAMPLE</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
    )
}

const ACCESS_DENIED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::999999999999:user/ci is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/ci/provision-deployer</Message></Error><RequestId>r3</RequestId></ErrorResponse>"#;

const UNSUPPORTED: &str = r#"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>not scripted</Message></Error><RequestId>r4</RequestId></ErrorResponse>"#;

/// What the scripted endpoint saw: each request's action, the key that signed it, and its body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A scripted STS: AssumeRole answers `assume` (or is denied), GetCallerIdentity names the account of the signing
/// key, anything else is an error (the commands stop there, after the account check).
fn sts(deny_assume: bool) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let url = serve(move |request: &Message, stream| {
        let action = request.action();
        let authorization = request.header("authorization").unwrap_or_default();
        let key = authorization.split("Credential=").nth(1).and_then(|c| c.split('/').next()).unwrap_or_default();
        let body = String::from_utf8_lossy(&request.body).into_owned();
        log.lock().unwrap().push((action.clone(), key.to_string(), body.clone()));
        match action.as_str() {
            "AssumeRole" if deny_assume => respond(stream, "403 Forbidden", "text/xml", ACCESS_DENIED),
            "AssumeRole" => {
                let session = body.split('&').find_map(|p| p.strip_prefix("RoleSessionName=")).unwrap_or_default();
                respond(stream, "200 OK", "text/xml", &assumed(session))
            }
            "GetCallerIdentity" => {
                let account = if key == ASSUMED_KEY { ROLE_ACCOUNT } else { BASE_ACCOUNT };
                respond(stream, "200 OK", "text/xml", &identity(account))
            }
            _ => respond(stream, "400 Bad Request", "text/xml", UNSUPPORTED),
        }
    });
    (url, seen)
}

fn plan(url: &str, name: &str, env_file: &str) -> common::Run {
    let stacks = common::stacks(name, &[("dev.yaml", env_file)]);
    let output = common::command_at(url, &stacks)
        .env("AWS_ACCESS_KEY_ID", BASE_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "base-secret")
        .args(["plan", "--env", "dev", "--max-attempts", "1"])
        .output()
        .expect("provision runs");
    common::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn env_file(role: Option<&str>) -> String {
    let mut text = format!("project: demo\nregion: us-west-1\naccount: \"{ROLE_ACCOUNT}\"\n");
    if let Some(role) = role {
        text.push_str(&format!("deploy_role: {role}\nexternal_id: team-data-7\n"));
    }
    text
}

#[test]
fn the_account_check_runs_against_the_assumed_role() {
    let (url, seen) = sts(false);
    let run = plan(&url, "role-assumed", &env_file(Some(ROLE)));
    // Past the account check: the next call (the pre-flight look-up) is one the script does not answer.
    assert!(!run.stderr.contains("belong to account"), "{run:?}");
    let seen = seen.lock().unwrap();
    let (action, key, body) = &seen[0];
    assert_eq!((action.as_str(), key.as_str()), ("AssumeRole", BASE_KEY), "{seen:?}");
    assert!(body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fci%2Fprovision-deployer"), "{body}");
    assert!(body.contains("RoleSessionName=provision-dev"), "{body}");
    assert!(body.contains("ExternalId=team-data-7"), "{body}");
    // Every later call is signed with the role's credentials, the identity check included.
    assert!(seen[1..].iter().all(|(_, key, _)| key == ASSUMED_KEY), "{seen:?}");
    assert!(seen.iter().any(|(action, ..)| action == "GetCallerIdentity"), "{seen:?}");
    // Once: the credentials fetched to check the role are the ones the clients use.
    assert_eq!(seen.iter().filter(|(action, ..)| action == "AssumeRole").count(), 1, "{seen:?}");
}

#[test]
fn without_the_role_the_same_credentials_are_refused_as_another_account() {
    let (url, seen) = sts(false);
    let run = plan(&url, "role-absent", &env_file(None));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains(&format!("the credentials belong to account {BASE_ACCOUNT}")), "{run:?}");
    assert!(seen.lock().unwrap().iter().all(|(action, ..)| action != "AssumeRole"));
}

#[test]
fn a_role_that_cannot_be_assumed_is_named_first() {
    let (url, seen) = sts(true);
    let run = plan(&url, "role-denied", &env_file(Some(ROLE)));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&format!("cannot assume the deploy role {ROLE} (session provision-dev)")), "{run:?}");
    assert!(run.stderr.contains("AccessDenied") || run.stderr.contains("not authorized"), "{run:?}");
    // Nothing else was asked with the base credentials.
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|(action, ..)| action == "AssumeRole"), "{seen:?}");
}
