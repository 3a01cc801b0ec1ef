//! Crash safety of the bulk insert: `poll-devices` is SIGKILLed while it stores a first poll of
//! 100,000 punches; the next poll stores every punch exactly once, with its days marked.

use std::time::{Duration, Instant};

use attendance_bridge::config::DatabaseUrl;
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{pending, punches};
use bridge_e2e::{Backend, TestDb, bridge_command, on_both_backends};
use chrono::NaiveDate;

on_both_backends!(killed_mid_bulk_insert_then_each_punch_is_stored_once);

const PUNCHES: usize = 100_000;

/// Whether the child is inside its insert transaction right now, seen from outside: on PostgreSQL an
/// `INSERT INTO raw_punches` is running; on SQLite the write-ahead log has grown while no punch is
/// committed yet.
async fn inserting(db: &TestDb) -> bool {
    match &db.url {
        DatabaseUrl::Postgres(url) => {
            use diesel_async::AsyncConnection as _;
            #[derive(diesel::QueryableByName)]
            struct Running {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let mut conn = diesel_async::AsyncPgConnection::establish(url.as_str()).await.expect("connect");
            let query = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' \
                 AND query LIKE 'INSERT INTO raw_punches%'",
            );
            let rows: Vec<Running> = diesel_async::RunQueryDsl::load(query, &mut conn).await.expect("pg_stat_activity");
            rows.first().is_some_and(|r| r.n > 0)
        }
        DatabaseUrl::Sqlite(path) => {
            let wal = path.with_file_name("bridge.db-wal");
            std::fs::metadata(wal).is_ok_and(|m| m.len() > 1 << 20)
        }
    }
}

async fn killed_mid_bulk_insert_then_each_punch_is_stored_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let data = DeviceData::generate(500, PUNCHES, 7, NaiveDate::from_ymd_opt(2025, 2, 3).expect("date"));
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("simulator");
    devices::insert(&store, &NewDevice::pull("Crash", "127.0.0.1", sim.address().port(), 0)).await.expect("device");
    let dir = tempfile::tempdir().expect("tempdir");
    let poll = || {
        let mut c = bridge_command(dir.path());
        c.args(["poll-devices", "--timeout", "60"])
            .env("DATABASE_URL", db.database_url())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let _ = bridge_e2e::bridge_binary();

    let mut child = poll().spawn().expect("spawn poll-devices");
    let started = Instant::now();
    loop {
        if inserting(&db).await && punches::count(&store).await.expect("count") == 0 {
            break;
        }
        assert!(child.try_wait().expect("child status").is_none(), "poll-devices ended before it could be killed mid-insert");
        assert!(started.elapsed() < Duration::from_secs(120), "never saw the insert under way");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let at_kill = punches::count(&store).await.expect("count");
    assert!(at_kill < i64::try_from(PUNCHES).expect("count"), "killed before the insert committed: {at_kill} stored");

    // The killed instance's poll lease would hold the device for its ten minutes; let them pass.
    db.execute("UPDATE devices SET poll_lease_until = '2000-01-01 00:00:00'").await;
    let out = poll().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).output().expect("run poll-devices again");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the re-poll succeeds: {said}");
    let stored = punches::count(&store).await.expect("count");
    assert_eq!(stored, i64::try_from(PUNCHES).expect("count"), "each punch of the log stored exactly once: {said}");
    let again = poll().status().expect("poll once more");
    assert!(again.success());
    assert_eq!(punches::count(&store).await.expect("count"), stored, "a further poll stores nothing twice");
    assert!(pending::count(&store).await.expect("pending") > 0, "the stored punches' days wait for processing");
    println!("poll crash ({backend:?}): {at_kill} punches visible at the kill, {stored} after the re-poll in {:.1}s", started.elapsed().as_secs_f64());
}
