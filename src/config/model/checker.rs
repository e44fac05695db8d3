//! What every check works with: the [`Checker`] that collects located diagnostics, and the [`RegionAccount`] an
//! env deploys to, which ARNs of the file are held against.

use std::path::Path;

use super::super::error::Diagnostic;
use super::super::locate::Locator;
use super::super::structure::Unread;
use crate::names;

/// Collects located diagnostics while the raw config is checked.
pub(super) struct Checker<'a> {
    file: &'a Path,
    locator: &'a Locator,
    /// Parts of the file that could not be read: the raw config holds defaults there, which no rule may judge.
    unread: &'a Unread,
    pub(super) found: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(file: &'a Path, locator: &'a Locator, unread: &'a Unread) -> Self {
        Checker { file, locator, unread, found: Vec::new() }
    }

    /// Whether every one of `paths` was read, so that a rule may judge them.
    pub(super) fn read(&self, paths: &[&str]) -> bool {
        paths.iter().all(|path| self.unread.read(path))
    }

    /// Whether the file writes the key at `path` (rather than leaving it to its default).
    pub(super) fn written(&self, path: &str) -> bool {
        self.locator.get(path).is_some()
    }

    /// Runs `check` and keeps what it finds only if every one of `paths` was read.
    pub(super) fn judge<T>(&mut self, paths: &[&str], check: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.found.len();
        let value = check(self);
        if !self.read(paths) {
            self.found.truncate(before);
        }
        value
    }

    pub(super) fn error(&mut self, key: &str, message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        let pos = self.locator.key_pos(key);
        self.found.push(Diagnostic::new(self.file, pos, key, message.into(), (!hint.is_empty()).then_some(hint)));
    }
}

/// The region and account an env deploys to, for the ARNs that must be in the same region or account.
#[derive(Clone, Copy)]
pub(super) struct RegionAccount<'a> {
    /// `None` when the file's region could not be read.
    pub(super) region: Option<&'a str>,
    /// `None` when the file does not say; the account is then only known at deploy time.
    pub(super) account: Option<&'a str>,
}

impl RegionAccount<'_> {
    /// Checks that a (well-formed) ARN at `path` is in this env's region and/or account.
    pub(super) fn check_arn(
        &self,
        c: &mut Checker,
        path: &str,
        arn: &str,
        same_region: Option<&str>,
        same_account: Option<&str>,
    ) {
        let Some((region, account)) = names::arn_region_account(arn) else { return };
        if let (Some(why), Some(own)) = (same_region, self.region.filter(|own| *own != region)) {
            c.error(
                path,
                format!("the ARN is in region `{region}`, but the env deploys to `{own}`"),
                format!("{why}: use one in {own}"),
            );
        }
        if let (Some(why), Some(own)) = (same_account, self.account.filter(|own| *own != account)) {
            c.error(
                path,
                format!("the ARN is in account `{account}`, but the env deploys to account `{own}`"),
                format!("{why}: use one from account {own}"),
            );
        }
    }
}
