//! `attendance-bridge backup --to FILE` while `serve` writes: every snapshot opens with Python's
//! sqlite3 and passes `PRAGMA integrity_check`; PostgreSQL gets the pg_dump command instead.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use attendance_bridge::store::devices::{self, NewDevice};
use bridge_e2e::{Backend, TestDb, bridge_command, spawn_serve};

/// (integrity_check result, punches in the copy) read by Python's sqlite3 module.
fn inspect(path: &std::path::Path) -> (String, i64) {
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nprint(c.execute('PRAGMA integrity_check').fetchone()[0])\nprint(c.execute('SELECT count(*) FROM raw_punches').fetchone()[0])";
    let out = Command::new(bridge_e2e::pyzk::python()).args(["-c", script]).arg(path).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    (lines.next().unwrap_or_default().to_owned(), lines.next().and_then(|l| l.parse().ok()).unwrap_or(-1))
}

#[tokio::test]
async fn backups_taken_while_serve_writes_are_consistent() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    devices::insert(&store, &NewDevice::push("Lobby", "BACKUP1", true)).await.expect("device");
    drop(store);
    let dir = db.dir.path().to_path_buf();
    let mut command = bridge_command(&dir);
    command.env("DATABASE_URL", db.database_url());
    let (mut server, address) = spawn_serve(command, "127.0.0.1:0");

    // A terminal uploading punches as fast as the server takes them.
    let stop = Arc::new(AtomicBool::new(false));
    let uploaded = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, uploaded) = (Arc::clone(&stop), Arc::clone(&uploaded));
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let url = format!("http://{address}/iclock/cdata?SN=BACKUP1&table=ATTLOG");
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let body: String = (0..50)
                    .map(|i| {
                        let minute = n * 50 + i;
                        format!("{}\t2025-06-{:02} {:02}:{:02}:00\t0\t1\t0\t0\t0\n", 1000 + minute % 40, 2 + minute / 1440 % 25, minute / 60 % 24, minute % 60)
                    })
                    .collect();
                let response = client.post(&url).body(body).send().await.expect("upload");
                assert_eq!(response.status(), 200);
                uploaded.fetch_add(50, Ordering::Relaxed);
                n += 1;
            }
        })
    };

    let mut last = 0;
    for round in 0..3 {
        while uploaded.load(Ordering::Relaxed) < (round + 1) * 200 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let file = dir.join(format!("backup-{round}.db"));
        let out = bridge_command(&dir).env("DATABASE_URL", db.database_url()).args(["backup", "--to"]).arg(&file).output().expect("backup");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(said.starts_with("backed up "), "{said}");
        let (integrity, punches) = inspect(&file);
        println!("backup {round}: integrity {integrity}, {punches} punches (uploaded so far {}); {}", uploaded.load(Ordering::Relaxed), said.trim());
        assert_eq!(integrity, "ok");
        assert!(punches >= last && punches > 0, "each snapshot holds what was committed before it");
        last = punches;

        let again = bridge_command(&dir).env("DATABASE_URL", db.database_url()).args(["backup", "--to"]).arg(&file).output().expect("backup");
        assert!(!again.status.success(), "an existing file is never overwritten");
        assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    let _ = server.kill();
    let _ = server.wait();
    assert!(std::fs::read_dir(&dir).expect("dir").all(|e| !e.expect("entry").file_name().to_string_lossy().ends_with(".partial")));
}

#[test]
fn postgres_gets_the_pg_dump_command() {
    let dir = tempfile::tempdir().expect("dir");
    let out = bridge_command(dir.path())
        .env("DATABASE_URL", "postgres://bridge:secret@127.0.0.1:5432/bridge")
        .args(["backup", "--to", "nightly.dump"])
        .output()
        .expect("backup");
    assert!(!out.status.success(), "no file was written: the exit says so");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "pg_dump --format=custom --file nightly.dump \"$DATABASE_URL\"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pg_restore") && !stderr.contains("secret"), "{stderr}");
}
