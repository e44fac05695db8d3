//! S3 object keys as they travel: URL-encoded in listings and event notifications, and inside XML request bodies.
//!
//! Below both smoke (event notifications) and teardown (listings, DeleteObjects), so neither reaches into the other.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Decodes a key S3 sent URL-encoded: listings with `encoding-type=url` and the `s3.object.key` of event
/// notifications. Both use form encoding: `+` is a space, a literal `+` comes as `%2B`. A `%` that starts no valid
/// escape stays as it is; bytes that do not make UTF-8 leave the key as sent.
pub fn url_decode(text: &str) -> String {
    // `+` first: a `%2B` decoded afterwards stays a `+`.
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().map(Cow::into_owned).unwrap_or_else(|_| text.to_string())
}

/// Whether XML 1.0 can carry the key at all. DeleteObjects sends keys in an XML body, so keys with other control
/// characters must be deleted one by one (DeleteObject puts the key in the URL).
pub fn xml_safe(key: &str) -> bool {
    key.chars().all(|c| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_keys_are_decoded() {
        assert_eq!(url_decode("calls/a+b%2Bc%25.json"), "calls/a b+c%.json");
        assert_eq!(url_decode("%C3%BC%01"), "ü\u{1}");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%4"), "%zz%4");
        // Bytes that do not make UTF-8 leave the key as sent.
        assert_eq!(url_decode("%FF"), "%FF");
    }

    #[test]
    fn xml_carries_text_but_not_control_characters() {
        assert!(xml_safe("calls/a b\tc.json"));
        assert!(xml_safe("ü/日本"));
        assert!(!xml_safe("calls/ctl\u{1}key"));
        assert!(!xml_safe("x\u{FFFE}"));
    }
}
