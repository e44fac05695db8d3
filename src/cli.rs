//! Command-line types: what the user typed. Commands turn these into validated config and AWS settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::aws::AwsArgs;
use crate::output::Format;

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

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy an env through a change set (the default command): preview, guard, confirm, execute, follow.
    Deploy(DeployArgs),
    /// Create a change set, show it, delete it. Exit 0 no changes, 2 changes, 3 the data guard would refuse.
    Plan(PlanArgs),
    /// Check env files (all of them without --env), render them and check least privilege; no AWS call.
    Validate(ValidateArgs),
    /// Render the CloudFormation template and policy documents of an env.
    Render(RenderArgs),
    /// Print the JSON Schema of env files (for editor completion).
    Schema,
    /// Tear down an instance of an ephemeral env: freeze writes, empty its versioned bucket, delete its stack.
    Teardown(TeardownArgs),
    /// Compare the deployed template and the live settings with the config. Exit 0 in sync, 2 drift, 1 error.
    Drift(DriftArgs),
    /// List the stacks this tool manages (found by tag): env, instance, status, age, expiry, bucket, objects.
    List(ListArgs),
    /// Prove a deployed env works: probe objects, versioning, notifications, TLS only, least privilege; then clean up.
    Smoke(SmokeArgs),
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
    /// Write template.yaml and policies/*.json into this directory instead of printing the template.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Which env (and instance) a command works on.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Env to work on: the file `<stacks-dir>/<NAME>.yaml`.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Instance of an ephemeral env (e.g. pr-42): its own stack and bucket.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

impl Target {
    pub fn env(&self) -> anyhow::Result<&str> {
        self.env.as_deref().ok_or_else(|| anyhow::anyhow!("--env is required (e.g. `provision --env local`)"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: Target,
    /// Do not ask for confirmation (required for protected envs when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Allow a change that replaces or removes the data bucket (protected envs also need it in the env file).
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Wait this long for an operation already in progress on the stack (e.g. 15m); 0 fails at once.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration_arg)]
    pub wait_timeout: std::time::Duration,
    /// Expiry of an ephemeral instance from now (e.g. 6h), overriding the env file's `ttl`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
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
    pub target: Target,
    /// Judge the plan as a deploy with --allow-data-loss would.
    #[arg(long)]
    pub allow_data_loss: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub target: Target,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Tear down every instance of the env whose expiry (tag provision:expires) has passed.
    #[arg(long, conflicts_with = "instance")]
    pub expired: bool,
    /// Tear down every instance of the env created longer ago than this (tag provision:created), e.g. 2d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg, conflicts_with_all = ["instance", "expired"])]
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
    pub target: Target,
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

/// Durations on the command line: `0s`, `90s`, `15m`, `6h`, `7d`.
pub fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    if text.trim() == "0" || text.trim() == "0s" {
        return Ok(std::time::Duration::ZERO);
    }
    crate::names::parse_duration(text)
}

#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    /// Env to check (repeatable); with --all or no --env, every env in the stacks directory.
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
