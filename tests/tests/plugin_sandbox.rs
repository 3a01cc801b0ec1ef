//! The plugin sandbox: endless loops, memory bombs, traps and bad files give clear errors naming the
//! plugin, and the next call to a good plugin succeeds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_bridge::plugins::runtime::LoadedPlugin;
use attendance_bridge::plugins::{Limits, PluginKind, PluginRuntime, Registry};
use attendance_bridge::plugins::PluginError;
use attendance_plugin_sdk::text::{AttendanceRecord, CrmDay, CrmRequest, RulesInput};

fn input(user: &str) -> RulesInput {
    serde_json::from_value(serde_json::json!({
        "user_id": user, "site_tz": "UTC", "now": "2030-01-01T00:00:00Z",
    }))
    .expect("input")
}

fn day() -> CrmDay {
    CrmDay {
        user_id: "1001".into(),
        employee_name: Some("Ann".into()),
        day: AttendanceRecord {
            date: "2025-06-02".into(),
            shift: Some("DAY".into()),
            status: "present".into(),
            clock_in: Some("2025-06-02T08:57:12+02:00".into()),
            clock_out: Some("2025-06-02T17:03:40+02:00".into()),
            worked_min: Some(486),
            break_min: Some(0),
            payable_min: Some(486),
            scheduled_min: Some(480),
            overtime_min: Some(0),
            late_min: None,
            early_min: None,
            duplicates: 0,
            flags: vec!["in_outlier".into()],
            is_final: true,
            reason: "clocked in 2 h 40 min late".into(),
        },
        revision: 1,
        rule_plugin: "standard-shifts".into(),
        rule_version: "0.1.0".into(),
        device_name: Some("Gate".into()),
        device_ip: Some("127.0.0.1".into()),
        config: serde_json::Value::Null,
    }
}

fn registry(limits: Limits, dir: Option<std::path::PathBuf>) -> Registry {
    Registry::new(PluginRuntime::new(limits, None).expect("engine"), dir)
}

fn good_call_works(registry: &Registry) {
    let crm = registry.get_kind("crm-json", PluginKind::CrmMapping).expect("crm-json");
    let request = registry.runtime().map_day(&crm, &day()).expect("good plugin still works");
    assert!(matches!(request, CrmRequest::Post { .. }));
}

fn evil(registry: &Registry) -> Arc<LoadedPlugin> {
    Arc::new(registry.runtime().load_file(&bridge_e2e::plugins::evil_plugin()).expect("evil loads"))
}

#[test]
fn an_endless_loop_is_stopped_by_its_time_limit() {
    let registry = registry(Limits { time_limit_ms: 200, memory_mb: 32 }, None);
    let evil = evil(&registry);
    let started = Instant::now();
    let error = registry.runtime().process(&evil, &input("loop")).expect_err("stopped");
    let elapsed = started.elapsed();
    println!("endless loop stopped after {elapsed:?}: {error}");
    assert_eq!(error, PluginError::TimeLimit { plugin: "evil_plugin".into(), limit_ms: 200 });
    assert_eq!(error.to_string(), "plugin evil_plugin: stopped after running longer than its time limit of 200 ms per call");
    // Not before the limit (the loop really ran until stopped), and promptly after it (one 10 ms
    // tick of granularity, plus slack for a loaded machine).
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    good_call_works(&registry);
    // The same plugin, fresh store, benign input: fine.
    assert!(registry.runtime().process(&evil, &input("ok")).is_ok());
}

#[test]
fn an_allocation_bomb_is_stopped_at_the_memory_cap() {
    let registry = registry(Limits { time_limit_ms: 60_000, memory_mb: 32 }, None);
    let evil = evil(&registry);
    let started = Instant::now();
    let error = registry.runtime().process(&evil, &input("alloc")).expect_err("stopped");
    println!("allocation bomb stopped after {:?}: {error}", started.elapsed());
    assert_eq!(error, PluginError::OutOfMemory { plugin: "evil_plugin".into(), cap_mb: 32 });
    good_call_works(&registry);
}

#[test]
fn a_trap_is_reported_and_the_batch_goes_on() {
    let registry = registry(Limits::default(), None);
    let evil = evil(&registry);
    let results = registry.runtime().process_batch(&evil, &[input("ok"), input("trap"), input("ok")]);
    assert!(results[0].is_ok());
    let error = results[1].clone().expect_err("trapped");
    // The evil plugin's trap is a panic: since issue 15 it is reported with its line and message.
    assert!(matches!(&error, PluginError::Panicked { plugin, .. } if plugin == "evil_plugin"), "{error:?}");
    assert!(error.to_string().starts_with("plugin evil_plugin 0.0.0 panicked at src/lib.rs:"), "{error}");
    assert!(error.to_string().ends_with("the evil plugin traps on purpose"), "{error}");
    assert!(results[2].is_ok(), "a trapped instance is replaced, not re-entered");
    good_call_works(&registry);
}

#[test]
fn corrupt_and_foreign_files_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = registry(Limits::default(), Some(dir.path().to_path_buf()));
    std::fs::write(dir.path().join("garbage.wasm"), b"this is not wasm").expect("write");
    let error = registry.get("garbage").expect_err("refused");
    assert!(matches!(&error, PluginError::Invalid { plugin, .. } if plugin == "garbage"), "{error:?}");
    // A core module (not a component), as an old toolchain would build.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    let error = registry.get("core").expect_err("refused");
    assert!(error.to_string().contains("plugin core"), "{error}");
    good_call_works(&registry);
    assert!(matches!(registry.get("nope"), Err(PluginError::NotFound(_))));
}

/// A plugin built against WASI (here: one WASI call, which the component linker turns into imports of
/// `wasi:` interfaces) is refused when it is loaded, naming the import; it never runs.
#[test]
fn a_plugin_importing_wasi_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = registry(Limits::default(), Some(dir.path().to_path_buf()));
    std::fs::copy(bridge_e2e::plugins::evil_plugin_importing_wasi(), dir.path().join("wasi-rules.wasm")).expect("install");
    let error = registry.get("wasi-rules").expect_err("refused");
    println!("{error}");
    assert!(
        matches!(&error, PluginError::WrongWorld { plugin, message } if plugin == "wasi-rules" && message.contains("imports wasi:")),
        "{error:?}"
    );
    assert!(error.to_string().contains("which the sandbox does not offer"), "{error}");
    // The same plugin without the WASI call loads: the refusal is about the import alone.
    std::fs::copy(bridge_e2e::plugins::evil_plugin(), dir.path().join("plain-rules.wasm")).expect("install");
    assert_eq!(registry.get("plain-rules").expect("loads").kind, PluginKind::ShiftRules);
    good_call_works(&registry);
}

#[test]
fn crm_json_keeps_the_original_payload_fields() {
    let registry = registry(Limits::default(), None);
    let crm = registry.get("crm-json").expect("built-in");
    assert_eq!(crm.kind, PluginKind::CrmMapping);
    let CrmRequest::Post { body, .. } = registry.runtime().map_day(&crm, &day()).expect("mapped") else { panic!("posted") };
    for field in ["user_id", "date", "clock_in", "clock_out", "is_outlier", "outlier_reason", "device_name", "device_ip"] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
    assert_eq!(body["is_outlier"], true);
    assert_eq!(body["worked_minutes"], 486);
    let mut skipping = day();
    skipping.config = serde_json::json!({ "skip_statuses": ["present"] });
    assert_eq!(registry.runtime().map_day(&crm, &skipping).expect("mapped"), CrmRequest::Skip);
}

#[test]
fn a_changed_plugin_file_is_reloaded_without_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = registry(Limits::default(), Some(dir.path().to_path_buf()));
    let site = dir.path().join("site-rules.wasm");
    let crm_bytes = attendance_bridge::plugins::registry::BUILTINS.iter().find(|(n, _)| *n == "crm-json").expect("built-in").1;
    std::fs::write(&site, crm_bytes).expect("write");
    assert_eq!(registry.get("site-rules").expect("loads").kind, PluginKind::CrmMapping);
    std::thread::sleep(Duration::from_millis(20));
    std::fs::copy(bridge_e2e::plugins::evil_plugin(), &site).expect("replace");
    assert_eq!(registry.get("site-rules").expect("reloads").kind, PluginKind::ShiftRules);
    assert!(registry.names().contains(&"site-rules".to_owned()));
}

/// The compiled-plugin files in a cache folder.
fn cached_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("cache dir").map(|e| e.expect("entry").path()).filter(|p| p.extension().is_some_and(|e| e == "cwasm")).collect();
    files.sort();
    files
}

/// Leftovers of an interrupted or colliding write: anything named like a temporary file.
fn temporary_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .map(|e| e.path())
        .collect()
}

#[test]
fn start_up_with_a_cached_compiled_plugin_is_fast() {
    let cache = tempfile::tempdir().expect("dir");
    let bytes = std::fs::read(bridge_e2e::plugins::evil_plugin()).expect("read");
    let runtime = PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("engine");
    let cold = Instant::now();
    runtime.load("evil", &bytes, "test").expect("cold load");
    let cold = cold.elapsed();
    let cached = cached_files(cache.path());
    assert_eq!(cached.len(), 1, "the compiled plugin is kept in the cache folder: {cached:?}");
    let written = std::fs::metadata(&cached[0]).expect("cache file").modified().expect("mtime");

    // A new engine, as at the next start: the plugin comes from the file, not from the compiler.
    let runtime = PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("engine");
    let warm = Instant::now();
    let plugin = runtime.load("evil", &bytes, "test").expect("warm load");
    let warm = warm.elapsed();
    println!("plugin start-up: compile {cold:?}, from cache {warm:?}");
    assert!(runtime.process(&Arc::new(plugin), &input("ok")).is_ok(), "the cached plugin runs");
    assert_eq!(cached_files(cache.path()), cached, "nothing compiled again");
    assert_eq!(std::fs::metadata(&cached[0]).expect("cache file").modified().expect("mtime"), written, "the file was read, not rewritten");
    assert!(warm * 5 < cold, "loading the cached plugin ({warm:?}) is much faster than compiling it ({cold:?})");
}

/// Several engines (as several processes sharing a data folder would) compile the same plugin into one
/// cache folder at the same moment while another keeps loading from it: no load ever meets a
/// half-written file (the product logs a warning, "ignoring an unusable compiled-plugin cache file",
/// and compiles again), and
/// what stays behind is one sound file that the next start uses as it is.
#[test]
fn engines_compiling_one_plugin_into_one_cache_folder_never_see_a_half_written_file() {
    use std::sync::{Barrier, Mutex};

    let warnings = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&warnings);
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || Captured(Arc::clone(&sink)))
            .finish(),
    );
    let bytes = attendance_bridge::plugins::registry::BUILTINS.iter().find(|(n, _)| *n == "crm-json").expect("built-in").1;
    const WRITERS: usize = 4;
    for round in 0..4 {
        let cache = tempfile::tempdir().expect("dir");
        let start = Arc::new(Barrier::new(WRITERS + 1));
        let writers_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..WRITERS {
            let (dir, start, dispatch) = (cache.path().to_path_buf(), Arc::clone(&start), dispatch.clone());
            threads.push(std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let runtime = PluginRuntime::new(Limits::default(), Some(dir)).expect("engine");
                    start.wait();
                    runtime.load("crm-json", bytes, "test").expect("load while others compile");
                });
            }));
        }
        // A reader starting again and again (a fresh engine each time) as soon as a file is there.
        let reader = {
            let (dir, start, dispatch, writers_done) = (cache.path().to_path_buf(), Arc::clone(&start), dispatch.clone(), Arc::clone(&writers_done));
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    start.wait();
                    let mut loads = 0;
                    while !writers_done.load(std::sync::atomic::Ordering::SeqCst) {
                        if cached_files(&dir).is_empty() {
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        let runtime = PluginRuntime::new(Limits::default(), Some(dir.clone())).expect("engine");
                        runtime.load("crm-json", bytes, "test").expect("load from the shared folder");
                        loads += 1;
                    }
                    loads
                })
            })
        };
        for thread in threads {
            thread.join().expect("writer");
        }
        writers_done.store(true, std::sync::atomic::Ordering::SeqCst);
        let loads = reader.join().expect("reader");
        let logged = String::from_utf8_lossy(&warnings.lock().expect("log")).into_owned();
        assert!(logged.trim().is_empty(), "round {round}: no load met a half-written cache file ({loads} reader loads):\n{logged}");
        let files = cached_files(cache.path());
        assert_eq!(files.len(), 1, "round {round}: one compiled file: {files:?}");
        assert!(temporary_files(cache.path()).is_empty(), "round {round}: no temporary file left: {:?}", temporary_files(cache.path()));
        let before = std::fs::metadata(&files[0]).expect("cache file").modified().expect("mtime");
        let runtime = PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf())).expect("engine");
        let crm = runtime.load("crm-json", bytes, "test").expect("the next start");
        assert!(matches!(runtime.map_day(&crm, &day()).expect("mapped"), CrmRequest::Post { .. }));
        assert_eq!(std::fs::metadata(&files[0]).expect("cache file").modified().expect("mtime"), before, "round {round}: the file left behind was used as it is");
        println!("round {round}: {WRITERS} engines compiled at once, a reader loaded {loads} times meanwhile: no broken file");
    }
}

/// A `tracing` writer into a shared buffer.
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A cache file is native code: one that was not written by this install for this very component
/// is never loaded. Here an attacker with write access to the cache folder puts another plugin's
/// genuine compilation (signed, but for other source bytes) under the evil plugin's name, then
/// plain garbage: both times the plugin is compiled again from its own bytes, and the cache file
/// is replaced by a good one.
#[test]
fn a_tampered_cache_file_is_ignored_and_replaced() {
    let data = tempfile::tempdir().expect("dir");
    let cache = data.path().join("plugin-cache");
    let evil_bytes = std::fs::read(bridge_e2e::plugins::evil_plugin()).expect("read");
    let crm_bytes = attendance_bridge::plugins::registry::BUILTINS.iter().find(|(n, _)| *n == "crm-json").expect("built-in").1;
    let runtime = || PluginRuntime::new(Limits::default(), Some(cache.clone())).expect("engine");

    let evil = runtime().load("evil", &evil_bytes, "test").expect("cold load");
    let evil_file = cached_files(&cache).into_iter().find(|p| p.to_string_lossy().contains(&evil.sha256)).expect("evil cached");
    let good = std::fs::read(&evil_file).expect("read");
    let crm = runtime().load("crm", crm_bytes, "test").expect("cold load");
    let crm_file = cached_files(&cache).into_iter().find(|p| p.to_string_lossy().contains(&crm.sha256)).expect("crm cached");
    let key = data.path().join("plugin-cache.key");
    assert!(key.exists(), "the install key sits beside the cache folder");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key).expect("key").permissions().mode() & 0o777, 0o600);
    }

    // Another component's genuine, signed compilation under this one's name.
    std::fs::copy(&crm_file, &evil_file).expect("swap");
    let loaded = runtime().load("evil", &evil_bytes, "test").expect("loads anyway");
    assert_eq!(loaded.kind, PluginKind::ShiftRules, "the plugin's own code, not the planted one");
    assert_eq!(std::fs::read(&evil_file).expect("read").len(), good.len(), "replaced by a fresh compilation");

    // Bytes flipped inside the compiled code.
    let mut flipped = std::fs::read(&evil_file).expect("read");
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xFF;
    std::fs::write(&evil_file, &flipped).expect("tamper");
    let fresh = runtime();
    let loaded = fresh.load("evil", &evil_bytes, "test").expect("loads anyway");
    assert_eq!(loaded.kind, PluginKind::ShiftRules);
    assert!(fresh.process(&loaded, &input("ok")).is_ok(), "and runs");
    assert_ne!(std::fs::read(&evil_file).expect("read"), flipped, "the tampered file is replaced");

    // A plain wasmtime file without the bridge's signature (what the old cache wrote) is not loaded either.
    std::fs::write(&evil_file, &good[40..]).expect("unsigned");
    assert_eq!(runtime().load("evil", &evil_bytes, "test").expect("loads").kind, PluginKind::ShiftRules);
    assert_eq!(std::fs::read(&evil_file).expect("read").len(), good.len());
}

/// Several processes compiling the same plugin at once into one cache (each runtime here stands for
/// one): every one gets a working plugin, the cache ends up with one whole, valid file and no
/// temporary files.
#[test]
fn concurrent_compilations_share_the_cache_safely() {
    let data = tempfile::tempdir().expect("dir");
    let cache = data.path().join("plugin-cache");
    let bytes = std::fs::read(bridge_e2e::plugins::evil_plugin()).expect("read");
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let runtime = PluginRuntime::new(Limits::default(), Some(cache.clone())).expect("engine");
                barrier.wait();
                assert_eq!(runtime.load("evil", &bytes, "test").expect("loads").kind, PluginKind::ShiftRules);
            });
        }
    });
    let names: Vec<_> = std::fs::read_dir(&cache).expect("list").filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 1, "one cache file, no temporaries: {names:?}");
    let warm = Instant::now();
    let runtime = PluginRuntime::new(Limits::default(), Some(cache.clone())).expect("engine");
    assert_eq!(runtime.load("evil", &bytes, "test").expect("warm load").kind, PluginKind::ShiftRules);
    assert!(warm.elapsed() < Duration::from_secs(1), "served from the cache: {:?}", warm.elapsed());
}

/// A component whose module declares two linear memories (each could reach the memory cap) is
/// refused when loaded, with the reason.
#[test]
fn a_two_memory_component_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = registry(Limits::default(), Some(dir.path().to_path_buf()));
    let bytes = wat::parse_str("(component (core module (memory 1) (memory 1)))").expect("component text");
    std::fs::write(dir.path().join("two-memories.wasm"), bytes).expect("write");
    let error = registry.get("two-memories").expect_err("refused");
    assert!(matches!(&error, PluginError::Invalid { plugin, message } if plugin == "two-memories" && message.contains("multiple memories")), "{error}");
    println!("{error}");
    good_call_works(&registry);
}
