//! The sandbox's structural limits, with hand-written components: a plugin gets one linear memory
//! (so `PLUGIN_MEMORY_MB` is its whole budget) and bounded tables, however its component is built.
//!
//! These drive the real engine and the real store limits ([`PluginRuntime::store`]) with components
//! that implement no world: they are refused before a world would matter.

use wasmtime::component::{Component, Linker};

use super::{HostState, Limits, MAX_TABLE_ELEMENTS, PluginRuntime};
use crate::plugins::PluginError;

fn runtime() -> std::sync::Arc<PluginRuntime> {
    PluginRuntime::new(Limits { time_limit_ms: 5_000, memory_mb: 16 }, None).expect("engine")
}

/// Compiles and instantiates `wat` (a component) in a plugin store, as loading a plugin does.
fn instantiate(runtime: &PluginRuntime, wat: &str) -> Result<(), PluginError> {
    let bytes = wat::parse_str(wat).expect("valid text");
    let component = Component::new(&runtime.engine, &bytes)
        .map_err(|e| PluginError::Invalid { plugin: "test".into(), message: format!("{e:#}") })?;
    let mut store = runtime.store("test")?;
    let instantiated = Linker::<HostState>::new(&runtime.engine).instantiate(&mut store, &component);
    instantiated.map(drop).map_err(|e| runtime.failure("test", store.data_mut(), &e))
}

#[test]
fn a_module_with_two_memories_is_refused_at_load() {
    let runtime = runtime();
    let bytes = wat::parse_str("(component (core module (memory 1) (memory 1)))").expect("valid text");
    let error = runtime.load("two-memories", &bytes, "test").expect_err("refused");
    assert!(matches!(&error, PluginError::Invalid { plugin, message } if plugin == "two-memories" && message.contains("multiple memories")), "{error}");
}

#[test]
fn two_modules_with_a_memory_each_are_refused_at_instantiation() {
    let error = instantiate(
        &runtime(),
        "(component
            (core module $a (memory 1))
            (core module $b (memory 1))
            (core instance (instantiate $a))
            (core instance (instantiate $b)))",
    )
    .expect_err("refused");
    assert!(matches!(&error, PluginError::Sandbox { message, .. } if message.contains("memory count too high")), "{error}");
    assert!(error.to_string().starts_with("plugin test: refused by the sandbox"), "{error}");
    // One memory is fine.
    instantiate(&runtime(), "(component (core module $a (memory 1)) (core instance (instantiate $a)))").expect("one memory");
}

#[test]
fn a_huge_table_is_refused_at_creation() {
    let error = instantiate(
        &runtime(),
        "(component (core module $a (table 5000000 funcref)) (core instance (instantiate $a)))",
    )
    .expect_err("refused");
    assert!(matches!(&error, PluginError::Sandbox { .. } | PluginError::Trap { .. }), "{error:?}");
}

#[test]
fn a_table_grown_past_the_limit_stops_the_plugin() {
    let grow = |by: usize| {
        format!(
            "(component
                (core module $a
                    (table 1 funcref)
                    (func $grow (drop (table.grow 0 (ref.null func) (i32.const {by}))))
                    (start $grow))
                (core instance (instantiate $a)))"
        )
    };
    let error = instantiate(&runtime(), &grow(50_000_000)).expect_err("stopped");
    assert!(matches!(&error, PluginError::Sandbox { message, .. } if message.contains("table grew past")), "{error:?}");
    instantiate(&runtime(), &grow(MAX_TABLE_ELEMENTS - 1)).expect("within the limit");
}

#[test]
fn too_many_tables_are_refused() {
    let error = instantiate(
        &runtime(),
        "(component (core module $a (table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref))
            (core instance (instantiate $a)))",
    )
    .expect_err("refused");
    assert!(matches!(&error, PluginError::Sandbox { message, .. } if message.contains("table count too high")), "{error:?}");
}
