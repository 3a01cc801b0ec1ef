//! `devices`: register and manage the time clocks.

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::config::Config;
use crate::domain::DeviceId;
use crate::store::Store;
use crate::store::devices::{self, Device, NewDevice};

#[derive(Debug, Subcommand)]
pub(super) enum DevicesCommand {
    /// Register a device polled over the ZK protocol
    Add {
        /// A unique name ("Main entrance")
        #[arg(long)]
        name: String,
        /// Host name or IP address of the device
        #[arg(long)]
        ip: String,
        /// Port [default: ZKTECO_DEFAULT_PORT]
        #[arg(long)]
        port: Option<u16>,
        /// Communication key set on the device
        #[arg(long, default_value_t = 0)]
        comm_key: u32,
        /// IANA time zone of the device's clock, when it differs from TIME_ZONE
        #[arg(long)]
        time_zone: Option<String>,
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
}

pub(super) async fn run(config: &Config, command: DevicesCommand) -> anyhow::Result<()> {
    let store = super::open_store(config).await?;
    match command {
        DevicesCommand::Add { name, ip, port, comm_key, time_zone } => {
            let name = name.trim().to_owned();
            if name.is_empty() || ip.trim().is_empty() {
                bail!("--name and --ip must not be empty");
            }
            if let Some(tz) = &time_zone {
                tz.parse::<chrono_tz::Tz>().map_err(|_| anyhow::anyhow!("--time-zone {tz:?} is not an IANA time zone"))?;
            }
            let port = port.unwrap_or(config.devices.default_port);
            let new = NewDevice { name, address: Some(ip.trim().to_owned()), port, comm_key, serial_number: None, time_zone };
            let device = devices::insert(&store, &new).await?;
            println!("added device {:?} (id {}) at {}:{}", device.name, device.id, ip.trim(), port);
        }
        DevicesCommand::List => {
            for device in devices::list(&store).await? {
                println!("{}", describe(&device));
            }
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
    let address = d.address.as_deref().map_or_else(|| "push".to_owned(), |a| format!("{a}:{}", d.port));
    let state = if d.enabled { "enabled" } else { "disabled" };
    let sync = d.last_sync_at.map_or_else(|| "never synced".to_owned(), |t| format!("last sync {} UTC", t.format("%Y-%m-%d %H:%M")));
    let error = d.last_error.as_deref().map(|e| format!("  last error: {e}")).unwrap_or_default();
    format!("{}\t{}\t{address}\t{state}\t{sync}{error}", d.id, d.name)
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
