//! `process-attendance`: run the rules now, outside the schedule.

use anyhow::bail;
use chrono::NaiveDate;
use clap::Args;

use crate::config::Config;
use crate::pipeline::process;
use crate::store::pending;

#[derive(Debug, Args)]
pub(super) struct ProcessArgs {
    /// Re-process every day with punches from this date (with --end-date)
    #[arg(long, requires = "end_date")]
    start_date: Option<NaiveDate>,
    /// Last date to re-process
    #[arg(long, requires = "start_date")]
    end_date: Option<NaiveDate>,
}

pub(super) async fn run(config: &Config, args: ProcessArgs) -> anyhow::Result<()> {
    let store = super::open_store(config).await?;
    if let (Some(from), Some(to)) = (args.start_date, args.end_date) {
        if to < from {
            bail!("--end-date is before --start-date");
        }
        let marked = pending::mark_range(&store, from, to).await?;
        println!("marked {marked} employee-days from {from} to {to} for processing");
    }
    let registry = crate::pipeline::plugin_registry(config)?;
    let total = u64::try_from(pending::count(&store).await?).unwrap_or(0);
    let bar = super::progress::bar(total, "employee-days");
    let report = process::run_processing_reporting(&store, &registry, config, &|n| bar.inc(n)).await;
    bar.finish_and_clear();
    let report = report?;
    println!(
        "processed {} employee(s): {} day(s) written, {} new outlier(s), {} failed (left pending), {} day(s) without a record, {} deferred to the next run",
        report.employees,
        report.days_written,
        report.new_outliers.len(),
        report.failed,
        report.no_result,
        report.deferred
    );
    if let Some(reason) = &report.stopped {
        println!("stopped calling the plugin early: {reason}; the deferred employees stay pending for the next run");
    }
    if report.failed > 0 {
        bail!("{} employee(s) could not be processed; see `attendance-bridge stats` and the log", report.failed);
    }
    Ok(())
}
