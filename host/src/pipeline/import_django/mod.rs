//! `import-django`: take over the database of the original Django + Celery bridge in one command.
//!
//! Devices (zone and failover address kept), device users (as employees, full name preferred), raw
//! attendance (the device's wall time recovered from the stored UTC instant, so a later poll of the
//! same device meets the same identity and stores nothing twice) and the days the original already
//! delivered to the CRM (kept as delivered: never sent again) are copied; days it did not deliver are
//! left to our rules, which compute them from the punches and deliver them once. Celery beat
//! schedules are carried over where the original kept them in its database.
//!
//! [`source`] reads, [`plan`] maps row by row, [`apply`] writes a chunk per transaction keyed on
//! natural keys, so an interrupted import is finished by running it again and a second run changes
//! nothing.

pub mod apply;
pub mod plan;
pub mod source;

use std::collections::BTreeMap;

pub use apply::run;

/// Why an import could not run (single rows that cannot be imported are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source cannot be opened or read.
    #[error("source database: {0}")]
    Source(String),
    /// The source is not the original's database.
    #[error("refused: {0}")]
    NotDjango(String),
    /// Writing failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Read and map everything, write nothing.
    pub dry_run: bool,
    /// Let our rules recompute the days the original delivered; only real differences (other clock
    /// times) go to the CRM, as amended revisions under new keys.
    pub reprocess_synced: bool,
    /// Rows per chunk (one transaction each).
    pub chunk_size: usize,
    /// Test hook: stop (sleep) after this many committed punch chunks, so a test can kill the
    /// process mid-import at a known point (`BRIDGE_IMPORT_PAUSE_AFTER_CHUNK`).
    pub pause_after_chunk: Option<usize>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { dry_run: false, reprocess_synced: false, chunk_size: 1000, pause_after_chunk: None }
    }
}

/// What happened to one table's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    /// Rows read from the source.
    pub read: usize,
    /// Rows written (in a dry run: rows that would be written, unless already there).
    pub imported: usize,
    /// Rows already there (an earlier run, or a device registered by hand).
    pub duplicates: usize,
    /// Rows not imported, by reason.
    pub refused: BTreeMap<String, usize>,
    /// Rows handled otherwise, by what was done (e.g. days left to our rules).
    pub other: BTreeMap<String, usize>,
}

impl TableCounts {
    fn refuse(&mut self, reason: impl Into<String>) {
        *self.refused.entry(reason.into()).or_default() += 1;
    }

    fn note(&mut self, what: &str) {
        *self.other.entry(what.to_owned()).or_default() += 1;
    }

    /// Rows refused, all reasons.
    pub fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }
}

/// What an import did, table by table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// The source has only the legacy day columns.
    pub legacy_schema: bool,
    /// `core_device` → `devices`.
    pub devices: TableCounts,
    /// Device users → `employees`.
    pub employees: TableCounts,
    /// Delivered days → `processed_attendance` (delivered).
    pub days: TableCounts,
    /// `core_rawattendance` → `raw_punches`.
    pub punches: TableCounts,
    /// Celery beat → `job_schedules`.
    pub schedules: TableCounts,
    /// Delivered days handed back to the rules (`--reprocess-synced`).
    pub released_days: usize,
    /// Things the operator should know.
    pub notes: Vec<String>,
    /// Wall time of the run, seconds.
    pub seconds: f64,
}

impl ImportReport {
    /// The closing table: one line per table (read, imported, duplicates, refused), then the reasons.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let imported = if self.dry_run { "to import" } else { "imported" };
        let _ = writeln!(out, "{:<22} {:>9} {:>10} {:>11} {:>8}", "table", "read", imported, "duplicates", "refused");
        for (name, t) in self.tables() {
            let _ = writeln!(out, "{name:<22} {:>9} {:>10} {:>11} {:>8}", t.read, t.imported, t.duplicates, t.refused_total());
        }
        for (name, t) in self.tables() {
            for (reason, n) in &t.refused {
                let _ = writeln!(out, "  {name}: {n} refused: {reason}");
            }
            for (what, n) in &t.other {
                let _ = writeln!(out, "  {name}: {n} {what}");
            }
        }
        if self.released_days > 0 {
            let _ = writeln!(out, "  {} delivered day(s) handed back to the rules (--reprocess-synced)", self.released_days);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// The tables in the order they are imported, with the names the report prints.
    pub fn tables(&self) -> [(&'static str, &TableCounts); 5] {
        [
            ("devices", &self.devices),
            ("employees", &self.employees),
            ("processed_attendance", &self.days),
            ("raw_punches", &self.punches),
            ("job_schedules", &self.schedules),
        ]
    }
}
