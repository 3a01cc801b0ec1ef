//! `import-django`: switch from the original Django bridge (see [`crate::pipeline::import_django`]).

use clap::Args;

use crate::config::{Config, DatabaseUrl};
use crate::pipeline::import_django::{self, ImportOptions};

#[derive(Debug, Args)]
pub(super) struct ImportDjangoArgs {
    /// The original's database: sqlite:///path/db.sqlite3 or postgres://user@host/db
    #[arg(long, value_name = "URL")]
    from: String,
    /// Read and check everything, print what would be imported, write nothing
    #[arg(long)]
    dry_run: bool,
    /// Let our rules recompute the days the original already delivered; only real differences
    /// (other clock times) are sent, as amended revisions
    #[arg(long)]
    reprocess_synced: bool,
    /// Rows per chunk; each chunk is one transaction
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    chunk_size: u32,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(config: &Config, args: ImportDjangoArgs) -> anyhow::Result<()> {
    let from = DatabaseUrl::parse(&args.from).map_err(|e| anyhow::anyhow!("--from: expected {e}"))?;
    if from == config.database() {
        anyhow::bail!("--from names the bridge's own database; give the Django bridge's database");
    }
    let store = super::open_store(config).await?;
    let options = ImportOptions {
        dry_run: args.dry_run,
        reprocess_synced: args.reprocess_synced,
        chunk_size: args.chunk_size as usize,
        pause_after_chunk: std::env::var("BRIDGE_IMPORT_PAUSE_AFTER_CHUNK").ok().and_then(|v| v.parse().ok()),
    };
    println!("importing from {}{}", from.redacted(), if args.dry_run { " (dry run: nothing is written)" } else { "" });
    let report = import_django::run(&store, &from, &options, &|line| println!("{line}")).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
        println!("done in {:.1} s{}", report.seconds, if args.dry_run { " (dry run)" } else { "" });
    }
    Ok(())
}
