//! Feeds arbitrary bytes to everything that decodes device input: packets, TCP frame tops, record
//! layouts, real-time events and the counters block. Any panic is a bug.
#![no_main]

use attendance_bridge::device::codec::{self, Packet};
use attendance_bridge::device::records::{self, AttendanceLayout, FreeSizes, UserLayout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Packet::decode(data);
    if let Some(top) = data.get(..8).and_then(|t| <[u8; 8]>::try_from(t).ok()) {
        let _ = codec::frame_length(&top);
    }
    if let Ok(body) = records::dataset_body(data) {
        for layout in [AttendanceLayout::Short8, AttendanceLayout::Numeric16, AttendanceLayout::Tft40] {
            let _ = records::decode_attendance(body, layout, &[]);
        }
        for layout in [UserLayout::Short28, UserLayout::Tft72] {
            let _ = records::decode_users(body, layout);
        }
    }
    let _ = records::decode_event(data);
    let _ = FreeSizes::decode(data);
});
