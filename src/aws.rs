//! The one place AWS clients are built: region, credentials, endpoint, TLS trust and retries.
//!
//! Nothing else in the tool knows whether it talks to AWS or to an emulator; commands receive an [`Aws`].

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use crate::deadline::{REQUESTS, Waiting};
use crate::output::Hinted;

/// How the clients of one env are built, everything resolved beforehand from the command line, the environment and
/// the env file ([`crate::settings`]). Equal settings share one connection ([`Connections`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientSettings {
    pub region: String,
    /// Named profile from the shared AWS config files.
    pub profile: Option<String>,
    pub endpoints: Endpoints,
    /// PEM file with extra CA certificates to trust.
    pub ca_bundle: Option<PathBuf>,
    /// Attempts per AWS call (throttling and transient errors are retried with backoff).
    pub max_attempts: u32,
    /// Longest time one AWS call may take, all its attempts included.
    pub call_timeout: Duration,
    /// A role assumed before any other call (an env file's `deploy_role`).
    pub role: Option<AssumedRole>,
}

/// A role the clients act as: its ARN, the external id its trust policy may ask for, and the session name that
/// CloudTrail shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssumedRole {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// The services the tool calls, each with the variable that points it at its own endpoint (as the AWS SDKs name
/// it: `AWS_ENDPOINT_URL_<SERVICE ID>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    CloudFormation,
    S3,
    Iam,
    Sts,
    Sqs,
    Sns,
    Kms,
}

impl Service {
    pub const ALL: [Service; 7] =
        [Service::CloudFormation, Service::S3, Service::Iam, Service::Sts, Service::Sqs, Service::Sns, Service::Kms];

    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Service::CloudFormation => "AWS_ENDPOINT_URL_CLOUDFORMATION",
            Service::S3 => "AWS_ENDPOINT_URL_S3",
            Service::Iam => "AWS_ENDPOINT_URL_IAM",
            Service::Sts => "AWS_ENDPOINT_URL_STS",
            Service::Sqs => "AWS_ENDPOINT_URL_SQS",
            Service::Sns => "AWS_ENDPOINT_URL_SNS",
            Service::Kms => "AWS_ENDPOINT_URL_KMS",
        }
    }
}

/// Custom endpoints: one for every service (an emulator), and per service (a VPC endpoint for S3 alone). A
/// service's own endpoint wins; a service with neither talks to AWS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Endpoints {
    pub all: Option<String>,
    pub by_service: std::collections::BTreeMap<Service, String>,
}

impl Endpoints {
    /// The same endpoint for every service (or none).
    pub fn all(endpoint: Option<String>) -> Endpoints {
        Endpoints { all: endpoint.filter(|e| !e.is_empty()), by_service: Default::default() }
    }

    pub fn of(&self, service: Service) -> Option<&str> {
        self.by_service.get(&service).or(self.all.as_ref()).map(String::as_str)
    }

    /// Whether any service talks to a custom endpoint.
    pub fn any(&self) -> bool {
        self.all.is_some() || !self.by_service.is_empty()
    }
}

/// The bounds of every AWS call: 5 s to connect, 60 s for an answer to begin, 90 s per attempt, and `call` for the
/// whole call, retries included (each bound no longer than `call`). A server that accepts the connection and never
/// answers is caught by the first two; one that keeps failing slowly, by the last.
pub fn timeouts(call: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(call.min(Duration::from_secs(5)))
        .read_timeout(call.min(Duration::from_secs(60)))
        .operation_attempt_timeout(call.min(Duration::from_secs(90)))
        .operation_timeout(call)
        .build()
}

/// The clients one command needs, all built from one [`SdkConfig`].
#[derive(Clone, Debug)]
pub struct Aws {
    pub sdk: SdkConfig,
    pub region: String,
    /// Where the clients are pointed, where that is not AWS itself.
    pub endpoints: Endpoints,
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    /// The bucket's own KMS key (`encryption: kms`): its settings, read and put back by drift.
    pub kms: aws_sdk_kms::Client,
    /// Who the credentials are, once asked ([`Aws::account`]); shared by the clones of these clients.
    pub caller: Arc<OnceCell<Caller>>,
}

/// The principal behind a set of credentials, as STS names it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

impl Aws {
    /// Builds the clients `settings` describe; with a role to assume, every client acts as that role, which is
    /// assumed here so that a role that cannot be assumed is the first error, named as such.
    pub async fn connect(settings: &ClientSettings) -> Result<Aws> {
        // Bounded so that an unreachable or hung endpoint gives an error instead of a hang.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .retry_config(retry_config(settings.max_attempts))
            .timeout_config(timeouts(settings.call_timeout))
            .http_client(http_client(settings.ca_bundle.as_deref())?);
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        // Set in code, so the SDK reads no endpoint variable itself: those are resolved once, per service.
        if let Some(endpoint) = settings.endpoints.of(Service::Sts) {
            loader = loader.endpoint_url(endpoint);
        }
        let mut sdk = loader.load().await;
        if let Some(role) = &settings.role {
            sdk = assume(sdk, role).await?;
        }
        Ok(Aws::from_sdk_reaching(sdk, settings.region.clone(), settings.endpoints.clone()))
    }

    /// Clients from an existing SDK config, all at `endpoint` (or AWS): see [`Aws::from_sdk_reaching`].
    pub fn from_sdk(sdk: SdkConfig, region: String, endpoint: Option<String>) -> Aws {
        Aws::from_sdk_reaching(sdk, region, Endpoints::all(endpoint))
    }

    /// Clients from an existing SDK config (tests build one around mock or emulator settings), each at its
    /// service's endpoint. Every client shares one retry quota, knows the throttling codes the SDK's own list lacks
    /// and does not retry a refused connection: [`retry_config`] is the tool's only retry policy. Every request is
    /// registered while it is waited for ([`crate::deadline`]).
    pub fn from_sdk_reaching(sdk: SdkConfig, region: String, endpoints: Endpoints) -> Aws {
        let partition = retry_partition();
        macro_rules! client {
            ($krate:ident, $service:expr $(, $extra:ident($value:expr))*) => {{
                let mut builder = $krate::config::Builder::from(&sdk)
                    .retry_partition(partition.clone())
                    .retry_classifier(RefusedConnection)
                    .interceptor(TrackWaiting)
                    $(.$extra($value))*;
                // Always set: a service without an endpoint of its own must not inherit another's from `sdk`.
                builder.set_endpoint_url(endpoints.of($service).map(String::from));
                $krate::Client::from_conf(builder.build())
            }};
        }
        Aws {
            cfn: client!(aws_sdk_cloudformation, Service::CloudFormation),
            // Emulators and custom endpoints do not serve virtual-hosted bucket names.
            s3: client!(aws_sdk_s3, Service::S3, force_path_style(endpoints.of(Service::S3).is_some())),
            iam: client!(aws_sdk_iam, Service::Iam),
            sts: client!(aws_sdk_sts, Service::Sts),
            sqs: client!(aws_sdk_sqs, Service::Sqs),
            sns: client!(
                aws_sdk_sns,
                Service::Sns,
                retry_classifier(throttling::<aws_sdk_sns::operation::get_topic_attributes::GetTopicAttributesError>()),
                retry_classifier(throttling::<aws_sdk_sns::operation::set_topic_attributes::SetTopicAttributesError>())
            ),
            kms: client!(aws_sdk_kms, Service::Kms),
            sdk,
            region,
            endpoints,
            caller: Arc::default(),
        }
    }

    /// The custom endpoint of S3, where objects are addressed (none on AWS).
    pub fn s3_endpoint(&self) -> Option<&str> {
        self.endpoints.of(Service::S3)
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account(&self) -> Result<String> {
        Ok(self.caller().await?.account.clone())
    }

    /// Who the credentials are (STS GetCallerIdentity), asked once for these clients: the account check and the
    /// deploying principal's ARN both need it.
    async fn caller(&self) -> Result<&Caller> {
        self.caller
            .get_or_try_init(|| async {
                let identity =
                    self.sts.get_caller_identity().send().await.map_err(|e| aws_error(e, "GetCallerIdentity"));
                let identity = identity.with_context(|| {
                    format!("cannot find out which AWS account the credentials belong to ({})", self.place())
                })?;
                Ok(Caller {
                    account: identity.account.context("STS returned no account id")?,
                    arn: identity.arn.context("STS returned no ARN for the caller")?,
                })
            })
            .await
    }

    /// The ARN a policy names the credentials' principal by (the deploying principal): the account root, a user or a
    /// federated user as STS says, and for a role session the role itself, with its path, from the deploy role the
    /// env assumes (`deploy_role`) or else from IAM GetRole.
    pub async fn deployer_arn(&self, deploy_role: Option<&crate::config::DeployRole>) -> Result<String> {
        let arn = &self.caller().await?.arn;
        match crate::names::caller(arn) {
            Some(crate::names::Caller::Named(named)) => Ok(named.to_string()),
            Some(crate::names::Caller::RoleSession { role, .. }) => {
                if let Some(own) = deploy_role.filter(|r| crate::names::role_name_from_arn(&r.arn) == Some(role)) {
                    return Ok(own.arn.clone());
                }
                let found = self.iam.get_role().role_name(role).send().await.map_err(|e| aws_error(e, "GetRole"));
                let found = found.with_context(|| {
                    format!(
                        "cannot find the role behind the session {arn}: a policy names the role with its path, which \
                         only IAM GetRole tells (allow iam:GetRole on it)"
                    )
                })?;
                Ok(found.role.map(|r| r.arn).context("IAM GetRole returned no role")?)
            }
            None => anyhow::bail!("STS answered with a caller ARN this tool cannot name in a policy: {arn}"),
        }
    }

    /// Where the clients are pointed: `endpoint http://127.0.0.1:4566, region us-east-1`, or `region us-west-1`.
    pub fn place(&self) -> String {
        match self.endpoints.of(Service::Sts) {
            Some(endpoint) => format!("endpoint {endpoint}, region {}", self.region),
            None => format!("region {}", self.region),
        }
    }

    /// The HTTPS URL of an S3 object, as CloudFormation's `TemplateURL` takes it: virtual-hosted in the region's
    /// partition on AWS, path-style under a custom endpoint (as the S3 client addresses it there).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        match self.s3_endpoint() {
            Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
            None => {
                let (_, dns_suffix) = crate::names::partition(&self.region);
                format!("https://{bucket}.s3.{}.{dns_suffix}/{key}", self.region)
            }
        }
    }
}

/// Clients and the account their credentials belong to.
type Connection = (Aws, String);

/// Clients and the credentials' account, shared by the envs of one run that are reached the same way: one SDK
/// config, one connection pool and one STS call however many envs are checked together.
#[derive(Default)]
pub struct Connections {
    by_settings: Mutex<HashMap<ClientSettings, Arc<OnceCell<Connection>>>>,
}

impl Connections {
    /// The clients `settings` describe and the account their credentials belong to.
    pub async fn get(&self, settings: &ClientSettings) -> Result<Connection> {
        self.get_or_connect(settings.clone(), || async {
            let aws = Aws::connect(settings).await?;
            let account = aws.account().await?;
            Ok((aws, account))
        })
        .await
    }

    /// The connection for `settings`, made by `connect` by the first env that needs it while the others wait. A
    /// failure is not kept: the next env tries again and reports its own error.
    async fn get_or_connect<Connect, Connected>(&self, settings: ClientSettings, connect: Connect) -> Result<Connection>
    where
        Connect: FnOnce() -> Connected,
        Connected: std::future::Future<Output = Result<Connection>>,
    {
        let cell = {
            let mut by_settings = self.by_settings.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            by_settings.entry(settings).or_default().clone()
        };
        let (aws, account) = cell.get_or_try_init(connect).await?;
        Ok((aws.clone(), account.clone()))
    }
}

/// An AWS answer, with None for an error that carries one of `missing` (the thing does not exist); other errors
/// fail, named after `operation`.
pub fn none_if_missing<T, E, R>(
    answer: Result<T, aws_sdk_s3::error::SdkError<E, R>>,
    missing: &[&str],
    operation: &str,
) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match answer {
        Ok(output) => Ok(Some(output)),
        Err(e) if error_code(&e).is_some_and(|c| missing.contains(&c)) => Ok(None),
        Err(e) => Err(aws_error(e, operation)),
    }
}

/// `sdk` acting as `role`: credentials from STS AssumeRole, refreshed before they expire. The first set is asked
/// for here, so that a role that cannot be assumed fails at once, named, and is then used by the clients.
async fn assume(sdk: SdkConfig, role: &AssumedRole) -> Result<SdkConfig> {
    use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.arn).session_name(&role.session_name);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.configure(&sdk).build().await;
    let first = provider
        .provide_credentials()
        .await
        .with_context(|| format!("cannot assume the deploy role {} (session {})", role.arn, role.session_name))?;
    let provider = FirstThen { first: Mutex::new(Some(first)), then: provider };
    Ok(sdk.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build())
}

/// Credentials already fetched, handed out once (the SDK caches them until they near expiry), then fresh ones.
#[derive(Debug)]
struct FirstThen<P> {
    first: Mutex<Option<aws_credential_types::Credentials>>,
    then: P,
}

impl<P: aws_credential_types::provider::ProvideCredentials> aws_credential_types::provider::ProvideCredentials
    for FirstThen<P>
{
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use aws_credential_types::provider::future::ProvideCredentials as Future;
        match self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            Some(first) => Future::ready(Ok(first)),
            None => self.then.provide_credentials(),
        }
    }
}

/// Standard retries (throttling, transient and 5xx errors) with exponential backoff and jitter.
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(10))
}

/// The HTTP client of every connection: the SDK's default one (hyper with rustls on aws-lc, the proxy settings of
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`), also trusting `ca_bundle`'s certificates when given, that names the
/// endpoint in its connection errors ([`NamingEndpoint`]).
fn http_client(ca_bundle: Option<&Path>) -> Result<SharedHttpClient> {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{ConnectorBuilder, tls};
    let mut trust = tls::TrustStore::empty().with_native_roots(true);
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).with_context(|| format!("cannot read CA bundle {}", path.display()))?;
        trust = trust.with_pem_certificate(pem);
    }
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .with_context(|| format!("CA bundle {} is not usable", ca_bundle.unwrap_or(Path::new("")).display()))?;
    // As `aws_smithy_runtime`'s default HTTPS client builds it (for behavior version 2025-08-07 and later), with our
    // trust store.
    let client = aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(context.clone());
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    });
    Ok(SharedHttpClient::new(NamingEndpoint(client)))
}

/// An HTTP client whose connection errors name the endpoint they were for (`http://127.0.0.1:4566`,
/// `https://sts.us-west-1.amazonaws.com`), keeping their kind (io, timeout, ...) so that retries classify them as
/// before.
#[derive(Debug)]
struct NamingEndpoint(SharedHttpClient);

impl HttpClient for NamingEndpoint {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(NamingConnector(self.0.http_connector(settings, components)))
    }

    fn validate_base_client_config(
        &self,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_base_client_config(components, cfg)
    }

    fn validate_final_config(&self, components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[derive(Debug)]
struct NamingConnector(SharedHttpConnector);

impl HttpConnector for NamingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let endpoint = origin(request.uri());
        let call = self.0.call(request);
        HttpConnectorFuture::new(async move { call.await.map_err(|error| Unreachable::wrap(error, endpoint)) })
    }
}

/// `scheme://host[:port]` of a request URI: the endpoint, without path and query.
fn origin(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => uri.to_string(),
    }
}

/// A connection error for `endpoint`: the link of the error chain that names it.
#[derive(Debug)]
pub struct Unreachable {
    pub endpoint: String,
    /// Nothing listens there (the connection was refused): retrying does not help.
    pub refused: bool,
    pub timed_out: bool,
    source: ConnectorError,
}

impl Unreachable {
    fn wrap(error: ConnectorError, endpoint: String) -> ConnectorError {
        let refused = chain_has_io(&error, std::io::ErrorKind::ConnectionRefused);
        let timed_out = error.is_timeout();
        let (io, user, other) = (error.is_io(), error.is_user(), error.as_other());
        let metadata = error.connection_metadata().cloned();
        let wrapped: BoxError = Box::new(Unreachable { endpoint, refused, timed_out, source: error });
        let error = if timed_out {
            ConnectorError::timeout(wrapped)
        } else if io {
            ConnectorError::io(wrapped)
        } else if user {
            ConnectorError::user(wrapped)
        } else {
            ConnectorError::other(wrapped, other)
        };
        match metadata {
            Some(metadata) => error.with_connection(metadata),
            None => error,
        }
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.refused {
            write!(f, "{} refused the connection", self.endpoint)
        } else if self.timed_out {
            write!(f, "no connection to {} in time", self.endpoint)
        } else {
            write!(f, "cannot reach {}", self.endpoint)
        }
    }
}

impl std::error::Error for Unreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Whether an I/O error of `kind` is somewhere in `error`'s chain.
fn chain_has_io(error: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut link = Some(error);
    while let Some(e) = link {
        if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == kind) {
            return true;
        }
        link = e.source();
    }
    false
}

/// A refused connection is not retried: nothing listens at the endpoint, and the standard strategy, which takes
/// every I/O error for transient, would otherwise retry it for 7-16 s before saying so.
#[derive(Debug)]
struct RefusedConnection;

impl ClassifyRetry for RefusedConnection {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else { return RetryAction::NoActionIndicated };
        match error.as_connector_error() {
            Some(connector) if chain_has_io(connector, std::io::ErrorKind::ConnectionRefused) => {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "provision: refused connections are final"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Registers every request from its sending until its answer has been read, so that a command can say what it is
/// waiting for ([`crate::deadline`]).
#[derive(Debug)]
struct TrackWaiting;

/// The registration of the request in flight; replaced by the next attempt's, dropped with the operation.
#[derive(Debug, Clone)]
struct InFlight(#[allow(dead_code)] Arc<Waiting>);

impl Storable for InFlight {
    type Storer = StoreReplace<InFlight>;
}

impl Intercept for TrackWaiting {
    fn name(&self) -> &'static str {
        "provision: requests waited for"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) =
            cfg.load::<Metadata>().map(|m| (m.service().to_string(), m.name().to_string())).unwrap_or_default();
        // SQS long polling waits up to 20 s for a message by design.
        let grace = if operation == "ReceiveMessage" { Duration::from_secs(20) } else { Duration::ZERO };
        let what = format!("{service} {operation} at {}", origin(context.request().uri()));
        cfg.interceptor_state().store_put(InFlight(Arc::new(REQUESTS.begin(what, grace))));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<InFlight>();
        Ok(())
    }
}

/// The error code of an SDK error (`ValidationError`, `NoSuchBucket`, ...), when AWS sent one.
pub fn error_code<E: ProvideErrorMetadata>(error: &E) -> Option<&str> {
    error.code()
}

/// Turns an SDK error into a readable error: `Operation failed: Code: message`, or what kept the request from being
/// answered (the endpoint it could not reach, the credentials it could not find), with the SDK's error chain below
/// it (`Caused by:` lines) and a hint on what to do about it.
pub fn aws_error<E, R>(error: aws_sdk_cloudformation::error::SdkError<E, R>, operation: &str) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    let (message, hint) = match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("UnknownError");
            let message = format!("{operation} failed: {code}: {}", e.message().unwrap_or("no message"));
            // The code and message say it all; the SDK's chain below them would repeat them.
            return Hinted { message, hint: service_hint(code), source: None }.into();
        }
        SdkError::TimeoutError(_) => (
            format!("{operation} timed out (is the endpoint reachable?)"),
            Some("the call got no answer within --call-timeout (default 2m), retries included".to_string()),
        ),
        SdkError::DispatchFailure(_) => dispatch_failure(&error, operation),
        SdkError::ResponseError(_) => (format!("{operation} got an unreadable response"), None),
        _ => (format!("{operation} failed"), None),
    };
    Hinted { message, hint, source: Some(Box::new(error)) }.into()
}

/// What to do about an error code AWS answered with, where the code says it.
fn service_hint(code: &str) -> Option<String> {
    match code {
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => Some(
            "the credentials' session has expired: renew them (`aws sso login`, or assume the role again)".to_string(),
        ),
        "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" => {
            Some(
                "AWS does not accept these credentials: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile"
                    .to_string(),
            )
        }
        _ => None,
    }
}

/// The links of an error chain, top first.
fn chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// A request that was never answered: the endpoint could not be reached, or no credentials could sign it.
fn dispatch_failure(error: &(dyn std::error::Error + 'static), operation: &str) -> (String, Option<String>) {
    if let Some(credentials) = credentials_problem(error) {
        return (format!("{operation} could not be sent: {}", credentials.0), Some(credentials.1));
    }
    if let Some(unreachable) = chain(error).find_map(|e| e.downcast_ref::<Unreachable>()) {
        let endpoint = &unreachable.endpoint;
        let on_aws = is_aws_endpoint(endpoint);
        let hint = if on_aws {
            "check the network, the region and any proxy (HTTPS_PROXY, NO_PROXY)".to_string()
        } else if unreachable.refused {
            format!(
                "nothing listens at {endpoint}: start the endpoint (the local emulator: `scripts/local-aws up`), or fix \
                 --endpoint-url, AWS_ENDPOINT_URL or the env file's `endpoint:`"
            )
        } else {
            format!("check that {endpoint} is the endpoint you mean (--endpoint-url, AWS_ENDPOINT_URL, `endpoint:`)")
        };
        let what = if unreachable.timed_out { "timed out" } else { "connection failed" };
        // The credential providers (SSO, STS, instance metadata) make requests of their own.
        let loading = chain(error).any(|e| e.is::<aws_credential_types::provider::error::CredentialsError>());
        let whose = if loading { " while loading credentials" } else { "" };
        return (format!("{operation} {what}{whose}: {unreachable} (is the endpoint reachable?)"), Some(hint));
    }
    (format!("{operation} could not be sent (is the endpoint reachable?)"), None)
}

/// Whether `endpoint` is one of AWS's own (`https://sts.us-west-1.amazonaws.com`).
fn is_aws_endpoint(endpoint: &str) -> bool {
    let host = endpoint.split("://").nth(1).unwrap_or(endpoint).split(':').next().unwrap_or_default();
    [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"].iter().any(|suffix| host.ends_with(suffix))
}

/// Why no credentials signed the request, and what to do: `(what, hint)`.
fn credentials_problem(error: &(dyn std::error::Error + 'static)) -> Option<(String, String)> {
    let texts: Vec<String> = chain(error).map(|e| e.to_string()).collect();
    // The default chain reports the profile provider's `ProfileFileError::MissingProfile` as text within its own.
    let missing_profile = texts.iter().find_map(|t| {
        let (_, rest) = t.split_once("profile `")?;
        let (profile, rest) = rest.split_once('`')?;
        rest.starts_with(" was not defined").then(|| profile.to_string())
    });
    if let Some(profile) = missing_profile {
        return Some((
            format!("profile `{profile}` is not defined"),
            format!(
                "--profile and AWS_PROFILE name a profile of the AWS config files ({}, {}); `aws configure \
                 list-profiles` lists them",
                config_file("AWS_CONFIG_FILE", "config"),
                config_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            ),
        ));
    }
    let says = |needle: &str| texts.iter().any(|t| t.to_ascii_lowercase().contains(needle));
    if says("sso") && (says("expired") || says("unauthorized") || says("session token not found")) {
        return Some((
            "the SSO session has expired".to_string(),
            "sign in again: `aws sso login` (with --profile for the profile you use)".to_string(),
        ));
    }
    let not_loaded = chain(error).any(|e| {
        e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>().is_some_and(|c| {
            matches!(c, aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_))
        })
    });
    if not_loaded {
        return Some((
            "no AWS credentials found".to_string(),
            "give credentials one of the usual ways: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, --profile or \
             AWS_PROFILE (`aws configure`, `aws sso login`), or a role of the machine (ECS, EC2 instance profile)"
                .to_string(),
        ));
    }
    None
}

/// Where the AWS config file `name` is read from: `$variable`, or `~/.aws/<name>`.
fn config_file(variable: &str, name: &str) -> String {
    match std::env::var(variable) {
        Ok(path) if !path.is_empty() => path,
        _ => format!("~/.aws/{name}"),
    }
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

    fn settings(region: &str, endpoint: Option<&str>) -> ClientSettings {
        ClientSettings {
            region: region.into(),
            profile: None,
            endpoints: Endpoints::all(endpoint.map(String::from)),
            ca_bundle: None,
            max_attempts: 3,
            call_timeout: Duration::from_secs(60),
            role: None,
        }
    }

    #[test]
    fn a_service_endpoint_wins_over_the_one_for_all() {
        let mut endpoints = Endpoints::all(Some("http://127.0.0.1:4566".into()));
        endpoints.by_service.insert(Service::S3, "https://bucket.vpce-1.s3.us-west-1.vpce.amazonaws.com".into());
        assert_eq!(endpoints.of(Service::S3), Some("https://bucket.vpce-1.s3.us-west-1.vpce.amazonaws.com"));
        assert_eq!(endpoints.of(Service::Iam), Some("http://127.0.0.1:4566"));
        assert_eq!(Endpoints::all(Some(String::new())), Endpoints::default());
    }

    /// Regression: the SDK config carries one endpoint; a service without one of its own must reach AWS, not it.
    #[tokio::test]
    async fn a_service_without_its_own_endpoint_does_not_inherit_another() {
        use aws_smithy_http_client::test_util::capture_request;
        let host_called = |call: fn(&Aws) -> futures::future::BoxFuture<'_, ()>| async move {
            let (http, request) = capture_request(None);
            let sdk = SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-west-1"))
                .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::for_tests(),
                ))
                .http_client(http)
                .endpoint_url("https://s3.vpce.example")
                .build();
            let mut endpoints = Endpoints::default();
            endpoints.by_service.insert(Service::S3, "https://s3.vpce.example".into());
            call(&Aws::from_sdk_reaching(sdk, "us-west-1".into(), endpoints)).await;
            request.expect_request().uri().to_string()
        };
        let s3 = host_called(|aws| Box::pin(async { drop(aws.s3.list_buckets().send().await) })).await;
        assert!(s3.starts_with("https://s3.vpce.example/"), "{s3}");
        let iam = host_called(|aws| Box::pin(async { drop(aws.iam.list_roles().send().await) })).await;
        assert!(iam.starts_with("https://iam.amazonaws.com/"), "{iam}");
        let cfn = host_called(|aws| Box::pin(async { drop(aws.cfn.list_stacks().send().await) })).await;
        assert!(cfn.starts_with("https://cloudformation.us-west-1.amazonaws.com/"), "{cfn}");
    }

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
        let here = || settings("eu-west-1", None);
        let there = settings("us-east-1", Some("http://127.0.0.1:4566"));
        // Same region and endpoint, another account's deploy role: a connection of its own.
        let mut staging = here();
        staging.role = Some(AssumedRole {
            arn: "arn:aws:iam::333333333333:role/deployer".into(),
            external_id: None,
            session_name: "provision-staging".into(),
        });
        let (a, b, c, d, e) = tokio::join!(
            connections.get_or_connect(here(), connect("111111111111")),
            connections.get_or_connect(here(), connect("999999999999")),
            connections.get_or_connect(here(), connect("999999999999")),
            connections.get_or_connect(there, connect("222222222222")),
            connections.get_or_connect(staging, connect("333333333333")),
        );
        assert_eq!(made.load(Ordering::SeqCst), 3);
        let accounts: Vec<String> = [a, b, c, d, e].into_iter().map(|r| r.unwrap().1).collect();
        assert_eq!(accounts, ["111111111111", "111111111111", "111111111111", "222222222222", "333333333333"]);
    }

    #[tokio::test]
    async fn a_failed_connection_is_tried_again_by_the_next_env() {
        let connections = Connections::default();
        let here = || settings("eu-west-1", None);
        let failed = connections.get_or_connect(here(), || async { anyhow::bail!("no credentials") }).await;
        assert_eq!(failed.unwrap_err().to_string(), "no credentials");
        let sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let aws = Aws::from_sdk(sdk, "eu-west-1".into(), None);
        let (_, account) =
            connections.get_or_connect(here(), || async { Ok((aws, "111111111111".to_string())) }).await.unwrap();
        assert_eq!(account, "111111111111");
    }
}
