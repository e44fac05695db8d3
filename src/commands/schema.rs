//! `provision schema`: JSON Schema of env files, for editor completion (e.g. yaml-language-server).

use anyhow::Result;

use crate::config::raw::RawConfig;
use crate::output::{ExitStatus, Printer};

pub fn run(printer: &Printer) -> Result<ExitStatus> {
    printer.json_doc(&schemars::schema_for!(RawConfig));
    Ok(ExitStatus::Success)
}
