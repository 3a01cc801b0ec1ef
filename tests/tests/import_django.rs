//! `import-django`: taking over the original Django bridge's database, on both backends, with source
//! databases built from the original's models (newest and legacy-only schemas) on SQLite and on
//! PostgreSQL; and the failover address the original's devices carry.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use attendance_bridge::device::records::{AttendanceRecord, UserRecord};
use attendance_bridge::domain::{EmployeeId, WallTime};
use attendance_bridge::pipeline::poll::{self, PollOptions};
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::{Store, attendance, devices, employees, punches};
use bridge_e2e::crm::{TOKEN, mock_crm};
use bridge_e2e::{Backend, TestDb, bridge_command, on_both_backends};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta, TimeZone as _};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl as _;

on_both_backends!(
    the_sample_is_imported_and_only_undelivered_days_reach_the_crm,
    a_legacy_only_schema_is_imported,
    a_sigkill_mid_import_then_a_rerun_gives_the_same_end_state,
    a_source_that_is_not_the_original_is_refused,
    reprocessing_synced_days_sends_only_real_differences,
    a_poll_fails_over_to_the_secondary_address
);

/// Which version of the original's schema a source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// After migration 0009: shift engine columns, device zone and failover address, `core_deviceuser`.
    Newest,
    /// Before 0003: `core_user`, no device zone or failover address, only `date`/`clock_in`/`clock_out`.
    Legacy,
}

const NAIROBI: chrono_tz::Tz = chrono_tz::Africa::Nairobi;
const NEW_YORK: chrono_tz::Tz = chrono_tz::America::New_York;

struct SampleDevice {
    name: &'static str,
    ip: &'static str,
    secondary: Option<&'static str>,
    port: u16,
    tz: chrono_tz::Tz,
    /// Last successful download (UTC).
    last_sync: NaiveDateTime,
}

struct SampleUser {
    device: usize,
    user_id: String,
    name: String,
    full_name: String,
}

struct SamplePunch {
    device: usize,
    user_id: String,
    local: NaiveDateTime,
    utc: NaiveDateTime,
    state: u8,
}

struct SampleDay {
    device: usize,
    user_id: String,
    date: NaiveDate,
    clock_in: NaiveDateTime,
    clock_out: NaiveDateTime,
    synced: bool,
    changed_after_sync: bool,
}

/// The original's data: night shifts (22:00 to 06:00 local) on two devices in different zones, the
/// New York one across the 2025-03-09 DST change, accented names, synced and unsynced days.
struct Sample {
    devices: Vec<SampleDevice>,
    users: Vec<SampleUser>,
    punches: Vec<SamplePunch>,
    days: Vec<SampleDay>,
}

const NAMES: [(&str, &str); 5] = [
    ("JOSE ALV", "José Álvarez"),
    ("Zoë Ndlovu", ""),
    ("NGOZI", "Ngozi Okonkwo-Adébáyọ̀"),
    ("RENEE", "Renée Lefèvre"),
    ("LUKASZ", "Łukasz Żółć"),
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

impl Sample {
    /// `users` people per device working `nights` nights from 2025-03-05; the last two nights are
    /// not synced, nor is the second night of the first person; the third night of the second person
    /// was synced and changed afterwards.
    fn generate(ports: [u16; 2], users: usize, nights: usize) -> Sample {
        Self::generate_in(ports, users, nights, [NAIROBI, NEW_YORK])
    }

    /// [`Sample::generate`] with the devices in the given zones.
    fn generate_in(ports: [u16; 2], users: usize, nights: usize, zones: [chrono_tz::Tz; 2]) -> Sample {
        let first = date(2025, 3, 5);
        let last_night = first + TimeDelta::days(i64::try_from(nights).expect("nights") - 1);
        // The day after the last night, 09:00 local: the last night is complete, the next one not.
        let last_sync = |tz: chrono_tz::Tz| tz.from_local_datetime(&(last_night + TimeDelta::days(1)).and_hms_opt(9, 0, 0).expect("time")).single().expect("local").naive_utc();
        let devices = vec![
            SampleDevice { name: "Nairobi Gate", ip: "127.0.0.3", secondary: Some("127.0.0.1"), port: ports[0], tz: zones[0], last_sync: last_sync(zones[0]) },
            SampleDevice { name: "New York Office", ip: "127.0.0.1", secondary: None, port: ports[1], tz: zones[1], last_sync: last_sync(zones[1]) },
        ];
        let mut sample = Sample { devices, users: Vec::new(), punches: Vec::new(), days: Vec::new() };
        let mut person = 0;
        for device in 0..2 {
            for _ in 0..users {
                let (name, full) = NAMES[person % NAMES.len()];
                sample.users.push(SampleUser { device, user_id: (1001 + person).to_string(), name: name.into(), full_name: full.into() });
                person += 1;
            }
        }
        for (ui, user) in sample.users.iter().enumerate() {
            let tz = sample.devices[user.device].tz;
            for night in 0..nights {
                let day = first + TimeDelta::days(i64::try_from(night).expect("night"));
                let jitter = |k: usize| TimeDelta::minutes(i64::try_from((ui * 7 + night * 3 + k) % 15).expect("small") - 7);
                let local_in = day.and_hms_opt(22, 0, 0).expect("time") + jitter(0);
                let local_out = (day + TimeDelta::days(1)).and_hms_opt(6, 0, 0).expect("time") + jitter(5);
                let utc = |local: NaiveDateTime| tz.from_local_datetime(&local).single().expect("unambiguous").naive_utc();
                for (local, state) in [(local_in, 0), (local_out, 1)] {
                    sample.punches.push(SamplePunch { device: user.device, user_id: user.user_id.clone(), local, utc: utc(local), state });
                }
                let synced = night + 2 < nights && !(ui == 0 && night == 1);
                sample.days.push(SampleDay {
                    device: user.device,
                    user_id: user.user_id.clone(),
                    date: day,
                    clock_in: utc(local_in),
                    clock_out: utc(local_out),
                    synced,
                    changed_after_sync: synced && ui == 1 && night == 2,
                });
            }
        }
        sample
    }

    /// The days the original did not deliver: (user, date).
    fn unsynced(&self) -> BTreeSet<(String, String)> {
        self.days.iter().filter(|d| !d.synced).map(|d| (d.user_id.clone(), d.date.to_string())).collect()
    }

    /// What each device holds, as the simulator serves it.
    fn device_data(&self, device: usize) -> DeviceData {
        let users = self
            .users
            .iter()
            .filter(|u| u.device == device)
            .enumerate()
            .map(|(i, u)| UserRecord {
                uid: u16::try_from(i + 1).expect("uid"),
                privilege: 0,
                password: String::new(),
                name: "Person".into(),
                card: 0,
                user_id: EmployeeId(u.user_id.clone()),
            })
            .collect();
        let mut attendance: Vec<AttendanceRecord> = self
            .punches
            .iter()
            .filter(|p| p.device == device)
            .map(|p| AttendanceRecord { uid: 0, user_id: EmployeeId(p.user_id.clone()), time: WallTime(p.local), verify: 1, state: p.state })
            .collect();
        attendance.sort_by_key(|r| r.time);
        DeviceData { users, attendance }
    }

    /// The original's tables (DDL written from its models) filled with the sample.
    fn sql(&self, backend: Backend, variant: Variant) -> String {
        let pg = backend == Backend::Postgres;
        let pk = if pg { "bigserial PRIMARY KEY" } else { "integer NOT NULL PRIMARY KEY AUTOINCREMENT" };
        let ts = if pg { "timestamp with time zone" } else { "datetime" };
        let boolean = if pg { "boolean" } else { "bool" };
        let ip = if pg { "inet" } else { "char(39)" };
        let b = |v: bool| if pg { v.to_string() } else { u8::from(v).to_string() };
        let t = |v: NaiveDateTime| if pg { format!("'{}+00'", v.format("%Y-%m-%d %H:%M:%S")) } else { format!("'{}'", v.format("%Y-%m-%d %H:%M:%S")) };
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let created = t(date(2025, 3, 1).and_hms_opt(0, 0, 0).expect("time"));
        let mut sql = String::new();
        let device_extra = if variant == Variant::Newest { format!(", secondary_ip_address {ip} NULL, timezone varchar(50) NOT NULL") } else { String::new() };
        sql.push_str(&format!(
            "CREATE TABLE core_device (id {pk}, name varchar(100) NOT NULL UNIQUE, ip_address {ip} NOT NULL, port integer NOT NULL, enabled {boolean} NOT NULL, last_sync {ts} NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL{device_extra});\n"
        ));
        let users_table = if variant == Variant::Newest { "core_deviceuser" } else { "core_user" };
        let full = if variant == Variant::Newest { ", full_name varchar(200) NOT NULL" } else { "" };
        sql.push_str(&format!(
            "CREATE TABLE {users_table} (id {pk}, user_id varchar(50) NOT NULL UNIQUE, name varchar(100) NOT NULL, privilege integer NOT NULL, password varchar(50) NOT NULL, group_id varchar(50) NOT NULL, card_no varchar(50) NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL, device_id bigint NOT NULL REFERENCES core_device (id){full});\n"
        ));
        sql.push_str(&format!(
            "CREATE TABLE core_rawattendance (id {pk}, user_id varchar(50) NOT NULL, \"timestamp\" {ts} NOT NULL, status integer NOT NULL, punch_state integer NOT NULL, verify_type integer NOT NULL, created_at {ts} NOT NULL, device_id bigint NOT NULL REFERENCES core_device (id), UNIQUE (device_id, user_id, \"timestamp\"));\n"
        ));
        let day_extra = if variant == Variant::Newest {
            format!(", is_late_arrival {boolean} NOT NULL, is_early_departure {boolean} NOT NULL, is_incomplete {boolean} NOT NULL, shift_date date NULL, shift_start_time time NULL, shift_end_time time NULL, earliest_punch {ts} NULL, latest_punch {ts} NULL, punch_count integer NOT NULL, notes text NOT NULL, UNIQUE (device_id, user_id, shift_date)")
        } else {
            ", UNIQUE (device_id, user_id, \"date\")".to_owned()
        };
        sql.push_str(&format!(
            "CREATE TABLE core_processedattendance (id {pk}, user_id varchar(50) NOT NULL, \"date\" date NULL, clock_in {ts} NULL, clock_out {ts} NULL, is_outlier {boolean} NOT NULL, outlier_reason text NOT NULL, synced_to_crm {boolean} NOT NULL, sync_attempts integer NOT NULL, last_sync_attempt {ts} NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL, device_id bigint NOT NULL REFERENCES core_device (id){day_extra});\n"
        ));
        if variant == Variant::Newest {
            sql.push_str(&format!(
                "CREATE TABLE core_outlierpunch (id {pk}, user_id varchar(50) NOT NULL, punch_datetime {ts} NOT NULL, reason text NOT NULL, associated_shift_date date NULL, reviewed {boolean} NOT NULL, notes text NOT NULL, created_at {ts} NOT NULL, device_id bigint NOT NULL REFERENCES core_device (id));\n"
            ));
        }
        for (i, d) in self.devices.iter().enumerate() {
            let extra = if variant == Variant::Newest { format!(", {}, {}", d.secondary.map_or("NULL".to_owned(), q), q(d.tz.name())) } else { String::new() };
            let columns = if variant == Variant::Newest { ", secondary_ip_address, timezone" } else { "" };
            sql.push_str(&format!(
                "INSERT INTO core_device (id, name, ip_address, port, enabled, last_sync, created_at, updated_at{columns}) VALUES ({}, {}, {}, {}, {}, {}, {created}, {created}{extra});\n",
                i + 1,
                q(d.name),
                q(d.ip),
                d.port,
                b(true),
                t(d.last_sync)
            ));
        }
        for u in &self.users {
            let (columns, extra) = if variant == Variant::Newest { (", full_name", format!(", {}", q(&u.full_name))) } else { ("", String::new()) };
            sql.push_str(&format!(
                "INSERT INTO {users_table} (user_id, name, privilege, password, group_id, card_no, created_at, updated_at, device_id{columns}) VALUES ({}, {}, 0, '', '', '', {created}, {created}, {}{extra});\n",
                q(&u.user_id),
                q(&u.name),
                u.device + 1
            ));
        }
        for chunk in self.punches.chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|p| format!("({}, {}, 1, {}, 1, {}, {})", q(&p.user_id), t(p.utc), p.state, t(p.utc + TimeDelta::minutes(5)), p.device + 1))
                .collect();
            sql.push_str(&format!("INSERT INTO core_rawattendance (user_id, \"timestamp\", status, punch_state, verify_type, created_at, device_id) VALUES {};\n", values.join(", ")));
        }
        for chunk in self.days.chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|d| {
                    let synced_at = d.clock_out + TimeDelta::hours(1);
                    let updated = if d.changed_after_sync { synced_at + TimeDelta::hours(5) } else { synced_at };
                    let last_attempt = if d.synced { t(synced_at) } else { "NULL".into() };
                    let common = format!(
                        "{}, {}, {}, {}, {}, '', {}, {}, {last_attempt}, {created}, {}, {}",
                        q(&d.user_id),
                        if variant == Variant::Legacy { q(&d.date.to_string()) } else { "NULL".into() },
                        if variant == Variant::Legacy { t(d.clock_in) } else { "NULL".into() },
                        if variant == Variant::Legacy { t(d.clock_out) } else { "NULL".into() },
                        b(false),
                        b(d.synced),
                        if d.synced { 1 } else { 3 },
                        t(updated),
                        d.device + 1
                    );
                    if variant == Variant::Newest {
                        format!("({common}, {}, {}, {}, {}, '22:00', '06:00', {}, {}, 2, '')", b(false), b(false), b(false), q(&d.date.to_string()), t(d.clock_in), t(d.clock_out))
                    } else {
                        format!("({common})")
                    }
                })
                .collect();
            let extra = if variant == Variant::Newest {
                ", is_late_arrival, is_early_departure, is_incomplete, shift_date, shift_start_time, shift_end_time, earliest_punch, latest_punch, punch_count, notes"
            } else {
                ""
            };
            sql.push_str(&format!(
                "INSERT INTO core_processedattendance (user_id, \"date\", clock_in, clock_out, is_outlier, outlier_reason, synced_to_crm, sync_attempts, last_sync_attempt, created_at, updated_at, device_id{extra}) VALUES {};\n",
                values.join(", ")
            ));
        }
        sql
    }
}

/// A source database of the original on `backend`: a SQLite file or a throwaway PostgreSQL database.
async fn source(backend: Backend, sample: &Sample, variant: Variant) -> TestDb {
    let db = TestDb::new(backend).await;
    if let attendance_bridge::config::DatabaseUrl::Sqlite(path) = &db.url {
        std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
    }
    TestDb::execute(&db, &sample.sql(backend, variant)).await;
    db
}

/// The real binary on the target database, with the site's overnight shift (as the original's
/// `.env` had it) and the mock CRM.
fn bridge(target: &TestDb, crm_url: &str) -> Command {
    let dir = target.dir.path().join("work");
    std::fs::create_dir_all(&dir).expect("work folder");
    let mut command = bridge_command(&dir);
    command
        .env("DATABASE_URL", target.database_url())
        .env("BRIDGE_DATA_DIR", bridge_e2e::plugins::data_dir(&target.dir.path().join("data")))
        .env("WORK_START_TIME", "22:00")
        .env("WORK_END_TIME", "06:00")
        .env("OVERNIGHT_SHIFT", "true")
        .env("CRM_API_URL", crm_url)
        .env("CRM_API_TOKEN", TOKEN)
        .env("CRM_RETRY_BASE_SECONDS", "0")
        .env("CRM_RETRY_MAX_SECONDS", "0");
    command
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn ok(output: Output) -> String {
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    out
}

fn import(target: &TestDb, from: &TestDb, extra: &[&str]) -> String {
    ok(bridge(target, "http://127.0.0.1:9/").args(["import-django", "--from", &from.database_url()]).args(extra).output().expect("import runs"))
}

/// The counts line of a table in the import's closing report: (read, imported, duplicates, refused).
fn counts(report: &str, table: &str) -> (usize, usize, usize, usize) {
    let line = report.lines().find(|l| l.split_whitespace().next() == Some(table)).unwrap_or_else(|| panic!("no {table} line in:\n{report}"));
    let n: Vec<usize> = line.split_whitespace().skip(1).map(|w| w.parse().expect("a count")).collect();
    (n[0], n[1], n[2], n[3])
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// Everything an import writes, as sorted text lines without row ids: two databases with equal
/// snapshots hold the same data.
async fn snapshot(store: &Store) -> Vec<String> {
    let queries = [
        "SELECT 'device ' || name || ' ' || COALESCE(address, '') || ' ' || COALESCE(secondary_address, '') || ' ' || COALESCE(time_zone, '') AS line FROM devices",
        "SELECT 'employee ' || employee_code || ' ' || COALESCE(name, '') AS line FROM employees",
        "SELECT 'punch ' || d.name || ' ' || p.device_user_id || ' ' || CAST(p.local_time AS TEXT) || ' ' || CAST(p.utc_time AS TEXT) AS line FROM raw_punches p JOIN devices d ON d.id = p.device_id",
        "SELECT 'day ' || user_id || ' ' || CAST(work_date AS TEXT) || ' ' || shift_code || ' ' || status || ' r' || CAST(revision AS TEXT) || ' ' || flags || ' ' || rule_plugin AS line FROM processed_attendance",
        "SELECT 'delivery ' || a.user_id || ' ' || CAST(a.work_date AS TEXT) || ' r' || CAST(o.revision AS TEXT) || ' ' || o.status AS line FROM crm_outbox o JOIN processed_attendance a ON a.id = o.attendance_id",
        "SELECT 'pending ' || employee_code || ' ' || CAST(work_date AS TEXT) AS line FROM pending_days",
    ];
    let mut lines = Vec::new();
    for sql in queries {
        let rows: Result<Vec<Row>, attendance_bridge::store::StoreError> =
            async { attendance_bridge::with_conn!(store, |conn| diesel::sql_query(sql).load(conn).await.map_err(attendance_bridge::store::StoreError::from)) }.await;
        let rows = rows.unwrap_or_else(|e| panic!("{sql}: {e}"));
        lines.extend(rows.into_iter().map(|r| r.line));
    }
    lines.sort();
    lines
}

async fn the_sample_is_imported_and_only_undelivered_days_reach_the_crm(backend: Backend) {
    let mut sample = Sample::generate([0, 0], 3, 6);
    let sims = [sim_holding(sample.device_data(0)).await, sim_holding(sample.device_data(1)).await];
    for (device, sim) in sample.devices.iter_mut().zip(&sims) {
        device.port = sim.address().port();
    }
    let from = source(backend, &sample, Variant::Newest).await;
    let target = TestDb::new(backend).await;

    let dry = import(&target, &from, &["--dry-run"]);
    assert!(dry.contains("dry run") && dry.contains("to import"), "{dry}");
    let store = target.store().await;
    assert_eq!(punches::count(&store).await.expect("count"), 0, "a dry run writes nothing");

    let report = import(&target, &from, &[]);
    println!("{report}");
    assert_eq!(counts(&report, "devices"), (2, 2, 0, 0));
    assert_eq!(counts(&report, "employees"), (6, 6, 0, 0));
    assert_eq!(counts(&report, "raw_punches"), (sample.punches.len(), sample.punches.len(), 0, 0));
    let delivered = sample.days.iter().filter(|d| d.synced).count();
    assert_eq!(counts(&report, "processed_attendance"), (sample.days.len(), delivered, 0, 0));
    assert!(report.contains("left to our rules"), "{report}");
    assert!(report.contains("changed by the original after their delivery"), "{report}");

    // Counts equal the source; names (full name preferred, accents kept), zones and failover kept.
    assert_eq!(punches::count(&store).await.expect("count"), i64::try_from(sample.punches.len()).expect("count"));
    let people = employees::list(&store).await.expect("employees");
    assert_eq!(people.len(), sample.users.len());
    let name_of = |code: &str| people.iter().find(|p| p.code.0 == code).and_then(|p| p.name.clone());
    assert_eq!(name_of("1001").as_deref(), Some("José Álvarez"));
    assert_eq!(name_of("1002").as_deref(), Some("Zoë Ndlovu"), "the device name when there is no full name");
    assert_eq!(name_of("1003").as_deref(), Some("Ngozi Okonkwo-Adébáyọ̀"));
    let registered = devices::list(&store).await.expect("devices");
    let gate = registered.iter().find(|d| d.name == "Nairobi Gate").expect("gate");
    let office = registered.iter().find(|d| d.name == "New York Office").expect("office");
    assert_eq!((gate.time_zone.as_deref(), gate.secondary_address.as_deref()), (Some("Africa/Nairobi"), Some("127.0.0.1")));
    assert_eq!(office.time_zone.as_deref(), Some("America/New_York"));
    // The device's wall times exactly, on both sides of the DST change.
    for (device, index) in [(gate, 0), (office, 1)] {
        let stored: BTreeSet<(String, NaiveDateTime, NaiveDateTime)> =
            punches::list_for_device(&store, device.id).await.expect("punches").into_iter().map(|p| (p.employee.0, p.local_time.0, p.utc_time)).collect();
        let expected: BTreeSet<(String, NaiveDateTime, NaiveDateTime)> =
            sample.punches.iter().filter(|p| p.device == index).map(|p| (p.user_id.clone(), p.local, p.utc)).collect();
        assert_eq!(stored, expected, "{}", device.name);
    }
    // The night across the DST change: in at about 22:00 EST (UTC-5), out at about 06:00 EDT (UTC-4).
    let office_punches = punches::list_for_device(&store, office.id).await.expect("punches");
    let offset = |day: NaiveDate, evening: bool| {
        let p = office_punches
            .iter()
            .find(|p| p.local_time.0.date() == day && (chrono::Timelike::hour(&p.local_time.0) >= 12) == evening)
            .expect("a punch");
        (p.utc_time - p.local_time.0).num_hours()
    };
    assert_eq!((offset(date(2025, 3, 8), true), offset(date(2025, 3, 9), false)), (5, 4));

    // The CRM receives exactly the days the original did not deliver.
    let crm = mock_crm(Faults::default()).await;
    ok(bridge(&target, &crm.url()).arg("process-attendance").output().expect("process"));
    ok(bridge(&target, &crm.url()).arg("sync-to-crm").output().expect("sync"));
    let sent: BTreeSet<(String, String)> = crm
        .records()
        .values()
        .map(|body| (body["user_id"].as_str().unwrap_or_default().to_owned(), body["date"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(sent, sample.unsynced(), "exactly the undelivered days are sent");
    assert_eq!(crm.stats().applied, u64::try_from(sample.unsynced().len()).expect("count"));
    let again = ok(bridge(&target, &crm.url()).arg("sync-to-crm").output().expect("sync"));
    assert_eq!(crm.stats().applied, u64::try_from(sample.unsynced().len()).expect("count"), "{again}");

    // A second import changes nothing.
    let before = snapshot(&store).await;
    let second = import(&target, &from, &[]);
    assert_eq!(counts(&second, "raw_punches"), (sample.punches.len(), 0, sample.punches.len(), 0));
    assert_eq!(counts(&second, "devices").1 + counts(&second, "employees").1 + counts(&second, "processed_attendance").1, 0, "{second}");
    assert_eq!(snapshot(&store).await, before, "a second import changes nothing");

    // Polling the devices, which hold the same log, stores nothing; the gate answers on its failover address.
    let results = poll::poll_all(&store, chrono_tz::UTC, "test", Duration::from_secs(3), None, PollOptions::default()).await.expect("poll");
    assert_eq!(results.len(), 2);
    for (device, outcome) in &results {
        let report = outcome.as_ref().unwrap_or_else(|e| panic!("{}: {e}", device.name));
        assert_eq!((report.downloaded, report.stored), (sample.punches.iter().filter(|p| sample.devices[p.device].name == device.name).count(), 0), "{}", device.name);
        if device.name == "Nairobi Gate" {
            let (which, at) = report.answered.clone().expect("answered");
            assert_eq!((which.to_string(), at), ("secondary".to_owned(), format!("127.0.0.1:{}", sims[0].address().port())));
        }
    }
    assert_eq!(punches::count(&store).await.expect("count"), i64::try_from(sample.punches.len()).expect("count"));
}

async fn sim_holding(data: DeviceData) -> SimulatedDevice {
    SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("simulator")
}

async fn a_legacy_only_schema_is_imported(backend: Backend) {
    let sample = Sample::generate([4370, 4370], 2, 4);
    let from = source(backend, &sample, Variant::Legacy).await;
    let target = TestDb::new(backend).await;
    let report = import(&target, &from, &[]);
    assert!(report.contains("legacy day columns"), "{report}");
    assert_eq!(counts(&report, "raw_punches"), (sample.punches.len(), sample.punches.len(), 0, 0));
    assert_eq!(counts(&report, "employees"), (4, 4, 0, 0));
    let store = target.store().await;
    let registered = devices::list(&store).await.expect("devices");
    assert!(registered.iter().all(|d| d.time_zone.as_deref() == Some("Africa/Nairobi") && d.secondary_address.is_none()), "the original's default zone");
    let days = attendance::for_employee(&store, &EmployeeId("1001".into())).await.expect("days");
    assert_eq!(days.len(), sample.days.iter().filter(|d| d.user_id == "1001" && d.synced).count());
    assert!(days.iter().all(|d| d.rule_plugin == "django-import" && d.is_final && d.revision == 1 && d.manual_override && d.clock_in_utc.is_some()));
    let people = employees::list(&store).await.expect("employees");
    assert_eq!(people.iter().find(|p| p.code.0 == "1001").and_then(|p| p.name.as_deref()), Some("JOSE ALV"), "no full name column: the name");
}

async fn a_sigkill_mid_import_then_a_rerun_gives_the_same_end_state(backend: Backend) {
    let sample = Sample::generate([4370, 4371], 20, 60);
    let from = source(backend, &sample, Variant::Newest).await;

    let killed = TestDb::new(backend).await;
    let mut child = bridge(&killed, "http://127.0.0.1:9/")
        .args(["import-django", "--from", &from.database_url(), "--chunk-size", "200"])
        .env("BRIDGE_IMPORT_PAUSE_AFTER_CHUNK", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("import starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let paused = line.contains("paused");
        seen.push(line);
        if paused {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("raw_punches: chunk 5 committed")), "{seen:?}");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reaped");
    assert!(!status.success());
    let store = killed.store().await;
    let partial = punches::count(&store).await.expect("count");
    assert_eq!(partial, 1000, "five chunks of 200 were committed, nothing of the sixth");

    let rerun = import(&killed, &from, &["--chunk-size", "200"]);
    assert_eq!(counts(&rerun, "raw_punches"), (sample.punches.len(), sample.punches.len() - 1000, 1000, 0));

    let clean = TestDb::new(backend).await;
    import(&clean, &from, &[]);
    let clean_store = clean.store().await;
    let (a, b) = (snapshot(&store).await, snapshot(&clean_store).await);
    assert_eq!(a.len(), b.len());
    assert!(a == b, "a killed and rerun import ends where an uninterrupted one does");
}

async fn a_source_that_is_not_the_original_is_refused(backend: Backend) {
    let other = TestDb::new(backend).await;
    if let attendance_bridge::config::DatabaseUrl::Sqlite(path) = &other.url {
        std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
    }
    TestDb::execute(&other, "CREATE TABLE customers (id integer PRIMARY KEY, name text); CREATE TABLE core_device (id integer PRIMARY KEY, name text)").await;
    let target = TestDb::new(backend).await;
    let output = bridge(&target, "http://127.0.0.1:9/").args(["import-django", "--from", &other.database_url()]).output().expect("runs");
    let out = text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(out.contains("not a database of the Django attendance bridge") && out.contains("core_rawattendance"), "{out}");

    // The bridge's own schema is not the original's either.
    let bridge_db = TestDb::new(backend).await;
    drop(bridge_db.store().await);
    let output = bridge(&target, "http://127.0.0.1:9/").args(["import-django", "--from", &bridge_db.database_url()]).output().expect("runs");
    assert!(!output.status.success() && text(&output).contains("core_device is missing"), "{}", text(&output));

    let missing = bridge(&target, "http://127.0.0.1:9/").args(["import-django", "--from", "sqlite:///nonexistent/db.sqlite3"]).output().expect("runs");
    assert!(!missing.status.success() && text(&missing).contains("no SQLite database"), "{}", text(&missing));
}

async fn reprocessing_synced_days_sends_only_real_differences(backend: Backend) {
    // One site zone for both devices: the shift template is read in the site's zone, so our rules
    // find the original's clock times (a recomputation with other times would be a real difference).
    let sample = Sample::generate_in([4370, 4371], 2, 5, [NAIROBI, NAIROBI]);
    let from = source(backend, &sample, Variant::Newest).await;
    let target = TestDb::new(backend).await;
    let report = import(&target, &from, &["--reprocess-synced"]);
    let delivered = sample.days.iter().filter(|d| d.synced).count();
    assert!(report.contains(&format!("{delivered} delivered day(s) handed back to the rules")), "{report}");
    let crm = mock_crm(Faults::default()).await;
    ok(bridge(&target, &crm.url()).env("TIME_ZONE", "Africa/Nairobi").arg("process-attendance").output().expect("process"));
    ok(bridge(&target, &crm.url()).env("TIME_ZONE", "Africa/Nairobi").arg("sync-to-crm").output().expect("sync"));
    let mut expected: BTreeMap<(String, String), i64> = sample.unsynced().into_iter().map(|d| (d, 1)).collect();
    // The one day the original changed after delivering it goes out again, as an amended revision.
    for d in sample.days.iter().filter(|d| d.changed_after_sync) {
        expected.insert((d.user_id.clone(), d.date.to_string()), 2);
    }
    let sent: BTreeMap<(String, String), i64> = crm
        .records()
        .values()
        .map(|body| ((body["user_id"].as_str().unwrap_or_default().to_owned(), body["date"].as_str().unwrap_or_default().to_owned()), body["revision"].as_i64().unwrap_or(0)))
        .collect();
    assert_eq!(sent, expected, "recomputed days with the times the CRM has are not sent again");
    let store = target.store().await;
    let changed = sample.days.iter().find(|d| d.changed_after_sync).expect("a changed day");
    let days = attendance::for_employee(&store, &EmployeeId(changed.user_id.clone())).await.expect("days");
    let day = days.iter().find(|d| d.work_date == changed.date).expect("the day");
    assert!(day.flags.contains("amended") && day.revision == 2, "{day:?}");
    let quiet = days.iter().find(|d| d.work_date == sample.days[0].date).expect("first day");
    assert_eq!(quiet.revision, 1, "{quiet:?}");
    // A second run changes nothing.
    let before = snapshot(&store).await;
    let second = import(&target, &from, &["--reprocess-synced"]);
    assert!(!second.contains("handed back"), "{second}");
    assert_eq!(snapshot(&store).await, before);
}

async fn a_poll_fails_over_to_the_secondary_address(backend: Backend) {
    let sample = Sample::generate([0, 0], 2, 2);
    let sim = sim_holding(sample.device_data(0)).await;
    let port = sim.address().port().to_string();
    let target = TestDb::new(backend).await;
    // Nothing listens on 127.0.0.3 at the simulator's port: the first address refuses.
    let added = ok(bridge(&target, "http://127.0.0.1:9/")
        .args(["devices", "add", "--name", "Gate", "--ip", "127.0.0.3", "--secondary-ip", "127.0.0.1", "--port", &port, "--time-zone", "Africa/Nairobi"])
        .output()
        .expect("add"));
    assert!(added.contains("failover 127.0.0.1"), "{added}");
    let polled = ok(bridge(&target, "http://127.0.0.1:9/").args(["poll-devices", "--timeout", "5"]).output().expect("poll"));
    assert!(polled.contains(&format!("answered on the secondary address 127.0.0.1:{port}")), "{polled}");
    assert!(polled.contains(&format!("{} new stored", sample.device_data(0).attendance.len())), "{polled}");
    let tested = ok(bridge(&target, "http://127.0.0.1:9/").args(["test-device", "--device-id", "1", "--timeout", "5"]).output().expect("test-device"));
    assert!(tested.contains(&format!("OK (answered on the secondary address 127.0.0.1:{port})")), "{tested}");
    let store = target.store().await;
    let device = &devices::list(&store).await.expect("devices")[0];
    assert_eq!(device.answered_address.as_deref(), Some(format!("127.0.0.1:{port}").as_str()));

    // Without a failover address the refusal is the error; `devices edit` removes and restores it.
    ok(bridge(&target, "http://127.0.0.1:9/").args(["devices", "edit", "Gate", "--secondary-ip", ""]).output().expect("edit"));
    let failed = bridge(&target, "http://127.0.0.1:9/").args(["poll-devices", "--timeout", "5"]).output().expect("poll");
    assert!(!failed.status.success(), "{}", text(&failed));
    let edited = ok(bridge(&target, "http://127.0.0.1:9/").args(["devices", "edit", "Gate", "--ip", "127.0.0.1"]).output().expect("edit"));
    assert!(edited.contains(&format!("127.0.0.1:{port}")), "{edited}");
    let direct = ok(bridge(&target, "http://127.0.0.1:9/").args(["poll-devices", "--timeout", "5"]).output().expect("poll"));
    assert!(direct.contains("answered on the primary address"), "{direct}");
}

/// A realistic import measured: 100,000 raw punches (50 people per device, 500 nights), then the
/// same import again. Run with `cargo test -p bridge-e2e --test suites -- --ignored --nocapture import_django::`
/// to print the figures (debug build of the binary).
async fn measure(backend: Backend) {
    let sample = Sample::generate([4370, 4371], 50, 500);
    let from = source(backend, &sample, Variant::Newest).await;
    let target = TestDb::new(backend).await;
    let started = std::time::Instant::now();
    let report = import(&target, &from, &[]);
    let first = started.elapsed();
    let started = std::time::Instant::now();
    let second = import(&target, &from, &[]);
    let rerun = started.elapsed();
    let summary = |r: &str| r.lines().skip_while(|l| !l.starts_with("table")).collect::<Vec<_>>().join("\n");
    println!("{backend:?}: first import {:.1} s, second {:.1} s\n{}\n--- second run ---\n{}", first.as_secs_f64(), rerun.as_secs_f64(), summary(&report), summary(&second));
    assert_eq!(counts(&report, "raw_punches").1, sample.punches.len());
    assert_eq!(counts(&second, "raw_punches").1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_a_100k_punch_import_on_sqlite() {
    measure(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_a_100k_punch_import_on_postgres() {
    measure(Backend::Postgres).await;
}
