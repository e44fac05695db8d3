//! The one retry policy, through the clients the seam (`provision::aws::Aws`) builds, against a scripted endpoint
//! on loopback that answers as AWS does: which codes are throttling (retried with backoff) and which are not.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use provision::aws::{Aws, retry_config};

/// The SDK config `Aws::connect` makes, pointed at `url`, with fake credentials and fast backoff.
fn sdk(url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-1"))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKID", "SECRET", None, None, "test")))
        .retry_config(retry_config(5).with_initial_backoff(Duration::from_millis(1)))
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(aws_smithy_async::rt::sleep::TokioSleep::new()))
        .build()
}

/// An endpoint that fails the first `failures` requests with `(status, content type, body, extra header)` and
/// then answers `ok`; returns its URL and the number of requests it saw.
fn endpoint(
    failures: usize,
    error: (&'static str, &'static str, &'static str),
    ok: &'static str,
) -> (String, Arc<Mutex<usize>>) {
    let seen = Arc::new(Mutex::new(0));
    let count = seen.clone();
    let url = common::http::serve(move |_, stream| {
        let n = {
            let mut n = count.lock().unwrap();
            *n += 1;
            *n
        };
        if n <= failures {
            common::http::respond(stream, error.0, error.1, error.2)
        } else {
            common::http::respond(stream, "200 OK", "text/xml", ok)
        }
    });
    (url, seen)
}

const SNS_THROTTLED: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttled</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>"#;
const SNS_ATTRIBUTES: &str = r#"<GetTopicAttributesResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><GetTopicAttributesResult><Attributes><entry><key>Policy</key><value>{}</value></entry></Attributes></GetTopicAttributesResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></GetTopicAttributesResponse>"#;

/// SNS signals throttling with `Throttled` (HTTP 429), a code the SDK's standard list lacks (it has `Throttling`).
/// The seam's clients retry it like any throttling; without the seam's classifier the first 429 was final.
#[tokio::test]
async fn sns_throttled_is_retried_by_the_seams_clients() {
    let (url, seen) = endpoint(2, ("429 Too Many Requests", "text/xml", SNS_THROTTLED), SNS_ATTRIBUTES);
    let aws = Aws::from_sdk(sdk(&url), "us-west-1".into(), Some(url.clone()));
    let topic = "arn:aws:sns:us-west-1:123456789012:t";
    let out = aws.sns.get_topic_attributes().topic_arn(topic).send().await.expect("retried until it succeeded");
    assert_eq!(out.attributes().and_then(|a| a.get("Policy")).map(String::as_str), Some("{}"));
    assert_eq!(*seen.lock().unwrap(), 3);
}

/// The same through the revert path's SetTopicAttributes: every SNS operation the tool calls is classified.
#[tokio::test]
async fn sns_throttled_is_retried_for_set_topic_attributes_too() {
    const SET_OK: &str = r#"<SetTopicAttributesResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ResponseMetadata><RequestId>r3</RequestId></ResponseMetadata></SetTopicAttributesResponse>"#;
    let (url, seen) = endpoint(1, ("429 Too Many Requests", "text/xml", SNS_THROTTLED), SET_OK);
    let aws = Aws::from_sdk(sdk(&url), "us-west-1".into(), Some(url.clone()));
    let set = aws
        .sns
        .set_topic_attributes()
        .topic_arn("arn:aws:sns:us-west-1:123456789012:t")
        .attribute_name("Policy")
        .attribute_value("{}")
        .send()
        .await;
    assert!(set.is_ok(), "{set:?}");
    assert_eq!(*seen.lock().unwrap(), 2);
}

/// SQS's `OverLimit` means a quota is reached on AWS (in-flight messages, permissions per queue), not a request
/// rate: retrying it within seconds does not help, so it is not throttling and fails at once.
#[tokio::test]
async fn sqs_over_limit_is_a_quota_and_not_retried() {
    const OVER_LIMIT: &str =
        r#"{"__type":"com.amazonaws.sqs#OverLimit","message":"Maximum number of in-flight messages reached"}"#;
    let seen = Arc::new(Mutex::new(0));
    let count = seen.clone();
    let url = common::http::serve(move |_, stream| {
        *count.lock().unwrap() += 1;
        use std::io::Write;
        write!(
            stream,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-query-error: OverLimit;Sender\r\nContent-Length: {}\r\n\r\n{OVER_LIMIT}",
            OVER_LIMIT.len()
        )?;
        stream.flush()
    });
    let aws = Aws::from_sdk(sdk(&url), "us-west-1".into(), Some(url.clone()));
    let error = aws
        .sqs
        .receive_message()
        .queue_url(format!("{url}/123456789012/q"))
        .send()
        .await
        .expect_err("OverLimit is an error");
    assert_eq!(error.code(), Some("OverLimit"));
    assert_eq!(*seen.lock().unwrap(), 1, "not retried");
}
