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
    /// Say which world and interface version a .wasm implements
    Check {
        /// Path to a .wasm component
        plugin: PathBuf,
    },
    /// Run golden fixtures through a shift-rules plugin; prints N passed, M failed last
    Test {
        /// A .wasm path or the name of a loaded plugin (e.g. standard-shifts)
        plugin: String,
        /// Fixture file (attendance-fixtures/1)
        fixtures: PathBuf,
    },
}

pub(super) fn run(config: &Config, command: PluginCommand) -> anyhow::Result<()> {
    let registry = crate::pipeline::plugin_registry(config)?;
    match command {
        PluginCommand::List => {
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
        }
        PluginCommand::Check { plugin } => {
            let loaded = registry.runtime().load_file(&plugin)?;
            println!(
                "{}: implements world {} of attendance:plugin@{}; the plugin calls itself {} {}",
                plugin.display(),
                loaded.kind,
                loaded.interface_version,
                loaded.info.name,
                loaded.info.version
            );
        }
        PluginCommand::Test { plugin, fixtures: path } => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let file = fixtures::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let loaded = registry.resolve(&plugin)?;
            if loaded.kind != PluginKind::ShiftRules {
                bail!("{plugin} is a {} plugin; fixtures test shift-rules plugins", loaded.kind);
            }
            // The plugin's configured settings apply where a fixture brings none of its own.
            let configured = registry.config_for(&loaded.name);
            let inputs: Vec<_> = file
                .scenarios
                .iter()
                .map(|s| {
                    let mut input = s.input.clone();
                    if input.config.is_null() {
                        input.config = configured.clone();
                    }
                    input
                })
                .collect();
            let mut outputs = registry.runtime().process_batch(&loaded, &inputs).into_iter();
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
            println!("{} passed, {} failed", report.passed(), report.failed());
            if report.failed() > 0 {
                // The summary must stay the last line: exit without an extra error line.
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
