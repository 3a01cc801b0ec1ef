//! `simulate-device` and `test-device`: a device to talk to, and a diagnosis of a real one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{NaiveDate, TimeDelta};
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::device::DeviceError;
use crate::pipeline::failover::{Answered, connect_either};
use crate::device::records::AttendanceLayout;
use crate::simulator::push::{PushConfig, PushTerminal, SimPunch};
use crate::simulator::{DeviceData, SimConfig, SimulatedDevice};
use crate::store::devices::{self, Transport};

#[derive(Debug, Args)]
pub(super) struct SimulateArgs {
    /// Address to serve the ZK protocol on (TCP and UDP); repeat for several devices
    #[arg(long, value_name = "ADDR", required_unless_present = "push")]
    listen: Vec<SocketAddr>,
    /// Act as a push (ADMS) terminal posting to this bridge URL instead
    #[arg(long, value_name = "URL", conflicts_with = "listen")]
    push: Option<String>,
    /// Communication key the device requires (0 = none)
    #[arg(long, default_value_t = 0)]
    comm_key: u32,
    /// Attendance record layout in bytes: 8, 16 or 40
    #[arg(long, default_value_t = 40, value_parser = record_size)]
    record_size: usize,
    /// Users to generate
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// Punches to generate (exactly this many)
    #[arg(long, default_value_t = 500)]
    punches: usize,
    /// Seed for generated data (each extra device adds 1)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Load users and punches from a JSON or CSV file instead of generating them
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Offset of the device clock from real time, in seconds (drift)
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    skew_seconds: i64,
    /// Serial number (push terminals; pulled devices get SIM<port>)
    #[arg(long)]
    serial: Option<String>,
    /// Add a live punch every N seconds while running
    #[arg(long, value_name = "SECONDS")]
    live_every: Option<u64>,
}

fn record_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (8 | 16 | 40)) => Ok(n),
        _ => Err("must be 8, 16 or 40".to_owned()),
    }
}

pub(super) async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let first_day = NaiveDate::from_ymd_opt(2025, 6, 2).context("date")?;
    let data_for = |index: u64| -> anyhow::Result<DeviceData> {
        match &args.from {
            Some(path) => DeviceData::load(path).map_err(anyhow::Error::msg),
            None => Ok(DeviceData::generate(args.users, args.punches, args.seed + index, first_day)),
        }
    };
    let stop = CancellationToken::new();
    if let Some(url) = &args.push {
        let data = data_for(0)?;
        let log = data.attendance.iter().map(|r| SimPunch { pin: r.user_id.0.clone(), time: r.time.0, state: r.state, verify: r.verify }).collect();
        let serial = args.serial.clone().unwrap_or_else(|| "SIMPUSH0001".to_owned());
        let terminal = PushTerminal::new(PushConfig { poll_every: Duration::from_secs(2), ..PushConfig::new(&serial, url) }, log);
        terminal.set_clock_skew(TimeDelta::seconds(args.skew_seconds));
        println!("push terminal {serial} posting {} punches to {url}", data.attendance.len());
        let running = tokio::spawn(terminal.clone().run(stop.clone()));
        live_loop(args.live_every, &stop, |i| terminal.punch(&data.users[i % data.users.len().max(1)].user_id.0, u8::try_from(i % 2).unwrap_or(0))).await;
        stop.cancel();
        let _ = running.await;
        return Ok(());
    }
    let layout = AttendanceLayout::from_size(args.record_size).context("--record-size must be 8, 16 or 40")?;
    let mut sims = Vec::new();
    for (index, address) in args.listen.iter().enumerate() {
        let data = data_for(index as u64)?;
        let config = SimConfig {
            comm_key: args.comm_key,
            layout,
            clock_skew: TimeDelta::seconds(args.skew_seconds),
            serial_number: format!("SIM{}", address.port()),
            ..SimConfig::default()
        };
        let (users, punches) = (data.users.len(), data.attendance.len());
        let sim = SimulatedDevice::start(*address, config, data).await.with_context(|| format!("cannot listen on {address}"))?;
        println!("simulated device on {} (TCP and UDP): {users} users, {punches} punches, {}-byte records", sim.address(), args.record_size);
        sims.push(sim);
    }
    live_loop(args.live_every, &stop, |i| {
        for sim in &sims {
            let data = sim.data();
            if let Some(user) = data.users.get(i % data.users.len().max(1)) {
                sim.punch(&user.user_id.0, u8::try_from(i % 2).unwrap_or(0));
            }
        }
    })
    .await;
    sims.iter().for_each(SimulatedDevice::stop);
    Ok(())
}

/// Runs until Ctrl-C / SIGTERM, calling `punch` every `every` seconds when set.
async fn live_loop(every: Option<u64>, stop: &CancellationToken, mut punch: impl FnMut(usize)) {
    let signal = super::serve::shutdown_signal();
    tokio::pin!(signal);
    let period = Duration::from_secs(every.unwrap_or(u64::MAX / 4).max(1));
    let mut ticker = tokio::time::interval(period);
    ticker.tick().await;
    let mut i = 0;
    loop {
        tokio::select! {
            () = &mut signal => break,
            () = stop.cancelled() => break,
            _ = ticker.tick() => {
                punch(i);
                i += 1;
            }
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct TestDeviceArgs {
    /// Device IP address or host name
    #[arg(long, required_unless_present_any = ["device_id", "all"])]
    ip: Option<String>,
    /// Port [default: ZKTECO_DEFAULT_PORT]
    #[arg(long)]
    port: Option<u16>,
    /// Communication key
    #[arg(long, default_value_t = 0)]
    comm_key: u32,
    /// Use UDP instead of TCP
    #[arg(long)]
    udp: bool,
    /// Test a registered device by id
    #[arg(long, conflicts_with_all = ["ip", "all"])]
    device_id: Option<i64>,
    /// Test every registered, enabled pulled device
    #[arg(long, conflicts_with = "ip")]
    all: bool,
    /// Seconds to wait for each step
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

pub(super) async fn test_device(config: &Config, args: TestDeviceArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut targets: Vec<Target> = Vec::new();
    if let Some(ip) = &args.ip {
        let port = args.port.unwrap_or(config.devices.default_port);
        targets.push(Target { name: format!("{ip}:{port}"), host: ip.clone(), secondary: None, port, comm_key: args.comm_key });
    } else {
        let store = super::open_store_for(config, super::Access::Read).await?;
        for device in devices::list(&store).await? {
            let wanted = match args.device_id {
                Some(id) => device.id.0 == id,
                None => device.enabled && device.transport == Transport::Pull,
            };
            if !wanted {
                continue;
            }
            let Some(address) = device.address.clone() else { continue };
            let port = u16::try_from(device.port).unwrap_or(config.devices.default_port);
            let comm_key = u32::try_from(device.comm_key).unwrap_or(0);
            targets.push(Target { name: device.name.clone(), host: address, secondary: device.secondary_address.clone(), port, comm_key });
        }
        if targets.is_empty() {
            bail!("no matching pulled device is registered (see `attendance-bridge devices list`)");
        }
    }
    let mut failures = 0;
    for target in targets {
        match check(&target, args.udp, timeout, config.time_zone.0).await {
            Ok((report, answered, address)) => println!("{}: OK (answered on the {answered} address {address})\n{report}", target.name),
            Err(e) => {
                failures += 1;
                let tried = match &target.secondary {
                    Some(secondary) => format!("{}:{} or {secondary}:{}", target.host, target.port, target.port),
                    None => format!("{}:{}", target.host, target.port),
                };
                println!("{}: FAILED: {}", target.name, diagnose(&e, &tried));
            }
        }
    }
    if failures > 0 {
        bail!("{failures} device(s) failed the test");
    }
    Ok(())
}

/// A device to test: its address, failover address and key.
struct Target {
    name: String,
    host: String,
    secondary: Option<String>,
    port: u16,
    comm_key: u32,
}

/// Connects (through the failover address when the first does not answer), reads the device's
/// information and clock; the drift is against the site's wall time, which is what the device
/// clock should show. Returns the report, which address answered, and where.
async fn check(target: &Target, udp: bool, timeout: Duration, site: chrono_tz::Tz) -> Result<(String, Answered, String), DeviceError> {
    let connected = connect_either(&target.host, target.secondary.as_deref(), target.port, target.comm_key, timeout, udp).await?;
    let mut client = connected.client;
    let info = client.device_info().await?;
    let device_time = client.time().await?;
    client.disconnect().await;
    let drift = device_time - chrono::Utc::now().with_timezone(&site).naive_local();
    let s = &info.sizes;
    let report = format!(
        "  serial number:  {}\n  model:          {} ({})\n  firmware:       {}\n  MAC:            {}\n  users:          {} of {}\n  fingerprints:   {} of {}\n  records:        {} of {}\n  clock:          {} (drift {:+} s against the site time)",
        info.serial_number,
        info.device_name,
        info.platform,
        info.firmware,
        info.mac,
        s.users,
        s.users_cap,
        s.fingers,
        s.fingers_cap,
        s.records,
        s.records_cap,
        device_time.format("%Y-%m-%d %H:%M:%S"),
        drift.num_seconds()
    );
    Ok((report, connected.answered, connected.address))
}

/// A sentence an operator can act on.
fn diagnose(error: &DeviceError, address: &str) -> String {
    match error {
        DeviceError::Unreachable(_) => format!("unreachable: nothing answers at {address}; check the IP, the port and that the device is on"),
        DeviceError::Timeout(t) => format!("timeout: no answer from {address} within {t:?}; the device may be busy, or the port filtered (try --udp)"),
        DeviceError::WrongCommKey => "wrong comm key: set the key configured on the device (Menu > Comm. > Comm Key)".to_owned(),
        DeviceError::CommKeyRequired => "the device requires a comm key: pass --comm-key".to_owned(),
        DeviceError::Closed => format!("{address} closed the connection: another program may hold the device, or it restarted"),
        other => format!("protocol error: {other}"),
    }
}
