//! Ingestion from push terminals: what the `/iclock/…` endpoints do, without the HTTP.
//!
//! Punches enter the same raw store as pulled ones, with the same identity (device, employee, wall
//! time), so a terminal re-sending a batch, or a device switched between pull and push, never
//! duplicates anything. A batch is stored in one transaction and acknowledged only after it
//! committed: a bridge that dies mid-batch never answers `OK`, the terminal sends the batch again,
//! and the stored part is skipped as known.

use chrono::Utc;

use crate::config::{Config, UnknownDevices};
use crate::device::push::{self, Options, PushCommand};
use crate::domain::DeviceId;
use crate::store::devices::{self, Device, StampTable};
use crate::store::punches::{self, NewPunch};
use crate::store::{Store, StoreError, device_commands, employees};

/// Why a push request is refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Unknown serial while unknown devices are rejected.
    #[error("unknown device {0}")]
    UnknownDevice(String),
    /// The device is disabled by an admin.
    #[error("device {0} is disabled")]
    Disabled(String),
    /// The database failed; the terminal will retry.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upload {
    /// Lines understood (stored now or already known).
    pub accepted: usize,
    /// Punches stored for the first time.
    pub stored: usize,
    /// Lines refused, each with its number and reason.
    pub rejected: Vec<push::LineError>,
}

/// The push-side service, shared by the HTTP handlers.
#[derive(Debug, Clone)]
pub struct PushIngest {
    store: Store,
    site_tz: chrono_tz::Tz,
    unknown: UnknownDevices,
    poll_delay_s: u32,
}

impl PushIngest {
    /// A service over `store` with the push settings of `config`.
    pub fn new(store: Store, config: &Config) -> Self {
        Self { store, site_tz: config.time_zone.0, unknown: config.push.unknown_devices, poll_delay_s: config.push.poll_delay_seconds }
    }

    /// The device behind `serial`, registering an unknown one as pending unless unknown devices are rejected.
    async fn device(&self, serial: &str) -> Result<Device, PushError> {
        let device = match self.unknown {
            UnknownDevices::Pending => devices::find_or_register_push(&self.store, serial).await?,
            UnknownDevices::Reject => {
                devices::find_by_serial(&self.store, serial).await?.ok_or_else(|| PushError::UnknownDevice(serial.to_owned()))?
            }
        };
        if !device.enabled {
            return Err(PushError::Disabled(serial.to_owned()));
        }
        if !device.approved {
            tracing::debug!(serial, "push device awaits approval; its data is kept, not processed");
        }
        Ok(device)
    }

    fn zone(&self, device: &Device) -> chrono_tz::Tz {
        device.zone(self.site_tz)
    }

    /// The handshake: the options block for `serial`.
    ///
    /// # Errors
    /// [`PushError`] when the device is refused or the database fails.
    pub async fn handshake(&self, serial: &str) -> Result<String, PushError> {
        let device = self.device(serial).await?;
        devices::record_push(&self.store, device.id, None, None).await?;
        let offset = chrono::Offset::fix(&Utc::now().with_timezone(&self.zone(&device)).offset().clone());
        let options = Options {
            attlog_stamp: device.attlog_stamp,
            operlog_stamp: device.operlog_stamp,
            delay_s: self.poll_delay_s,
            utc_offset_min: offset.local_minus_utc() / 60,
        };
        Ok(options.render(serial))
    }

    /// Stores an uploaded table. ATTLOG lines become raw punches; user records (USERINFO, and USER lines
    /// in OPERLOG) become employee names; other tables are acknowledged and dropped.
    ///
    /// # Errors
    /// [`PushError`]; nothing of the batch is stored then, and the terminal sends it again.
    pub async fn upload(&self, serial: &str, table: &str, stamp: Option<&str>, body: &str) -> Result<Upload, PushError> {
        let device = self.device(serial).await?;
        let mut upload = Upload::default();
        let stamp_table = match table.to_ascii_uppercase().as_str() {
            "ATTLOG" => {
                let (lines, rejected) = push::parse_attlog(body);
                let tz = self.zone(&device);
                let punches: Vec<NewPunch> = lines
                    .iter()
                    .map(|p| NewPunch {
                        device_id: device.id,
                        employee: p.employee.clone(),
                        local_time: p.time,
                        utc_time: p.time.resolve(tz).0,
                        status: 0,
                        punch_state: p.state,
                        verify_type: p.verify,
                        device_seq: None,
                    })
                    .collect();
                upload.stored = punches::insert(&self.store, &punches).await?;
                upload.accepted = punches.len();
                upload.rejected = rejected;
                Some(StampTable::AttLog)
            }
            "USERINFO" | "OPERLOG" => {
                let users = push::parse_users(body);
                employees::upsert_names(&self.store, &users).await?;
                upload.accepted = body.lines().filter(|l| !l.trim().is_empty()).count();
                (table.eq_ignore_ascii_case("OPERLOG")).then_some(StampTable::OperLog)
            }
            _ => {
                upload.accepted = body.lines().filter(|l| !l.trim().is_empty()).count();
                None
            }
        };
        let error = (!upload.rejected.is_empty()).then(|| {
            let lines: Vec<String> = upload.rejected.iter().map(ToString::to_string).collect();
            format!("{table} upload rejected {}", lines.join("; "))
        });
        if let Some(error) = &error {
            tracing::warn!(serial, %error, "push upload had malformed lines; the others were stored");
        }
        let stamp = stamp_table.zip(stamp.filter(|s| !s.is_empty()));
        devices::record_push(&self.store, device.id, stamp, error.as_deref()).await?;
        Ok(upload)
    }

    /// The device's queued commands as `C:<id>:<command>` lines, now marked sent.
    ///
    /// # Errors
    /// [`PushError`] when refused or the database fails.
    pub async fn poll_commands(&self, serial: &str) -> Result<Vec<String>, PushError> {
        let device = self.device(serial).await?;
        devices::record_push(&self.store, device.id, None, None).await?;
        let commands = device_commands::take_pending(&self.store, device.id).await?;
        Ok(commands.into_iter().map(|c| format!("C:{}:{}", c.id, c.command)).collect())
    }

    /// Records the results a device reports; returns how many matched a sent command.
    ///
    /// # Errors
    /// [`PushError`] when refused or the database fails.
    pub async fn command_results(&self, serial: &str, body: &str) -> Result<usize, PushError> {
        let device = self.device(serial).await?;
        let mut matched = 0;
        for result in push::parse_command_results(body) {
            let known = device_commands::record_result(&self.store, device.id, result.id, result.return_code, &result.command).await?;
            if known {
                matched += 1;
            } else {
                tracing::warn!(serial, id = result.id, "result for a command that was not sent to this device");
            }
        }
        Ok(matched)
    }
}

/// Queues `command` for a push device; returns the command id.
///
/// # Errors
/// When the database fails.
pub async fn queue_command(store: &Store, device: DeviceId, command: &PushCommand) -> Result<i64, StoreError> {
    device_commands::enqueue(store, device, &command.to_line()).await
}
