//! `shifts`, `roster` and `holidays`: who is expected to work when.

use anyhow::Context as _;
use chrono::{NaiveDate, NaiveTime};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::domain::EmployeeId;
use crate::store::{employees, rosters};
use crate::store::rosters::{Affected, RoundingMode, ShiftTemplate};

#[derive(Debug, Subcommand)]
pub(super) enum ShiftsCommand {
    /// Create or replace a shift template
    Add(ShiftArgs),
    /// List shift templates
    List,
    /// Delete a shift template
    Remove {
        /// Template code
        code: String,
    },
}

/// A template's parameters; each defaults to the value in the rules documentation.
#[derive(Debug, Args)]
pub(super) struct ShiftArgs {
    /// Short code used in rosters (DAY, N22)
    code: String,
    /// Start, HH:MM local
    #[arg(long, value_parser = parse_time)]
    start: NaiveTime,
    /// End, HH:MM local (at or before the start for a night shift)
    #[arg(long, value_parser = parse_time)]
    end: NaiveTime,
    /// Human name
    #[arg(long, default_value = "")]
    name: String,
    #[arg(long, default_value_t = 120)]
    early_in_window_min: i32,
    #[arg(long, default_value_t = 180)]
    late_out_window_min: i32,
    #[arg(long, default_value_t = 120)]
    late_in_outlier_min: i32,
    #[arg(long, default_value_t = 120)]
    early_out_outlier_min: i32,
    #[arg(long, default_value_t = 0)]
    late_grace_min: i32,
    #[arg(long, default_value_t = 0)]
    early_grace_min: i32,
    #[arg(long, default_value_t = 60)]
    dedup_window_s: i32,
    #[arg(long, default_value_t = 10)]
    min_span_min: i32,
    #[arg(long, default_value_t = 30)]
    overtime_min_min: i32,
    #[arg(long, default_value_t = 0)]
    absent_below_min: i32,
    #[arg(long, default_value_t = 0)]
    half_day_below_min: i32,
    /// Round worked time to this many minutes
    #[arg(long)]
    rounding_interval_min: Option<i32>,
    /// nearest_half_up, up or down
    #[arg(long)]
    rounding_mode: Option<RoundingMode>,
    #[arg(long, default_value_t = 30)]
    settle_min: i32,
    #[arg(long, default_value = "04:00")]
    unscheduled_day_boundary: String,
}

#[derive(Debug, Subcommand)]
pub(super) enum RosterCommand {
    /// Set a person's weekly pattern and default template
    Weekly {
        /// Employee (user id on the devices)
        employee: String,
        /// Template worked on --days
        #[arg(long)]
        shift: String,
        /// Weekdays, comma-separated
        #[arg(long, default_value = "mon,tue,wed,thu,fri")]
        days: String,
        /// Template for grouping punches on other days [default: --shift]
        #[arg(long)]
        default: Option<String>,
    },
    /// Set one date: a template code, or "off"
    Set {
        /// Employee
        employee: String,
        /// Date (YYYY-MM-DD)
        date: NaiveDate,
        /// Template code or "off"
        shift: String,
    },
    /// Remove one date's entry (the weekly pattern applies again)
    Clear {
        /// Employee
        employee: String,
        /// Date (YYYY-MM-DD)
        date: NaiveDate,
    },
    /// Show a person's per-date entries
    Show {
        /// Employee
        employee: String,
        /// First date
        #[arg(long)]
        from: NaiveDate,
        /// Last date
        #[arg(long)]
        to: NaiveDate,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum HolidaysCommand {
    /// Add a holiday
    Add {
        /// Date (YYYY-MM-DD)
        date: NaiveDate,
        /// Name
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Remove a holiday
    Remove {
        /// Date (YYYY-MM-DD)
        date: NaiveDate,
    },
    /// List holidays
    List,
}

fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("{s:?} is not a time like 08:00"))
}

pub(super) async fn shifts(config: &Config, command: ShiftsCommand) -> anyhow::Result<()> {
    let access = if matches!(command, ShiftsCommand::List) { super::Access::Read } else { super::Access::Write };
    let store = super::open_store_for(config, access).await?;
    match command {
        ShiftsCommand::Add(a) => {
            let template = ShiftTemplate {
                name: a.name,
                early_in_window_min: a.early_in_window_min,
                late_out_window_min: a.late_out_window_min,
                late_in_outlier_min: a.late_in_outlier_min,
                early_out_outlier_min: a.early_out_outlier_min,
                late_grace_min: a.late_grace_min,
                early_grace_min: a.early_grace_min,
                dedup_window_s: a.dedup_window_s,
                min_span_min: a.min_span_min,
                overtime_min_min: a.overtime_min_min,
                absent_below_min: a.absent_below_min,
                half_day_below_min: a.half_day_below_min,
                rounding_interval_min: a.rounding_interval_min,
                rounding_mode: a.rounding_mode,
                settle_min: a.settle_min,
                unscheduled_day_boundary: a.unscheduled_day_boundary,
                ..ShiftTemplate::new(&a.code, a.start, a.end)
            };
            rosters::save_template(&store, &template).await?;
            println!("saved shift {} ({}-{})", template.code, template.start_time, template.end_time);
            report_marked(rosters::mark_affected(&store, &Affected::Template(template.code.clone())).await?);
        }
        ShiftsCommand::List => {
            for t in rosters::list_templates(&store).await? {
                println!("{}\t{}-{}\t{}", t.code, t.start_time, t.end_time, t.name);
            }
        }
        ShiftsCommand::Remove { code } => {
            // Marked first: once the template is gone, the stored days still name it.
            let marked = rosters::mark_affected(&store, &Affected::Template(code.clone())).await?;
            rosters::remove_template(&store, &code).await?;
            println!("removed shift {code}");
            report_marked(marked);
        }
    }
    Ok(())
}

pub(super) async fn roster(config: &Config, command: RosterCommand) -> anyhow::Result<()> {
    let access = if matches!(command, RosterCommand::Show { .. }) { super::Access::Read } else { super::Access::Write };
    let store = super::open_store_for(config, access).await?;
    match command {
        RosterCommand::Weekly { employee, shift, days, default } => {
            let days = normalise_days(&days)?;
            let default = default.unwrap_or_else(|| shift.clone());
            employees::set_pattern(&store, &EmployeeId(employee.clone()), Some(&default), Some(&shift), &days).await?;
            println!("{employee}: {shift} on {days}, default {default}");
            report_marked(rosters::mark_affected(&store, &Affected::Employee(EmployeeId(employee))).await?);
        }
        RosterCommand::Set { employee, date, shift } => {
            let shift = (!shift.eq_ignore_ascii_case("off")).then_some(shift);
            rosters::set_roster(&store, &EmployeeId(employee.clone()), date, shift.as_deref()).await?;
            println!("{employee} {date}: {}", shift.as_deref().unwrap_or("off"));
            report_marked(rosters::mark_affected(&store, &Affected::EmployeeDay(EmployeeId(employee), date)).await?);
        }
        RosterCommand::Clear { employee, date } => {
            rosters::clear_roster(&store, &EmployeeId(employee.clone()), date).await?;
            println!("{employee} {date}: weekly pattern");
            report_marked(rosters::mark_affected(&store, &Affected::EmployeeDay(EmployeeId(employee), date)).await?);
        }
        RosterCommand::Show { employee, from, to } => {
            for (date, shift) in rosters::roster_between(&store, &EmployeeId(employee), from, to).await? {
                println!("{date}\t{}", shift.as_deref().unwrap_or("off"));
            }
        }
    }
    Ok(())
}

pub(super) async fn holidays(config: &Config, command: HolidaysCommand) -> anyhow::Result<()> {
    let access = if matches!(command, HolidaysCommand::List) { super::Access::Read } else { super::Access::Write };
    let store = super::open_store_for(config, access).await?;
    match command {
        HolidaysCommand::Add { date, name } => {
            rosters::add_holiday(&store, date, &name).await?;
            println!("holiday {date} {name}");
            report_marked(rosters::mark_affected(&store, &Affected::Day(date)).await?);
        }
        HolidaysCommand::Remove { date } => {
            rosters::remove_holiday(&store, date).await?;
            println!("removed holiday {date}");
            report_marked(rosters::mark_affected(&store, &Affected::Day(date)).await?);
        }
        HolidaysCommand::List => {
            for (date, name) in rosters::list_holidays(&store).await? {
                println!("{date}\t{name}");
            }
        }
    }
    Ok(())
}

/// `Mon, tue` → `mon,tue`; refuses anything that is not a weekday.
fn normalise_days(days: &str) -> anyhow::Result<String> {
    const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut out = Vec::new();
    for day in days.split(',').map(|d| d.trim().to_ascii_lowercase()).filter(|d| !d.is_empty()) {
        let day = WEEKDAYS.iter().find(|w| day.starts_with(*w)).with_context(|| format!("{day:?} is not a weekday"))?;
        out.push(*day);
    }
    Ok(out.join(","))
}

/// Says how many employee-days a roster change marked for re-processing (the next processing run,
/// or `process`, applies the change to them), as the admin pages do.
fn report_marked(marked: usize) {
    if marked > 0 {
        println!("{marked} employee-day(s) marked for re-processing");
    }
}
