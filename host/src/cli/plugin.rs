//! `plugin list|check|test`: see what is loaded, inspect a `.wasm`, run golden fixtures.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use attendance_plugin_sdk::fixtures;
use clap::Subcommand;

use crate::config::Config;
use crate::plugins::PluginKind;

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// List the built-in plugins and those in the plugins folder
    List,
    /// Say which world and interface version a plugin implements
    Check {
        /// A .wasm path or the name of a plugin (built-in or in the plugins folder)
        plugin: String,
    },
    /// Re-run the last days of stored punches through a candidate shift-rules plugin and print which
    /// days would change and how; writes nothing
    Preview {
        /// A .wasm path or the name of a plugin (built-in or in the plugins folder)
        plugin: String,
        /// How many days back from today
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// Make a shift-rules plugin the one processing uses (every instance, next run); the previous one
    /// stays available: activating it again rolls back
    Activate {
        /// Name of a built-in plugin or of a .wasm in the plugins folder
        plugin: String,
        /// Activate even if the plugin fails golden fixtures (errors or broken output contract)
        #[arg(long)]
        force: bool,
    },
    /// Run golden fixtures through a shift-rules plugin; prints N passed, M failed last
    Test {
        /// A .wasm path or the name of a loaded plugin (e.g. standard-shifts)
        plugin: String,
        /// Fixture file (attendance-fixtures/1)
        fixtures: PathBuf,
    },
}

pub(super) async fn run(config: Config, command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Preview { plugin, days } => preview(&config, &plugin, days).await,
        PluginCommand::Activate { plugin, force } => {
            let store = super::open_store(&config).await?;
            let registry = crate::pipeline::plugin_registry(&config)?;
            let (previous, gate) = crate::pipeline::preview::activate(&store, &registry, &config, &plugin, force).await?;
            for (id, error) in &gate.broken {
                println!("FORCED past golden fixture {id}: {error}");
            }
            if gate.differing > 0 {
                println!("note: {plugin} differs from the standard rules' values on {} of {} golden fixtures (as a site variant may)", gate.differing, gate.fixtures);
            }
            if previous == plugin {
                println!("{plugin} already is the active shift-rules plugin");
            } else {
                println!("{plugin} is the active shift-rules plugin from the next processing run (was {previous}; `plugin activate {previous}` rolls back)");
                println!("days already processed keep their results; `process-attendance --start-date D --end-date D` re-processes a range");
            }
            Ok(())
        }
        // Compiling and running wasm is blocking work.
        PluginCommand::List => tokio::task::spawn_blocking(move || list(&config)).await?,
        PluginCommand::Check { plugin } => tokio::task::spawn_blocking(move || check(&config, &plugin)).await?,
        PluginCommand::Test { plugin, fixtures } => tokio::task::spawn_blocking(move || test(&config, &plugin, &fixtures)).await?,
    }
}

async fn preview(config: &Config, plugin: &str, days: u32) -> anyhow::Result<()> {
    let store = super::open_store_for(config, super::Access::Read).await?;
    let registry = crate::pipeline::plugin_registry(config)?;
    let found = crate::pipeline::preview::preview(&store, &registry, config, plugin, days).await?;
    for change in &found.changes {
        let shift = if change.shift.is_empty() { "unscheduled" } else { change.shift.as_str() };
        println!("{} {} {shift}: {}", change.employee, change.date, change.differences.join("; "));
    }
    for (employee, error) in &found.failures {
        println!("{employee}: FAILED: {error}");
    }
    println!(
        "{plugin} over the last {days} days: {} employees, {} days, {} would change, {} failed (nothing was written)",
        found.employees,
        found.days,
        found.changes.len(),
        found.failures.len()
    );
    Ok(())
}

fn list(config: &Config) -> anyhow::Result<()> {
    let registry = crate::pipeline::plugin_registry(config)?;
    for (name, loaded) in registry.list() {
        match loaded {
            Ok(p) => println!(
                "{name}\t{}\t{} {}\tinterface {}\t{}\t{}",
                p.kind,
                p.info.name,
                p.info.version,
                p.interface_version,
                p.source,
                &p.sha256[..12]
            ),
            Err(e) => println!("{name}\tERROR: {e}"),
        }
    }
    Ok(())
}

/// Same lookup as `test` and `preview`: a path, or the name of a built-in or folder plugin.
fn check(config: &Config, plugin: &str) -> anyhow::Result<()> {
    let registry = crate::pipeline::plugin_registry(config)?;
    let loaded = registry.resolve(plugin)?;
    println!(
        "{}: implements world {} of attendance:plugin@{}; the plugin calls itself {} {}",
        plugin,
        loaded.world(),
        loaded.interface_version,
        loaded.info.name,
        loaded.info.version
    );
    println!("imports: {}", if loaded.imports.is_empty() { "nothing".to_owned() } else { loaded.imports.join(", ") });
    Ok(())
}

fn test(config: &Config, plugin: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let registry = crate::pipeline::plugin_registry(config)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = fixtures::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let loaded = registry.resolve(plugin)?;
    if loaded.kind != PluginKind::ShiftRules {
        bail!("{plugin} is a {} plugin; fixtures test shift-rules plugins", loaded.kind);
    }
    let inputs = crate::pipeline::fixture_gate::fixture_inputs(&registry, &loaded, &file);
    let results = registry.runtime().process_batch(&loaded, &inputs);
    // The runtime stops calling a plugin after its first time-limit stop (the rest are `Deferred`):
    // say so once, and test only what ran.
    let stop = results.iter().position(|r| matches!(r, Err(crate::plugins::PluginError::TimeLimit { .. })));
    let mut outputs = results.into_iter();
    let report = fixtures::run(&file, |_| match outputs.next() {
        Some(result) => result.map_err(|e| e.to_string()),
        None => Err("no result".to_owned()),
    });
    for (id, name, diffs) in &report.scenarios {
        if diffs.is_empty() {
            println!("PASS {id} {name}");
        } else {
            println!("FAIL {id} {name}");
            for diff in diffs {
                println!("     {diff}");
            }
        }
    }
    if let Some(at) = stop {
        let id = file.scenarios.get(at).map_or("?", |s| s.id.as_str());
        println!(
            "STOPPED at {id}: {} ran past its time limit of {} ms; the {} later fixture(s) were not run",
            loaded.name,
            registry.runtime().limits().time_limit_ms,
            file.scenarios.len().saturating_sub(at + 1)
        );
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    if report.failed() > 0 {
        // The summary must stay the last line: exit without an extra error line.
        std::process::exit(1);
    }
    Ok(())
}
