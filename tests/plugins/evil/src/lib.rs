//! A shift-rules plugin that misbehaves on request, chosen by the input's user id:
//! `loop` never returns, `alloc` allocates without bound, `trap` panics (a trap), anything else
//! returns an empty, valid result. Built with the `wasi` feature it also imports a WASI function
//! (used for the user id `wasi`), which the host must refuse at load.

use attendance_plugin_sdk::v1::{PluginInfo, RulesInput, RulesOutput, ShiftRules, shift_rules_plugin};

/// The misbehaving rules.
pub struct Evil;

impl ShiftRules for Evil {
    fn info() -> PluginInfo {
        PluginInfo { name: "evil".into(), version: "0.0.0".into() }
    }

    fn process(input: RulesInput) -> Result<RulesOutput, String> {
        match input.user_id.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("the evil plugin traps on purpose"),
            #[cfg(feature = "wasi")]
            "wasi" => {
                let mut byte = 0u8;
                // SAFETY: one byte, written by the host into a live local.
                let status = unsafe { wasi::random_get(&raw mut byte, 1) };
                Err(format!("WASI answered {status}: {byte}"))
            }
            _ => Ok(RulesOutput::default()),
        }
    }
}

shift_rules_plugin!(Evil);

#[cfg(feature = "wasi")]
mod wasi {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        /// WASI preview 1 `random_get`.
        pub fn random_get(buf: *mut u8, len: usize) -> i32;
    }
}
