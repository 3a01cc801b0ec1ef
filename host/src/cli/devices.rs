//! `devices`: register and manage the time clocks.

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::config::Config;
use crate::domain::DeviceId;
use crate::store::Store;
use crate::device::push::PushCommand;
use crate::store::device_failover;
use crate::store::devices::{self, Device, NewDevice, Transport};

#[derive(Debug, Subcommand)]
pub(super) enum DevicesCommand {
    /// Register a device: polled over the ZK protocol (--ip), or a push terminal (--serial SN --push)
    Add {
        /// A unique name ("Main entrance")
        #[arg(long)]
        name: String,
        /// Host name or IP address of a polled device
        #[arg(long, required_unless_present = "push")]
        ip: Option<String>,
        /// Serial number (required for push terminals)
        #[arg(long, required_if_eq("push", "true"))]
        serial: Option<String>,
        /// The device pushes over HTTP (ADMS "Cloud Server" set to this bridge); registered approved
        #[arg(long, conflicts_with = "ip")]
        push: bool,
        /// Port [default: ZKTECO_DEFAULT_PORT]
        #[arg(long)]
        port: Option<u16>,
        /// Communication key set on the device
        #[arg(long, default_value_t = 0)]
        comm_key: u32,
        /// IANA time zone of the device's clock, when it differs from TIME_ZONE
        #[arg(long)]
        time_zone: Option<String>,
        /// A failover address of a polled device, tried when --ip does not answer
        #[arg(long, value_name = "HOST", requires = "ip")]
        secondary_ip: Option<String>,
        /// Keep a real-time connection open so punches are stored within seconds (polled devices;
        /// the periodic poll still runs as the safety net)
        #[arg(long, conflicts_with = "push")]
        live: bool,
        /// Address or network (CIDR) the push terminal must push from [default: the address of its
        /// first request]
        #[arg(long, value_name = "ADDR|CIDR", requires = "push")]
        bind: Option<String>,
        /// A secret the push terminal must send as `pushcommkey` on every request
        #[arg(long, requires = "push")]
        secret: Option<String>,
    },
    /// Change a polled device's address, failover address, port or time zone
    Edit {
        /// Device id or name
        device: String,
        /// New host name or IP address
        #[arg(long)]
        ip: Option<String>,
        /// New failover address, tried when the first does not answer ("" removes it)
        #[arg(long, value_name = "HOST")]
        secondary_ip: Option<String>,
        /// New port
        #[arg(long)]
        port: Option<u16>,
        /// New IANA time zone ("" falls back to TIME_ZONE)
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// Turn live mode on or off for a polled device (`serve` picks the change up within a minute)
    Live {
        /// Device id or name
        device: String,
        /// on or off
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
    /// List devices, one per line
    List,
    /// Resume polling a device (by id or name)
    Enable {
        /// Device id or name
        device: String,
    },
    /// Stop polling a device, keeping its history (by id or name)
    Disable {
        /// Device id or name
        device: String,
    },
    /// Delete a device that has no stored punches (by id or name)
    Remove {
        /// Device id or name
        device: String,
    },
    /// Approve a push terminal that registered itself (its kept data becomes processable); it is
    /// bound to the address it pushed from last (see `devices list`) unless --bind says otherwise
    Approve {
        /// Serial number
        serial: String,
        /// Its name from now on [default: "terminal <id>"]
        #[arg(long)]
        name: Option<String>,
        /// Address or network (CIDR) it must push from [default: its last request's address]
        #[arg(long, value_name = "ADDR|CIDR")]
        bind: Option<String>,
    },
    /// Bind a push terminal to another address or network (after it moved), or with no address,
    /// unbind it so its next request's address is taken
    Rebind {
        /// Serial number
        serial: String,
        /// Address or network (CIDR)
        #[arg(value_name = "ADDR|CIDR")]
        network: Option<String>,
    },
    /// Set a device's clock to the bridge's time in its zone: now for a polled device (prints the
    /// offset before and after), queued for a push terminal
    SetTime {
        /// Device id, name or serial number
        device: String,
        /// Seconds to wait for each device step
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Queue a command for a push terminal; it runs at the device's next poll
    Command {
        /// Device id, name or serial number
        device: String,
        #[command(subcommand)]
        command: PushCommandArg,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum PushCommandArg {
    /// Set the device clock to the bridge's time in the device's zone
    SetTime,
    /// Ask the device to upload its attendance for a date range again
    Resend {
        /// First day (YYYY-MM-DD)
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day (YYYY-MM-DD)
        #[arg(long)]
        to: chrono::NaiveDate,
    },
    /// Restart the device
    Reboot,
    /// Ask the device to report its information
    Info,
}

pub(super) async fn run(config: &Config, command: DevicesCommand) -> anyhow::Result<()> {
    let access = if matches!(command, DevicesCommand::List) { super::Access::Read } else { super::Access::Write };
    let store = super::open_store_for(config, access).await?;
    match command {
        DevicesCommand::Add { name, ip, serial, push, port, comm_key, time_zone, secondary_ip, live, bind, secret } => {
            let bind = bind.as_deref().map(parse_network).transpose()?;
            let name = name.trim().to_owned();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            if let Some(tz) = &time_zone {
                tz.parse::<chrono_tz::Tz>().map_err(|_| anyhow::anyhow!("--time-zone {tz:?} is not an IANA time zone"))?;
            }
            let serial = serial.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            let new = match (push, ip.as_deref().map(str::trim)) {
                (true, _) => {
                    let serial = serial.context("--push needs --serial")?;
                    NewDevice { time_zone, ..NewDevice::push(&name, &serial, true) }
                }
                (false, Some(ip)) if !ip.is_empty() => {
                    let port = port.unwrap_or(config.devices.default_port);
                    NewDevice { time_zone, serial_number: serial, ..NewDevice::pull(&name, ip, port, comm_key) }
                }
                _ => bail!("--ip must not be empty"),
            };
            let mut device = devices::insert(&store, &new).await?;
            if let Some(secondary) = secondary_ip.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                device_failover::set_secondary(&store, device.id, Some(secondary)).await?;
                device.secondary_address = Some(secondary.to_owned());
            }
            if live {
                devices::set_live_mode(&store, device.id, true).await?;
                device.live_mode = true;
            }
            if let Some(serial) = device.serial_number.clone().filter(|_| bind.is_some()) {
                device = devices::rebind(&store, &serial, bind).await?;
            }
            if let Some(secret) = secret.as_deref().map(str::trim) {
                if secret.len() < 8 {
                    bail!("--secret must be at least 8 characters");
                }
                devices::set_push_secret_hash(&store, device.id, Some(&crate::pipeline::push::hash_push_key(secret))).await?;
            }
            println!("added device {:?} (id {}): {}", device.name, device.id, describe(&device));
        }
        DevicesCommand::Edit { device, ip, secondary_ip, port, time_zone } => {
            let device = find(&store, &device).await?;
            if device.transport == Transport::Push {
                bail!("{:?} is a push terminal: it has no address to edit", device.name);
            }
            let ip = ip.map(|ip| ip.trim().to_owned());
            if ip.as_deref() == Some("") {
                bail!("--ip must not be empty");
            }
            let time_zone = time_zone.map(|tz| Some(tz.trim().to_owned()).filter(|tz| !tz.is_empty()));
            if let Some(Some(tz)) = &time_zone {
                tz.parse::<chrono_tz::Tz>().map_err(|_| anyhow::anyhow!("--time-zone {tz:?} is not an IANA time zone"))?;
            }
            let edit = device_failover::DeviceEdit {
                address: ip,
                secondary_address: secondary_ip.map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
                port,
                time_zone,
            };
            if edit == device_failover::DeviceEdit::default() {
                bail!("nothing to change: give --ip, --secondary-ip, --port or --time-zone");
            }
            device_failover::edit(&store, device.id, &edit).await?;
            let device = devices::get(&store, device.id).await?;
            println!("updated {:?}: {}", device.name, describe(&device));
        }
        DevicesCommand::Approve { serial, name, bind } => {
            let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
            let approval = devices::Approval { name, bind: bind.as_deref().map(parse_network).transpose()? };
            let device = devices::approve_with(&store, serial.trim(), &approval).await?;
            let binding = device.push_bound_network.as_deref().unwrap_or("the address of its next request");
            println!("approved {:?} (serial {}), bound to {binding}", device.name, serial.trim());
        }
        DevicesCommand::Rebind { serial, network } => {
            let network = network.as_deref().map(parse_network).transpose()?;
            let device = devices::rebind(&store, serial.trim(), network).await?;
            let binding = device.push_bound_network.as_deref().unwrap_or("the address of its next request");
            println!("{:?} (serial {}) bound to {binding}", device.name, serial.trim());
        }
        DevicesCommand::SetTime { device, timeout } => {
            let device = find_any(&store, &device).await?;
            if device.transport == Transport::Push {
                return queue(config, &store, &device, PushCommandArg::SetTime).await;
            }
            let (before, after) = crate::pipeline::poll::set_clock(&device, config.time_zone.0, std::time::Duration::from_secs(timeout.max(1)))
                .await
                .with_context(|| format!("setting the clock of {:?}", device.name))?;
            println!("{}: clock offset {before:+} s before, {after:+} s after", device.name);
        }
        DevicesCommand::Command { device, command } => {
            let device = find_any(&store, &device).await?;
            queue(config, &store, &device, command).await?;
        }
        DevicesCommand::List => {
            for device in devices::list(&store).await? {
                println!("{}", describe(&device));
            }
        }
        DevicesCommand::Live { device, mode } => {
            let device = find(&store, &device).await?;
            if device.transport == Transport::Push {
                bail!("{:?} is a push terminal: it sends punches as they happen already", device.name);
            }
            devices::set_live_mode(&store, device.id, mode == "on").await?;
            println!("live mode {mode} for {:?}", device.name);
        }
        DevicesCommand::Enable { device } => {
            let device = find(&store, &device).await?;
            devices::set_enabled(&store, device.id, true).await?;
            println!("enabled {:?}", device.name);
        }
        DevicesCommand::Disable { device } => {
            let device = find(&store, &device).await?;
            devices::set_enabled(&store, device.id, false).await?;
            println!("disabled {:?}", device.name);
        }
        DevicesCommand::Remove { device } => {
            let device = find(&store, &device).await?;
            devices::remove(&store, device.id).await?;
            println!("removed {:?}", device.name);
        }
    }
    Ok(())
}

/// `3  Main entrance  192.0.2.10:4370  enabled  last sync 2025-06-02 08:00 UTC`.
fn describe(d: &Device) -> String {
    let address = match (d.transport, d.address.as_deref()) {
        (Transport::Pull, Some(a)) => match d.secondary_address.as_deref() {
            Some(secondary) => format!("{a}:{} (failover {secondary})", d.port),
            None => format!("{a}:{}", d.port),
        },
        _ => format!("push serial {}", d.serial_number.as_deref().unwrap_or("?")),
    };
    let state = match (d.approved, d.enabled) {
        (false, _) => "pending approval",
        (true, true) => "enabled",
        (true, false) => "disabled",
    };
    let state = if d.wants_live() { format!("{state}, live") } else { state.to_owned() };
    let sync = d.last_sync_at.map_or_else(|| "never synced".to_owned(), |t| format!("last sync {} UTC", t.format("%Y-%m-%d %H:%M")));
    let push = match d.transport {
        Transport::Pull => String::new(),
        Transport::Push => format!(
            "\tbound {}\tlast from {}{}",
            d.push_bound_network.as_deref().unwrap_or("-"),
            d.last_push_peer.as_deref().unwrap_or("-"),
            if d.push_secret_hash.is_some() { "\tkey set" } else { "" }
        ),
    };
    let error = d.last_error.as_deref().map(|e| format!("  last error: {e}")).unwrap_or_default();
    // Shown when the last connection went through the failover address.
    let sync = match (d.answered_address.as_deref(), d.address.as_deref()) {
        (Some(answered), Some(primary)) if answered != format!("{primary}:{}", d.port) => format!("{sync}, answered on {answered}"),
        _ => sync,
    };
    format!("{}\t{}\t{address}\t{state}{push}\t{sync}{error}", d.id, d.name)
}

/// `ADDR` or `CIDR` as a network (an address alone is that one address).
fn parse_network(text: &str) -> anyhow::Result<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| anyhow::anyhow!("{text:?} is neither an IP address nor a CIDR network"))
}

/// Queues `command` for a push terminal.
async fn queue(config: &Config, store: &Store, device: &Device, command: PushCommandArg) -> anyhow::Result<()> {
    if device.transport != Transport::Push {
        bail!("{:?} is polled, not a push terminal; commands are queued for push terminals only", device.name);
    }
    let command = match command {
        PushCommandArg::SetTime => {
            let zone = device.zone(config.time_zone.0);
            PushCommand::SetTime(chrono::Utc::now().with_timezone(&zone).naive_local())
        }
        PushCommandArg::Resend { from, to } => PushCommand::Resend { from, to },
        PushCommandArg::Reboot => PushCommand::Reboot,
        PushCommandArg::Info => PushCommand::Info,
    };
    let id = crate::pipeline::push::queue_command(store, device.id, &command).await?;
    println!("queued command {id} for {:?}: {}", device.name, command.to_line());
    Ok(())
}

/// A device by serial number, id or exact name.
async fn find_any(store: &Store, key: &str) -> anyhow::Result<Device> {
    match devices::find_by_serial(store, key).await? {
        Some(found) => Ok(found),
        None => find(store, key).await,
    }
}

/// A device by id or exact name.
pub(super) async fn find(store: &Store, key: &str) -> anyhow::Result<Device> {
    if let Ok(id) = key.parse::<i64>() {
        return devices::get(store, DeviceId(id)).await.with_context(|| format!("no device with id {id}"));
    }
    devices::list(store)
        .await?
        .into_iter()
        .find(|d| d.name == key)
        .with_context(|| format!("no device named {key:?}; `attendance-bridge devices list` shows them"))
}
