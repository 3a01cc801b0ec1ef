//! Which commands may create the database: only those that change data. A command that only reads
//! (run from the wrong folder, or with a mistyped `DATABASE_URL`) says that there is no database
//! there instead of answering zeros from a new, empty one.

use bridge_e2e::bridge_command;

#[test]
fn read_only_commands_name_the_missing_database_and_create_nothing() {
    let read_only: &[&[&str]] = &[
        &["stats"],
        &["stats", "--json"],
        &["devices", "list"],
        &["jobs", "list"],
        &["shifts", "list"],
        &["holidays", "list"],
        &["roster", "show", "E1", "--from", "2026-12-01", "--to", "2026-12-31"],
        &["test-crm", "--stats"],
        &["test-device", "--all"],
    ];
    for args in read_only {
        let dir = tempfile::tempdir().expect("dir");
        let out = bridge_command(dir.path()).args(*args).output().expect("binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "`{}` fails without a database", args.join(" "));
        let expected = dir.path().canonicalize().expect("canonical").join("data").join("bridge.db");
        assert!(
            stderr.contains("no database at") && stderr.contains(&expected.display().to_string()),
            "`{}` names the missing database {}: {stderr}",
            args.join(" "),
            expected.display()
        );
        assert!(!dir.path().join("data").exists(), "`{}` created nothing", args.join(" "));
    }
}

#[test]
fn commands_that_change_data_still_create_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let out = bridge_command(dir.path()).args(["holidays", "add", "2026-12-25", "--name", "Christmas"]).output().expect("binary runs");
    assert!(out.status.success(), "holidays add works on a fresh folder: {}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("data").join("bridge.db").exists());
    let out = bridge_command(dir.path()).args(["holidays", "list"]).output().expect("binary runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2026-12-25"), "the read-only command reads the database now that it exists");
}
