//! Administration subcommands against the real binary, on both backends: devices, jobs, shifts,
//! roster and holidays. Each exits 0 on success and non-zero with a one-line reason on failure.

use std::process::Output;

use bridge_e2e::{Backend, TestDb, bridge_command};

bridge_e2e::on_both_backends!(stats_json, push_devices, devices_lifecycle, jobs_are_retimed_without_restart, shifts_roster_and_holidays);

struct Cli {
    db: TestDb,
}

impl Cli {
    /// A site as the README sets it up: the database is created by `migrate` before anything else
    /// (read-only commands refuse to create one).
    async fn new(backend: Backend) -> Cli {
        let cli = Cli { db: TestDb::new(backend).await };
        cli.ok(&["migrate"]);
        cli
    }

    fn run(&self, args: &[&str]) -> Output {
        bridge_command(self.db.dir.path()).args(args).env("DATABASE_URL", self.db.database_url()).output().expect("runs")
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects a failure with a one-line reason containing `needle`.
    fn fails(&self, args: &[&str], needle: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "one error line: {stderr}");
        assert!(errors[0].contains(needle), "{stderr:?} should contain {needle:?}");
        assert!(!stderr.contains("panicked"));
    }
}

async fn devices_lifecycle(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.ok(&["devices", "add", "--name", "Main entrance", "--ip", "127.0.0.1", "--port", "4370", "--comm-key", "123"]);
    cli.ok(&["devices", "add", "--name", "Back door", "--ip", "127.0.0.2", "--time-zone", "Europe/Berlin"]);
    cli.fails(&["devices", "add", "--name", "Main entrance", "--ip", "127.0.0.3"], "already exists");
    cli.fails(&["devices", "add", "--name", "X", "--ip", "127.0.0.3", "--time-zone", "Mars/Base"], "IANA");

    let listed = cli.ok(&["devices", "list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines.iter().any(|l| l.contains("Main entrance") && l.contains("127.0.0.1:4370") && l.contains("enabled")));

    cli.ok(&["devices", "disable", "Main entrance"]);
    assert!(cli.ok(&["devices", "list"]).lines().any(|l| l.contains("Main entrance") && l.contains("disabled")));
    cli.ok(&["devices", "enable", "Main entrance"]);
    cli.ok(&["devices", "remove", "Back door"]);
    cli.fails(&["devices", "remove", "Back door"], "no device named");
    assert_eq!(cli.ok(&["devices", "list"]).lines().count(), 1);
}

async fn jobs_are_retimed_without_restart(backend: Backend) {
    let cli = Cli::new(backend).await;
    let listed = cli.ok(&["jobs", "list"]);
    for job in ["poll_devices", "process_attendance", "sync_to_crm", "retry_failed_syncs", "daily_cleanup"] {
        assert!(listed.contains(job), "{job} in {listed}");
    }
    assert!(listed.lines().any(|l| l.starts_with("daily_cleanup") && l.contains("daily at 02:00")));
    cli.ok(&["jobs", "set-interval", "poll_devices", "60"]);
    cli.ok(&["jobs", "pause", "sync_to_crm"]);
    let listed = cli.ok(&["jobs", "list"]);
    assert!(listed.lines().any(|l| l.starts_with("poll_devices") && l.contains("every 60s")), "{listed}");
    assert!(listed.lines().any(|l| l.starts_with("sync_to_crm") && l.contains("paused")), "{listed}");
    cli.ok(&["jobs", "resume", "sync_to_crm"]);
    cli.fails(&["jobs", "pause", "no_such_job"], "not found");
}

async fn shifts_roster_and_holidays(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.ok(&["shifts", "add", "DAY", "--start", "09:00", "--end", "17:00", "--late-grace-min", "5"]);
    cli.ok(&["shifts", "add", "N22", "--start", "22:00", "--end", "06:00"]);
    cli.fails(&["shifts", "add", "BAD", "--start", "09:00", "--end", "09:00"], "differ");
    cli.fails(&["shifts", "add", "LONG", "--start", "04:00", "--end", "23:30"], "1440");
    let shifts = cli.ok(&["shifts", "list"]);
    assert!(shifts.contains("DAY\t09:00-17:00") && shifts.contains("N22\t22:00-06:00"), "{shifts}");

    cli.ok(&["roster", "weekly", "1001", "--shift", "DAY", "--days", "Mon,Tue,wed,thu,fri"]);
    cli.fails(&["roster", "weekly", "1001", "--shift", "DAY", "--days", "funday"], "not a weekday");
    cli.ok(&["roster", "set", "1001", "2025-06-07", "N22"]);
    cli.ok(&["roster", "set", "1001", "2025-06-09", "off"]);
    let shown = cli.ok(&["roster", "show", "1001", "--from", "2025-06-01", "--to", "2025-06-30"]);
    assert_eq!(shown, "2025-06-07\tN22\n2025-06-09\toff\n");
    cli.ok(&["roster", "clear", "1001", "2025-06-09"]);
    assert_eq!(cli.ok(&["roster", "show", "1001", "--from", "2025-06-01", "--to", "2025-06-30"]).lines().count(), 1);

    cli.ok(&["holidays", "add", "2025-12-25", "--name", "Christmas"]);
    assert_eq!(cli.ok(&["holidays", "list"]), "2025-12-25\tChristmas\n");
    cli.ok(&["holidays", "remove", "2025-12-25"]);
    cli.fails(&["holidays", "remove", "2025-12-25"], "not found");
}

async fn push_devices(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.ok(&["devices", "add", "--name", "Lobby", "--serial", "CQZ7232360", "--push"]);
    cli.fails(&["devices", "add", "--name", "Lobby 2", "--push"], "required arguments");
    cli.fails(&["devices", "add", "--name", "Lobby 3", "--serial", "CQZ7232360", "--push"], "already exists");
    assert!(cli.ok(&["devices", "list"]).lines().any(|l| l.contains("Lobby") && l.contains("push serial CQZ7232360") && l.contains("enabled")));

    // A terminal that registered itself is pending until approved.
    let store = cli.db.store().await;
    attendance_bridge::store::devices::find_or_register_push(&store, "UNKNOWN42").await.expect("register");
    assert!(cli.ok(&["devices", "list"]).lines().any(|l| l.contains("UNKNOWN42") && l.contains("pending approval")));
    cli.ok(&["devices", "approve", "UNKNOWN42"]);
    assert!(cli.ok(&["devices", "list"]).lines().any(|l| l.contains("UNKNOWN42") && l.contains("enabled")));
    cli.fails(&["devices", "approve", "NOPE"], "not found");

    let queued = cli.ok(&["devices", "command", "CQZ7232360", "set-time"]);
    assert!(queued.contains("SET OPTION DateTime="), "{queued}");
    cli.ok(&["devices", "command", "Lobby", "resend", "--from", "2025-06-01", "--to", "2025-06-03"]);
    cli.ok(&["devices", "add", "--name", "Pulled", "--ip", "127.0.0.1"]);
    cli.fails(&["devices", "command", "Pulled", "reboot"], "push terminals only");
}

async fn stats_json(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.ok(&["devices", "add", "--name", "Gate", "--ip", "127.0.0.1"]);
    let out = cli.ok(&["stats", "--json"]);
    assert_eq!(out.lines().count(), 1, "one JSON object: {out}");
    let stats: serde_json::Value = serde_json::from_str(&out).expect("json");
    for key in ["devices", "raw_punches", "employees", "processed_days", "outliers", "pending_days"] {
        assert!(stats[key].is_i64(), "{key} in {stats}");
    }
    assert_eq!(stats["devices"], 1);
    assert_eq!(stats["raw_punches"], 0);
}
