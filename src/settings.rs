//! From what the user typed to what the program uses, in one place: the command line and the environment are
//! resolved once into [`Settings`], and with an env file into the [`ClientSettings`] of that env's AWS clients.
//! Nothing below this module sees a clap type or reads an environment variable of its own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::aws::{AssumedRole, Aws, ClientSettings, Connections, Endpoints, Service};
use crate::cli::{AwsArgs, Cli};
use crate::config::Config;
use crate::output::refuse;

/// What a run works with, whatever the command.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Directory of the env files.
    pub stacks_dir: PathBuf,
    /// Deadline of the whole command (`None`: none).
    pub deadline: Option<Duration>,
    aws: AwsArgs,
    /// `AWS_ENDPOINT_URL_<SERVICE>`: a service's own endpoint.
    service_endpoints: BTreeMap<Service, String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`): the region of a command that has no env file to name one.
    environment_region: Option<String>,
}

impl Settings {
    /// The settings of a parsed command line, with the process's environment.
    pub fn resolve(cli: &Cli) -> Settings {
        Settings::with_environment(cli, |name| std::env::var(name).ok())
    }

    /// The settings of a parsed command line, with `variable` standing for the environment (tests).
    pub fn with_environment(cli: &Cli, variable: impl Fn(&str) -> Option<String>) -> Settings {
        let service_endpoints = Service::ALL
            .into_iter()
            .filter_map(|service| {
                let endpoint = variable(service.endpoint_variable()).filter(|e| !e.trim().is_empty())?;
                Some((service, endpoint))
            })
            .collect();
        Settings {
            stacks_dir: cli.global.stacks_dir.clone(),
            deadline: cli.deadline(),
            aws: cli.global.aws.clone(),
            service_endpoints,
            environment_region: variable("AWS_REGION").or_else(|| variable("AWS_DEFAULT_REGION")),
        }
    }

    /// How `config`'s env is reached: the command line wins over the env file; a service's own endpoint wins for
    /// that service.
    pub fn clients_for(&self, config: &Config) -> ClientSettings {
        let args = &self.aws;
        let everywhere = args.endpoint_url.clone().or_else(|| config.endpoint.clone());
        let mut endpoints = Endpoints::all(everywhere);
        endpoints.by_service = self.service_endpoints.clone();
        ClientSettings {
            region: args.region.clone().unwrap_or_else(|| config.region.clone()),
            profile: args.profile.clone(),
            endpoints,
            ca_bundle: args.ca_bundle.clone(),
            max_attempts: args.max_attempts,
            call_timeout: args.call_timeout,
            role: config.deploy_role.as_ref().map(|role| AssumedRole {
                arn: role.arn.clone(),
                external_id: role.external_id.clone(),
                session_name: session_name(config),
            }),
        }
    }

    /// How AWS is reached without an env file (`init`): `--region`, else `AWS_REGION`; the command-line and
    /// environment endpoints; no deploy role.
    pub fn clients_without_env(&self) -> anyhow::Result<ClientSettings> {
        let args = &self.aws;
        let region = args
            .region
            .clone()
            .or_else(|| self.environment_region.clone())
            .ok_or_else(|| anyhow::anyhow!("no region: pass --region (or set AWS_REGION)"))?;
        let mut endpoints = Endpoints::all(args.endpoint_url.clone());
        endpoints.by_service = self.service_endpoints.clone();
        Ok(ClientSettings {
            region,
            profile: args.profile.clone(),
            endpoints,
            ca_bundle: args.ca_bundle.clone(),
            max_attempts: args.max_attempts,
            call_timeout: args.call_timeout,
            role: None,
        })
    }

    /// The region `--region` names, if any.
    pub fn region(&self) -> Option<&str> {
        self.aws.region.as_deref()
    }

    /// Clients for `config`'s env (as its deploy role, if it names one) and their account, refused unless it is
    /// the env file's.
    pub async fn connect(&self, config: &Config) -> Result<(Aws, String)> {
        let aws = Aws::connect(&self.clients_for(config)).await?;
        let account = aws.account().await?;
        check_account(&account, config)?;
        Ok((aws, account))
    }

    /// As [`Settings::connect`], sharing one connection between the envs reached the same way.
    pub async fn connect_shared(&self, connections: &Connections, config: &Config) -> Result<(Aws, String)> {
        let (aws, account) = connections.get(&self.clients_for(config)).await?;
        check_account(&account, config)?;
        Ok((aws, account))
    }
}

/// The role session's name, as CloudTrail shows who acted: `provision-<env>[-<instance>]`, within STS's 64
/// characters (env and instance names only have characters it accepts).
fn session_name(config: &Config) -> String {
    let mut name = format!("provision-{}", config.env);
    if let Some(instance) = &config.instance {
        name = format!("{name}-{instance}");
    }
    name.truncate(64);
    name
}

/// Refuses credentials of an account other than the env file's `account:` (exit 3).
pub fn check_account(actual: &str, config: &Config) -> Result<()> {
    match &config.account {
        Some(expected) if expected != actual => Err(refuse(format!(
            "the credentials belong to account {actual}, but env {} is for account {expected}; switch credentials or profile",
            config.env
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(src: &str) -> Config {
        crate::config::parse(src, Path::new("dev.yaml"), "dev", None).unwrap()
    }

    fn settings(args: &[&str], environment: &[(&str, &str)]) -> Settings {
        let cli = Cli::parse_from_args(["provision"].iter().chain(args)).unwrap();
        Settings::with_environment(&cli, |name| {
            environment.iter().find(|(n, _)| *n == name).map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn the_command_line_wins_over_the_env_file_and_a_service_endpoint_over_both() {
        let config = config("project: demo\nregion: us-west-1\nendpoint: http://127.0.0.1:4566\n");
        let plain = settings(&["plan", "--env", "dev"], &[]).clients_for(&config);
        assert_eq!(plain.region, "us-west-1");
        assert_eq!(plain.endpoints.of(Service::Iam), Some("http://127.0.0.1:4566"));
        let flags = settings(
            &["plan", "--env", "dev", "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:9000"],
            &[("AWS_ENDPOINT_URL_S3", "https://bucket.vpce-0a1.s3.eu-west-1.vpce.amazonaws.com")],
        )
        .clients_for(&config);
        assert_eq!(flags.region, "eu-west-1");
        assert_eq!(flags.endpoints.of(Service::Iam), Some("http://127.0.0.1:9000"));
        assert_eq!(flags.endpoints.of(Service::S3), Some("https://bucket.vpce-0a1.s3.eu-west-1.vpce.amazonaws.com"));
    }

    #[test]
    fn a_service_endpoint_alone_leaves_the_other_services_on_aws() {
        let config = config("project: demo\nregion: us-west-1\n");
        let clients =
            settings(&["drift"], &[("AWS_ENDPOINT_URL_S3", "https://s3.vpce.example"), ("AWS_ENDPOINT_URL_SQS", " ")])
                .clients_for(&config);
        assert_eq!(clients.endpoints.of(Service::S3), Some("https://s3.vpce.example"));
        assert_eq!(clients.endpoints.of(Service::Sqs), None);
        assert_eq!(clients.endpoints.of(Service::CloudFormation), None);
    }

    #[test]
    fn a_deploy_role_is_assumed_with_a_session_named_after_the_tool_and_env() {
        let src = "project: demo\nregion: us-west-1\naccount: \"123456789012\"\n\
                   deploy_role: arn:aws:iam::123456789012:role/ci/provision-deployer\nexternal_id: team-data-7\n";
        let clients = settings(&["plan", "--env", "dev"], &[]).clients_for(&config(src));
        let role = clients.role.unwrap();
        assert_eq!(role.arn, "arn:aws:iam::123456789012:role/ci/provision-deployer");
        assert_eq!(role.external_id.as_deref(), Some("team-data-7"));
        assert_eq!(role.session_name, "provision-dev");
        assert!(
            settings(&["plan", "--env", "dev"], &[])
                .clients_for(&config("project: demo\nregion: us-west-1\n"))
                .role
                .is_none()
        );
    }

    #[test]
    fn credentials_of_another_account_are_refused() {
        let config = config("project: demo\nregion: us-west-1\naccount: \"123456789012\"\n");
        assert!(check_account("123456789012", &config).is_ok());
        let refused = check_account("999999999999", &config).unwrap_err();
        assert_eq!(crate::output::status_of(&refused), crate::output::ExitStatus::Refused);
        assert!(refused.to_string().contains("belong to account 999999999999"), "{refused}");
    }
}
