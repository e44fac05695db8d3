//! The one place AWS clients are built: region, credentials, endpoint, TLS trust and retries.
//!
//! Nothing else in the tool knows whether it talks to AWS or to an emulator; commands receive an [`Aws`].

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use crate::config::Config;

/// Connection settings for AWS, shared by every command that talks to it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// AWS region; defaults to the env file's `region`.
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named profile from the shared AWS config files.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Custom endpoint (an emulator, a VPC endpoint); also `AWS_ENDPOINT_URL` or `endpoint:` in the env file.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// PEM file with extra CA certificates to trust (an emulator's HTTPS, a corporate proxy).
    #[arg(long, global = true, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Attempts per AWS call, with exponential backoff for throttling and transient errors.
    #[arg(long, global = true, default_value_t = 8)]
    pub max_attempts: u32,
}

/// The clients one command needs, all built from one [`SdkConfig`].
#[derive(Clone, Debug)]
pub struct Aws {
    pub sdk: SdkConfig,
    pub region: String,
    pub endpoint: Option<String>,
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Aws {
    /// Builds clients for `config`'s env; command-line settings win over the env file.
    pub async fn connect(args: &AwsArgs, config: &Config) -> Result<Aws> {
        let (region, endpoint) = target(args, config);
        let retry = retry_config(args.max_attempts);
        // Bounded so that an unreachable or hung endpoint gives an error instead of a hang.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .operation_attempt_timeout(Duration::from_secs(90))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = &endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(path) = &args.ca_bundle {
            loader = loader.http_client(http_client_trusting(path)?);
        }
        let sdk = loader.load().await;
        Ok(Aws::from_sdk(sdk, region, endpoint))
    }

    /// Clients from an existing SDK config (tests build one around mock or emulator settings). Every client shares
    /// one retry quota and knows the throttling codes the SDK's own list lacks: [`retry_config`] is the tool's only
    /// retry policy.
    pub fn from_sdk(sdk: SdkConfig, region: String, endpoint: Option<String>) -> Aws {
        let partition = retry_partition();
        // Emulators and custom endpoints do not serve virtual-hosted bucket names.
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(endpoint.is_some())
            .retry_partition(partition.clone())
            .build();
        let sns = aws_sdk_sns::config::Builder::from(&sdk)
            .retry_partition(partition.clone())
            .retry_classifier(throttling::<aws_sdk_sns::operation::get_topic_attributes::GetTopicAttributesError>())
            .retry_classifier(throttling::<aws_sdk_sns::operation::set_topic_attributes::SetTopicAttributesError>())
            .build();
        Aws {
            cfn: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(&sdk).retry_partition(partition.clone()).build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(s3),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&sdk).retry_partition(partition.clone()).build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&sdk).retry_partition(partition.clone()).build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sdk).retry_partition(partition).build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(sns),
            sdk,
            region,
            endpoint,
        }
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account(&self) -> Result<String> {
        let identity =
            self.sts.get_caller_identity().send().await.map_err(|e| aws_error(e, "GetCallerIdentity")).context(
                "cannot find out which AWS account the credentials belong to (check credentials, profile and endpoint)",
            )?;
        identity.account.context("STS returned no account id")
    }

    /// The HTTPS URL of an S3 object, as CloudFormation's `TemplateURL` takes it: virtual-hosted in the region's
    /// partition on AWS, path-style under a custom endpoint (as the S3 client addresses it there).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
            None => {
                let (_, dns_suffix) = crate::deploy::template_store::partition(&self.region);
                format!("https://{bucket}.s3.{}.{dns_suffix}/{key}", self.region)
            }
        }
    }
}

/// Where an env is reached: region and endpoint.
type Target = (String, Option<String>);

/// Clients and the account their credentials belong to.
type Connection = (Aws, String);

/// Where `config`'s env is reached (command-line settings win over the env file).
fn target(args: &AwsArgs, config: &Config) -> Target {
    let region = args.region.clone().unwrap_or_else(|| config.region.clone());
    let endpoint = args.endpoint_url.clone().or_else(|| config.endpoint.clone()).filter(|e| !e.is_empty());
    (region, endpoint)
}

/// Clients and the credentials' account, shared by the envs of one run that are reached the same way: one SDK
/// config, one connection pool and one STS call however many envs are checked together.
#[derive(Default)]
pub struct Connections {
    by_target: Mutex<HashMap<Target, Arc<OnceCell<Connection>>>>,
}

impl Connections {
    /// The clients for `config`'s env and the account their credentials belong to.
    pub async fn get(&self, args: &AwsArgs, config: &Config) -> Result<Connection> {
        self.get_or_connect(target(args, config), || async {
            let aws = Aws::connect(args, config).await?;
            let account = aws.account().await?;
            Ok((aws, account))
        })
        .await
    }

    /// The connection for `target`, made by `connect` by the first env that needs it while the others wait. A
    /// failure is not kept: the next env tries again and reports its own error.
    async fn get_or_connect<Connect, Connected>(&self, target: Target, connect: Connect) -> Result<Connection>
    where
        Connect: FnOnce() -> Connected,
        Connected: std::future::Future<Output = Result<Connection>>,
    {
        let cell = {
            let mut by_target = self.by_target.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            by_target.entry(target).or_default().clone()
        };
        let (aws, account) = cell.get_or_try_init(connect).await?;
        Ok((aws.clone(), account.clone()))
    }
}

/// Standard retries (throttling, transient and 5xx errors) with exponential backoff and jitter.
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(10))
}

fn http_client_trusting(path: &PathBuf) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_http_client::tls;
    let pem = std::fs::read(path).with_context(|| format!("cannot read CA bundle {}", path.display()))?;
    let trust = tls::TrustStore::empty().with_native_roots(true).with_pem_certificate(pem);
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .with_context(|| format!("CA bundle {} is not usable", path.display()))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

/// The error code of an SDK error (`ValidationError`, `NoSuchBucket`, ...), when AWS sent one.
pub fn error_code<E: ProvideErrorMetadata>(error: &E) -> Option<&str> {
    error.code()
}

/// Turns an SDK error into a readable error: `Operation failed: Code: message`, or the transport problem.
pub fn aws_error<E, R>(error: aws_sdk_cloudformation::error::SdkError<E, R>, operation: &str) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    let text = match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{operation} failed: {}: {}",
                e.code().unwrap_or("UnknownError"),
                e.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => format!("{operation} timed out (is the endpoint reachable?)"),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_io() {
                "connection failed"
            } else if failure.is_timeout() {
                "timed out"
            } else {
                "could not be sent"
            };
            let source = std::error::Error::source(&error).map(|s| format!(": {s}")).unwrap_or_default();
            format!("{operation} {kind}{source} (is the endpoint reachable?)")
        }
        SdkError::ResponseError(_) => format!("{operation} got an unreadable response"),
        _ => format!("{operation} failed: {error}"),
    };
    anyhow::anyhow!(text)
}

/// Whether the endpoint does not implement an operation (HTTP 501): emulators lack some APIs that AWS has.
pub fn not_implemented<E>(
    error: &aws_sdk_cloudformation::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    error.raw_response().is_some_and(|r| r.status().as_u16() == 501)
}

/// Throttling codes AWS sends that the SDK's standard list (`aws_runtime::retries::classifiers::THROTTLING_ERRORS`)
/// lacks: SNS answers `Throttled`
/// (HTTP 429, its `ThrottledException`). SQS's `OverLimit` is deliberately not here: on AWS it means a quota is
/// reached (in-flight messages, permissions), which a retry within seconds does not fix.
pub const EXTRA_THROTTLING_CODES: &[&str] = &["Throttled"];

/// Classifies operation error `E` with one of [`EXTRA_THROTTLING_CODES`] as throttling, so the standard strategy
/// retries it with backoff like the SDK's own codes. The SDK classifies errors per operation type, so a client gets
/// one per operation the tool calls on it.
struct ExtraThrottling<E>(PhantomData<fn() -> E>);

impl<E> std::fmt::Debug for ExtraThrottling<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtraThrottling")
    }
}

impl<E> ClassifyRetry for ExtraThrottling<E>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else { return RetryAction::NoActionIndicated };
        let code =
            OrchestratorError::as_operation_error(error).and_then(|e| e.downcast_ref::<E>()).and_then(|e| e.code());
        match code {
            Some(code) if EXTRA_THROTTLING_CODES.contains(&code) => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "provision: extra throttling codes"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_before(RetryClassifierPriority::modeled_as_retryable_classifier())
    }
}

fn throttling<E>() -> ExtraThrottling<E> {
    ExtraThrottling(PhantomData)
}

/// The retry quota every client of one run shares. The SDK's default bucket (500 tokens, 5 per throttled retry,
/// never refilled by time) runs dry in a long throttled teardown and then stops retrying at all; this one refills
/// 50 tokens a second, so retries stay bounded by `--max-attempts` per call instead.
fn retry_partition() -> RetryPartition {
    static PARTITION: std::sync::OnceLock<RetryPartition> = std::sync::OnceLock::new();
    PARTITION
        .get_or_init(|| {
            RetryPartition::custom("provision")
                .token_bucket(TokenBucket::builder().capacity(1_000).refill_rate(50.0).build())
                .build()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Envs checked together that are reached the same way make one connection and one account lookup.
    #[tokio::test(start_paused = true)]
    async fn envs_reached_the_same_way_share_one_connection() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let connections = Connections::default();
        let made = AtomicUsize::new(0);
        let connect = |account: &'static str| {
            let made = &made;
            move || async move {
                made.fetch_add(1, Ordering::SeqCst);
                // Slow enough that every env asks before the first connection is made.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
                Ok((Aws::from_sdk(sdk, "eu-west-1".into(), None), account.to_string()))
            }
        };
        let here = || ("eu-west-1".to_string(), None);
        let there = ("us-east-1".to_string(), Some("http://127.0.0.1:4566".to_string()));
        let (a, b, c, d) = tokio::join!(
            connections.get_or_connect(here(), connect("111111111111")),
            connections.get_or_connect(here(), connect("999999999999")),
            connections.get_or_connect(here(), connect("999999999999")),
            connections.get_or_connect(there, connect("222222222222")),
        );
        assert_eq!(made.load(Ordering::SeqCst), 2);
        let accounts: Vec<String> = [a, b, c, d].into_iter().map(|r| r.unwrap().1).collect();
        assert_eq!(accounts, ["111111111111", "111111111111", "111111111111", "222222222222"]);
    }

    #[tokio::test]
    async fn a_failed_connection_is_tried_again_by_the_next_env() {
        let connections = Connections::default();
        let here = || ("eu-west-1".to_string(), None);
        let failed = connections.get_or_connect(here(), || async { anyhow::bail!("no credentials") }).await;
        assert_eq!(failed.unwrap_err().to_string(), "no credentials");
        let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let aws = Aws::from_sdk(sdk, "eu-west-1".into(), None);
        let (_, account) =
            connections.get_or_connect(here(), || async { Ok((aws, "111111111111".to_string())) }).await.unwrap();
        assert_eq!(account, "111111111111");
    }
}
