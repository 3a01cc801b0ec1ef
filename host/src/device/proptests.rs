//! Property tests: decoders fed arbitrary and mutated bytes return values or errors, never panic.

use proptest::prelude::*;

use super::codec::{self, Packet};
use super::push;
use super::records::{self, AttendanceLayout, FreeSizes, UserLayout};
use crate::simulator::DeviceData;

fn valid_dataset() -> Vec<u8> {
    let data = DeviceData::generate(5, 40, 3, chrono::NaiveDate::from_ymd_opt(2025, 6, 2).unwrap_or_default());
    records::encode_attendance(&data.attendance, AttendanceLayout::Tft40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Packet::decode(&bytes);
        if let Ok(top) = <[u8; 8]>::try_from(bytes.get(..8).unwrap_or_default()) {
            let _ = codec::frame_length(&top);
        }
        for layout in [AttendanceLayout::Short8, AttendanceLayout::Numeric16, AttendanceLayout::Tft40] {
            let _ = records::decode_attendance(&bytes, layout, &[]);
        }
        for layout in [UserLayout::Short28, UserLayout::Tft72] {
            let _ = records::decode_users(&bytes, layout);
        }
        let _ = records::dataset_body(&bytes);
        let _ = records::decode_event(&bytes);
        let _ = FreeSizes::decode(&bytes);
        let _ = records::decode_time6(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = push::parse_attlog(&text);
        let _ = push::parse_users(&text);
        let _ = push::parse_command_results(&text);
        let _ = push::PushCommand::parse(&text);
    }

    #[test]
    fn mutated_records_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20), cut in any::<prop::sample::Index>()) {
        let mut bytes = valid_dataset();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        let _ = records::decode_attendance(&bytes, AttendanceLayout::Tft40, &[]);
        let truncated = &bytes[..cut.index(bytes.len())];
        let _ = records::decode_attendance(truncated, AttendanceLayout::Tft40, &[]);
        let packet = Packet::new(1501, 7, 9, bytes.clone()).encode();
        let _ = Packet::decode(&packet[..cut.index(packet.len())]);
    }

    #[test]
    fn any_u32_time_decodes_or_is_refused(value in any::<u32>()) {
        // Years from 2100 on wrap to 2000 when encoded (the format keeps year % 100).
        if let Some(t) = records::decode_time(value).filter(|_| value < 100 * 372 * 86_400) {
            prop_assert_eq!(records::encode_time(t), value);
        }
    }
}
