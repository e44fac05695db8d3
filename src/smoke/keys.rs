//! Where probes write: the run's own namespace.
//!
//! A run owns every key that contains `<probe_prefix><run id>/` right after a prefix it chose:
//!
//! - `<probe_prefix><run id>/…` (default `_probe/<run id>/…`): the probe object, versioning and notification
//!   probes, and the "outside every entry's prefixes" requests of the access matrix;
//! - `<entry prefix><probe_prefix><run id>/…` (e.g. `calls/_probe/<run id>/…`): the "inside the entry's prefix"
//!   requests of the access matrix. An entry allowed only `calls/` can only be proven to write there by writing
//!   there, so the probe namespace is repeated under each such prefix. This happens only for entries whose role the
//!   deployer may assume (`smoke.trust_deployer`, never a protected env); elsewhere the policy simulator is asked
//!   and nothing is written under an entry's prefix.
//! - `<filter prefix><probe_prefix><run id>/notify/…` (e.g. `recordings/_probe/<run id>/notify/…`): the probe of a
//!   notification whose prefix filter the probe prefix does not lie under. Its event can only be caused by a key
//!   matching the filter, so the probe namespace is repeated under the filter's prefix, as for the access checks.
//!
//! The run id is unique per run, so no key of the workloads, and no key of another run, is ever touched; the
//! cleanup deletes every version and delete marker under each of these prefixes.

use std::hash::{BuildHasher, Hasher};

use time::OffsetDateTime;

/// A fresh run id: UTC time to the second and 24 random bits, e.g. `20261121T025226Z-3fa9c1`. Sortable, readable,
/// and valid in keys, role session names and queue filters.
pub fn new_run_id() -> String {
    let now = OffsetDateTime::now_utc();
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now.unix_timestamp_nanos().unsigned_abs());
    hasher.write_u32(std::process::id());
    run_id_at(now, hasher.finish())
}

fn run_id_at(now: OffsetDateTime, random: u64) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:06x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        random & 0xff_ffff
    )
}

/// The keys of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `<probe_prefix><run id>/`: the run's namespace at the probe prefix.
    pub root: String,
    /// `<probe_prefix><run id>/` as it appears under any prefix (the same text as `root`).
    marker: String,
    run_id: String,
}

impl Layout {
    pub fn new(probe_prefix: &str, run_id: &str) -> Layout {
        let root = format!("{probe_prefix}{run_id}/");
        Layout { marker: root.clone(), root, run_id: run_id.to_string() }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The probe object, partitioned like the analytics workload:
    /// `<root>year=YYYY/month=MM/day=DD/<run id>.json.gz`.
    pub fn object_key(&self, now: OffsetDateTime) -> String {
        format!(
            "{}year={:04}/month={:02}/day={:02}/{}.json.gz",
            self.root,
            now.year(),
            u8::from(now.month()),
            now.day(),
            self.run_id
        )
    }

    /// The probe of a notification: `<namespace>notify/<name>/probe<suffix>`, in the run's namespace under the
    /// filter's prefix ([`Layout::namespace_for`]); a suffix filter is matched by ending so.
    pub fn notify_key(&self, filter_prefix: &str, notification: &str, suffix: &str) -> String {
        format!("{}notify/{notification}/probe{suffix}", self.namespace_for(filter_prefix))
    }

    /// The run's namespace whose keys all start with `prefix`: the root when it lies under `prefix` already (an
    /// empty prefix, or one the probe prefix starts with), otherwise the namespace repeated under `prefix`.
    pub fn namespace_for(&self, prefix: &str) -> String {
        if self.root.starts_with(prefix) { self.root.clone() } else { self.under(prefix) }
    }

    /// Where an entry's "inside" requests go: `<entry prefix><probe_prefix><run id>/<entry>/`.
    pub fn inside(&self, entry_prefix: &str, entry: &str) -> String {
        format!("{entry_prefix}{}{entry}/", self.marker)
    }

    /// Where an entry's "outside" requests go: `<root>access/<entry>/`.
    pub fn outside(&self, entry: &str) -> String {
        format!("{}access/{entry}/", self.root)
    }

    /// The run's namespace under an entry's prefix.
    pub fn under(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.marker)
    }

    /// Whether a key belongs to this run (is in one of its namespaces).
    pub fn owns(&self, key: &str) -> bool {
        // The run id is unique, so a key that contains the marker anywhere is this run's.
        key.contains(&self.marker)
    }
}

/// The prefixes a run may have written under: its root, and its namespace under each of `entry_prefixes` (see the
/// module docs). Sorted, without repeats, and without a prefix that another one already covers.
pub fn cleanup_prefixes(layout: &Layout, entry_prefixes: &[String]) -> Vec<String> {
    let mut all: Vec<String> =
        std::iter::once(layout.root.clone()).chain(entry_prefixes.iter().map(|p| layout.under(p))).collect();
    all.sort();
    all.dedup();
    let mut kept: Vec<String> = Vec::new();
    for prefix in all {
        // Sorted, so a covering prefix comes before the prefixes it covers.
        if !kept.iter().any(|k| prefix.starts_with(k.as_str())) {
            kept.push(prefix);
        }
    }
    kept
}

/// When the run named `run_id` started, if `run_id` is a run id (`20261121T025226Z-3fa9c1`); None otherwise, so
/// nothing that merely sits under a probe prefix is taken for a run's namespace.
pub fn run_started(run_id: &str) -> Option<OffsetDateTime> {
    let (stamp, random) = run_id.split_once('-')?;
    let hex = random.len() == 6 && random.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let digits = |range: std::ops::Range<usize>| stamp.get(range).filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    if !hex || stamp.len() != 16 || stamp.as_bytes()[8] != b'T' || !stamp.ends_with('Z') {
        return None;
    }
    let number = |range| digits(range)?.parse::<u32>().ok();
    let month = time::Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(number(0..4)?).ok()?, month, u8::try_from(number(6..8)?).ok()?)
            .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(number(9..11)?).ok()?,
        u8::try_from(number(11..13)?).ok()?,
        u8::try_from(number(13..15)?).ok()?,
    )
    .ok()?;
    Some(date.with_time(clock).assume_utc())
}

/// Where runs keep their namespaces: the probe prefix itself, and the probe prefix under each entry prefix a run
/// may write inside (see the module docs). Each holds `<run id>/` directories.
pub fn namespace_parents(probe_prefix: &str, entry_prefixes: &[String]) -> Vec<String> {
    let mut all: Vec<String> = std::iter::once(probe_prefix.to_string())
        .chain(entry_prefixes.iter().map(|p| format!("{p}{probe_prefix}")))
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_run_id_tells_when_its_run_started() {
        assert_eq!(run_started("20261121T025226Z-3fa9c1"), Some(datetime!(2026-11-21 02:52:26 UTC)));
        assert_eq!(
            run_started(&run_id_at(datetime!(2027-01-02 03:04:05 UTC), 7)),
            Some(datetime!(2027-01-02 03:04:05 UTC))
        );
        for not_a_run in
            ["R1", "2026-11-21", "20261121T025226Z-3FA9C1", "20261121T025226Z", "20261341T025226Z-3fa9c1", "report"]
        {
            assert_eq!(run_started(not_a_run), None, "{not_a_run}");
        }
        assert_eq!(namespace_parents("_probe/", &["calls/".into(), "calls/".into()]), ["_probe/", "calls/_probe/"]);
    }

    #[test]
    fn run_ids_are_readable_and_unique() {
        assert_eq!(run_id_at(datetime!(2026-11-21 02:52:26 UTC), 0x1234_3fa9c1), "20261121T025226Z-3fa9c1");
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261121T025226Z-3fa9c1".len());
    }

    #[test]
    fn keys_stay_in_the_run_namespace() {
        let layout = Layout::new("_probe/", "R1");
        let key = layout.object_key(datetime!(2026-03-04 05:06:07 UTC));
        assert_eq!(key, "_probe/R1/year=2026/month=03/day=04/R1.json.gz");
        assert_eq!(layout.notify_key("", "new-recording", ".wav"), "_probe/R1/notify/new-recording/probe.wav");
        // A filter prefix the root lies under is matched from the root; any other from the namespace under it.
        assert_eq!(layout.notify_key("_pro", "n", ""), "_probe/R1/notify/n/probe");
        assert_eq!(
            layout.notify_key("AC0123/", "new-recording", ".wav"),
            "AC0123/_probe/R1/notify/new-recording/probe.wav"
        );
        assert_eq!(layout.namespace_for("recordings/"), "recordings/_probe/R1/");
        assert_eq!(layout.inside("calls/", "writer"), "calls/_probe/R1/writer/");
        assert_eq!(layout.outside("writer"), "_probe/R1/access/writer/");
        for key in [
            key.as_str(),
            "_probe/R1/notify/x/probe.wav",
            "calls/_probe/R1/writer/seed.json",
            "a/b/_probe/R1/x",
            "calls_probe/R1/x",
        ] {
            assert!(layout.owns(key), "{key}");
        }
        for key in ["calls/x.json", "_probe/R2/x", "_probe/R1", "calls/_probe/R10/x"] {
            assert!(!layout.owns(key), "{key}");
        }
    }

    #[test]
    fn cleanup_prefixes_cover_every_namespace_once() {
        let layout = Layout::new("_probe/", "R1");
        let prefixes = ["calls/", "sessions/", "sessions/", "calls/archive/"].map(String::from);
        assert_eq!(
            cleanup_prefixes(&layout, &prefixes),
            ["_probe/R1/", "calls/_probe/R1/", "calls/archive/_probe/R1/", "sessions/_probe/R1/"]
        );
        // An entry prefix inside the probe prefix: its namespace is under the root already.
        assert_eq!(cleanup_prefixes(&layout, &["_probe/R1/x/".to_string()]), ["_probe/R1/"]);
    }
}
