//! `attendance-bridge backup --to FILE`: a consistent copy of the SQLite database, safe while `serve`
//! runs; for PostgreSQL, the `pg_dump` command to use instead.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::config::{Config, DatabaseUrl};
use crate::store::{Store, backup};

/// Back up the database (SQLite: an online snapshot; PostgreSQL: prints the pg_dump command).
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (must not exist). Written under a temporary name and renamed when complete,
    /// so FILE is either absent or a whole backup.
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

pub(super) async fn run(config: &Config, args: BackupArgs) -> anyhow::Result<()> {
    let url = config.database();
    let path = match &url {
        DatabaseUrl::Sqlite(path) => path.clone(),
        DatabaseUrl::Postgres(_) => {
            println!("pg_dump --format=custom --file {} \"$DATABASE_URL\"", shell_quote(&args.to.display().to_string()));
            bail!(
                "the database is PostgreSQL ({}): run the pg_dump command above (restore with pg_restore --clean --dbname \"$DATABASE_URL\" FILE)",
                url.redacted()
            );
        }
    };
    if !path.exists() {
        bail!("no database at {}: nothing to back up", std::path::absolute(&path).unwrap_or(path).display());
    }
    if args.to.exists() {
        bail!("{} exists already: choose a new file name (a backup never overwrites)", args.to.display());
    }
    let dir = args.to.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from);
    let name = args.to.file_name().context("--to needs a file name")?.to_string_lossy().into_owned();
    let partial = dir.join(format!(".{name}.partial"));
    let _ = std::fs::remove_file(&partial);
    // No migrations here: a backup must not change the database it copies.
    let store = Store::open(&url, 1).await?;
    let started = std::time::Instant::now();
    if let Err(e) = backup::vacuum_into(&store, &partial).await {
        let _ = std::fs::remove_file(&partial);
        return Err(e).context("the snapshot failed");
    }
    std::fs::rename(&partial, &args.to).with_context(|| format!("renaming the finished backup to {}", args.to.display()))?;
    let bytes = std::fs::metadata(&args.to).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({:.1} MiB in {:.1} s)",
        path.display(),
        args.to.display(),
        bytes as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Quotes `s` for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}
