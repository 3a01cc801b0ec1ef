//! The engine, the per-call limits, and calling plugins.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use attendance_plugin_sdk::text as model;
use attendance_plugin_sdk::v2::text as v2_text;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};

use super::bindings::{v1, v2};
use super::{PluginError, PluginKind, cache, convert, convert_v2};

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one call may run, milliseconds. Enforced with wasmtime's epoch
    /// interruption rather than fuel: fuel counted every instruction and cost about a quarter of
    /// plugin throughput, an epoch check is one load and compare at loop heads and function entries.
    pub time_limit_ms: u64,
    /// Linear memory cap, MiB.
    pub memory_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { time_limit_ms: 2_000, memory_mb: 64 }
    }
}

/// Core instances one plugin may create. A component built by the standard toolchain has up to
/// three (its module, and the shim and fix-up modules that wire its `log` import).
const MAX_INSTANCES: usize = 4;
/// Linear memories one plugin may create, across all its core instances: one. The memory cap
/// (`PLUGIN_MEMORY_MB`) is per memory, so this, with multi-memory switched off in the engine, is
/// what makes it the plugin's whole budget.
const MAX_MEMORIES: usize = 1;
/// Tables one plugin may create (the module's function table and the shim's; headroom for one more
/// toolchain module).
const MAX_TABLES: usize = 4;
/// Elements any one table may hold, at creation or by growing. A table element is a pointer, so
/// all tables together stay within a few MiB however the plugin behaves; real plugins hold a few
/// hundred functions.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// How often the ticker thread advances the engine's epoch: the granularity of the time limit.
/// Coarse on purpose: a tick is a few atomic increments per second, and a call is stopped at most
/// one tick after its limit.
const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Limits {
    /// The time limit in epoch ticks: one more than the limit needs, because the first tick of a
    /// call may come right after it starts. So a call runs at least `time_limit_ms`, at most one
    /// tick longer.
    fn deadline_ticks(&self) -> u64 {
        let tick_ms = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(10).max(1);
        self.time_limit_ms.div_ceil(tick_ms).saturating_add(1)
    }
}

/// What a store carries: the memory limiter, the plugin's name for its log lines, and the last
/// panic message the plugin's SDK logged during the current call.
pub struct HostState {
    limits: RecordingLimits,
    plugin: String,
    last_panic: Option<String>,
}

/// Which limit the limiter refused, kept so a failure is named from this record rather than from
/// wasmtime's message text (which may change between versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitHit {
    /// A memory grew past the cap.
    Memory,
    /// A table grew past [`MAX_TABLE_ELEMENTS`].
    Table,
}

/// wasmtime's [`StoreLimits`], recording what it refused.
struct RecordingLimits {
    inner: StoreLimits,
    hit: Option<LimitHit>,
}

impl ResourceLimiter for RecordingLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let answer = self.inner.memory_growing(current, desired, maximum);
        if !matches!(answer, Ok(true)) {
            self.hit = Some(LimitHit::Memory);
        }
        answer
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let answer = self.inner.table_growing(current, desired, maximum);
        if !matches!(answer, Ok(true)) {
            self.hit = Some(LimitHit::Table);
        }
        answer
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl HostState {
    /// A log line from the plugin; the SDK's panic hook logs the panic's location and message
    /// (prefixed [`attendance_plugin_sdk::PANIC_PREFIX`]) just before the trap, and the host keeps
    /// it to name the failure.
    fn log(&mut self, level: u8, message: &str) {
        if let Some(panic) = message.strip_prefix(attendance_plugin_sdk::PANIC_PREFIX) {
            self.last_panic = Some(panic.chars().take(2000).collect());
        }
        log_line(&self.plugin, level, message);
    }
}

fn log_line(plugin: &str, level: u8, message: &str) {
    // Plugins cannot flood the log: one line, bounded length.
    let message: String = message.chars().take(2000).collect();
    match level {
        0 => tracing::trace!(plugin, "{message}"),
        1 => tracing::debug!(plugin, "{message}"),
        2 => tracing::info!(plugin, "{message}"),
        3 => tracing::warn!(plugin, "{message}"),
        _ => tracing::error!(plugin, "{message}"),
    }
}

impl v1::shift_rules::attendance::plugin::host::Host for HostState {
    fn log(&mut self, level: v1::shift_rules::attendance::plugin::host::Level, message: String) {
        HostState::log(self, level as u8, &message);
    }
}

impl v2::typed_shift_rules::attendance::plugin::host::Host for HostState {
    fn log(&mut self, level: v2::typed_shift_rules::attendance::plugin::host::Level, message: String) {
        HostState::log(self, level as u8, &message);
    }
}

impl v1::shift_rules::attendance::plugin::types::Host for HostState {}
impl v2::typed_shift_rules::attendance::plugin::types::Host for HostState {}

enum Pre {
    ShiftRules(v1::shift_rules::ShiftRulesPre<HostState>),
    TypedShiftRules(v2::typed_shift_rules::TypedShiftRulesPre<HostState>),
    CrmMapping(v1::crm_mapping::CrmMappingPre<HostState>),
}

/// The interface versions the host runs (the WIT package `attendance:plugin`'s version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InterfaceVersion {
    /// `1.0.0`: text values (shift rules and the CRM mapping).
    V1,
    /// `2.0.0`: typed shift rules.
    V2,
}

impl InterfaceVersion {
    /// The WIT package version, as imports name it (`attendance:plugin/host@2.0.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceVersion::V1 => "1.0.0",
            InterfaceVersion::V2 => "2.0.0",
        }
    }
}

impl std::fmt::Display for InterfaceVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The WIT worlds a plugin can implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// Version 1's `shift-rules` (text).
    ShiftRules,
    /// Version 2's `typed-shift-rules`.
    TypedShiftRules,
    /// Version 1's `crm-mapping`.
    CrmMapping,
}

impl World {
    /// The world's WIT name.
    pub fn as_str(self) -> &'static str {
        match self {
            World::ShiftRules => "shift-rules",
            World::TypedShiftRules => "typed-shift-rules",
            World::CrmMapping => "crm-mapping",
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compiled, checked plugin ready to be called.
pub struct LoadedPlugin {
    /// Its name (file stem or built-in name).
    pub name: String,
    /// Which world it implements.
    pub kind: PluginKind,
    /// Interface version.
    pub interface_version: InterfaceVersion,
    /// What the component imports (instance names such as `attendance:plugin/host@2.0.0`).
    pub imports: Vec<String>,
    /// What the plugin says about itself.
    pub info: model::PluginInfo,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Where it came from (a path, or `built-in`).
    pub source: String,
    pre: Pre,
}

impl LoadedPlugin {
    /// The WIT world it implements (`typed-shift-rules` is version 2's shift-rules world).
    pub fn world(&self) -> World {
        match self.pre {
            Pre::ShiftRules(_) => World::ShiftRules,
            Pre::TypedShiftRules(_) => World::TypedShiftRules,
            Pre::CrmMapping(_) => World::CrmMapping,
        }
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("name", &self.name).field("kind", &self.kind).field("info", &self.info).finish_non_exhaustive()
    }
}

/// Imports a component may have: the interface's own, in either version. The SDK carries both
/// versions' type descriptions, so a component built with it may list the other version's type-only
/// `types` (no function). Version-2 plugins built before each version had its own `log` import
/// version 1's `host`; they keep loading.
const ALLOWED_IMPORTS: [&str; 4] =
    ["attendance:plugin/host@1.0.0", "attendance:plugin/types@1.0.0", "attendance:plugin/host@2.0.0", "attendance:plugin/types@2.0.0"];

/// One engine and its limits; cheap to share.
pub struct PluginRuntime {
    engine: Engine,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    /// Dropped with the runtime, which disconnects the channel and ends the ticker thread.
    _ticker: mpsc::Sender<()>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl PluginRuntime {
    /// An engine with epoch interruption (the per-call time limit) and a thread advancing its epoch
    /// every [`EPOCH_TICK`] while the runtime lives; compiled components are cached in `cache_dir`
    /// when given.
    ///
    /// # Errors
    /// When wasmtime cannot build the engine, or the ticker thread cannot be started.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Arc<Self>, PluginError> {
        let engine_error = |message: String| PluginError::Io { plugin: "(engine)".into(), message };
        let mut config = Config::new();
        config.epoch_interruption(true);
        // One linear memory per module: with multi-memory a module could declare several, each up
        // to the memory cap. (Shared memories, which the limiter does not see, need the `threads`
        // feature, which this build of wasmtime leaves out.)
        config.wasm_multi_memory(false);
        config.wasm_memory64(false);
        // For profiling only: a perf map (`/tmp/perf-<pid>.map`) lets `perf report` name the
        // plugins' compiled functions instead of showing bare addresses.
        if std::env::var_os("BRIDGE_PLUGIN_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| engine_error(e.to_string()))?;
        let ticker = spawn_ticker(&engine).map_err(|e| engine_error(format!("cannot start the plugin time-limit thread: {e}")))?;
        Ok(Arc::new(Self { engine, limits, cache_dir, _ticker: ticker }))
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles (or loads from cache), checks the world and imports, and asks the plugin who it is.
    ///
    /// # Errors
    /// [`PluginError::Invalid`] or [`PluginError::WrongWorld`], or a failing `info` call.
    pub fn load(&self, name: &str, bytes: &[u8], source: &str) -> Result<LoadedPlugin, PluginError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = cache::compile(&self.engine, bytes, &sha256, self.cache_dir.as_deref())
            .map_err(|message| PluginError::Invalid { plugin: name.to_owned(), message })?;
        let (kind, imports) = self.check_world(name, &component)?;
        // One linker offers every interface version's imports; the component's exports, type-checked
        // against each world, say which version it implements (its imports cannot: a component built
        // with the SDK may list both versions' type-only `types`).
        let mut linker = Linker::<HostState>::new(&self.engine);
        v1::shift_rules::ShiftRules::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(|e| wrong(name, &e))?;
        v2::typed_shift_rules::TypedShiftRules::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(|e| wrong(name, &e))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| wrong(name, &e))?;
        let (pre, interface_version) = match kind {
            PluginKind::ShiftRules => match v2::typed_shift_rules::TypedShiftRulesPre::new(pre.clone()) {
                Ok(typed) => (Pre::TypedShiftRules(typed), InterfaceVersion::V2),
                Err(_) => (Pre::ShiftRules(v1::shift_rules::ShiftRulesPre::new(pre).map_err(|e| wrong(name, &e))?), InterfaceVersion::V1),
            },
            PluginKind::CrmMapping => (Pre::CrmMapping(v1::crm_mapping::CrmMappingPre::new(pre).map_err(|e| wrong(name, &e))?), InterfaceVersion::V1),
        };
        let mut plugin = LoadedPlugin {
            name: name.to_owned(),
            kind,
            interface_version,
            imports,
            info: model::PluginInfo { name: name.to_owned(), version: String::new() },
            sha256,
            source: source.to_owned(),
            pre,
        };
        plugin.info = self.info(&plugin)?;
        Ok(plugin)
    }

    /// Which kind of plugin the component is (by its exports), refusing imports the host does not
    /// offer; also returns the imports.
    fn check_world(&self, name: &str, component: &Component) -> Result<(PluginKind, Vec<String>), PluginError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(&self.engine).map(|(n, _)| n.to_owned()).collect();
        if let Some(extra) = imports.iter().find(|i| !ALLOWED_IMPORTS.contains(&i.as_str())) {
            return Err(PluginError::WrongWorld {
                plugin: name.to_owned(),
                message: format!("imports {extra}, which the sandbox does not offer (plugins get no WASI: build for wasm32-unknown-unknown)"),
            });
        }
        let exports: Vec<String> = ty.exports(&self.engine).map(|(n, _)| n.to_owned()).collect();
        let has = |n: &str| exports.iter().any(|e| e == n);
        match (has("process"), has("map-day")) {
            (true, false) => Ok((PluginKind::ShiftRules, imports)),
            (false, true) => Ok((PluginKind::CrmMapping, imports)),
            _ => Err(PluginError::WrongWorld {
                plugin: name.to_owned(),
                message: format!(
                    "implements none of attendance:plugin shift-rules (1.0.0), typed-shift-rules (2.0.0) or crm-mapping (1.0.0) (exports: {})",
                    exports.join(", ")
                ),
            }),
        }
    }

    fn store(&self, plugin: &str) -> Result<Store<HostState>, PluginError> {
        let cap = usize::try_from(self.limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let limits = StoreLimitsBuilder::new()
            .memory_size(cap)
            .memories(MAX_MEMORIES)
            .tables(MAX_TABLES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(MAX_INSTANCES)
            .trap_on_grow_failure(true)
            .build();
        let limits = RecordingLimits { inner: limits, hit: None };
        let mut store = Store::new(&self.engine, HostState { limits, plugin: plugin.to_owned(), last_panic: None });
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.limits.deadline_ticks());
        Ok(store)
    }

    /// Maps a wasmtime error to the plugin error it means: the time limit from wasmtime's typed
    /// trap, a refused memory or table growth from the limiter's own record (`state`).
    fn failure(&self, plugin: &str, state: &mut HostState, error: &wasmtime::Error) -> PluginError {
        let plugin = plugin.to_owned();
        if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return PluginError::TimeLimit { plugin, limit_ms: self.limits.time_limit_ms };
        }
        match state.limits.hit.take() {
            Some(LimitHit::Memory) => return PluginError::OutOfMemory { plugin, cap_mb: self.limits.memory_mb },
            Some(LimitHit::Table) => return PluginError::Sandbox { plugin, message: format!("a table grew past {MAX_TABLE_ELEMENTS} elements") },
            None => {}
        }
        // Counts of instances, tables and memories are enforced by wasmtime itself at instantiation,
        // without a limiter call to record; its error names the count that was exceeded.
        let text = format!("{error:#}");
        if let Some(at) = text.find("resource limit exceeded: ") {
            let what = text[at..].lines().next().unwrap_or_default().to_owned();
            return PluginError::Sandbox {
                plugin,
                message: format!("{what} (a plugin gets {MAX_MEMORIES} memory, {MAX_TABLES} tables, {MAX_INSTANCES} instances)"),
            };
        }
        PluginError::Trap { plugin, message: trap_message(error) }
    }

    /// [`Self::failure`] for a call: a trap right after the SDK logged a panic is that panic,
    /// named with the plugin's version, location and message.
    fn call_failure(&self, plugin: &LoadedPlugin, state: &mut HostState, error: &wasmtime::Error) -> PluginError {
        let failure = self.failure(&plugin.name, state, error);
        match (state.last_panic.take(), &failure) {
            (Some(message), PluginError::Trap { .. }) => {
                PluginError::Panicked { plugin: plugin.name.clone(), version: plugin.info.version.clone(), message }
            }
            _ => failure,
        }
    }

    /// The plugin's own name and version.
    ///
    /// # Errors
    /// When the call fails.
    pub fn info(&self, plugin: &LoadedPlugin) -> Result<model::PluginInfo, PluginError> {
        let mut store = self.store(&plugin.name)?;
        let info = match &plugin.pre {
            Pre::ShiftRules(pre) => {
                let instance = pre.instantiate(&mut store).map_err(|e| self.failure(&plugin.name, store.data_mut(), &e))?;
                let info = instance.call_info(&mut store).map_err(|e| self.failure(&plugin.name, store.data_mut(), &e))?;
                model::PluginInfo { name: info.name, version: info.version }
            }
            Pre::TypedShiftRules(pre) => {
                let instance = pre.instantiate(&mut store).map_err(|e| self.failure(&plugin.name, store.data_mut(), &e))?;
                let info = instance.call_info(&mut store).map_err(|e| self.failure(&plugin.name, store.data_mut(), &e))?;
                model::PluginInfo { name: info.name, version: info.version }
            }
            Pre::CrmMapping(pre) => {
                let instance = pre.instantiate(&mut store).map_err(|e| self.failure(&plugin.name, store.data_mut(), &e))?;
                let info = instance.call_info(&mut store).map_err(|e| self.failure(&plugin.name, store.data_mut(), &e))?;
                model::PluginInfo { name: info.name, version: info.version }
            }
        };
        Ok(info)
    }

    /// Runs shift rules over several inputs with one instance; after a failure the instance is
    /// dropped and the rest run in a fresh one. Each input gets the full time limit.
    pub fn process_batch<R: std::borrow::Borrow<model::RulesInput>>(
        &self,
        plugin: &LoadedPlugin,
        inputs: &[R],
    ) -> Vec<Result<model::RulesOutput, PluginError>> {
        let pre = match &plugin.pre {
            Pre::ShiftRules(pre) => pre,
            Pre::TypedShiftRules(pre) => return self.process_batch_typed(plugin, pre, inputs),
            Pre::CrmMapping(_) => {
                let wrong = PluginError::WrongWorld { plugin: plugin.name.clone(), message: "is not a shift-rules plugin".into() };
                return inputs.iter().map(|_| Err(wrong.clone())).collect();
            }
        };
        // Called through the untyped export with borrowed input (`convert::RulesInputRef`) rather
        // than bindgen's `call_process`, which wants an owned copy of every string.
        type Process<'a> = (&'a convert::RulesInputRef<'a>,);
        type Processed = (Result<v1::shift_rules::attendance::plugin::types::RulesOutput, String>,);
        self.batch(
            plugin,
            inputs,
            |store| {
                let instance = pre.instance_pre().instantiate(&mut *store)?;
                instance.get_func(&mut *store, "process").ok_or_else(|| wasmtime::format_err!("the component has no process export"))
            },
            |process, store, input| {
                let input = convert::rules_input_ref(std::borrow::Borrow::borrow(input));
                // Type-checks the borrowed records against the component's WIT (microseconds).
                let typed = process.typed::<Process<'_>, Processed>(&*store)?;
                let (output,) = typed.call(&mut *store, (&input,))?;
                Ok(output)
            },
            |output| Ok(convert::rules_output(output)),
        )
    }

    /// [`Self::process_batch`] for a version-2 plugin: each input is read from text here, natively,
    /// crosses as numbers, and the output is written back as text. An input the typed model cannot
    /// hold (a bad punch time, an unknown template) is that input's error, as a version-1 plugin
    /// would have reported it.
    fn process_batch_typed<R: std::borrow::Borrow<model::RulesInput>>(
        &self,
        plugin: &LoadedPlugin,
        pre: &v2::typed_shift_rules::TypedShiftRulesPre<HostState>,
        inputs: &[R],
    ) -> Vec<Result<model::RulesOutput, PluginError>> {
        type Processed = (v2::typed_shift_rules::attendance::plugin::types::RulesOutput, Vec<String>);
        self.batch(
            plugin,
            inputs,
            |store| pre.instantiate(store),
            |instance, store, input| -> wasmtime::Result<Result<Processed, String>> {
                let typed = match v2_text::input_from_text(std::borrow::Borrow::borrow(input)) {
                    Ok(typed) => typed,
                    Err(message) => return Ok(Err(message)),
                };
                // The output names templates by position; keep their codes to write it back.
                let codes = typed.templates.iter().map(|t| t.code.clone()).collect();
                let output = instance.call_process(&mut *store, &convert_v2::rules_input(&typed))?;
                Ok(output.map(|output| (output, codes)))
            },
            |(output, codes)| v2_text::output_to_text(convert_v2::rules_output(output)?, &codes),
        )
    }

    /// Maps several days for the CRM with one instance, under the same rules as [`Self::process_batch`].
    pub fn map_days(&self, plugin: &LoadedPlugin, days: &[model::CrmDay]) -> Vec<Result<model::CrmRequest, PluginError>> {
        let Pre::CrmMapping(pre) = &plugin.pre else {
            let wrong = PluginError::WrongWorld { plugin: plugin.name.clone(), message: "is not a crm-mapping plugin".into() };
            return days.iter().map(|_| Err(wrong.clone())).collect();
        };
        self.batch(plugin, days, |store| pre.instantiate(store), |instance, store, day| instance.call_map_day(store, &convert::crm_day(day)), convert::crm_request)
    }

    /// The batch loop both worlds share: one instance for many calls, the full time limit per call, a
    /// fresh instance after any trap (a trapped instance is never re-entered), every failure naming
    /// the plugin.
    fn batch<I, In, Wit, Out>(
        &self,
        plugin: &LoadedPlugin,
        inputs: &[In],
        instantiate: impl Fn(&mut Store<HostState>) -> wasmtime::Result<I>,
        call: impl Fn(&I, &mut Store<HostState>, &In) -> wasmtime::Result<Result<Wit, String>>,
        convert: impl Fn(Wit) -> Result<Out, String>,
    ) -> Vec<Result<Out, PluginError>> {
        let mut live: Option<(Store<HostState>, I)> = None;
        let mut results = Vec::with_capacity(inputs.len());
        let mut timed_out = false;
        for input in inputs {
            if timed_out {
                // A plugin that ran out of time once is not called again in this batch: an endless
                // loop would cost the full limit per input.
                results.push(Err(PluginError::Deferred { plugin: plugin.name.clone(), reason: self.time_limit_reason(plugin) }));
                continue;
            }
            let called = std::time::Instant::now();
            let result = (|| {
                if live.is_none() {
                    let mut store = self.store(&plugin.name)?;
                    let instance = instantiate(&mut store).map_err(|e| self.failure(&plugin.name, store.data_mut(), &e))?;
                    live = Some((store, instance));
                }
                let Some((store, instance)) = live.as_mut() else {
                    return Err(PluginError::Trap { plugin: plugin.name.clone(), message: "no instance".into() });
                };
                // The deadline counts from now: each input gets the whole limit.
                store.set_epoch_deadline(self.limits.deadline_ticks());
                store.data_mut().last_panic = None;
                let guest = |message| PluginError::Guest { plugin: plugin.name.clone(), message };
                match call(instance, store, input) {
                    Ok(Ok(output)) => convert(output).map_err(guest),
                    Ok(Err(message)) => Err(guest(message)),
                    Err(e) => {
                        let error = self.call_failure(plugin, store.data_mut(), &e);
                        live = None;
                        Err(error)
                    }
                }
            })();
            timed_out = matches!(result, Err(PluginError::TimeLimit { .. }));
            crate::metrics::PLUGIN_CALLS.inc(&[&plugin.name]);
            crate::metrics::PLUGIN_SECONDS.observe(&[&plugin.name], called.elapsed().as_secs_f64());
            if let Err(e) = &result {
                crate::metrics::PLUGIN_FAILURES.inc(&[&plugin.name, e.kind()]);
            }
            results.push(result);
        }
        results
    }

    /// Why calls after a time-limit stop were not made.
    fn time_limit_reason(&self, plugin: &LoadedPlugin) -> String {
        format!("{} {} hit its time limit of {} ms earlier in this run", plugin.name, plugin.info.version, self.limits.time_limit_ms)
    }

    /// Runs shift rules on one input.
    ///
    /// # Errors
    /// Any [`PluginError`].
    pub fn process(&self, plugin: &LoadedPlugin, input: &model::RulesInput) -> Result<model::RulesOutput, PluginError> {
        self.process_batch(plugin, std::slice::from_ref(input)).pop().unwrap_or_else(|| Err(PluginError::NotFound(plugin.name.clone())))
    }

    /// Maps one day for the CRM.
    ///
    /// # Errors
    /// Any [`PluginError`].
    pub fn map_day(&self, plugin: &LoadedPlugin, day: &model::CrmDay) -> Result<model::CrmRequest, PluginError> {
        self.map_days(plugin, std::slice::from_ref(day)).pop().unwrap_or_else(|| Err(PluginError::NotFound(plugin.name.clone())))
    }

    /// Loads a plugin file from disk.
    ///
    /// # Errors
    /// When the file cannot be read, or loading fails.
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let name = path.file_stem().map_or_else(|| "plugin".to_owned(), |s| s.to_string_lossy().into_owned());
        let bytes = std::fs::read(path).map_err(|e| PluginError::Io { plugin: name.clone(), message: format!("{}: {e}", path.display()) })?;
        self.load(&name, &bytes, &path.display().to_string())
    }
}

/// Starts the thread that advances `engine`'s epoch every [`EPOCH_TICK`]. It ends when the
/// returned sender is dropped (with the runtime), so tests that build many runtimes leave no
/// threads behind. A plain thread, not a tokio task: plugin calls are synchronous and the CLI
/// runs them without a runtime.
fn spawn_ticker(engine: &Engine) -> std::io::Result<mpsc::Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    let engine = engine.clone();
    std::thread::Builder::new().name("plugin-epoch".into()).spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
            engine.increment_epoch();
        }
    })?;
    Ok(stop)
}

/// A trap on one line: its code when wasmtime names one (unreachable, out-of-bounds memory, stack
/// overflow, …), else the error's first line; never the wasm backtrace.
fn trap_message(error: &wasmtime::Error) -> String {
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        return trap.to_string();
    }
    let text = format!("{error}");
    text.lines().next().unwrap_or_default().trim_end_matches(':').to_owned()
}


fn wrong(plugin: &str, error: &wasmtime::Error) -> PluginError {
    PluginError::WrongWorld { plugin: plugin.to_owned(), message: format!("{error:#}") }
}

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod sandbox_tests;
