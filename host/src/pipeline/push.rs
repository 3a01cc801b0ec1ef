//! Ingestion from push terminals: what the `/iclock/…` endpoints do, without the HTTP.
//!
//! Punches enter the same raw store as pulled ones, with the same identity (device, employee, wall
//! time), so a terminal re-sending a batch, or a device switched between pull and push, never
//! duplicates anything. A batch is stored in one transaction and acknowledged only after it
//! committed: a bridge that dies mid-batch never answers `OK`, the terminal sends the batch again,
//! and the stored part is skipped as known.

use std::net::IpAddr;

use chrono::Utc;

use crate::config::{Config, UnknownDevices};
use crate::device::push::{self, LineError, LineErrors, Options, PushCommand, Stamp};
use crate::domain::{DeviceId, PunchWindow};
use crate::store::devices::{self, Device, StampTable, Transport};
use crate::store::punches::{self, NewPunch};
use crate::store::{Store, StoreError, device_commands, employees};

/// The most a device's `last_error` holds from one upload, bytes: enough for the first few line
/// errors, and never the size of a hostile body.
pub const MAX_LAST_ERROR_BYTES: usize = 1024;

/// Why a push request is refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Unknown serial while unknown devices are rejected.
    #[error("unknown device {0}")]
    UnknownDevice(String),
    /// The device is disabled by an admin.
    #[error("device {0} is disabled")]
    Disabled(String),
    /// An unknown serial while `PUSH_MAX_PENDING_DEVICES` terminals already await approval.
    #[error("unknown device {0}: too many terminals await approval")]
    TooManyPending(String),
    /// The serial belongs to a device the bridge polls (ZK protocol): it never pushes.
    #[error("device {0} is polled, not a push terminal")]
    NotPushDevice(String),
    /// The request came from outside the network the terminal is bound to.
    #[error("device {serial} does not push from {peer}")]
    WrongAddress {
        /// The serial asked for.
        serial: String,
        /// Where the request came from.
        peer: IpAddr,
    },
    /// The terminal has a secret and the request did not carry it.
    #[error("device {0}: missing or wrong push key")]
    BadKey(String),
    /// The database failed; the terminal will retry.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who is asking: the serial a request names, where it comes from, and the key it carries, if any.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The `SN` of the request.
    pub serial: &'a str,
    /// The source address (the TCP peer).
    pub peer: IpAddr,
    /// `pushcommkey`, when sent.
    pub key: Option<&'a str>,
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upload {
    /// Lines understood (stored now or already known).
    pub accepted: usize,
    /// Punches stored for the first time.
    pub stored: usize,
    /// Lines refused: the first few with their numbers and reasons, and how many in all.
    pub rejected: LineErrors,
}

/// The hex SHA-256 of a terminal's secret, as stored (`devices add --push --secret`).
pub fn hash_push_key(key: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// The push-side service, shared by the HTTP handlers.
#[derive(Debug, Clone)]
pub struct PushIngest {
    store: Store,
    site_tz: chrono_tz::Tz,
    unknown: UnknownDevices,
    poll_delay_s: u32,
    max_pending: u32,
    window: PunchWindow,
}

impl PushIngest {
    /// A service over `store` with the push settings of `config`.
    pub fn new(store: Store, config: &Config) -> Self {
        Self {
            store,
            site_tz: config.time_zone.0,
            unknown: config.push.unknown_devices,
            poll_delay_s: config.push.poll_delay_seconds,
            max_pending: config.push.max_pending_devices,
            window: config.devices.punch_window(),
        }
    }

    /// The device behind the caller's serial, registering an unknown one as pending unless unknown
    /// devices are rejected (or too many wait already), and checking that the request may speak for it:
    /// a push terminal, enabled, with its key if it has one, and, once approved, from its bound network.
    /// An approved terminal not bound yet is bound to this request's address (trust on first use).
    async fn device(&self, caller: &Caller<'_>) -> Result<Device, PushError> {
        let serial = caller.serial;
        let device = match self.unknown {
            UnknownDevices::Pending => devices::register_push_capped(&self.store, serial, self.max_pending)
                .await?
                .ok_or_else(|| PushError::TooManyPending(serial.to_owned()))?,
            UnknownDevices::Reject => {
                devices::find_by_serial(&self.store, serial).await?.ok_or_else(|| PushError::UnknownDevice(serial.to_owned()))?
            }
        };
        if device.transport != Transport::Push {
            return Err(PushError::NotPushDevice(serial.to_owned()));
        }
        if !device.enabled {
            return Err(PushError::Disabled(serial.to_owned()));
        }
        if device.push_secret_hash.as_ref().is_some_and(|expected| caller.key.map(hash_push_key).as_ref() != Some(expected)) {
            return Err(PushError::BadKey(serial.to_owned()));
        }
        if !device.approved {
            tracing::debug!(serial, "push device awaits approval; its data is kept, not processed");
            return Ok(device);
        }
        let bound = match &device.push_bound_network {
            Some(bound) => bound.clone(),
            None => {
                let network = ipnet::IpNet::from(caller.peer);
                if devices::bind_if_unbound(&self.store, device.id, network).await? {
                    tracing::info!(serial, peer = %caller.peer, "push terminal bound to the address of its first request");
                }
                let device = devices::get(&self.store, device.id).await?;
                return match device.push_bound_network.as_deref() {
                    Some(bound) if allows(bound, caller.peer) => Ok(device),
                    _ => Err(PushError::WrongAddress { serial: serial.to_owned(), peer: caller.peer }),
                };
            }
        };
        if allows(&bound, caller.peer) { Ok(device) } else { Err(PushError::WrongAddress { serial: serial.to_owned(), peer: caller.peer }) }
    }

    fn zone(&self, device: &Device) -> chrono_tz::Tz {
        device.zone(self.site_tz)
    }

    /// The handshake: the options block for the caller's serial.
    ///
    /// # Errors
    /// [`PushError`] when the device is refused or the database fails.
    pub async fn handshake(&self, caller: &Caller<'_>) -> Result<String, PushError> {
        let device = self.device(caller).await?;
        devices::record_push(&self.store, device.id, Some(caller.peer), None, None).await?;
        let offset = chrono::Offset::fix(&Utc::now().with_timezone(&self.zone(&device)).offset().clone());
        let options = Options {
            // Stored stamps are digits (see [`Stamp`]); one that is not is never repeated to the device.
            attlog_stamp: device.attlog_stamp.as_deref().and_then(Stamp::parse),
            operlog_stamp: device.operlog_stamp.as_deref().and_then(Stamp::parse),
            delay_s: self.poll_delay_s,
            utc_offset_min: offset.local_minus_utc() / 60,
        };
        Ok(options.render(caller.serial))
    }

    /// Stores an uploaded table. ATTLOG lines become raw punches (refused, each with its line, when the
    /// line is malformed or its time outside the punch window); user records (USERINFO, and USER lines
    /// in OPERLOG) become employee names; other tables are acknowledged and dropped.
    ///
    /// A terminal awaiting approval changes nothing real: its punches are kept without marking any day
    /// for processing (approval does that), and its user records are not used (its OPERLOG stamp is not
    /// kept either, so it sends them again once approved).
    ///
    /// # Errors
    /// [`PushError`]; nothing of the batch is stored then, and the terminal sends it again.
    pub async fn upload(&self, caller: &Caller<'_>, table: &str, stamp: Option<&Stamp>, body: &str) -> Result<Upload, PushError> {
        let device = self.device(caller).await?;
        let mut upload = Upload::default();
        let table = table.to_ascii_uppercase();
        let stamp_table = match table.as_str() {
            "ATTLOG" => {
                let (lines, mut rejected) = push::parse_attlog(body);
                let tz = self.zone(&device);
                let now = Utc::now();
                let punches: Vec<NewPunch> = lines
                    .iter()
                    .filter_map(|p| match self.window.check(p.time, tz, now) {
                        Ok(utc_time) => Some(NewPunch {
                            device_id: device.id,
                            employee: p.employee.clone(),
                            local_time: p.time,
                            utc_time,
                            status: 0,
                            punch_state: p.state,
                            verify_type: p.verify,
                            device_seq: None,
                        }),
                        Err(e) => {
                            rejected.push(LineError { line: p.line, reason: e.to_string() });
                            None
                        }
                    })
                    .collect();
                rejected.first.sort_by_key(|e| e.line);
                upload.stored = if device.approved {
                    punches::insert(&self.store, &punches).await?
                } else {
                    punches::insert_held(&self.store, &punches).await?
                };
                if device.approved {
                    crate::metrics::punches_stored(device.id, crate::metrics::PunchSource::Push, upload.stored);
                }
                upload.accepted = punches.len();
                upload.rejected = rejected;
                Some(StampTable::AttLog)
            }
            "USERINFO" | "OPERLOG" => {
                if device.approved {
                    let users = push::parse_users(body);
                    employees::upsert_names(&self.store, &users).await?;
                }
                upload.accepted = body.lines().filter(|l| !l.trim().is_empty()).count();
                (table == "OPERLOG" && device.approved).then_some(StampTable::OperLog)
            }
            _ => {
                upload.accepted = body.lines().filter(|l| !l.trim().is_empty()).count();
                None
            }
        };
        let error = (!upload.rejected.is_empty()).then(|| {
            let named = if table.len() <= 16 && table.bytes().all(|b| b.is_ascii_alphanumeric()) { table.clone() } else { push::shown(&table) };
            let message = format!("{named} upload rejected {} line(s): {}", upload.rejected.total, upload.rejected);
            push::truncate_bytes(&message, MAX_LAST_ERROR_BYTES).to_owned()
        });
        if let Some(error) = &error {
            tracing::warn!(serial = caller.serial, peer = %caller.peer, %error, "push upload had refused lines; the others were stored");
        }
        let stamp = stamp_table.zip(stamp.map(Stamp::as_str));
        devices::record_push(&self.store, device.id, Some(caller.peer), stamp, error.as_deref()).await?;
        Ok(upload)
    }

    /// The device's queued commands as `C:<id>:<command>` lines, now marked sent. A terminal awaiting
    /// approval gets none (and so consumes none).
    ///
    /// # Errors
    /// [`PushError`] when refused or the database fails.
    pub async fn poll_commands(&self, caller: &Caller<'_>) -> Result<Vec<String>, PushError> {
        let device = self.device(caller).await?;
        devices::record_push(&self.store, device.id, Some(caller.peer), None, None).await?;
        if !device.approved {
            return Ok(Vec::new());
        }
        let commands = device_commands::take_pending(&self.store, device.id).await?;
        Ok(commands.into_iter().map(|c| format!("C:{}:{}", c.id, c.command)).collect())
    }

    /// Records the results a device reports; returns how many matched a sent command (a result already
    /// recorded is never replaced).
    ///
    /// # Errors
    /// [`PushError`] when refused or the database fails.
    pub async fn command_results(&self, caller: &Caller<'_>, body: &str) -> Result<usize, PushError> {
        let device = self.device(caller).await?;
        let mut matched = 0;
        for result in push::parse_command_results(body).into_iter().take(100) {
            let name = push::printable(push::truncate_chars(&result.command, 64));
            let known = device_commands::record_result(&self.store, device.id, result.id, result.return_code, &name).await?;
            if known {
                matched += 1;
            } else {
                tracing::warn!(serial = caller.serial, id = result.id, "result for a command that was not sent to this device, or already answered");
            }
        }
        Ok(matched)
    }
}

/// Whether `peer` is inside the stored `network` (a CIDR; an address alone means just that address).
fn allows(network: &str, peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    network
        .parse::<ipnet::IpNet>()
        .or_else(|_| network.parse::<IpAddr>().map(ipnet::IpNet::from))
        .is_ok_and(|net| net.contains(&peer))
}

/// Queues `command` for a push device; returns the command id.
///
/// # Errors
/// When the database fails.
pub async fn queue_command(store: &Store, device: DeviceId, command: &PushCommand) -> Result<i64, StoreError> {
    device_commands::enqueue(store, device, &command.to_line()).await
}
