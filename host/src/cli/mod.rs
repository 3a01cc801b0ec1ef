//! The `attendance-bridge` command line: one subcommand per operation.
//!
//! [`run`] is what `main` calls. It loads the configuration once (a bad value ends the program with one
//! line on stderr and a non-zero exit, never a panic), sets up logging, and dispatches.

mod accounts;
mod demo;
mod backup;
mod device_tools;
mod devices;
mod import_django;
mod jobs;
mod plugin;
mod poll;
mod process;
mod progress;
mod reports;
mod rosters;
mod serve;
mod stats;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use anyhow::bail;

use crate::config::{Config, ConfigSources, DatabaseUrl, LogFormat, Loaded};
use crate::store::{self, Store};

/// Exit code for a configuration problem (distinct from a runtime failure, 1).
const EXIT_CONFIG: u8 = 2;

/// Attendance Bridge: ZKTeco time clocks in, processed attendance out to your CRM.
#[derive(Debug, Parser)]
#[command(name = "attendance-bridge", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file [default: ./bridge.toml when present]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web dashboard, REST API and scheduled jobs
    Serve(serve::ServeArgs),
    /// Apply pending database migrations and exit
    Migrate,
    /// Validate the configuration and print a summary (secrets hidden)
    CheckConfig,
    /// Create a login account (the old `createsuperuser`)
    CreateUser(accounts::CreateUserArgs),
    /// Create an API token for an account; prints the token alone on the last line
    CreateToken(accounts::CreateTokenArgs),
    /// List or revoke API tokens
    #[command(subcommand)]
    Tokens(accounts::TokensCommand),
    /// Register, list, enable, disable or remove time clocks
    #[command(subcommand)]
    Devices(devices::DevicesCommand),
    /// List background jobs; pause, resume or re-time them without a restart
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Manage shift templates
    #[command(subcommand)]
    Shifts(rosters::ShiftsCommand),
    /// Manage who works which shift (weekly patterns and per-date entries)
    #[command(subcommand)]
    Roster(rosters::RosterCommand),
    /// Manage holidays
    #[command(subcommand)]
    Holidays(rosters::HolidaysCommand),
    /// Serve one or more simulated devices (ZK protocol), or act as a push terminal
    SimulateDevice(device_tools::SimulateArgs),
    /// Connect to a device and print its information, counts and clock drift
    TestDevice(device_tools::TestDeviceArgs),
    /// Download every enabled device now (or one with --device-id) and store what is new
    PollDevices(poll::PollArgs),
    /// Run the shift rules over pending days now (or re-process a date range)
    ProcessAttendance(process::ProcessArgs),
    /// List plugins, check a .wasm, or run golden fixtures through a rules plugin
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Counts across the pipeline (devices, punches, days, outliers, pending work)
    Stats(stats::StatsArgs),
    /// Send due processed days to the CRM and return (exit 0 even if some were deferred)
    SyncToCrm(sync::SyncArgs),
    /// Check the CRM connection (reachability, TLS, token), or print outbox figures with --stats
    TestCrm(sync::TestCrmArgs),
    /// Run a local mock CRM for tests and demos (can be told to fail)
    MockCrm(sync::MockCrmArgs),
    /// Run the whole bridge on loopback with simulated devices, a mock CRM and a few weeks of history;
    /// prints the dashboard URL and two logins
    Demo(demo::DemoArgs),
    /// Import the original Django bridge's database (devices, employees, punches, delivered days);
    /// safe to run again
    ImportDjango(import_django::ImportDjangoArgs),
    /// Back up the database: a consistent SQLite snapshot while `serve` runs, or the pg_dump command
    /// for PostgreSQL
    Backup(backup::BackupArgs),
    /// Scheduled report e-mails: subscribe addresses to a report, list, unsubscribe
    #[command(subcommand)]
    Reports(reports::ReportsCommand),
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match Config::load(&ConfigSources::standard(cli.config.as_deref())) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // The demo prints a banner to read; its log shows warnings only unless RUST_LOG asks for more.
    let quiet = matches!(cli.command, Command::Demo(_));
    init_logging(&loaded.config, quiet);
    for notice in &loaded.notices {
        tracing::warn!("{notice}");
    }
    // reqwest and lettre both speak TLS through rustls; one process-wide provider avoids ambiguity.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, loaded)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, loaded: Loaded) -> anyhow::Result<()> {
    let config = loaded.config;
    match command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Migrate => migrate(&config).await,
        Command::CheckConfig => check_config(&config),
        Command::CreateUser(args) => accounts::create_user(&config, args).await,
        Command::CreateToken(args) => accounts::create_token(&config, args).await,
        Command::Tokens(command) => accounts::tokens(&config, command).await,
        Command::Devices(command) => devices::run(&config, command).await,
        Command::Jobs(command) => jobs::run(&config, command).await,
        Command::Shifts(command) => rosters::shifts(&config, command).await,
        Command::Roster(command) => rosters::roster(&config, command).await,
        Command::Holidays(command) => rosters::holidays(&config, command).await,
        Command::Stats(args) => stats::run(&config, args).await,
        Command::PollDevices(args) => poll::run(&config, args).await,
        Command::ProcessAttendance(args) => process::run(&config, args).await,
        Command::Plugin(command) => plugin::run(config, command).await,
        Command::SimulateDevice(args) => device_tools::simulate(args).await,
        Command::TestDevice(args) => device_tools::test_device(&config, args).await,
        Command::SyncToCrm(args) => sync::sync_to_crm(&config, args).await,
        Command::TestCrm(args) => sync::test_crm(&config, args).await,
        Command::MockCrm(args) => sync::mock_crm(args).await,
        Command::ImportDjango(args) => import_django::run(&config, args).await,
        // The demo brings its own settings: a developer's `.env` must not change what it shows.
        Command::Demo(args) => demo::run(args).await,
        Command::Backup(args) => backup::run(&config, args).await,
        Command::Reports(command) => reports::run(&config, command).await,
    }
}

/// What a command does with the database, which decides whether it may create one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Only reads: a missing SQLite file is an error naming the path. Creating an empty database
    /// here would answer "nothing" from the wrong folder (or the wrong `DATABASE_URL`) and leave a
    /// second database behind for the next command to write into.
    Read,
    /// Changes data: creates and migrates the database when it does not exist yet.
    Write,
}

/// Opens the configured database for a command that changes data, applying pending migrations
/// first (commands never run on an outdated schema).
pub(super) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    open_store_for(config, Access::Write).await
}

/// Opens the configured database as `access` allows (see [`Access`]).
pub(super) async fn open_store_for(config: &Config, access: Access) -> anyhow::Result<Store> {
    let url = config.database();
    if let (Access::Read, DatabaseUrl::Sqlite(path)) = (access, &url)
        && !path.exists()
    {
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        bail!(
            "no database at {}: run `attendance-bridge migrate` there first, or point DATABASE_URL (or BRIDGE_DATA_DIR) at the existing one",
            shown.display()
        );
    }
    let store = Store::open(&url, config.database_pool_size).await?;
    store::run_migrations(&url).await?;
    Ok(store)
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = config.database();
    // Opening first creates the SQLite folder and file and sets WAL mode.
    Store::open(&url, 1).await?;
    let report = store::run_migrations(&url).await?;
    if report.applied.is_empty() {
        println!("database {} is up to date", url.redacted());
    } else {
        println!("applied {} migration(s) to {}: {}", report.applied.len(), url.redacted(), report.applied.join(", "));
    }
    Ok(())
}

fn check_config(config: &Config) -> anyhow::Result<()> {
    println!("configuration is valid");
    println!("  database:        {}", config.database().redacted());
    println!("  listen:          {}", config.listen);
    println!("  time zone:       {}", config.time_zone.0.name());
    println!("  polling every:   {} min", config.devices.polling_interval_minutes);
    println!(
        "  default shift:   {} - {}{}",
        config.shift.work_start_time.0.format("%H:%M"),
        config.shift.work_end_time.0.format("%H:%M"),
        if config.shift.overnight_shift { " (overnight)" } else { "" }
    );
    match &config.crm.api_url {
        Some(url) => println!("  CRM:             {url:?}"),
        None => println!("  CRM:             not configured (sync disabled)"),
    }
    Ok(())
}

fn init_logging(config: &Config, quiet: bool) {
    let default_level = if quiet { "warn" } else if config.debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default_level},tower_http=warn,hyper=warn")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
