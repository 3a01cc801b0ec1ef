//! A hostile or broken ZK device cannot make the bridge reserve memory it announces: every size is
//! checked against what the protocol allows before anything is allocated, and the lie is a typed
//! [`DeviceError::Oversized`], quickly.
//!
//! The heap is measured with a counting allocator (the global allocator of the suites' test binary,
//! declared here; the other suites only pay an atomic add per allocation): the original client
//! reserved the announced size up front, which with overcommit costs no resident memory until
//! touched, so only counting the bytes asked of the allocator shows the difference. The counts are
//! process-wide: the test command runs each test in its own process (nextest), so only this suite's
//! measured tests, serialised by [`MEASURED`], allocate while they measure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attendance_bridge::device::DeviceError;
use attendance_bridge::device::client::{ConnectOptions, MAX_DATASET_BYTES, ZkClient};
use attendance_bridge::simulator::{DeviceData, Faults, SimConfig, SimulatedDevice};
use chrono::NaiveDate;
use proptest::prelude::*;

/// Bytes currently allocated, and the most ever allocated at once since the last [`reset_peak`].
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// A test-only allocator that forwards every call to the system allocator and counts bytes.
#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters are
// plain atomics and never influence what is allocated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The measured tests run one at a time, so one test's allocations do not count for another.
static MEASURED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts a fresh peak at the current level and returns that level.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn data() -> DeviceData {
    DeviceData::generate(5, 40, 7, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"))
}

async fn lying_device(faults: Faults) -> SimulatedDevice {
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data()).await.expect("simulator");
    sim.set_faults(faults);
    sim
}

fn options(sim: &SimulatedDevice, udp: bool) -> ConnectOptions {
    ConnectOptions { address: sim.address(), comm_key: 0, timeout: Duration::from_secs(2), udp }
}

/// Downloads from `sim` and returns the error, how long it took and how much the heap grew at most.
async fn download_measured(sim: &SimulatedDevice, udp: bool) -> (DeviceError, Duration, usize) {
    let mut client = ZkClient::connect(options(sim, udp)).await.expect("connects");
    let baseline = reset_peak();
    let started = Instant::now();
    let error = client.download().await.expect_err("the lie is refused");
    let elapsed = started.elapsed();
    let growth = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    client.disconnect().await;
    (error, elapsed, growth)
}

#[tokio::test(flavor = "current_thread")]
async fn a_device_announcing_4_gib_gets_a_typed_error_and_the_heap_stays_flat() {
    let _one_at_a_time = MEASURED.lock().await;
    for udp in [false, true] {
        let sim = lying_device(Faults { announce_dataset_bytes: Some(u32::MAX), ..Faults::default() }).await;
        let (error, elapsed, growth) = download_measured(&sim, udp).await;
        println!("udp={udp}: {error} after {elapsed:?}, heap grew at most {growth} bytes");
        // 5 users of at most 72 bytes each, plus the 4-byte length: the most this dataset can be.
        assert_eq!(error, DeviceError::Oversized { announced: u64::from(u32::MAX), allowed: 4 + 5 * 72 }, "udp={udp}");
        assert!(error.to_string().contains("4294967295 bytes"), "{error}");
        assert!(growth < 1 << 20, "udp={udp}: the heap grew by {growth} bytes for a refused announcement");
        assert!(elapsed < Duration::from_secs(2), "udp={udp}: took {elapsed:?}");
        assert!(sim.stats().enabled, "the device is re-enabled after the refused download");
        sim.stop();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_device_lying_about_its_record_count_is_held_to_the_hard_cap() {
    let _one_at_a_time = MEASURED.lock().await;
    // Four billion users "explain" a 4 GiB dataset: the hard cap refuses the count itself.
    let sim = lying_device(Faults { announce_dataset_bytes: Some(u32::MAX), announce_record_count: Some(u32::MAX), ..Faults::default() }).await;
    let (error, elapsed, growth) = download_measured(&sim, false).await;
    println!("{error} after {elapsed:?}, heap grew at most {growth} bytes");
    assert!(matches!(error, DeviceError::Oversized { allowed, .. } if allowed == MAX_DATASET_BYTES), "{error:?}");
    assert!(growth < 1 << 20, "the heap grew by {growth} bytes");
    sim.stop();

    // Within the cap the announcement must still match the count: 40 records cannot take 60 MiB.
    let sim = lying_device(Faults { announce_dataset_bytes: Some(60 << 20), ..Faults::default() }).await;
    let (error, _, growth) = download_measured(&sim, false).await;
    assert!(matches!(error, DeviceError::Oversized { announced, .. } if announced == 60 << 20), "{error:?}");
    assert!(growth < 1 << 20, "the heap grew by {growth} bytes");
    sim.stop();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever sizes and counts a device announces, the client answers with data or an error.
    #[test]
    fn arbitrary_announced_sizes_never_panic(size in any::<u32>(), count in prop::option::of(any::<u32>()), udp in any::<bool>()) {
        let _one_at_a_time = MEASURED.blocking_lock();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let sim = lying_device(Faults { announce_dataset_bytes: Some(size), announce_record_count: count, ..Faults::default() }).await;
            let mut client = ZkClient::connect(options(&sim, udp)).await.expect("connects");
            // A size that happens to be within bounds reads what the device really has; the
            // simulator refuses chunks past its data, so any outcome but a panic is fine here.
            let _ = client.download().await;
            client.disconnect().await;
            sim.stop();
        });
    }
}
