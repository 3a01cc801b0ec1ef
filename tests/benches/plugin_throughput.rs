//! Benchmark: 1,000,000 punches (5,000 employees × 50 days × 4 punches) through the standard rules
//! compiled natively, through `standard-shifts.wasm` in the sandbox, and through the sandbox with the
//! output contract checked (what processing runs), in one run; and the plugin's start-up with and
//! without the compile cache.
//! Run with `cargo bench -p bridge-e2e --bench plugin_throughput`.

use std::time::Instant;

use attendance_bridge::plugins::{Limits, PluginRuntime, Registry};
use attendance_plugin_sdk::text::RulesInput;

const EMPLOYEES: usize = 5_000;
const DAYS: usize = 50;

fn input(employee: usize) -> RulesInput {
    let mut roster = Vec::new();
    let mut punches = Vec::new();
    let first = chrono::NaiveDate::from_ymd_opt(2025, 3, 3).unwrap_or_default();
    for day in 0..DAYS {
        let date = first + chrono::TimeDelta::days(i64::try_from(day).unwrap_or(0));
        roster.push(serde_json::json!({"date": date.to_string(), "shift": "DAY"}));
        let jitter = (employee * 7 + day * 13) % 600;
        for (k, (h, m, state)) in [(8, 55, 0), (12, 30, 2), (13, 0, 3), (17, 5, 1)].into_iter().enumerate() {
            let t = date.and_hms_opt(h, m, 0).unwrap_or_default() + chrono::TimeDelta::seconds(i64::try_from(jitter).unwrap_or(0));
            punches.push(serde_json::json!({"device": "A", "seq": day * 4 + k, "time": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "state": state}));
        }
    }
    serde_json::from_value(serde_json::json!({
        "user_id": employee.to_string(),
        "site_tz": "Europe/Berlin",
        "now": "2030-01-01T00:00:00Z",
        "devices": [{"id": "A", "tz": "Europe/Berlin", "valid_from": "2020-01-01T00:00:00", "watermark": "2030-01-01T00:00:00Z", "clock_offset_s": 0}],
        "templates": {"DAY": {"start": "09:00", "end": "17:00"}},
        "roster": roster,
        "punches": punches,
    }))
    .unwrap_or_else(|e| panic!("input: {e}"))
}

fn main() {
    let inputs: Vec<RulesInput> = (0..EMPLOYEES).map(input).collect();
    let punches: usize = inputs.iter().map(|i| i.punches.len()).sum();
    println!("{punches} punches ({EMPLOYEES} employees x {DAYS} days) through the standard rules");

    // Start-up: a new engine loading the plugin with an empty compile cache, then again from it.
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let start = || {
        let started = Instant::now();
        let registry = Registry::new(
            PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap_or_else(|e| panic!("{e}")),
            None,
        );
        let plugin = registry.get("standard-shifts").unwrap_or_else(|e| panic!("{e}"));
        (registry, plugin, started.elapsed())
    };
    let (_, _, cold) = start();
    let (registry, plugin, warm) = start();
    println!(
        "start-up (engine + standard-shifts {}, interface {}): compiling {:.0} ms, from the compile cache {:.1} ms",
        plugin.info.version,
        plugin.interface_version,
        cold.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3
    );
    // Native and plugin alternate, round after round, so a slow spell of a shared machine hits
    // both; the median round of each side is the figure.
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(7).max(1);
    // What processing hands `checked_batch`: each input with the days it is asked about.
    let asked: Vec<(RulesInput, std::collections::BTreeSet<chrono::NaiveDate>)> = inputs
        .iter()
        .map(|i| (i.clone(), i.roster.iter().filter_map(|r| r.date.parse().ok()).collect()))
        .collect();
    let (mut native, mut wasm, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    let mut days = 0;
    for round in 1..=rounds {
        // Every call must succeed on both sides: an error is a failed benchmark, not zero days.
        let started = Instant::now();
        days = inputs
            .iter()
            .map(|i| standard_rules::process(i).unwrap_or_else(|e| panic!("native rules failed for {}: {e:?}", i.user_id)).records.len())
            .sum::<usize>();
        native.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let plugin_days: usize = inputs
            .chunks(100)
            .map(|batch| {
                registry
                    .runtime()
                    .process_batch(&plugin, batch)
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| panic!("the plugin failed: {e}")).records.len())
                    .sum::<usize>()
            })
            .sum();
        wasm.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let checked_days: usize = asked
            .chunks(100)
            .map(|batch| {
                attendance_bridge::pipeline::checked_batch::run_checked(&registry, &plugin, batch)
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| panic!("the checked plugin path failed: {e}")).records.len())
                    .sum::<usize>()
            })
            .sum();
        checked.push(started.elapsed().as_secs_f64());
        assert_eq!(days, EMPLOYEES * DAYS, "one attendance day per employee and rostered day");
        assert_eq!(days, plugin_days, "same results");
        assert_eq!(days, checked_days, "same results through the contract");
        println!(
            "round {round}: native {:.3} s, plugin {:.3} s, plugin + contract {:.3} s",
            native[round - 1],
            wasm[round - 1],
            checked[round - 1]
        );
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (native, wasm, checked) = (median(&mut native), median(&mut wasm), median(&mut checked));
    println!("native: {native:.2} s = {:.0} punches/s (median of {rounds} rounds)", punches as f64 / native);
    println!("plugin: {wasm:.2} s = {:.0} punches/s (standard-shifts.wasm, time limit + memory cap, batches of 100 employees)", punches as f64 / wasm);
    println!("plugin + output contract: {checked:.2} s = {:.0} punches/s", punches as f64 / checked);
    println!("plugin/native time ratio: {:.2}x; {days} attendance days", wasm / native);
    println!("output contract: {:+.1} % of the plugin path (checked vs unchecked, medians)", 100.0 * (checked - wasm) / wasm);
}
