//! Bounds on everything the tool accepts from an env file or the command line, each set by what AWS accepts (or,
//! where AWS sets none, by what a config could sensibly need), and the few parsers that apply them.
//!
//! Hostile or broken input must end in a clear error, fast and in bounded memory: the file is read only if it is a
//! regular file of at most [`MAX_FILE_BYTES`], and its text reaches the YAML parsers only if it nests no deeper than
//! [`MAX_DEPTH`] (both parsers take time that grows with the square of the nesting depth).

use std::time::Duration;

/// Largest env file read (1 MiB). Real ones are a few KB; the largest useful one renders a template near
/// CloudFormation's 1 MB limit from far less.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of maps and lists (a real env file nests 5 levels: `bucket.lifecycle.rules[0].prefix`).
pub const MAX_DEPTH: usize = 32;
/// Longest key: setting names are short, names of entries are at most 32 characters, tag keys at most 128.
pub const MAX_KEY_CHARS: usize = 256;
/// Most values (keys, scalars, maps and lists) in one file; a real one has a few hundred.
pub const MAX_VALUES: usize = 100_000;
/// Most bytes of dotted key paths the locator keeps for one file (bounds its memory whatever the shape).
pub const MAX_INDEX_BYTES: usize = 16 * 1024 * 1024;
/// Most problems listed for one file; the rest are counted.
pub const MAX_DIAGNOSTICS: usize = 50;
/// Longest value quoted back in a message, in characters: every name AWS limits (stack names, tag keys: 128)
/// shows in full, a 1 MB value does not.
pub const MAX_QUOTED_CHARS: usize = 160;

/// Longest life of an ephemeral instance (`ttl`, `--ttl`) and the oldest age `teardown --older-than` takes.
pub const MAX_TTL: Duration = Duration::from_secs(365 * 86_400);
/// Longest wait for a stack operation (`--wait-timeout`, `teardown --stack-timeout`).
pub const MAX_WAIT: Duration = Duration::from_secs(86_400);
/// Lifecycle days: S3 takes any positive whole number; 100 years is more than any retention rule needs.
pub const MAX_LIFECYCLE_DAYS: u32 = 36_500;
/// S3: at most 1,000 lifecycle rules per bucket.
pub const MAX_LIFECYCLE_RULES: usize = 1_000;
/// S3 object keys, and so the prefixes and suffixes of filters and policies, are at most 1,024 bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1_024;
/// CloudFormation: at most 500 resources in one template.
pub const MAX_RESOURCES: usize = 500;
/// Longest env name.
pub const MAX_ENV_CHARS: usize = 32;

/// The rule for env names, as shown in messages and the README.
pub const ENV_NAME_RULE: &str = "an env name has 1-32 lowercase letters, digits and hyphens, starts with a letter or \
     digit and does not end with a hyphen (it is the file `<stacks-dir>/<env>.yaml` and part of the stack name \
     `<project>-<env>[-<instance>]`)";

/// Env names: `prod`, `staging`, `test`, `eu-2`. Checked before any file is read, so a name is never a path
/// (`../other/x`, `/etc/x`) and always fits a CloudFormation stack name (`[a-zA-Z][-a-zA-Z0-9]*`, at most 128
/// characters: project 40 + env 32 + instance 24 + 2 hyphens) and an S3 tag value. The same characters as an
/// instance name, which follows it in the stack name.
pub fn is_env_name(s: &str) -> bool {
    (1..=MAX_ENV_CHARS).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && !s.ends_with('-')
}

/// Parses a duration written for people: `90s`, `30m`, `12h`, `7d`, `2w`, and compounds such as `1h30m` or
/// `1h 30m` (every unit of the `humantime` crate). Zero is an error; so is anything longer than `max`.
pub fn parse_duration(text: &str, max: Duration) -> Result<Duration, String> {
    let shown = quote(text.trim());
    let parsed = match humantime::parse_duration(text.trim()) {
        Ok(d) => d,
        Err(humantime::DurationError::UnknownUnit { unit, .. }) if unit.is_empty() => {
            return Err(format!("{shown} has no unit (s, m, h, d or w)"));
        }
        Err(humantime::DurationError::UnknownUnit { unit, .. }) => {
            return Err(format!("{shown} has an unknown unit {} (use s, m, h, d or w, e.g. 1h30m)", quote(&unit)));
        }
        Err(humantime::DurationError::NumberOverflow) => return Err(too_long(&shown, max)),
        Err(_) => return Err(format!("{shown} is not a duration")),
    };
    if parsed.is_zero() {
        return Err(format!("{shown} is zero"));
    }
    if parsed > max {
        return Err(too_long(&shown, max));
    }
    Ok(parsed)
}

fn too_long(shown: &str, max: Duration) -> String {
    format!("{shown} is longer than the maximum of {}", in_words(max))
}

/// `365 days`, `24 hours`, `90 seconds`.
pub fn in_words(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `value` in backticks, clipped to [`MAX_QUOTED_CHARS`] characters, with control characters escaped.
pub fn quote(value: &str) -> String {
    format!("`{}`", clip(value))
}

/// `value` clipped to [`MAX_QUOTED_CHARS`] characters (then `…`), with control characters and the bidirectional
/// overrides escaped, so that a message stays one short line whatever the value holds.
pub fn clip(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        push_visible(&mut out, c);
    }
    out
}

fn push_visible(out: &mut String, c: char) {
    let invisible = c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
    if invisible {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// Clips every quoted part (between backticks or double quotes) of a message and escapes control characters
/// anywhere in it.
pub fn clip_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[open] as char;
        rest[..open].chars().for_each(|c| push_visible(&mut out, c));
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            out.push(quote);
            rest = after;
            continue;
        };
        out.push(quote);
        out.push_str(&clip(&after[..close]));
        out.push(quote);
        rest = &after[close + 1..];
    }
    rest.chars().for_each(|c| push_visible(&mut out, c));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        for good in ["prod", "staging", "test", "local", "eu-2", "2024", "a", &"e".repeat(32)] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in [
            "",
            "../other/named",
            "/etc/passwd",
            "a/b",
            "Weird.Env_1",
            "Prod",
            "prod-",
            "-prod",
            "pr od",
            "prod.yaml",
            "ü",
            &"e".repeat(33),
        ] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }

    #[test]
    fn durations_are_compound_and_bounded() {
        let d = |s: &str| parse_duration(s, MAX_TTL);
        assert_eq!(d("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(d("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(d("365d"), Ok(MAX_TTL));
        assert_eq!(d("366d").unwrap_err(), "`366d` is longer than the maximum of 365 days");
        assert!(d("99999999w").unwrap_err().contains("longer than the maximum"));
        assert!(d("99999999999999999999999w").unwrap_err().contains("longer than the maximum"));
        assert_eq!(d("30").unwrap_err(), "`30` has no unit (s, m, h, d or w)");
        assert!(d("3 fortnights").unwrap_err().contains("unknown unit `fortnights`"));
        assert_eq!(d("one day").unwrap_err(), "`one day` is not a duration");
        assert_eq!(d("0s").unwrap_err(), "`0s` is zero");
        assert_eq!(d("").unwrap_err(), "`` is not a duration");
    }

    #[test]
    fn long_and_invisible_values_are_clipped_and_escaped() {
        let long = "x".repeat(1_000_000);
        assert_eq!(quote(&long), format!("`{}…`", "x".repeat(MAX_QUOTED_CHARS)));
        assert_eq!(clip("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(clip("é".repeat(200).as_str()).chars().count(), MAX_QUOTED_CHARS + 1);
        let message = format!("prefix `{long}` starts with \"{long}\" and `short`");
        let clipped = clip_quoted(&message);
        assert!(clipped.len() < 400, "{clipped}");
        assert!(clipped.ends_with("…\" and `short`"), "{clipped}");
        assert_eq!(clip_quoted("odd ` quote\u{7}"), "odd ` quote\\u{7}");
    }
}
