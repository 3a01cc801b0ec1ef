//! `stats`: counts across the pipeline, for people or (`--json`) for scripts.

use clap::Args;

use crate::config::Config;
use crate::store::stats;

#[derive(Debug, Args)]
pub(super) struct StatsArgs {
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(config: &Config, args: StatsArgs) -> anyhow::Result<()> {
    let store = super::open_store_for(config, super::Access::Read).await?;
    let counts = stats::counts(&store).await?;
    if args.json {
        println!("{}", serde_json::to_string(&counts)?);
        return Ok(());
    }
    let value = serde_json::to_value(&counts)?;
    if let Some(fields) = value.as_object() {
        for (name, count) in fields {
            println!("{name:<26}{count}");
        }
    }
    Ok(())
}
