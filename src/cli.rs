//! Command-line types: what the user typed. Commands turn these into validated config and AWS settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::output::{ExitStatus, Format};

/// Production-grade S3 data buckets from one typed config file.
///
/// `provision --env E` deploys env E (the same as `provision deploy --env E`).
#[derive(Debug, Parser)]
#[command(name = "provision", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub global: Global,

    /// `provision --env E`: the main job (deploy), without naming the subcommand.
    #[command(flatten)]
    pub deploy: DeployArgs,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Output format: text, json (one document on stdout) or github (annotations).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,

    /// Directory of the env files (`<env>.yaml`).
    #[arg(long, global = true, default_value = "stacks", env = "PROVISION_STACKS_DIR")]
    pub stacks_dir: PathBuf,

    /// Deadline for the whole command (e.g. 90s, 20m, 1h30m; 0 for none). Defaults: deploy 60m (plus
    /// --wait-timeout), teardown 60m (at least --stack-timeout plus 30m), drift 15m, plan and smoke 10m, list 5m.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How AWS is reached, as the command line and the environment say it; the env file fills in the rest
/// ([`crate::settings`]).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// AWS region; defaults to the env file's `region`.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named profile from the shared AWS config files.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Custom endpoint for every service (an emulator); also `AWS_ENDPOINT_URL` or `endpoint:` in the env file.
    /// One service's own endpoint (a VPC endpoint for S3) goes in `AWS_ENDPOINT_URL_S3` and the like.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// PEM file with extra CA certificates to trust (an emulator's HTTPS, a corporate proxy).
    #[arg(long, global = true, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Attempts per AWS call, with exponential backoff for throttling and transient errors.
    #[arg(long, global = true, default_value_t = 8)]
    pub max_attempts: u32,
    /// Longest time one AWS call may take, all its attempts included (e.g. 30s, 2m); each attempt also gives up
    /// after 5s without a connection and 60s without an answer.
    #[arg(long, global = true, value_name = "DURATION", default_value = "2m", value_parser = parse_call_timeout)]
    pub call_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy an env through a change set (the default command): preview, guard, confirm, execute, follow.
    Deploy(DeployArgs),
    /// Create a change set, show it, delete it.
    ///
    /// Exit codes: 0 no changes; 1 error; 2 changes; 3 refused (the data guard would refuse the deploy, or
    /// credentials of another account than the env file's); 64 usage error.
    Plan(PlanArgs),
    /// Check env files (all of them without --env), render them and check least privilege; no AWS call.
    Validate(ValidateArgs),
    /// Render the CloudFormation template and policy documents of an env.
    Render(RenderArgs),
    /// Print the JSON Schema of env files (for editor completion).
    Schema,
    /// Tear down an instance of an ephemeral env: freeze writes, empty its versioned bucket, delete its stack.
    Teardown(TeardownArgs),
    /// Compare the deployed template and the live settings with the config.
    ///
    /// Exit codes: 0 in sync; 1 error (credentials, missing stack, API failure, deadline); 2 drift or pending
    /// changes found; 3 refused (credentials of another account than the env file's, or a revert of a protected env
    /// not confirmed); 64 usage error (unknown flag, bad value).
    Drift(DriftArgs),
    /// List the stacks this tool manages (found by tag): env, instance, status, age, expiry, bucket, objects.
    List(ListArgs),
    /// Prove a deployed env works: probe objects, versioning, notifications, TLS only, least privilege; then clean up.
    Smoke(SmokeArgs),
    /// Take an existing bucket (and its data) under the env's stack: show what changes on it, grouped by risk, then
    /// import it and put its settings right.
    ///
    /// Exit codes: 0 adopted (or nothing to adopt); 1 error; 2 with --dry-run, something to adopt; 3 refused (not
    /// confirmed, a risk of a protected env not named with --accept-risk, other resources in the way); 64 usage.
    Adopt(AdoptArgs),
    /// Write a new env file from an existing bucket's live settings (for `adopt`); never overwrites a file.
    Init(InitArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The existing bucket to read.
    #[arg(long, value_name = "NAME")]
    pub from_bucket: String,
    /// The env to write: `<stacks-dir>/<ENV>.yaml`.
    #[arg(long, value_name = "ENV", default_value = "prod")]
    pub env: String,
}

#[derive(Debug, Clone, Args)]
pub struct AdoptArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Print the adoption plan and change nothing (exit 2 when there is something to adopt).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required off a terminal when the plan has risky changes).
    #[arg(long)]
    pub yes: bool,
    /// Accept one kind of risky change (repeatable); a protected env needs each risk of its plan named.
    #[arg(long = "accept-risk", value_name = "RISK", value_enum)]
    pub accept_risk: Vec<crate::adopt::Risk>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Env to check (repeatable); all envs in the stacks directory when omitted.
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Env to render.
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// Instance of an ephemeral env (e.g. pr-42).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Write the files into this directory instead of printing the template: template.yaml, policies/<name>.json
    /// (one per IAM policy document of the template) and, for a protected env, stack-policy.json.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Resolve every CloudFormation function (Ref, Fn::GetAtt, Fn::Sub, AWS::AccountId, ...) to the literal it
    /// stands for in one account and region, for linters and policy analyzers (parliament, IAM Access Analyzer);
    /// deploy the unresolved template. Offline, the id of a KMS key the stack creates is a placeholder, and the
    /// deploying principal (DeployerArn) is the account's root.
    #[arg(long)]
    pub resolve: bool,
    /// Account to resolve for (12 digits); default: the env file's `account:`.
    #[arg(long, value_name = "ID", requires = "resolve", value_parser = parse_account)]
    pub account: Option<String>,
}

/// `--account`: an AWS account id, 12 digits.
fn parse_account(text: &str) -> Result<String, String> {
    if crate::names::is_account_id(text) {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not an AWS account id (12 digits)"))
    }
}

/// Which env (and instance) a command works on.
#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// Env to work on: the file `<stacks-dir>/<NAME>.yaml`.
    #[arg(id = "env", long = "env", value_name = "NAME")]
    pub name: Option<String>,
    /// Instance of an ephemeral env (e.g. pr-42): its own stack and bucket.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

impl EnvArgs {
    pub fn new(name: &str, instance: Option<String>) -> EnvArgs {
        EnvArgs { name: Some(name.to_string()), instance }
    }

    /// The env's name: `--env` is required wherever these flags are.
    pub fn name(&self) -> anyhow::Result<&str> {
        self.name.as_deref().ok_or_else(|| anyhow::anyhow!("--env is required (e.g. `provision --env local`)"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Do not ask for confirmation (required for protected envs when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Allow a change that replaces or removes the data bucket (protected envs also need it in the env file).
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Wait this long for an operation already in progress on the stack (e.g. 15m); 0 fails at once.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration_arg)]
    pub wait_timeout: std::time::Duration,
    /// Expiry of an ephemeral instance from now (e.g. 6h, 1h30m; at most 365d), overriding the env file's `ttl`.
    #[arg(long, value_name = "DURATION", value_parser = parse_age_arg)]
    pub ttl: Option<std::time::Duration>,
    /// After deploying, put back live settings that drifted from the config (always on with `drift.self_heal`).
    #[arg(long)]
    pub revert_drift: bool,
    /// Skip the verification and smoke test that follow a deploy.
    #[arg(long)]
    pub no_smoke: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Judge the plan as a deploy with --allow-data-loss would.
    #[arg(long)]
    pub allow_data_loss: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Tear down every instance of the env whose expiry (tag provision:expires) has passed.
    #[arg(long, conflicts_with = "instance")]
    pub expired: bool,
    /// Tear down every instance of the env created longer ago than this (tag provision:created), e.g. 2d; at most 365d.
    #[arg(long, value_name = "DURATION", value_parser = parse_age_arg, conflicts_with_all = ["instance", "expired"])]
    pub older_than: Option<std::time::Duration>,
    /// Instances torn down at once with --expired or --older-than.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,
    /// DeleteObjects calls (of up to 1000 versions each) in flight while emptying a bucket.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub in_flight: u16,
    /// How long the stack deletion may take.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration_arg)]
    pub stack_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub env: EnvArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only the stacks of this env (and its project); without it, every managed stack in the regions of the env files.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Do not count each bucket's objects (one ListObjectsV2 call per bucket).
    #[arg(long)]
    pub no_count: bool,
}

/// The longest `--call-timeout`: an hour.
const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(3600);

/// `--call-timeout`: a positive duration (`30s`, `2m`, `1m30s`), at most an hour.
pub fn parse_call_timeout(text: &str) -> Result<Duration, String> {
    crate::config::limits::parse_duration(text, MAX_CALL_TIMEOUT)
}

/// `--timeout`: a duration for people (`90s`, `20m`, `1h30m`), at most a day; `0` (or `0s`, `none`) is no deadline.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "0" | "0s" | "none" => Ok(Duration::ZERO),
        text => crate::config::limits::parse_duration(text, crate::config::limits::MAX_WAIT),
    }
}

/// The commands that make no AWS call: their help leaves out the AWS settings and the deadline.
const OFFLINE: &[&str] = &["validate", "render", "schema"];

/// Hidden stand-ins for the global AWS settings and `--timeout` in the commands that make no AWS call: clap then
/// does not add the global ones to their help. They are still accepted (and ignored), so that a script may pass the
/// same settings to every command.
fn offline_stand_ins() -> Vec<clap::Arg> {
    let aws = AwsArgs::augment_args(clap::Command::new("aws"));
    let mut args: Vec<clap::Arg> = aws.get_arguments().cloned().collect();
    let timeout = Global::augment_args(clap::Command::new("global"));
    args.extend(timeout.get_arguments().filter(|a| a.get_id() == "timeout").cloned());
    // No environment variables: those reach the top-level settings anyway.
    args.into_iter().map(|a| a.global(false).hide(true).env(None::<&str>)).collect()
}

/// The command line definition: the derived one, with the AWS settings left out of the help of the commands that
/// make no AWS call.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    for name in OFFLINE {
        command = command.mut_subcommand(*name, |sub| sub.args(offline_stand_ins()));
    }
    // `render --resolve` resolves for a region: there `--region` has a use, and its help says which.
    command.mut_subcommand("render", |sub| {
        sub.mut_arg("region", |a| {
            a.hide(false).help("Region to resolve for with --resolve; default: the env file's `region`")
        })
    })
}

/// What went wrong on the command line: clap's own message (with usage), or one of the checks clap cannot express.
fn misuse(kind: clap::error::ErrorKind, message: &str) -> clap::Error {
    command().error(kind, message)
}

impl Cli {
    /// Parses a command line. `Err` is a usage error (exit 64), or `--help`/`--version` (exit 0): see
    /// [`usage_exit`].
    pub fn parse_from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut matches = command().try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command()))?;
        if cli.command.is_some() && (cli.deploy.env.name.is_some() || cli.deploy.env.instance.is_some()) {
            return Err(misuse(
                clap::error::ErrorKind::ArgumentConflict,
                "--env/--instance go after the subcommand, e.g. `provision plan --env prod`",
            ));
        }
        if cli.command.is_none() && cli.deploy.env.name.is_none() {
            return Err(misuse(
                clap::error::ErrorKind::MissingSubcommand,
                "no command given: try `provision --env local`, or see `provision --help`",
            ));
        }
        Ok(cli)
    }

    /// The command's name, as the user knows it (`deploy` for `provision --env E`).
    pub fn command_name(&self) -> &'static str {
        match &self.command {
            None | Some(Command::Deploy(_)) => "deploy",
            Some(Command::Plan(_)) => "plan",
            Some(Command::Validate(_)) => "validate",
            Some(Command::Render(_)) => "render",
            Some(Command::Schema) => "schema",
            Some(Command::Teardown(_)) => "teardown",
            Some(Command::Drift(_)) => "drift",
            Some(Command::List(_)) => "list",
            Some(Command::Smoke(_)) => "smoke",
            Some(Command::Adopt(_)) => "adopt",
            Some(Command::Init(_)) => "init",
        }
    }

    /// The command's deadline: `--timeout`, else the command's default; `None` for no deadline (`--timeout 0`, and
    /// the commands that make no AWS call). The defaults leave room for the waits a command is told to make: a
    /// deploy's `--wait-timeout` comes on top of its 60 minutes, and a teardown gets its `--stack-timeout` plus 30
    /// minutes if that is longer than 60.
    pub fn deadline(&self) -> Option<Duration> {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let default = match &self.command {
            None => Some(minutes(60) + self.deploy.wait_timeout),
            Some(Command::Deploy(args)) => Some(minutes(60) + args.wait_timeout),
            Some(Command::Adopt(_)) => Some(minutes(60)),
            Some(Command::Init(_)) => Some(minutes(5)),
            Some(Command::Teardown(args)) => Some(minutes(60).max(args.stack_timeout + minutes(30))),
            Some(Command::Drift(_)) => Some(minutes(15)),
            Some(Command::Plan(_) | Command::Smoke(_)) => Some(minutes(10)),
            Some(Command::List(_)) => Some(minutes(5)),
            Some(Command::Validate(_) | Command::Render(_) | Command::Schema) => None,
        };
        match self.global.timeout {
            _ if default.is_none() => None,
            Some(Duration::ZERO) => None,
            Some(timeout) => Some(timeout),
            None => default,
        }
    }
}

/// How the process ends after a command line that was not run: help and version on stdout (exit 0), a usage error
/// on stderr with exit 64 ([`ExitStatus::Usage`]), never clap's own 2, which means "differences found".
pub fn usage_exit(error: &clap::Error) -> ExitStatus {
    let _ = error.print();
    if error.use_stderr() { ExitStatus::Usage } else { ExitStatus::Success }
}

/// Waits on the command line (`--wait-timeout`, `--stack-timeout`): `0s`, `90s`, `15m`, `1h30m`; at most 24h.
pub fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    parse_bounded(text, crate::config::limits::MAX_WAIT)
}

/// Ages on the command line (`--ttl`, `--older-than`): `6h`, `2d`, `1h30m`; at most 365 days, like `ttl:`.
pub fn parse_age_arg(text: &str) -> Result<std::time::Duration, String> {
    parse_bounded(text, crate::config::limits::MAX_TTL)
}

fn parse_bounded(text: &str, max: std::time::Duration) -> Result<std::time::Duration, String> {
    if text.trim() == "0" || text.trim() == "0s" {
        return Ok(std::time::Duration::ZERO);
    }
    crate::config::limits::parse_duration(text, max)
}

#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    /// Env to check (repeatable); without --env, every env in the stacks directory.
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// Instance of an ephemeral env.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Make the live state match the config again (live settings put back directly, pending changes deployed).
    #[arg(long)]
    pub revert: bool,
    /// Do not ask before reverting a protected env (required off a terminal).
    #[arg(long)]
    pub yes: bool,
    /// How many envs are checked at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub concurrency: u16,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn error_of(args: &[&str]) -> String {
        Cli::try_parse_from(std::iter::once("provision").chain(args.iter().copied())).unwrap_err().to_string()
    }

    #[test]
    fn durations_are_compound_and_bounded() {
        let cli = Cli::try_parse_from(["provision", "--env", "test", "--ttl", "1h30m", "--wait-timeout", "1h 30m"]);
        let cli = cli.unwrap();
        assert_eq!(cli.deploy.ttl, Some(std::time::Duration::from_secs(5400)));
        assert_eq!(cli.deploy.wait_timeout, std::time::Duration::from_secs(5400));
        let e = error_of(&["--env", "test", "--ttl", "99999999w"]);
        assert!(e.contains("`99999999w` is longer than the maximum of 365 days"), "{e}");
        let e = error_of(&["teardown", "--env", "test", "--older-than", "400d"]);
        assert!(e.contains("`400d` is longer than the maximum of 365 days"), "{e}");
        let e = error_of(&["--env", "test", "--wait-timeout", "2d"]);
        assert!(e.contains("`2d` is longer than the maximum of 1 day"), "{e}");
        let e = error_of(&["teardown", "--env", "test", "--stack-timeout", "99999999999999999999w"]);
        assert!(e.contains("longer than the maximum of 1 day"), "{e}");
        let zero = Cli::try_parse_from(["provision", "--env", "test", "--wait-timeout", "0"]).unwrap();
        assert!(zero.deploy.wait_timeout.is_zero());
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::parse_from_args(std::iter::once("provision").chain(args.iter().copied()))
    }

    fn help_of(subcommand: &str) -> String {
        let mut command = command();
        command.build();
        command.find_subcommand_mut(subcommand).unwrap().render_long_help().to_string()
    }

    const AWS_FLAGS: &[&str] =
        &["--region", "--profile", "--endpoint-url", "--ca-bundle", "--max-attempts", "--call-timeout", "--timeout"];

    /// Commands that make no AWS call do not offer AWS settings (they accept and ignore them, for scripts that pass
    /// the same settings to every command); the others do.
    #[test]
    fn offline_commands_do_not_list_aws_settings() {
        for offline in ["validate", "render", "schema"] {
            let help = help_of(offline);
            // `render --resolve` takes a region: the one AWS setting render uses.
            for flag in AWS_FLAGS.iter().filter(|f| offline != "render" || **f != "--region") {
                assert!(!help.contains(flag), "{offline} --help lists {flag}:\n{help}");
            }
            assert!(help.contains("--stacks-dir"), "{help}");
        }
        for online in ["deploy", "plan", "drift", "smoke", "teardown", "list"] {
            let help = help_of(online);
            for flag in AWS_FLAGS {
                assert!(help.contains(flag), "{online} --help lacks {flag}:\n{help}");
            }
        }
        let cli = parse(&["validate", "--region", "eu-west-1", "--max-attempts", "2", "--timeout", "5m"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Validate(_))));
        assert_eq!(cli.global.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cli.deadline(), None);
        let cli = parse(&["--region", "eu-west-1", "render", "--env", "prod"]).unwrap();
        assert_eq!(cli.global.aws.region.as_deref(), Some("eu-west-1"));
    }

    /// `render --resolve` takes the account and the region to resolve for; `--account` means nothing without it.
    #[test]
    fn render_resolve_takes_an_account_and_a_region() {
        let cli =
            parse(&["render", "--env", "prod", "--resolve", "--account", "123456789012", "--region", "us-west-1"]);
        let cli = cli.unwrap();
        let Some(Command::Render(args)) = &cli.command else { panic!("not render: {cli:?}") };
        assert!(args.resolve);
        assert_eq!(args.account.as_deref(), Some("123456789012"));
        assert_eq!(cli.global.aws.region.as_deref(), Some("us-west-1"));
        let e = parse(&["render", "--env", "prod", "--account", "123456789012"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument, "{e}");
        let e = parse(&["render", "--env", "prod", "--resolve", "--account", "1234"]).unwrap_err();
        assert!(e.to_string().contains("`1234` is not an AWS account id (12 digits)"), "{e}");
        let help = help_of("render");
        for flag in ["--resolve", "--account", "--region"] {
            assert!(help.contains(flag), "render --help lacks {flag}:\n{help}");
        }
    }

    /// Help promises only what exists: drift names every exit code and no `--all`; render names every file it writes.
    #[test]
    fn help_texts_promise_what_exists() {
        let drift = help_of("drift");
        assert!(!drift.contains("--all"), "{drift}");
        for code in ["0 in sync", "1 error", "2 drift", "3 refused", "64 usage error"] {
            assert!(drift.contains(code), "drift --help lacks `{code}`:\n{drift}");
        }
        let e = parse(&["drift", "--all"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        let render = help_of("render");
        for file in ["template.yaml", "policies/<name>.json", "stack-policy.json"] {
            assert!(render.contains(file), "render --help lacks {file}:\n{render}");
        }
    }

    /// A mistyped flag, a missing command and flags in the wrong place are usage errors (exit 64), never clap's 2
    /// ("differences found"); help and version exit 0.
    #[test]
    fn usage_errors_exit_64_and_help_exits_0() {
        let typo = parse(&["drift", "--env", "prod", "--outptu", "github"]).unwrap_err();
        assert_eq!(typo.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(typo.use_stderr());
        assert_eq!(ExitStatus::Usage.code(), 64);
        let misplaced = parse(&["--env", "prod", "plan"]).unwrap_err();
        assert!(misplaced.to_string().contains("--env/--instance go after the subcommand"), "{misplaced}");
        assert!(misplaced.use_stderr());
        let nothing = parse(&[]).unwrap_err();
        assert!(nothing.to_string().contains("no command given"), "{nothing}");
        assert!(nothing.use_stderr());
        for ok in [&["--help"][..], &["drift", "--help"], &["--version"]] {
            let e = parse(ok).unwrap_err();
            assert!(!e.use_stderr(), "{ok:?}: {e}");
        }
    }

    #[test]
    fn deadlines_default_per_command_and_are_set_with_timeout() {
        let minutes = |m: u64| Some(Duration::from_secs(m * 60));
        let deadline = |args: &[&str]| parse(args).unwrap().deadline();
        assert_eq!(deadline(&["--env", "prod"]), minutes(60));
        assert_eq!(deadline(&["deploy", "--env", "prod"]), minutes(60));
        assert_eq!(deadline(&["teardown", "--env", "test"]), minutes(60));
        assert_eq!(deadline(&["drift"]), minutes(15));
        assert_eq!(deadline(&["plan", "--env", "prod"]), minutes(10));
        assert_eq!(deadline(&["smoke", "--env", "prod"]), minutes(10));
        assert_eq!(deadline(&["list"]), minutes(5));
        assert_eq!(deadline(&["--env", "prod", "--wait-timeout", "15m"]), minutes(75));
        assert_eq!(deadline(&["teardown", "--env", "test", "--stack-timeout", "2h"]), minutes(150));
        assert_eq!(deadline(&["validate"]), None);
        assert_eq!(deadline(&["schema"]), None);
        assert_eq!(deadline(&["plan", "--env", "prod", "--timeout", "3s"]), Some(Duration::from_secs(3)));
        assert_eq!(deadline(&["--timeout", "1h30m", "drift"]), minutes(90));
        assert_eq!(deadline(&["plan", "--env", "prod", "--timeout", "0"]), None);
        assert!(parse(&["plan", "--env", "prod", "--timeout", "soon"]).is_err());
        let cli = parse(&["list", "--call-timeout", "2s"]).unwrap();
        assert_eq!(cli.global.aws.call_timeout, Duration::from_secs(2));
        assert_eq!(parse(&["list"]).unwrap().global.aws.call_timeout, Duration::from_secs(120));
    }
}
