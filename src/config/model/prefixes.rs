//! Key prefixes and suffixes, as written in access entries, notifications, lifecycle rules, access logs and the
//! smoke test: literal, without a leading slash, and what S3 accepts in a key.

use super::super::limits::{MAX_KEY_BYTES, quote};
use super::checker::Checker;

/// Checks a key prefix; `folder` when it must end in `/` (the probe prefix).
pub(super) fn check_prefix(c: &mut Checker, path: &str, prefix: &str, folder: bool) {
    let meant = meant_prefix(prefix, folder);
    if prefix.starts_with('/') {
        let hint = if meant.is_empty() || meant == "/" {
            "S3 keys have no leading slash: name the folder without it, e.g. `calls/`".to_string()
        } else if meant.ends_with('/') && !prefix.ends_with('/') && !prefix.contains(['*', '?']) {
            format!("S3 keys have no leading slash, and the prefix of a folder ends with one: write `{meant}`")
        } else {
            format!("S3 keys have no leading slash: write `{meant}`")
        };
        c.error(path, format!("prefix `{prefix}` starts with `/`"), hint);
    }
    if prefix.contains(['*', '?']) {
        let hint = if meant.is_empty() || meant == "/" {
            "prefixes are literal; remove `*` and `?`".to_string()
        } else {
            format!("prefixes are literal, and match every key that starts with them: write `{meant}`")
        };
        c.error(path, format!("prefix `{prefix}` contains a wildcard"), hint);
    }
    check_key_part(c, path, "prefix", prefix);
}

/// The prefix that `prefix` stands for, written as S3 takes it: without leading slashes (`/calls` is written as a
/// path to the folder `calls/`, which then ends with one), and literal (what comes before a wildcard: `calls/*` is
/// `calls/`). With `folder`, it always ends with `/`.
pub(super) fn meant_prefix(prefix: &str, folder: bool) -> String {
    let rooted = prefix.starts_with('/');
    let mut meant = prefix.trim_start_matches('/').to_string();
    let cut = meant.find(['*', '?']);
    if let Some(at) = cut {
        meant.truncate(at);
    }
    if !meant.ends_with('/') && (folder || (rooted && cut.is_none() && !meant.is_empty())) {
        meant.push('/');
    }
    meant
}

/// What S3 accepts in a part of an object key (a prefix or a suffix): at most 1,024 bytes of UTF-8, and no
/// control characters (XML 1.0, in which S3 lists keys and filter rules, cannot carry most of them).
pub(super) fn check_key_part(c: &mut Checker, path: &str, what: &str, value: &str) {
    if value.len() > MAX_KEY_BYTES {
        c.error(
            path,
            format!("{what} has {} bytes, over S3's {MAX_KEY_BYTES}-byte key limit", value.len()),
            "shorten it",
        );
    }
    if let Some((at, control)) = value.chars().enumerate().find(|(_, ch)| ch.is_control()) {
        c.error(
            path,
            format!(
                "{what} {} contains the control character {} (character {})",
                quote(value),
                control.escape_unicode(),
                at + 1
            ),
            "S3 keys and filters are printable text: remove it",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meant_prefix_is_written_as_s3_takes_it() {
        for (prefix, folder, meant) in [
            ("/calls", false, "calls/"),
            ("/calls/", false, "calls/"),
            ("//calls", false, "calls/"),
            ("/calls/2024-*", false, "calls/2024-"),
            ("calls/*", false, "calls/"),
            ("calls*.wav", false, "calls"),
            ("calls", false, "calls"),
            ("/", false, ""),
            ("*", false, ""),
            ("_probe", true, "_probe/"),
            ("/_probe*", true, "_probe/"),
            ("", true, "/"),
        ] {
            assert_eq!(meant_prefix(prefix, folder), meant, "{prefix} (folder: {folder})");
        }
    }
}
