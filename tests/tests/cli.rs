//! The real `attendance-bridge` binary: help, configuration errors, accounts, and `serve` on both backends.

use std::io::Write as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bridge_e2e::{Backend, TestDb, bridge_command};

fn run(command: &mut Command) -> Output {
    command.output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The subcommands a `--help` text lists under `Commands:` (clap's layout: two spaces, the name, then
/// its description), without clap's own `help`.
fn subcommands(help: &str) -> Vec<(String, String)> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let l = l.trim_start();
            let name = l.split_whitespace().next()?;
            Some((name.to_owned(), l[name.len()..].trim().to_owned()))
        })
        .filter(|(name, _)| name != "help")
        .collect()
}

/// Every subcommand `--help` lists, at every level, has a description and its own working `--help`;
/// the list is read from the binary, so a new subcommand is covered without touching this test.
#[test]
fn help_lists_every_subcommand_with_a_description() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(bridge_command(dir.path()).arg("--help"));
    assert!(out.status.success());
    let help = text(&out.stdout);
    let top = subcommands(&help);
    let names: Vec<String> = top.iter().map(|(name, _)| name.clone()).collect();
    // The ones the README walks through are there (so a broken parse cannot pass with an empty list).
    for command in ["serve", "migrate", "check-config", "create-user", "create-token", "poll-devices", "sync-to-crm", "devices"] {
        assert!(names.iter().any(|n| n == command), "{command} missing from --help:\n{help}");
    }
    let mut pending: Vec<(Vec<String>, String)> = top.into_iter().map(|(name, about)| (vec![name], about)).collect();
    let mut checked = 0;
    while let Some((path, about)) = pending.pop() {
        assert!(about.len() > 5, "`{}` has a description in its parent's --help: {about:?}", path.join(" "));
        let out = run(bridge_command(dir.path()).args(&path).arg("--help"));
        let own = text(&out.stdout);
        assert!(out.status.success(), "`{} --help` works: {}", path.join(" "), text(&out.stderr));
        // `Usage: attendance-bridge devices command <DEVICE> info [OPTIONS]`: the path, with arguments between.
        let usage = own.lines().find_map(|l| l.strip_prefix("Usage: attendance-bridge ")).unwrap_or_default();
        let mut words = usage.split_whitespace();
        assert!(path.iter().all(|name| words.any(|w| w == name)), "`{} --help` shows its usage:\n{own}", path.join(" "));
        for (name, about) in subcommands(&own) {
            let mut nested = path.clone();
            nested.push(name);
            pending.push((nested, about));
        }
        checked += 1;
    }
    println!("{checked} subcommands checked");
    assert!(checked >= names.len());
}

/// Each bad configuration stops the program with one line naming key, value and source.
#[test]
fn bad_configuration_is_one_clear_line() {
    struct Case {
        env: &'static [(&'static str, &'static str)],
        dotenv: Option<&'static str>,
        toml: Option<&'static str>,
        expect: &'static [&'static str],
    }
    let cases = [
        Case { env: &[("WORK_START_TIME", "8am")], dotenv: None, toml: None, expect: &["WORK_START_TIME", "8am", "environment variable"] },
        Case { env: &[("CRM_API_URL", "ftp://x")], dotenv: None, toml: None, expect: &["CRM_API_URL", "ftp://x", "environment variable"] },
        Case { env: &[], dotenv: Some("WORK_START_TIME=8am\n"), toml: None, expect: &["WORK_START_TIME", "8am", ".env file"] },
        Case { env: &[], dotenv: None, toml: Some("[crm]\napi_url = \"ftp://x\"\n"), expect: &["crm.api_url", "ftp://x", "bridge.toml"] },
        Case { env: &[], dotenv: None, toml: Some("[shift\nwork_start_time = 8\n"), expect: &["bridge.toml", "not valid TOML"] },
    ];
    for case in cases {
        let dir = tempfile::tempdir().expect("dir");
        if let Some(dotenv) = case.dotenv {
            std::fs::write(dir.path().join(".env"), dotenv).expect("write .env");
        }
        if let Some(toml) = case.toml {
            std::fs::write(dir.path().join("bridge.toml"), toml).expect("write toml");
        }
        let mut command = bridge_command(dir.path());
        command.arg("check-config").envs(case.env.iter().copied());
        let out = run(&mut command);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "exit code 2 (configuration) for {:?}: {stderr}", case.expect);
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: configuration: "), "the documented prefix: {stderr:?}");
        for needle in case.expect {
            assert!(stderr.contains(needle), "{stderr:?} should name {needle:?}");
        }
    }
}

#[test]
fn valid_configuration_checks_out() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join(".env"), "CRM_API_TOKEN=very-secret-token\nTIME_ZONE=Africa/Nairobi\n").expect("write");
    let out = run(bridge_command(dir.path()).arg("check-config"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains("Africa/Nairobi"));
    assert!(!all.contains("very-secret-token"), "secrets stay hidden");
}

#[test]
fn celery_broker_url_is_ignored_with_a_notice() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(bridge_command(dir.path()).arg("check-config").env("CELERY_BROKER_URL", "redis://localhost:6379/0"));
    assert!(out.status.success());
    let notices: Vec<String> =
        text(&out.stderr).lines().filter(|l| l.contains("CELERY_BROKER_URL")).map(str::to_owned).collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
}

/// A running `serve` child process, killed if a test fails.
struct Server {
    child: Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --listen 127.0.0.1:0` and reads the chosen address from its log.
fn start_server(dir: &std::path::Path, database_url: &str) -> Server {
    start_server_with(bridge_command(dir), database_url)
}

/// Starts `serve --listen 127.0.0.1:0` from a prepared command.
fn start_server_with(mut command: Command, database_url: &str) -> Server {
    command.env("DATABASE_URL", database_url);
    let (child, address) = bridge_e2e::spawn_serve(command, "127.0.0.1:0");
    Server { child, base_url: format!("http://{address}") }
}

fn create_account_and_token(dir: &std::path::Path, database_url: &str) -> String {
    let mut create = bridge_command(dir)
        .args(["create-user", "--username", "admin", "--password-stdin", "--superuser"])
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("create-user");
    create.stdin.take().expect("stdin").write_all(b"a long enough password\n").expect("write password");
    let out = create.wait_with_output().expect("create-user finishes");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = run(bridge_command(dir).args(["create-token", "--username", "admin"]).env("DATABASE_URL", database_url));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout.trim_end().lines().last().expect("token line").to_owned();
    assert!(token.starts_with("zkb_") && !token.contains(' '), "token alone on the last line: {token:?}");
    token
}

async fn serve_answers_ready(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_path_buf();
    let database_url = db.database_url();

    let out = run(bridge_command(&dir).arg("migrate").env("DATABASE_URL", &database_url));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = create_account_and_token(&dir, &database_url);

    let mut server = start_server(&dir, &database_url);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.get(format!("{}/readyz", server.base_url)).send().await {
            Ok(r) if r.status() == 200 => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("/readyz never answered 200: {other:?}"),
        }
    }
    let me = client.get(format!("{}/api/v1/me", server.base_url)).bearer_auth(&token).send().await.expect("me");
    assert_eq!(me.status(), 200);

    // SIGTERM ends the server cleanly.
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "clean exit: {exit:?}");
}

#[tokio::test]
async fn serve_answers_ready_on_sqlite() {
    serve_answers_ready(Backend::Sqlite).await;
}

#[tokio::test]
async fn serve_answers_ready_on_postgres() {
    serve_answers_ready(Backend::Postgres).await;
}

#[test]
fn sqlite_is_the_default_and_lives_in_the_data_folder() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(bridge_command(dir.path()).arg("migrate"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("data").join("bridge.db").exists());
}

/// The shipped examples document every key and must themselves be valid.
#[test]
fn shipped_example_files_are_valid() {
    let root = bridge_e2e::workspace_root();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(root.join(".env.example"), dir.path().join(".env")).expect("copy .env.example");
    std::fs::copy(root.join("bridge.example.toml"), dir.path().join("bridge.toml")).expect("copy toml");
    let out = run(bridge_command(dir.path()).arg("check-config"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let documented = std::fs::read_to_string(root.join(".env.example")).expect("read") +
        &std::fs::read_to_string(root.join("bridge.example.toml")).expect("read");
    for (name, _) in attendance_bridge::config::sources::ENV_KEYS {
        assert!(documented.contains(name), "{name} is documented in the example files");
    }
}

#[tokio::test]
async fn a_second_server_on_one_sqlite_file_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = db.dir.path().to_path_buf();
    let _first = start_server(&dir, &db.database_url());
    let second = run(bridge_command(&dir).args(["serve", "--listen", "127.0.0.1:0"]).env("DATABASE_URL", db.database_url()));
    assert!(!second.status.success());
    let stderr = text(&second.stderr);
    assert!(stderr.contains("another attendance-bridge instance is already serving"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

bridge_e2e::on_both_backends!(a_worker_answers_only_the_probes);

async fn a_worker_answers_only_the_probes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_path_buf();
    let mut command = bridge_command(&dir);
    command.env("BRIDGE_ROLE", "worker");
    let server = start_server_with(command, &db.database_url());
    let ready = reqwest::get(format!("{}/readyz", server.base_url)).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let api = reqwest::get(format!("{}/api/v1/me", server.base_url)).await.expect("api");
    assert_eq!(api.status(), 404, "the API is served by web processes only");
}
