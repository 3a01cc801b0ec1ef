//! `poll-devices`: download now, outside the schedule.

use std::time::Duration;

use anyhow::bail;
use chrono::{TimeDelta, Utc};
use clap::Args;

use crate::config::Config;
use crate::domain::DeviceId;
use crate::pipeline::poll::{self, PollOptions};

#[derive(Debug, Args)]
pub(super) struct PollArgs {
    /// Poll only this device (even if disabled)
    #[arg(long)]
    device_id: Option<i64>,
    /// Store only punches from the last H hours
    #[arg(long, conflicts_with = "since_days")]
    since_hours: Option<u32>,
    /// Store only punches from the last D days
    #[arg(long)]
    since_days: Option<u32>,
    /// Seconds to wait for each device step
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub(super) async fn run(config: &Config, args: PollArgs) -> anyhow::Result<()> {
    let store = super::open_store(config).await?;
    let window = args.since_hours.map(|h| TimeDelta::hours(h.into())).or(args.since_days.map(|d| TimeDelta::days(d.into())));
    let correct = Some(config.devices.clock_correction_seconds).filter(|s| *s > 0);
    let filter = PollOptions { since: window.map(|w| Utc::now() - w), correct_clock_above_s: correct, window: config.devices.punch_window() };
    let instance = format!("cli:{}", std::process::id());
    let to_poll = poll::targets(&store, args.device_id.map(DeviceId)).await?.len();
    let bar = super::progress::bar(to_poll as u64, "devices");
    let results = poll::poll_all_reporting(
        &store,
        config.time_zone.0,
        &instance,
        Duration::from_secs(args.timeout.max(1)),
        args.device_id.map(DeviceId),
        filter,
        &|device| {
            bar.set_message(device.name.clone());
            bar.inc(1);
        },
    )
    .await;
    bar.finish_and_clear();
    let results = results?;
    if results.is_empty() {
        bail!("no device to poll (see `attendance-bridge devices list`)");
    }
    let mut failed = 0;
    for (device, outcome) in results {
        match outcome {
            Ok(r) if !r.polled => println!("{}: skipped, another instance is polling it", device.name),
            Ok(r) => println!(
                "{}: {} records on the device ({} known from the last poll), {} new stored, {} new employees, clock offset {:+} s{}{}",
                device.name,
                r.downloaded,
                r.already_known,
                r.stored,
                r.new_employees,
                r.clock_offset_s,
                if r.clock_corrected { " (clock corrected)" } else { "" },
                r.answered.as_ref().map(|(which, at)| format!(", answered on the {which} address {at}")).unwrap_or_default()
            ),
            Err(e) => {
                failed += 1;
                println!("{}: FAILED: {e}", device.name);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} device(s) could not be polled");
    }
    Ok(())
}
