//! Reading AWS errors while emptying: which codes mean what, and which per-key errors stop the engine.

use aws_sdk_s3::error::SdkError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::KeyError;

/// An error text short enough for a report (some services echo the whole request).
pub(super) fn clip(text: String) -> String {
    const MAX: usize = 400;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

pub(super) fn code_is<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>, code: &str) -> bool {
    error.code() == Some(code)
}

/// Why a per-key error means deleting cannot succeed, so the engine stops instead of half-deleting.
pub(super) fn blocking_reason(error: &KeyError) -> Option<String> {
    if error.code != "AccessDenied" {
        return None;
    }
    let message = error.message.to_ascii_lowercase();
    if message.contains("lock") || message.contains("retention") || message.contains("legal hold") {
        Some(format!(
            "version {} of {} is protected by S3 Object Lock (retention or legal hold): {}. \
             It cannot be deleted until its retention ends or its legal hold is removed",
            error.version_id.as_deref().unwrap_or("-"),
            error.key,
            error.message
        ))
    } else {
        Some(format!(
            "access denied deleting version {} of {}: {}; the credentials need s3:DeleteObjectVersion on the bucket",
            error.version_id.as_deref().unwrap_or("-"),
            error.key,
            error.message
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_lock_errors_stop_the_engine() {
        let locked = KeyError {
            key: "k".into(),
            version_id: Some("v".into()),
            code: "AccessDenied".into(),
            message: "Access Denied because object protected by object lock.".into(),
        };
        assert!(blocking_reason(&locked).unwrap().contains("Object Lock"));
        let denied = KeyError { message: "Access Denied".into(), ..locked.clone() };
        assert!(blocking_reason(&denied).unwrap().contains("s3:DeleteObjectVersion"));
        let slow = KeyError { code: "SlowDown".into(), ..locked };
        assert_eq!(blocking_reason(&slow), None);
    }
}
