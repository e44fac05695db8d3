//! Command-line types: what the user typed. Commands turn these into validated config and AWS settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// Production-grade S3 data buckets from one typed config file.
///
/// `provision --env E` deploys env E (the same as `provision deploy --env E`).
#[derive(Debug, Parser)]
#[command(name = "provision", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Output format: text, json (one document on stdout) or github (annotations).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,

    /// Directory of the env files (`<env>.yaml`).
    #[arg(long, global = true, default_value = "stacks", env = "PROVISION_STACKS_DIR")]
    pub stacks_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check env files (all of them without --env), render them and check least privilege; no AWS call.
    Validate(ValidateArgs),
    /// Render the CloudFormation template and policy documents of an env.
    Render(RenderArgs),
    /// Print the JSON Schema of env files (for editor completion).
    Schema,
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
