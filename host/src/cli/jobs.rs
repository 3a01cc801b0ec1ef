//! `jobs`: see and change the schedules of the background jobs, without restarting anything.

use anyhow::bail;
use clap::Subcommand;

use crate::config::Config;
use crate::store::jobs::{self, ScheduleChange};

#[derive(Debug, Subcommand)]
pub(super) enum JobsCommand {
    /// List jobs with their schedule, next run and last outcome
    List,
    /// Pause a job until resumed
    Pause {
        /// Job name
        name: String,
    },
    /// Resume a paused job
    Resume {
        /// Job name
        name: String,
    },
    /// Run a job every N seconds from now on
    SetInterval {
        /// Job name
        name: String,
        /// Seconds between runs
        seconds: u32,
    },
}

pub(super) async fn run(config: &Config, command: JobsCommand) -> anyhow::Result<()> {
    let access = if matches!(command, JobsCommand::List) { super::Access::Read } else { super::Access::Write };
    let store = super::open_store_for(config, access).await?;
    let (name, change) = match command {
        JobsCommand::List => {
            let runs = jobs::recent_runs(&store, None, 200).await?;
            for schedule in jobs::list(&store).await? {
                let every = match (schedule.interval_seconds, &schedule.daily_at) {
                    (Some(s), _) => format!("every {s}s"),
                    (None, Some(at)) => format!("daily at {at}"),
                    (None, None) => "unscheduled".to_owned(),
                };
                let state = if schedule.paused { "paused" } else { "active" };
                let next = schedule.next_run_at.map_or_else(|| "due".to_owned(), |t| format!("next {} UTC", t.format("%Y-%m-%d %H:%M:%S")));
                let last = runs
                    .iter()
                    .find(|r| r.job_name == schedule.name)
                    .map_or_else(|| "never run".to_owned(), |r| format!("last {} at {}", r.outcome, r.started_at.format("%Y-%m-%d %H:%M:%S")));
                println!("{}\t{every}\t{state}\t{next}\t{last}", schedule.name);
            }
            return Ok(());
        }
        JobsCommand::Pause { name } => (name, ScheduleChange { paused: Some(true), ..Default::default() }),
        JobsCommand::Resume { name } => (name, ScheduleChange { paused: Some(false), ..Default::default() }),
        JobsCommand::SetInterval { name, seconds } => {
            if seconds == 0 {
                bail!("the interval must be at least 1 second");
            }
            (name, ScheduleChange { interval_seconds: Some(seconds), ..Default::default() })
        }
    };
    jobs::update_schedule(&store, &name, &change).await?;
    println!("updated job {name}");
    Ok(())
}
