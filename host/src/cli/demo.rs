//! `demo`: the whole bridge in one process, on loopback only, with data an HR person recognises.
//!
//! Three simulated pulled devices (a day shift at the main entrance in live mode, a night shift
//! 20:00–05:00 at the night gate, an early shift in the warehouse whose device has a comm key and a
//! clock a few minutes fast), one push terminal in the lobby, the mock CRM and the server on SQLite
//! under the data folder. The roster fits the punches (each group has its shift template and weekly
//! pattern), so the days come out as a real site's do: mostly on time, a few late arrivals and
//! forgotten clock-outs, a handful of real outliers.
//!
//! History is generated per employee and date from a fixed seed, so a second run regenerates exactly
//! the punches the first one stored (the bridge keeps each once) and only adds the days in between.
//! Everything the demo needs to find again (first day, logins, session key) is in `demo.txt` in the
//! data folder, readable by its owner only.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike as _, Utc, Weekday};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng as _, RngCore as _, SeedableRng as _};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::auth;
use crate::config::{Config, EmailBackend, HttpUrl, Role as ServeRole};
use crate::device::records::{AttendanceLayout, AttendanceRecord, UserRecord};
use crate::domain::{EmployeeId, Role, WallTime};
use crate::pipeline;
use crate::simulator::crm::{Faults as CrmFaults, MockCrm};
use crate::simulator::push::{PushConfig, PushTerminal, SimPunch};
use crate::simulator::{DeviceData, SimConfig, SimulatedDevice};
use crate::store::device_failover::{self, DeviceEdit};
use crate::store::devices::{self, NewDevice};
use crate::store::jobs::{self, ScheduleChange};
use crate::store::rosters::{self, ShiftTemplate};
use crate::store::{self, Store, employees, users};

/// Weeks of history a fresh demo starts with.
const HISTORY_DAYS: i64 = 28;
/// Seconds between live punches (across all devices).
const LIVE_EVERY: Duration = Duration::from_secs(4);
/// Seconds between processing runs and CRM sync runs while the demo runs.
const JOB_EVERY_SECONDS: u32 = 30;
/// The push terminal's serial number.
const PUSH_SERIAL: &str = "DEMOPUSH1";
/// The mock CRM's token.
const CRM_TOKEN: &str = "demo-token";
/// The file of what a re-run needs (first day, logins, session key).
const STATE_FILE: &str = "demo.txt";

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Address of the dashboard (loopback only; port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Folder for the demo's SQLite database and state
    #[arg(long, value_name = "DIR", default_value = "data/demo")]
    data_dir: PathBuf,
    /// Start over: delete the demo's database and logins in the data folder first
    #[arg(long)]
    fresh: bool,
}

/// A shift the demo's people work, with the device they punch on.
struct Group {
    device: &'static str,
    shift: &'static str,
    shift_name: &'static str,
    start: (u32, u32),
    end: (u32, u32),
    days: &'static [Weekday],
    people: &'static [(&'static str, &'static str)],
    /// Lunch breaks punched on some days (day work only).
    breaks: bool,
}

impl Group {
    fn start(&self) -> NaiveTime {
        NaiveTime::from_hms_opt(self.start.0, self.start.1, 0).unwrap_or(NaiveTime::MIN)
    }

    fn end(&self) -> NaiveTime {
        NaiveTime::from_hms_opt(self.end.0, self.end.1, 0).unwrap_or(NaiveTime::MIN)
    }

    fn overnight(&self) -> bool {
        self.end() <= self.start()
    }

    fn day_names(&self) -> String {
        self.days.iter().map(|d| d.to_string().to_ascii_lowercase()).collect::<Vec<_>>().join(",")
    }

    /// Whether `now` (site wall time) falls in this shift's punching window on a rostered day.
    fn on_shift(&self, now: NaiveDateTime) -> bool {
        // An hour before the start (within the early clock-in window) to two after the end (within
        // the late clock-out window): the live punches of the people on shift, never an outlier.
        let (before, after) = (TimeDelta::hours(1), TimeDelta::hours(2));
        [now.date() - TimeDelta::days(1), now.date()].into_iter().any(|date| {
            let start = date.and_time(self.start());
            let end = if self.overnight() { (date + TimeDelta::days(1)).and_time(self.end()) } else { date.and_time(self.end()) };
            self.days.contains(&date.weekday()) && now >= start - before && now <= end + after
        })
    }
}

const WEEKDAYS: &[Weekday] = &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
const SIX_DAYS: &[Weekday] = &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat];

const GROUPS: [Group; 4] = [
    Group {
        device: "Main entrance",
        shift: "DAY",
        shift_name: "Day shift",
        start: (8, 0),
        end: (17, 0),
        days: WEEKDAYS,
        people: &[
            ("1001", "Amina Okafor"),
            ("1002", "Brian Mwangi"),
            ("1003", "Chen Wei"),
            ("1004", "Dalia Haddad"),
            ("1005", "Emeka Obi"),
            ("1006", "Fatuma Said"),
            ("1007", "Goran Petrovic"),
            ("1008", "Hana Novak"),
            ("1009", "Ivan Kowalski"),
            ("1010", "Joy Achieng"),
        ],
        breaks: true,
    },
    Group {
        device: "Night gate",
        shift: "NIGHT",
        shift_name: "Night shift",
        start: (20, 0),
        end: (5, 0),
        days: WEEKDAYS,
        people: &[
            ("2001", "Kofi Mensah"),
            ("2002", "Lena Fischer"),
            ("2003", "Musa Bello"),
            ("2004", "Nadia Rahman"),
            ("2005", "Oscar Lindqvist"),
            ("2006", "Priya Nair"),
        ],
        breaks: false,
    },
    Group {
        device: "Warehouse",
        shift: "EARLY",
        shift_name: "Early shift",
        start: (6, 0),
        end: (14, 0),
        days: SIX_DAYS,
        people: &[
            ("3001", "Quentin Moreau"),
            ("3002", "Rosa Alvarez"),
            ("3003", "Samuel Otieno"),
            ("3004", "Tamar Levi"),
            ("3005", "Umar Farouk"),
            ("3006", "Vera Ivanova"),
        ],
        breaks: false,
    },
    Group {
        device: "Lobby (push)",
        shift: "OFFICE",
        shift_name: "Office hours",
        start: (9, 0),
        end: (17, 30),
        days: WEEKDAYS,
        people: &[
            ("4001", "Wanjiru Kamau"),
            ("4002", "Xavier Dubois"),
            ("4003", "Yara Costa"),
            ("4004", "Zainab Yusuf"),
            ("4005", "Aleksander Nowak"),
        ],
        breaks: true,
    },
];

/// The warehouse device's clock runs this far ahead (a drift the devices page shows).
fn warehouse_skew() -> TimeDelta {
    TimeDelta::minutes(4) + TimeDelta::seconds(17)
}

/// The warehouse device's comm key.
const WAREHOUSE_COMM_KEY: u32 = 4321;

/// What a re-run needs from the first one.
#[derive(Debug, Clone)]
struct DemoState {
    first_day: NaiveDate,
    admin_password: String,
    viewer_password: String,
    secret_key: String,
}

impl DemoState {
    fn new(today: NaiveDate) -> Self {
        Self {
            first_day: today - TimeDelta::days(HISTORY_DAYS),
            admin_password: random_hex(9),
            viewer_password: random_hex(9),
            secret_key: random_hex(32),
        }
    }

    fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let values: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
        let get = |key: &str| values.get(key).map(|v| (*v).to_owned()).with_context(|| format!("{} has no {key}; start over with --fresh", path.display()));
        Ok(Some(Self {
            first_day: get("first_day")?.parse().with_context(|| format!("{}: first_day is not a date; start over with --fresh", path.display()))?,
            admin_password: get("admin_password")?,
            viewer_password: get("viewer_password")?,
            secret_key: get("secret_key")?,
        }))
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write as _;
        let text = format!(
            "# Attendance Bridge demo: what a re-run needs. Delete the folder (or run with --fresh) to start over.\nfirst_day={}\nadmin_password={}\nviewer_password={}\nsecret_key={}\n",
            self.first_day, self.admin_password, self.viewer_password, self.secret_key
        );
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600); // logins: readable by the owner only
        let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
        file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

pub(super) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!("the demo listens on loopback only (127.0.0.1:PORT), not {}", args.listen);
    }
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::path::absolute(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone());
    if args.fresh {
        start_over(&data_dir)?;
    }
    let state_path = data_dir.join(STATE_FILE);
    let today = Utc::now().date_naive();
    let state = match DemoState::load(&state_path)? {
        Some(state) => state,
        None => {
            let state = DemoState::new(today);
            state.save(&state_path)?;
            state
        }
    };

    // The mock CRM first: its address goes into the configuration.
    let crm_listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.context("starting the mock CRM")?;
    let crm = MockCrm::spawn(crm_listener, Some(CRM_TOKEN.to_owned()), CrmFaults::default())?;
    let config = demo_config(&data_dir, &state, &crm)?;

    let url = config.database();
    let store = Store::open(&url, config.database_pool_size).await?;
    store::run_migrations(&url).await?;

    // Devices: pulled ones on their own loopback addresses, the push terminal posting to the server.
    let now = Utc::now().naive_utc();
    let mut sims: HashMap<&'static str, SimulatedDevice> = HashMap::new();
    for (index, group) in GROUPS.iter().enumerate().take(3) {
        let history = history_for(group, state.first_day, now, skew_for(group));
        let config = SimConfig {
            comm_key: if group.device == "Warehouse" { WAREHOUSE_COMM_KEY } else { 0 },
            layout: AttendanceLayout::Tft40,
            clock_skew: skew_for(group),
            serial_number: format!("DEMO{:04}", index + 1),
            ..SimConfig::default()
        };
        let sim = start_device(index, config, history).await?;
        sims.insert(group.device, sim);
    }
    seed(&store, &sims).await?;
    ensure_logins(&store, &state).await?;

    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");

    let stop = CancellationToken::new();
    let server = {
        let stop = stop.clone();
        tokio::spawn(crate::serve(config.clone(), listener, stop.cancelled_owned()))
    };
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            super::serve::shutdown_signal().await;
            stop.cancel();
        })
    };

    let lobby = &GROUPS[3];
    let terminal_log: Vec<SimPunch> = history_for(lobby, state.first_day, now, TimeDelta::zero())
        .attendance
        .into_iter()
        .map(|r| SimPunch { pin: r.user_id.0, time: r.time.0, state: r.state, verify: r.verify })
        .collect();
    let terminal = PushTerminal::new(PushConfig { poll_every: Duration::from_secs(3), ..PushConfig::new(PUSH_SERIAL, &base) }, terminal_log);
    let terminal_task = tokio::spawn(terminal.clone().run(stop.clone()));

    wait_ready(&base, &stop).await?;
    if stop.is_cancelled() {
        return finish(server, signal, terminal_task, &sims).await;
    }
    // The terminal's history is in before the first processing run.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while terminal.state().acknowledged < terminal.state().log.len() && tokio::time::Instant::now() < deadline && !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("==> polling the devices, processing the punches into days and sending them to the CRM (once)");
    first_pass(&store, &config).await?;

    // From now on the scheduler keeps it going on short intervals.
    for job in [jobs::JobName::ProcessAttendance, jobs::JobName::SyncToCrm] {
        jobs::update_schedule(&store, job.as_str(), &ScheduleChange { interval_seconds: Some(JOB_EVERY_SECONDS), ..Default::default() }).await?;
    }
    let live = tokio::spawn(live_punches(sims.clone(), terminal.clone(), stop.clone()));

    let counts = store::stats::counts(&store).await?;
    print_banner(&base, &data_dir, &state, &crm, &counts);
    let result = finish(server, signal, terminal_task, &sims).await;
    live.abort();
    println!("demo stopped; the data stays in {} (run again to continue, --fresh to start over)", data_dir.display());
    result
}

/// Deletes what the demo wrote in `dir`, and nothing else (the folder may be one the user chose).
fn start_over(dir: &Path) -> anyhow::Result<()> {
    for name in ["bridge.db", "bridge.db-wal", "bridge.db-shm", "bridge.db.lock", STATE_FILE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}

/// The demo's own settings: nothing from the environment or a `.env` changes what it shows.
fn demo_config(data_dir: &Path, state: &DemoState, crm: &MockCrm) -> anyhow::Result<Config> {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        database_url: None,
        role: ServeRole::All,
        company_name: Some("Harbour Logistics (demo)".to_owned()),
        secret_key: Some(SecretString::from(state.secret_key.clone())),
        ..Config::default()
    };
    config.devices.polling_interval_minutes = 1;
    config.crm.api_url = Some(HttpUrl(url::Url::parse(&crm.url()).context("the mock CRM's address")?));
    config.crm.api_token = Some(SecretString::from(CRM_TOKEN.to_owned()));
    config.email.backend = EmailBackend::Disabled;
    config.email.outlier_notifications = false;
    Ok(config)
}

fn skew_for(group: &Group) -> TimeDelta {
    if group.device == "Warehouse" { warehouse_skew() } else { TimeDelta::zero() }
}

/// Starts a pulled device on 127.0.0.(2 + index), or on 127.0.0.1 where other loopback addresses
/// are not configured (macOS); a free port either way.
async fn start_device(index: usize, config: SimConfig, data: DeviceData) -> anyhow::Result<SimulatedDevice> {
    let own = Ipv4Addr::new(127, 0, 0, u8::try_from(index + 2).unwrap_or(2));
    match SimulatedDevice::start(SocketAddr::new(IpAddr::V4(own), 0), config.clone(), data.clone()).await {
        Ok(sim) => Ok(sim),
        Err(_) => SimulatedDevice::start(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0), config, data)
            .await
            .context("starting a simulated device on 127.0.0.1"),
    }
}

/// The punches of `group` from `first_day` up to `now` (device wall time, `skew` ahead of real time).
fn history_for(group: &Group, first_day: NaiveDate, now: NaiveDateTime, skew: TimeDelta) -> DeviceData {
    let users = group
        .people
        .iter()
        .enumerate()
        .map(|(i, (code, name))| UserRecord {
            uid: u16::try_from(i + 1).unwrap_or(u16::MAX),
            privilege: 0,
            password: String::new(),
            name: (*name).to_owned(),
            card: 0,
            user_id: EmployeeId((*code).to_owned()),
        })
        .collect::<Vec<_>>();
    let mut attendance = Vec::new();
    let mut date = first_day;
    while date <= now.date() {
        if group.days.contains(&date.weekday()) {
            for user in &users {
                for (time, state) in day_punches(group, &user.user_id.0, date) {
                    let time = time + skew;
                    if time <= now + skew {
                        attendance.push(AttendanceRecord { uid: user.uid, user_id: user.user_id.clone(), time: WallTime(time), verify: 1, state });
                    }
                }
            }
        }
        date += TimeDelta::days(1);
    }
    attendance.sort_by_key(|r| r.time);
    DeviceData { users, attendance }
}

/// One person's punches on one rostered date, the same on every run (seeded by person and date).
///
/// Most days are on time; about one in twenty is late, one in thirty leaves early, one in thirty
/// forgets to punch out, one in fifty is absent, and about one in seventy is a real outlier (arrives
/// hours late).
fn day_punches(group: &Group, code: &str, date: NaiveDate) -> Vec<(NaiveDateTime, u8)> {
    let person: u64 = code.parse().unwrap_or(0);
    let day = u64::try_from(date.num_days_from_ce()).unwrap_or(0);
    let mut rng = StdRng::seed_from_u64(0x00de_0000_0000 ^ (person << 24) ^ day);
    let start = date.and_time(group.start());
    let end = if group.overnight() { (date + TimeDelta::days(1)).and_time(group.end()) } else { date.and_time(group.end()) };
    let minutes = |rng: &mut StdRng, from: i64, to: i64| TimeDelta::seconds(rng.random_range(from * 60..to * 60));
    let roll: f64 = rng.random();
    if roll < 0.02 {
        return Vec::new(); // absent
    }
    let clock_in = if roll < 0.035 {
        start + minutes(&mut rng, 150, 200) // a real outlier: hours late
    } else if roll < 0.09 {
        start + minutes(&mut rng, 8, 40) // late
    } else {
        start - minutes(&mut rng, 2, 20)
    };
    let roll: f64 = rng.random();
    let clock_out = if roll < 0.033 {
        None // forgot to punch out
    } else if roll < 0.066 {
        Some(end - minutes(&mut rng, 15, 60)) // left early
    } else {
        Some(end + minutes(&mut rng, 0, 20))
    };
    let mut punches = vec![(clock_in, 0)];
    if rng.random_bool(0.03) {
        punches.push((clock_in + TimeDelta::seconds(rng.random_range(4..30)), 0)); // pressed twice
    }
    if group.breaks && rng.random_bool(0.4) {
        let lunch = date.and_hms_opt(12, 30, 0).unwrap_or(start) + minutes(&mut rng, -10, 10);
        punches.push((lunch, 2));
        punches.push((lunch + minutes(&mut rng, 25, 40), 3));
    }
    if let Some(out) = clock_out {
        punches.push((out, 1));
    }
    punches.into_iter().map(|(t, s)| (t.with_nanosecond(0).unwrap_or(t), s)).collect()
}

/// Registers shifts, the roster, names and devices on the first run; on later runs points the pulled
/// devices at this run's simulator ports.
async fn seed(store: &Store, sims: &HashMap<&'static str, SimulatedDevice>) -> anyhow::Result<()> {
    for group in &GROUPS {
        let template = ShiftTemplate {
            name: group.shift_name.to_owned(),
            late_grace_min: 5,
            early_grace_min: 5,
            ..ShiftTemplate::new(group.shift, group.start(), group.end())
        };
        rosters::save_template(store, &template).await?;
        let days = group.day_names();
        let mut names = Vec::new();
        for (code, name) in group.people {
            let code = EmployeeId((*code).to_owned());
            employees::set_pattern(store, &code, Some(group.shift), Some(group.shift), &days).await?;
            names.push((code, Some((*name).to_owned())));
        }
        employees::upsert_names(store, &names).await?;
    }
    let known = devices::list(store).await?;
    for group in GROUPS.iter().take(3) {
        let Some(sim) = sims.get(group.device) else { continue };
        let address = sim.address();
        match known.iter().find(|d| d.name == group.device) {
            Some(device) => {
                let edit = DeviceEdit { address: Some(address.ip().to_string()), port: Some(address.port()), ..DeviceEdit::default() };
                device_failover::edit(store, device.id, &edit).await?;
            }
            None => {
                let comm_key = if group.device == "Warehouse" { WAREHOUSE_COMM_KEY } else { 0 };
                let device = devices::insert(store, &NewDevice::pull(group.device, &address.ip().to_string(), address.port(), comm_key)).await?;
                if group.device == "Main entrance" {
                    devices::set_live_mode(store, device.id, true).await?;
                }
            }
        }
    }
    if !known.iter().any(|d| d.serial_number.as_deref() == Some(PUSH_SERIAL)) {
        devices::insert(store, &NewDevice::push(GROUPS[3].device, PUSH_SERIAL, true)).await?;
    }
    Ok(())
}

/// Creates the admin and the viewer on the first run (with the passwords of `demo.txt`).
async fn ensure_logins(store: &Store, state: &DemoState) -> anyhow::Result<()> {
    for (name, password, role) in [("admin", &state.admin_password, Role::Admin), ("viewer", &state.viewer_password, Role::Viewer)] {
        if users::find_by_username(store, name).await?.is_some() {
            continue;
        }
        let password = password.clone();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await.context("password hashing task failed")??;
        users::create_with_role(store, name, &hash, role).await?;
    }
    Ok(())
}

/// Polls every pulled device, processes every pending day and syncs once, as the jobs would (the
/// server's scheduler may be doing the same at this moment: leases make each piece of work run once).
async fn first_pass(store: &Store, config: &Config) -> anyhow::Result<()> {
    let options = pipeline::poll::PollOptions { since: None, correct_clock_above_s: None, window: config.devices.punch_window() };
    let instance = format!("demo:{}", std::process::id());
    for (device, outcome) in pipeline::poll::poll_all(store, config.time_zone.0, &instance, Duration::from_secs(30), None, options).await? {
        if let Err(e) = outcome {
            tracing::warn!(device = device.name, error = %e, "demo: first poll failed");
        }
    }
    let registry = pipeline::plugin_registry(config)?;
    pipeline::process::run_processing(store, &registry, config).await.map_err(|e| anyhow::anyhow!("processing: {e}"))?;
    if let Some(sender) = pipeline::crm_sync::configured_sender(store, &registry, config, &instance)? {
        // Several rounds: one run sends at most a batch.
        for _ in 0..50 {
            let run = sender.run_once(None).await?;
            if run.delivered == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// Waits until the server answers `/readyz` (or the demo is stopped).
async fn wait_ready(base: &str, stop: &CancellationToken) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the bridge did not become ready on {base} within a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A punch every few seconds by someone whose shift is on now, on the device they use: the main
/// entrance's arrive live, the others at the next poll, the lobby's through the push terminal.
async fn live_punches(sims: HashMap<&'static str, SimulatedDevice>, terminal: PushTerminal, stop: CancellationToken) {
    let mut rng = StdRng::from_os_rng();
    let mut punched: HashMap<String, u32> = HashMap::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(LIVE_EVERY) => {}
        }
        let now = Utc::now().naive_utc();
        let candidates: Vec<(&Group, &str)> = GROUPS
            .iter()
            .filter(|g| g.on_shift(now))
            .flat_map(|g| g.people.iter().map(move |(code, _)| (g, *code)))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let (group, code) = candidates[rng.random_range(0..candidates.len())];
        let count = punched.entry(code.to_owned()).or_default();
        let state = u8::from(*count % 2 == 1);
        *count += 1;
        match sims.get(group.device) {
            Some(sim) => {
                sim.punch(code, state);
            }
            None => terminal.punch(code, state),
        }
    }
}

async fn finish(
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    signal: tokio::task::JoinHandle<()>,
    terminal: tokio::task::JoinHandle<()>,
    sims: &HashMap<&'static str, SimulatedDevice>,
) -> anyhow::Result<()> {
    let served = server.await.context("the server task failed");
    signal.abort();
    let _ = terminal.await;
    for sim in sims.values() {
        sim.stop();
    }
    served?
}

fn print_banner(base: &str, data_dir: &Path, state: &DemoState, crm: &MockCrm, counts: &store::stats::Counts) {
    let addresses: Vec<String> = GROUPS
        .iter()
        .take(3)
        .map(|g| format!("{} ({} {}-{})", g.device, g.shift, g.start().format("%H:%M"), g.end().format("%H:%M")))
        .collect();
    println!(
        "
  Attendance Bridge demo is running
  ------------------------------------------------------------------------------------------
  Dashboard:  {base}/
  Admin:      admin / {admin}
  Viewer:     viewer / {viewer}
  ------------------------------------------------------------------------------------------
  Devices:    {devices}
              and the push terminal Lobby (push) ({serial}); a live punch every few seconds
  Stored:     {punches} punches of {employees} employees
  Processed:  {days_total} attendance days, {outliers} outliers, {synced} synced to the CRM
  Jobs:       poll every minute, process and sync every {every} s
  Mock CRM:   http://{crm}/_stats  (what it received; duplicates = 0)
  Data:       {data}  (logins in {state_file}; run again to continue, --fresh to start over)
  API:        {base}/api/docs
  Health:     {base}/readyz

  Press Ctrl-C to stop.",
        admin = state.admin_password,
        viewer = state.viewer_password,
        devices = addresses.join(", "),
        serial = PUSH_SERIAL,
        punches = counts.raw_punches,
        employees = counts.employees,
        days_total = counts.processed_days,
        outliers = counts.outliers,
        synced = counts.synced,
        every = JOB_EVERY_SECONDS,
        crm = crm.addr(),
        data = data_dir.display(),
        state_file = data_dir.join(STATE_FILE).display(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outliers_and_odd_days_are_a_handful() {
        let first = NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
        let now = first.and_hms_opt(0, 0, 0).expect("time") + TimeDelta::days(HISTORY_DAYS);
        let (mut days, mut hours_late, mut absent) = (0, 0, 0);
        for group in &GROUPS {
            let data = history_for(group, first, now, TimeDelta::zero());
            let mut date = first;
            while date < now.date() {
                if group.days.contains(&date.weekday()) {
                    for (code, _) in group.people {
                        days += 1;
                        let punches = day_punches(group, code, date);
                        match punches.first() {
                            None => absent += 1,
                            Some((t, _)) if *t > date.and_time(group.start()) + TimeDelta::hours(2) => hours_late += 1,
                            Some(_) => {}
                        }
                    }
                }
                date += TimeDelta::days(1);
            }
            assert!(!data.attendance.is_empty(), "{} has punches", group.device);
            assert!(data.attendance.windows(2).all(|w| w[0].time <= w[1].time), "in log order");
        }
        assert!(days > 500, "a few weeks for {} people: {days} days", GROUPS.iter().map(|g| g.people.len()).sum::<usize>());
        assert!(hours_late > 0 && hours_late * 100 < days * 4, "{hours_late} outliers in {days} days");
        assert!(absent * 100 < days * 5, "{absent} absences in {days} days");
    }

    #[test]
    fn history_is_the_same_on_every_run() {
        let group = &GROUPS[1];
        let date = NaiveDate::from_ymd_opt(2026, 3, 4).expect("date");
        assert_eq!(day_punches(group, "2001", date), day_punches(group, "2001", date));
        let punches = day_punches(group, "2003", date);
        if let Some((out, 1)) = punches.last() {
            assert_eq!(out.date(), date + TimeDelta::days(1), "a night shift ends the next morning");
        }
    }

    #[test]
    fn the_night_shift_is_on_after_midnight() {
        let night = &GROUPS[1];
        let thursday_3am = NaiveDate::from_ymd_opt(2026, 3, 5).and_then(|d| d.and_hms_opt(3, 0, 0)).expect("time");
        assert!(night.on_shift(thursday_3am));
        let thursday_noon = thursday_3am + TimeDelta::hours(9);
        assert!(!night.on_shift(thursday_noon));
        assert!(GROUPS[0].on_shift(thursday_noon));
    }
}
