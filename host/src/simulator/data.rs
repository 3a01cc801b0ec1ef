//! What a simulated device holds: users and punches, generated from a seed or loaded from a file.
//!
//! Generated logs look like a real site's: day and night shifts, lunch breaks, forgotten punches and
//! double punches, over consecutive days, in the device's local wall time.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Deserialize;

use crate::device::records::{AttendanceRecord, UserRecord};
use crate::domain::{EmployeeId, WallTime};

/// Users and attendance of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceData {
    /// Enrolled users.
    pub users: Vec<UserRecord>,
    /// The attendance log, in log order.
    pub attendance: Vec<AttendanceRecord>,
}

const NAMES: [&str; 12] = ["Amina", "Brian", "Chen", "Dalia", "Emeka", "Fatuma", "Goran", "Hana", "Ivan", "Joy", "Kofi", "Lena"];

impl DeviceData {
    /// `users` users and exactly `punches` punches, reproducible from `seed`. The log starts on
    /// `first_day` and runs over as many days as the punches need.
    pub fn generate(users: usize, punches: usize, seed: u64, first_day: NaiveDate) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let users = users.clamp(1, 60_000);
        let people: Vec<UserRecord> = (0..users)
            .map(|i| UserRecord {
                uid: u16::try_from(i + 1).unwrap_or(u16::MAX),
                privilege: if i == 0 { 14 } else { 0 },
                password: String::new(),
                // Names fit the shortest layout's 8-byte field, as on real devices.
                name: NAMES[i % NAMES.len()].to_owned(),
                card: 0,
                user_id: EmployeeId((1001 + i).to_string()),
            })
            .collect();
        // A fifth of the people work nights.
        let night: Vec<bool> = (0..users).map(|_| rng.random_bool(0.2)).collect();
        let mut log: Vec<AttendanceRecord> = Vec::with_capacity(punches + 8);
        let mut day = first_day;
        while log.len() < punches {
            for (person, user) in people.iter().enumerate() {
                let at = |h: u32, m: u32| day.and_hms_opt(h, m, 0).unwrap_or_default();
                let jitter = |rng: &mut StdRng| TimeDelta::seconds(rng.random_range(-900..900));
                let mut shift: Vec<(NaiveDateTime, u8)> = if night[person] {
                    vec![(at(22, 0) + jitter(&mut rng), 0), (at(6, 0) + TimeDelta::days(1) + jitter(&mut rng), 1)]
                } else {
                    vec![(at(8, 0) + jitter(&mut rng), 0), (at(17, 0) + jitter(&mut rng), 1)]
                };
                if !night[person] && rng.random_bool(0.3) {
                    let short = |rng: &mut StdRng| TimeDelta::seconds(rng.random_range(-300..300));
                    shift.insert(1, (at(12, 30) + short(&mut rng), 2));
                    shift.insert(2, (at(13, 15) + short(&mut rng), 3));
                }
                if rng.random_bool(0.05) {
                    let forgotten = rng.random_range(0..shift.len());
                    shift.remove(forgotten);
                }
                if rng.random_bool(0.05) {
                    let (t, s) = shift[0];
                    shift.insert(1, (t + TimeDelta::seconds(rng.random_range(3..40)), s));
                }
                for (time, state) in shift {
                    log.push(AttendanceRecord {
                        uid: user.uid,
                        user_id: user.user_id.clone(),
                        time: WallTime(time),
                        verify: if rng.random_bool(0.9) { 1 } else { 15 },
                        state,
                    });
                }
            }
            day = day.succ_opt().unwrap_or(day);
        }
        log.sort_by_key(|r| r.time);
        log.dedup_by(|a, b| a.user_id == b.user_id && a.time == b.time);
        log.truncate(punches);
        Self { users: people, attendance: log }
    }

    /// Loads users and punches from a JSON or CSV file (chosen by extension).
    ///
    /// JSON: `{"users": [{"user_id": "1001", "name": "Ann"}], "punches": [{"user_id": "1001",
    /// "time": "2025-06-02T08:57:12", "state": 0, "verify": 1}]}`. CSV: `user_id,time,state,verify`
    /// lines (a header line is skipped); users are the distinct ids.
    ///
    /// # Errors
    /// A message naming the file and what is wrong in it.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (users, punches) = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            (Vec::new(), parse_csv(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        } else {
            let file: FileData = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            (file.users, file.punches)
        };
        let mut people: Vec<UserRecord> = users
            .into_iter()
            .enumerate()
            .map(|(i, u)| UserRecord {
                uid: u16::try_from(i + 1).unwrap_or(u16::MAX),
                privilege: 0,
                password: String::new(),
                name: u.name.unwrap_or_default(),
                card: 0,
                user_id: EmployeeId(u.user_id),
            })
            .collect();
        for p in &punches {
            if !people.iter().any(|u| u.user_id.0 == p.user_id) {
                let uid = u16::try_from(people.len() + 1).unwrap_or(u16::MAX);
                people.push(UserRecord { uid, privilege: 0, password: String::new(), name: String::new(), card: 0, user_id: EmployeeId(p.user_id.clone()) });
            }
        }
        let attendance = punches
            .into_iter()
            .map(|p| {
                let uid = people.iter().find(|u| u.user_id.0 == p.user_id).map_or(0, |u| u.uid);
                AttendanceRecord { uid, user_id: EmployeeId(p.user_id), time: WallTime(p.time), verify: p.verify, state: p.state }
            })
            .collect();
        Ok(Self { users: people, attendance })
    }
}

#[derive(Deserialize)]
struct FileData {
    #[serde(default)]
    users: Vec<FileUser>,
    punches: Vec<FilePunch>,
}

#[derive(Deserialize)]
struct FileUser {
    user_id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct FilePunch {
    user_id: String,
    time: NaiveDateTime,
    #[serde(default)]
    state: u8,
    #[serde(default = "fingerprint")]
    verify: u8,
}

fn fingerprint() -> u8 {
    1
}

fn parse_csv(text: &str) -> Result<Vec<FilePunch>, String> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if line.trim().is_empty() || (index == 0 && fields.first() == Some(&"user_id")) {
            continue;
        }
        let time = fields
            .get(1)
            .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")).ok())
            .ok_or_else(|| format!("line {}: expected user_id,YYYY-MM-DD HH:MM:SS,state,verify", index + 1))?;
        let small = |i: usize, default: u8| fields.get(i).filter(|f| !f.is_empty()).map_or(Ok(default), |f| f.parse::<u8>());
        out.push(FilePunch {
            user_id: fields[0].to_owned(),
            time,
            state: small(2, 0).map_err(|_| format!("line {}: bad state", index + 1))?,
            verify: small(3, 1).map_err(|_| format!("line {}: bad verify type", index + 1))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_exact_and_reproducible() {
        let day = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date");
        let a = DeviceData::generate(25, 1234, 7, day);
        assert_eq!(a.attendance.len(), 1234);
        assert_eq!(a.users.len(), 25);
        assert_eq!(a, DeviceData::generate(25, 1234, 7, day));
        assert_ne!(a, DeviceData::generate(25, 1234, 8, day));
        assert!(a.attendance.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(a.attendance.iter().any(|r| r.state == 2), "breaks");
    }
}
