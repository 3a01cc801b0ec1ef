//! `attendance-bridge reports subscribe|list|unsubscribe`: scheduled report e-mails.

use anyhow::bail;
use clap::Subcommand;

use crate::config::Config;
use crate::reports::ReportKind;
use crate::reports::email::SUBSCRIBABLE;
use crate::store::audit::{self, NewAuditEntry};
use crate::store::report_subscriptions as subscriptions;

/// Who the audit trail names for changes made from the command line.
const CLI_ACTOR: &str = "cli";

#[derive(Debug, Subcommand)]
pub(super) enum ReportsCommand {
    /// Send a report by e-mail on its schedule: daily-attendance (each morning, yesterday),
    /// monthly-timesheet (on the 1st, last month), late-early (Mondays, last week)
    Subscribe {
        /// The report: daily-attendance, monthly-timesheet or late-early
        report: String,
        /// Recipients, comma-separated
        #[arg(long, value_name = "ADDRESSES")]
        to: String,
    },
    /// List the subscriptions and their latest sends
    List,
    /// Stop a subscription
    Unsubscribe {
        /// The subscription's id (see `reports list`)
        id: i64,
    },
}

pub(super) async fn run(config: &Config, command: ReportsCommand) -> anyhow::Result<()> {
    match command {
        ReportsCommand::Subscribe { report, to } => {
            let Some(kind) = ReportKind::from_slug(&report).filter(|k| SUBSCRIBABLE.contains(k)) else {
                let names: Vec<&str> = SUBSCRIBABLE.iter().map(|k| k.slug()).collect();
                bail!("{report:?} cannot be subscribed to; choose one of: {}", names.join(", "));
            };
            let mut addresses = Vec::new();
            for address in to.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                if address.parse::<lettre::message::Mailbox>().is_err() {
                    bail!("{address:?} is not an e-mail address");
                }
                addresses.push(address.to_owned());
            }
            if addresses.is_empty() {
                bail!("--to needs at least one address");
            }
            let store = super::open_store(config).await?;
            let recipients = addresses.join(", ");
            let id = subscriptions::subscribe(&store, kind.slug(), &recipients, CLI_ACTOR).await?;
            let mut entry = NewAuditEntry::now(CLI_ACTOR, "report_subscription.create", "report_subscription", Some(id.to_string()));
            entry.new_value = Some(serde_json::json!({ "report": kind.slug(), "recipients": recipients }).to_string());
            audit::record_alone(&store, &entry).await?;
            println!("subscription {id}: {} to {recipients}", kind.title());
        }
        ReportsCommand::List => {
            let store = super::open_store_for(config, super::Access::Read).await?;
            let all = subscriptions::list(&store).await?;
            if all.is_empty() {
                println!("no report subscriptions (add one with `attendance-bridge reports subscribe daily-attendance --to hr@example.com`)");
            }
            for s in all {
                let last = subscriptions::sends(&store, s.id, 1).await?;
                let last = last.first().map_or_else(
                    || "never sent".to_owned(),
                    |send| match send.sent_at {
                        Some(at) => format!("last sent {} ({at} UTC)", send.period),
                        None => format!("{} claimed by {} at {} UTC, not confirmed sent", send.period, send.instance, send.claimed_at),
                    },
                );
                println!("{:>4}  {:<18}  {}  [{last}]", s.id, s.report, s.recipients);
            }
        }
        ReportsCommand::Unsubscribe { id } => {
            let store = super::open_store(config).await?;
            subscriptions::unsubscribe(&store, id).await?;
            audit::record_alone(&store, &NewAuditEntry::now(CLI_ACTOR, "report_subscription.delete", "report_subscription", Some(id.to_string()))).await?;
            println!("subscription {id} removed");
        }
    }
    Ok(())
}
