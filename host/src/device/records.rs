//! Record layouts of the ZK protocol: packed times, attendance (8, 16, 40 bytes), users (28, 72
//! bytes), the counters block, real-time events and the comm-key scramble.
//!
//! Decoders take bytes from the network and never panic: every length is checked, and anything
//! inconsistent is a [`DeviceError::Malformed`] or [`DeviceError::Truncated`], never a partial list.

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, Timelike as _};

use super::error::DeviceError;
use crate::domain::{EmployeeId, WallTime};

/// Packs a wall time the way devices store it: a calendar of 12 × 31-day months from 2000.
pub fn encode_time(t: NaiveDateTime) -> u32 {
    let years = u32::try_from(t.year().rem_euclid(100)).unwrap_or(0);
    ((years * 12 + t.month0()) * 31 + t.day0()) * 86_400 + t.num_seconds_from_midnight()
}

/// Unpacks a device time; `None` when it names no real date (corrupt data, 31 February).
pub fn decode_time(value: u32) -> Option<NaiveDateTime> {
    let seconds = value % 86_400;
    let days = value / 86_400;
    let date = NaiveDate::from_ymd_opt(2000 + i32::try_from(days / 372).ok()?, (days / 31) % 12 + 1, days % 31 + 1)?;
    date.and_hms_opt(seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// The 6-byte time of real-time events: year−2000, month, day, hour, minute, second.
pub fn decode_time6(b: &[u8]) -> Option<NaiveDateTime> {
    let [y, mo, d, h, mi, s] = <[u8; 6]>::try_from(b.get(..6)?).ok()?;
    NaiveDate::from_ymd_opt(2000 + i32::from(y), u32::from(mo), u32::from(d))?.and_hms_opt(u32::from(h), u32::from(mi), u32::from(s))
}

/// Encodes a 6-byte event time (the simulator's side).
pub fn encode_time6(t: NaiveDateTime) -> [u8; 6] {
    let b = |v: u32| u8::try_from(v).unwrap_or(0);
    [b(u32::try_from(t.year().rem_euclid(100)).unwrap_or(0)), b(t.month()), b(t.day()), b(t.hour()), b(t.minute()), b(t.second())]
}

/// Attendance record layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttendanceLayout {
    /// 8 bytes: internal uid, verify, time, state (old firmware).
    Short8,
    /// 16 bytes: numeric user id, time, verify, state, work code.
    Numeric16,
    /// 40 bytes: uid, 24-byte user id, verify, time, state (TFT firmware such as the F18).
    Tft40,
}

impl AttendanceLayout {
    /// The layout with the largest records: what bounds the size of a dataset of N records.
    pub const LARGEST: Self = AttendanceLayout::Tft40;

    /// Bytes per record.
    pub fn size(self) -> usize {
        match self {
            AttendanceLayout::Short8 => 8,
            AttendanceLayout::Numeric16 => 16,
            AttendanceLayout::Tft40 => 40,
        }
    }

    /// The layout with this record size.
    pub fn from_size(size: usize) -> Option<Self> {
        match size {
            8 => Some(AttendanceLayout::Short8),
            16 => Some(AttendanceLayout::Numeric16),
            40 => Some(AttendanceLayout::Tft40),
            _ => None,
        }
    }
}

/// One attendance record as the device stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendanceRecord {
    /// Internal user index (0 in the 16-byte layout).
    pub uid: u16,
    /// The employee's number.
    pub user_id: EmployeeId,
    /// Device-local wall time, exactly as stored.
    pub time: WallTime,
    /// Verification method (pyzk's "status").
    pub verify: u8,
    /// Punch state (pyzk's "punch"): 0 in, 1 out, 2 break-out, 3 break-in, 4 OT-in, 5 OT-out, 255 none.
    pub state: u8,
}

/// User record layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLayout {
    /// 28 bytes, numeric user id (older firmware).
    Short28,
    /// 72 bytes, text user id (TFT firmware).
    Tft72,
}

impl UserLayout {
    /// The layout with the largest records: what bounds the size of a dataset of N users.
    pub const LARGEST: Self = UserLayout::Tft72;

    /// Bytes per record.
    pub fn size(self) -> usize {
        match self {
            UserLayout::Short28 => 28,
            UserLayout::Tft72 => 72,
        }
    }
}

/// A user enrolled on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Internal index.
    pub uid: u16,
    /// Privilege byte (0 user, 14 admin; bit 0 = disabled).
    pub privilege: u8,
    /// Password (ASCII).
    pub password: String,
    /// Display name.
    pub name: String,
    /// Card number.
    pub card: u32,
    /// The employee's number.
    pub user_id: EmployeeId,
}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_owned()
}

fn put_text(out: &mut Vec<u8>, value: &str, width: usize) {
    let mut bytes = value.as_bytes().to_vec();
    bytes.truncate(width.saturating_sub(1));
    bytes.resize(width, 0);
    out.extend_from_slice(&bytes);
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Splits a dataset (u32 total length + records) into its records part.
///
/// # Errors
/// [`DeviceError::Truncated`] when fewer bytes arrived than announced.
pub fn dataset_body(data: &[u8]) -> Result<&[u8], DeviceError> {
    let header = data.get(..4).ok_or(DeviceError::Truncated { expected: 4, got: data.len() })?;
    let total = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    data.get(4..total.saturating_add(4)).ok_or(DeviceError::Truncated { expected: total.saturating_add(4), got: data.len() })
}

/// Decodes attendance records; `users` maps internal uids to user ids for the 8-byte layout.
///
/// # Errors
/// [`DeviceError::Malformed`] when the body is not a whole number of records or a time is invalid.
pub fn decode_attendance(body: &[u8], layout: AttendanceLayout, users: &[UserRecord]) -> Result<Vec<AttendanceRecord>, DeviceError> {
    let size = layout.size();
    if body.len() % size != 0 {
        return Err(DeviceError::Malformed(format!("{} bytes of attendance is not a multiple of {size}", body.len())));
    }
    body.chunks_exact(size)
        .enumerate()
        .map(|(index, r)| {
            let (uid, user_id, verify, raw_time, state) = match layout {
                AttendanceLayout::Short8 => {
                    let uid = u16_at(r, 0);
                    let user_id = users.iter().find(|u| u.uid == uid).map_or_else(|| uid.to_string(), |u| u.user_id.0.clone());
                    (uid, user_id, r[2], u32_at(r, 3), r[7])
                }
                AttendanceLayout::Numeric16 => (0, u32_at(r, 0).to_string(), r[8], u32_at(r, 4), r[9]),
                AttendanceLayout::Tft40 => (u16_at(r, 0), text(&r[2..26]), r[26], u32_at(r, 27), r[31]),
            };
            let time = decode_time(raw_time)
                .ok_or_else(|| DeviceError::Malformed(format!("attendance record {index} has an invalid time {raw_time:#x}")))?;
            Ok(AttendanceRecord { uid, user_id: EmployeeId(user_id), time: WallTime(time), verify, state })
        })
        .collect()
}

/// Encodes attendance records in `layout` (the simulator's side).
pub fn encode_attendance(records: &[AttendanceRecord], layout: AttendanceLayout) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * layout.size());
    for r in records {
        let time = encode_time(r.time.0).to_le_bytes();
        match layout {
            AttendanceLayout::Short8 => {
                out.extend_from_slice(&r.uid.to_le_bytes());
                out.push(r.verify);
                out.extend_from_slice(&time);
                out.push(r.state);
            }
            AttendanceLayout::Numeric16 => {
                out.extend_from_slice(&r.user_id.0.parse::<u32>().unwrap_or(0).to_le_bytes());
                out.extend_from_slice(&time);
                out.push(r.verify);
                out.push(r.state);
                out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            }
            AttendanceLayout::Tft40 => {
                out.extend_from_slice(&r.uid.to_le_bytes());
                put_text(&mut out, &r.user_id.0, 24);
                out.push(r.verify);
                out.extend_from_slice(&time);
                out.push(r.state);
                out.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0, 0, 0]);
            }
        }
    }
    out
}

/// Decodes user records.
///
/// # Errors
/// [`DeviceError::Malformed`] when the body is not a whole number of records.
pub fn decode_users(body: &[u8], layout: UserLayout) -> Result<Vec<UserRecord>, DeviceError> {
    let size = layout.size();
    if body.len() % size != 0 {
        return Err(DeviceError::Malformed(format!("{} bytes of users is not a multiple of {size}", body.len())));
    }
    Ok(body
        .chunks_exact(size)
        .map(|r| match layout {
            UserLayout::Short28 => UserRecord {
                uid: u16_at(r, 0),
                privilege: r[2],
                password: text(&r[3..8]),
                name: text(&r[8..16]),
                card: u32_at(r, 16),
                user_id: EmployeeId(u32_at(r, 24).to_string()),
            },
            UserLayout::Tft72 => UserRecord {
                uid: u16_at(r, 0),
                privilege: r[2],
                password: text(&r[3..11]),
                name: text(&r[11..35]),
                card: u32_at(r, 35),
                user_id: EmployeeId(text(&r[48..72])),
            },
        })
        .collect())
}

/// Encodes user records (the simulator's side).
pub fn encode_users(users: &[UserRecord], layout: UserLayout) -> Vec<u8> {
    let mut out = Vec::with_capacity(users.len() * layout.size());
    for u in users {
        out.extend_from_slice(&u.uid.to_le_bytes());
        out.push(u.privilege);
        match layout {
            UserLayout::Short28 => {
                put_text(&mut out, &u.password, 5);
                put_text(&mut out, &u.name, 8);
                out.extend_from_slice(&u.card.to_le_bytes());
                out.extend_from_slice(&[0, 1]); // pad, group
                out.extend_from_slice(&0i16.to_le_bytes());
                out.extend_from_slice(&u.user_id.0.parse::<u32>().unwrap_or(0).to_le_bytes());
            }
            UserLayout::Tft72 => {
                put_text(&mut out, &u.password, 8);
                put_text(&mut out, &u.name, 24);
                out.extend_from_slice(&u.card.to_le_bytes());
                out.push(1); // group
                out.extend_from_slice(&[0; 7]);
                out.push(0);
                put_text(&mut out, &u.user_id.0, 24);
            }
        }
    }
    out
}

/// The device's counters and capacities (`GET_FREE_SIZES`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreeSizes {
    /// Enrolled users.
    pub users: u32,
    /// Fingerprint templates.
    pub fingers: u32,
    /// Attendance records.
    pub records: u32,
    /// User capacity.
    pub users_cap: u32,
    /// Fingerprint capacity.
    pub fingers_cap: u32,
    /// Attendance capacity.
    pub records_cap: u32,
}

impl FreeSizes {
    /// Decodes the 80- or 92-byte block.
    ///
    /// # Errors
    /// [`DeviceError::Malformed`] when shorter than 80 bytes.
    pub fn decode(data: &[u8]) -> Result<Self, DeviceError> {
        if data.len() < 80 {
            return Err(DeviceError::Malformed(format!("counters block of {} bytes, expected 80", data.len())));
        }
        Ok(Self {
            users: u32_at(data, 16),
            fingers: u32_at(data, 24),
            records: u32_at(data, 32),
            fingers_cap: u32_at(data, 56),
            users_cap: u32_at(data, 60),
            records_cap: u32_at(data, 64),
        })
    }

    /// Encodes the 92-byte block (the simulator's side).
    pub fn encode(&self) -> Vec<u8> {
        let mut fields = [0u32; 23];
        fields[4] = self.users;
        fields[6] = self.fingers;
        fields[8] = self.records;
        fields[14] = self.fingers_cap;
        fields[15] = self.users_cap;
        fields[16] = self.records_cap;
        fields[17] = self.fingers_cap.saturating_sub(self.fingers);
        fields[18] = self.users_cap.saturating_sub(self.users);
        fields[19] = self.records_cap.saturating_sub(self.records);
        fields.iter().flat_map(|f| f.to_le_bytes()).collect()
    }
}

/// Decodes an `EF_ATTLOG` real-time event's data (12-, 32-, 36- or ≥52-byte forms).
///
/// # Errors
/// [`DeviceError::Malformed`] for an unknown length or invalid time.
pub fn decode_event(data: &[u8]) -> Result<AttendanceRecord, DeviceError> {
    let (user_id, rest) = match data.len() {
        12 => (u32_at(data, 0).to_string(), &data[4..]),
        32 | 36 => (text(&data[..24]), &data[24..]),
        n if n >= 52 => (text(&data[..24]), &data[24..]),
        n => return Err(DeviceError::Malformed(format!("real-time event of {n} bytes"))),
    };
    let time = decode_time6(&rest[2..]).ok_or_else(|| DeviceError::Malformed("real-time event with an invalid time".into()))?;
    Ok(AttendanceRecord { uid: 0, user_id: EmployeeId(user_id), time: WallTime(time), verify: rest[0], state: rest[1] })
}

/// Encodes a 32-byte `EF_ATTLOG` event (the simulator's side).
pub fn encode_event(record: &AttendanceRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    put_text(&mut out, &record.user_id.0, 24);
    out.push(record.verify);
    out.push(record.state);
    out.extend_from_slice(&encode_time6(record.time.0));
    out
}

/// The scrambled comm key sent with `CMD_AUTH` (the vendor's MakeKey).
pub fn make_commkey(key: u32, session: u16, ticks: u8) -> [u8; 4] {
    let k = key.reverse_bits().wrapping_add(u32::from(session));
    let b = k.to_le_bytes();
    let x = [b[0] ^ b'Z', b[1] ^ b'K', b[2] ^ b'S', b[3] ^ b'O'];
    let c = [x[2], x[3], x[0], x[1]];
    [c[0] ^ ticks, c[1] ^ ticks, ticks, c[3] ^ ticks]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, mi, s)).expect("valid")
    }

    /// Vectors from the protocol notes.
    #[test]
    fn packed_time_vectors() {
        for (t, v) in [
            (at(2018, 6, 25, 17, 41, 5), 594_063_665),
            (at(2000, 1, 1, 0, 0, 0), 0),
            (at(2024, 2, 29, 23, 59, 59), 0x2E49_69FF),
            (at(2025, 12, 31, 8, 30, 0), 0x31CE_5208),
        ] {
            assert_eq!(encode_time(t), v);
            assert_eq!(decode_time(v), Some(t));
        }
        assert_eq!(decode_time(0x2368_B36B), Some(at(2018, 6, 25, 17, 50, 35)));
        assert_eq!(decode_time6(&[0x12, 0x06, 0x19, 0x11, 0x29, 0x05]), Some(at(2018, 6, 25, 17, 41, 5)));
        // 31 February does not exist.
        assert_eq!(decode_time((1 * 31 + 30) * 86_400), None);
    }

    #[test]
    fn commkey_vectors() {
        for (key, session, bytes) in [
            (0, 0, [0x61, 0x7d, 0x32, 0x79]),
            (0, 0x1234, [0x61, 0x7d, 0x32, 0x6b]),
            (1, 0x5678, [0x61, 0xfd, 0x32, 0x2f]),
            (12345, 0x8DF3, [0x6d, 0xe1, 0x32, 0xf4]),
            (123_456, 0xC0C5, [0x29, 0x7f, 0x32, 0x39]),
            (999_999, 1, [0x23, 0x81, 0x32, 0x89]),
        ] {
            assert_eq!(make_commkey(key, session, 50), bytes, "key {key} session {session:#x}");
        }
    }

    #[test]
    fn captured_40_byte_record() {
        let mut r = vec![0x0D, 0x00];
        r.extend_from_slice(b"999111333");
        r.extend_from_slice(&[0; 15]);
        r.push(0x01);
        r.extend_from_slice(&[0x6B, 0xB3, 0x68, 0x23]);
        r.push(0x00);
        r.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0, 0, 0]);
        let records = decode_attendance(&r, AttendanceLayout::Tft40, &[]).expect("decodes");
        assert_eq!(records[0].user_id.0, "999111333");
        assert_eq!(records[0].time.0, at(2018, 6, 25, 17, 50, 35));
        assert_eq!((records[0].uid, records[0].verify, records[0].state), (13, 1, 0));
    }

    #[test]
    fn layouts_round_trip() {
        let users = vec![
            UserRecord { uid: 1, privilege: 14, password: "12".into(), name: "Ann".into(), card: 7, user_id: EmployeeId("1001".into()) },
            UserRecord { uid: 2, privilege: 0, password: String::new(), name: "Bob".into(), card: 0, user_id: EmployeeId("1002".into()) },
        ];
        for layout in [UserLayout::Short28, UserLayout::Tft72] {
            assert_eq!(decode_users(&encode_users(&users, layout), layout).expect("users"), users);
        }
        let records: Vec<AttendanceRecord> = (0..3)
            .map(|i| AttendanceRecord {
                uid: 1 + (i % 2),
                user_id: EmployeeId(if i % 2 == 0 { "1001" } else { "1002" }.into()),
                time: WallTime(at(2025, 6, 2, 8, i.into(), 0)),
                verify: 1,
                state: u8::try_from(i).expect("small"),
            })
            .collect();
        for layout in [AttendanceLayout::Short8, AttendanceLayout::Numeric16, AttendanceLayout::Tft40] {
            let mut back = decode_attendance(&encode_attendance(&records, layout), layout, &users).expect("records");
            if layout == AttendanceLayout::Numeric16 {
                back.iter_mut().zip(&records).for_each(|(b, r)| b.uid = r.uid);
            }
            assert_eq!(back, records, "{layout:?}");
        }
        let event = decode_event(&encode_event(&records[1])).expect("event");
        assert_eq!((event.user_id.clone(), event.time, event.state), (records[1].user_id.clone(), records[1].time, 1));
        let sizes = FreeSizes { users: 3, fingers: 3, records: 58, users_cap: 5000, fingers_cap: 3000, records_cap: 100_000 };
        assert_eq!(FreeSizes::decode(&sizes.encode()).expect("sizes"), sizes);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(dataset_body(&[10, 0, 0, 0, 1, 2]).is_err());
        assert!(decode_attendance(&[0; 39], AttendanceLayout::Tft40, &[]).is_err());
        assert!(decode_users(&[0; 71], UserLayout::Tft72).is_err());
        assert!(decode_event(&[0; 5]).is_err());
        assert!(FreeSizes::decode(&[0; 10]).is_err());
    }
}
