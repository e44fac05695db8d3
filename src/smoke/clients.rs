//! The clients of a probe run: the deployer's (from [`Aws`]), and S3 clients signed as an assumed role, over the
//! configured endpoint and over plain HTTP. All of them count the requests they send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::{Aws, aws_error};

/// Counts every request sent (each attempt, so retries count too).
#[derive(Debug, Clone, Default)]
pub(super) struct RequestCounter(Arc<AtomicU32>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "ProvisionSmokeRequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The deployer's clients, counting their requests.
pub(super) struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub iam: aws_sdk_iam::Client,
    counter: RequestCounter,
}

impl Clients {
    pub fn new(aws: &Aws) -> Clients {
        let counter = RequestCounter::default();
        Clients {
            s3: aws_sdk_s3::Client::from_conf(aws.s3.config().to_builder().interceptor(counter.clone()).build()),
            sts: aws_sdk_sts::Client::from_conf(aws.sts.config().to_builder().interceptor(counter.clone()).build()),
            sqs: aws_sdk_sqs::Client::from_conf(aws.sqs.config().to_builder().interceptor(counter.clone()).build()),
            iam: aws_sdk_iam::Client::from_conf(aws.iam.config().to_builder().interceptor(counter.clone()).build()),
            counter,
        }
    }

    pub fn requests(&self) -> u32 {
        self.counter.0.load(Ordering::Relaxed)
    }

    /// An S3 client like the deployer's (region, TLS trust, retries, addressing), signed with `credentials` when
    /// given, sent to `endpoint` when given.
    pub fn s3_as(&self, credentials: Option<Credentials>, endpoint: Option<&str>) -> aws_sdk_s3::Client {
        let mut builder = self.s3.config().to_builder();
        if let Some(credentials) = credentials {
            builder = builder.credentials_provider(credentials);
        }
        if let Some(endpoint) = endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    /// An SQS client like the deployer's, signed with `credentials` (a consumer's role).
    pub fn sqs_as(&self, credentials: Credentials) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(self.sqs.config().to_builder().credentials_provider(credentials).build())
    }

    /// Assumes `role_arn`. AccessDenied is retried for `propagation` (a role created a moment ago may not be
    /// assumable everywhere yet on AWS).
    pub async fn assume(
        &self,
        role_arn: &str,
        session_name: &str,
        propagation: Duration,
    ) -> Result<Credentials, String> {
        let deadline = Instant::now() + propagation;
        loop {
            let result = self
                .sts
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(session_name)
                .duration_seconds(900)
                .send()
                .await;
            match result {
                Ok(output) => {
                    let Some(c) = output.credentials else {
                        return Err(format!("AssumeRole of {role_arn} returned no credentials"));
                    };
                    let expiry = std::time::SystemTime::try_from(c.expiration).ok();
                    return Ok(Credentials::new(
                        c.access_key_id,
                        c.secret_access_key,
                        Some(c.session_token),
                        expiry,
                        "provision-smoke",
                    ));
                }
                Err(e) if e.code() == Some("AccessDenied") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(aws_error(e, "AssumeRole").to_string()),
            }
        }
    }
}

/// A role the deployer assumed, with S3 clients signed as it.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub role_arn: String,
    /// Over the configured endpoint (HTTPS on AWS).
    pub s3: aws_sdk_s3::Client,
    /// Over plain HTTP ([`plain_http_endpoint`]).
    pub s3_http: aws_sdk_s3::Client,
    /// SQS, over the configured endpoint: a queue's consumer receives and deletes as itself.
    pub sqs: aws_sdk_sqs::Client,
}

/// The plain-HTTP form of the S3 endpoint: the configured endpoint with `http://` (an emulator serves both on
/// one port), or S3's regional endpoint on AWS (which answers plain HTTP too).
pub fn plain_http_endpoint(endpoint: Option<&str>, region: &str) -> String {
    match endpoint {
        Some(endpoint) => match endpoint.strip_prefix("https://") {
            Some(rest) => format!("http://{rest}"),
            None => endpoint.to_string(),
        },
        None => {
            let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
            format!("http://s3.{region}.{suffix}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_form_of_the_endpoint() {
        assert_eq!(plain_http_endpoint(Some("https://127.0.0.1:4566"), "us-east-1"), "http://127.0.0.1:4566");
        assert_eq!(plain_http_endpoint(Some("http://127.0.0.1:4566"), "us-east-1"), "http://127.0.0.1:4566");
        assert_eq!(plain_http_endpoint(None, "us-west-1"), "http://s3.us-west-1.amazonaws.com");
        assert_eq!(plain_http_endpoint(None, "cn-north-1"), "http://s3.cn-north-1.amazonaws.com.cn");
    }
}
