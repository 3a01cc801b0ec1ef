//! Live mode: for each device with live mode on, one real-time connection kept open so its punches
//! are stored within seconds of being made.
//!
//! One instance holds a device's live connection at a time, under a lease renewed while the
//! connection is open (a crashed instance's devices are picked up by another once it expires). A
//! connection that breaks — the device restarted, the network dropped, the device went silent and
//! missed a heartbeat — is opened again after a pause that grows from one second to a minute.
//!
//! Live punches go through the same idempotent insert as polled ones, and the periodic poll keeps
//! running as the safety net: it never stores a live punch twice, and whatever happened while the
//! connection was down is in the device's log for that poll. A live punch the database refuses is
//! not lost either, for the same reason.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::poll::{self, PollError};
use crate::config::Config;
use crate::domain::DeviceId;
use crate::store::devices::{self, Device, Lease};
use crate::store::{Store, StoreError, punches};

/// How live mode paces itself. The defaults suit production; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// How often the device list is read for devices whose live mode was switched on.
    pub rescan: Duration,
    /// Silence after which the device is asked for its clock, to prove the connection is alive.
    pub heartbeat: Duration,
    /// How long a live lease lasts; renewed every third of it, which is also how soon live mode
    /// switched off (or a disabled device) closes the connection.
    pub lease: TimeDelta,
    /// Longest pause between reconnection attempts.
    pub max_backoff: Duration,
    /// Bound on each network step.
    pub timeout: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            rescan: Duration::from_secs(30),
            heartbeat: Duration::from_secs(30),
            lease: TimeDelta::seconds(90),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Keeps the live connections of this instance: one task per device that wants one.
#[derive(Debug, Clone)]
pub struct LiveSupervisor {
    store: Store,
    site_tz: chrono_tz::Tz,
    instance: String,
    settings: LiveSettings,
    window: crate::domain::PunchWindow,
}

impl LiveSupervisor {
    /// A supervisor for `instance` with the default pacing.
    pub fn new(store: Store, config: &Config, instance: &str) -> Self {
        Self {
            store,
            site_tz: config.time_zone.0,
            instance: instance.to_owned(),
            settings: LiveSettings::default(),
            window: config.devices.punch_window(),
        }
    }

    /// The same with other pacing.
    #[must_use]
    pub fn with_settings(mut self, settings: LiveSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Runs until `stop`: starts a connection task for each device that wants one and is not
    /// served yet, at every rescan; waits for the tasks to close their connections at the end.
    pub async fn run(self, stop: CancellationToken) {
        let mut sessions: HashMap<DeviceId, JoinHandle<()>> = HashMap::new();
        loop {
            sessions.retain(|_, task| !task.is_finished());
            match devices::list(&self.store).await {
                Ok(list) => {
                    for device in list.into_iter().filter(Device::wants_live) {
                        sessions
                            .entry(device.id)
                            .or_insert_with(|| tokio::spawn(self.clone().keep_live(device.id, stop.child_token())));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "live mode: cannot read the device list"),
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.settings.rescan) => {}
            }
        }
        for (_, task) in sessions {
            let _ = task.await;
        }
    }

    /// One device's connection, re-opened after every break, until the device no longer wants
    /// one, another instance holds it, or `stop`.
    async fn keep_live(self, id: DeviceId, stop: CancellationToken) {
        let mut pause = Duration::from_secs(1);
        loop {
            let device = match devices::get(&self.store, id).await {
                Ok(device) if device.wants_live() => device,
                Ok(_) | Err(StoreError::NotFound(_)) => break,
                Err(e) => {
                    tracing::warn!(device = %id, error = %e, "live mode: cannot read the device");
                    if !self.pause(&stop, pause).await {
                        break;
                    }
                    continue;
                }
            };
            match self.renew(id).await {
                Ok(true) => {}
                Ok(false) => return, // another instance serves it; the next rescan looks again
                Err(e) => tracing::warn!(device = %device.name, error = %e, "live mode: cannot take the lease"),
            }
            match self.connection(&device, &stop).await {
                Ended::Stopped | Ended::NotWanted => break,
                Ended::LeaseLost => return,
                Ended::Broke { error, was_open } => {
                    if was_open {
                        pause = Duration::from_secs(1);
                    }
                    tracing::warn!(device = %device.name, error = %error, retry_in = ?pause, "live connection lost; reconnecting");
                }
            }
            if !self.pause(&stop, pause).await {
                break;
            }
            pause = (pause * 2).min(self.settings.max_backoff);
        }
        let _ = devices::release(&self.store, Lease::Live, id, &self.instance).await;
    }

    /// One connection, from opening to its end.
    async fn connection(&self, device: &Device, stop: &CancellationToken) -> Ended {
        let tz = device.zone(self.site_tz);
        let opened = async {
            // The failover address too, as the poll does.
            let connected = super::failover::connect_device(device, self.settings.timeout).await?;
            Ok::<_, PollError>(connected.client.subscribe().await?)
        };
        let mut events = tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            opened = opened => match opened {
                Ok(events) => events,
                Err(error) => return Ended::Broke { error, was_open: false },
            },
        };
        tracing::info!(device = %device.name, "live connection open");
        let renew_every = (self.settings.lease / 3).to_std().unwrap_or(Duration::from_secs(30));
        let mut renewed = tokio::time::Instant::now();
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => {
                    events.close().await;
                    return Ended::Stopped;
                }
                next = events.next(self.settings.heartbeat) => next,
            };
            match next {
                Ok(Some(record)) => match poll::to_punch(device.id, tz, &self.window, chrono::Utc::now(), &record) {
                    Ok(punch) => match punches::insert(&self.store, &[punch]).await {
                        Ok(stored) => {
                            crate::metrics::punches_stored(device.id, crate::metrics::PunchSource::Live, stored);
                            tracing::debug!(device = %device.name, user = %record.user_id.0, time = %record.time.0, stored, "live punch");
                        }
                        // Still in the device's log: the next poll stores it.
                        Err(e) => tracing::warn!(device = %device.name, error = %e, "live punch not stored; the next poll will store it"),
                    },
                    Err(e) => tracing::warn!(device = %device.name, user = %record.user_id.0, error = %e, "live punch refused"),
                },
                Ok(None) => {
                    if let Err(e) = events.heartbeat().await {
                        return Ended::Broke { error: e.into(), was_open: true };
                    }
                }
                Err(e) => return Ended::Broke { error: e.into(), was_open: true },
            }
            if renewed.elapsed() >= renew_every {
                match devices::get(&self.store, device.id).await {
                    Ok(now) if !now.wants_live() => {
                        events.close().await;
                        return Ended::NotWanted;
                    }
                    Err(StoreError::NotFound(_)) => return Ended::NotWanted,
                    Ok(_) | Err(_) => {}
                }
                match self.renew(device.id).await {
                    Ok(true) => renewed = tokio::time::Instant::now(),
                    Ok(false) => {
                        events.close().await;
                        return Ended::LeaseLost;
                    }
                    Err(e) => tracing::warn!(device = %device.name, error = %e, "live mode: cannot renew the lease"),
                }
            }
        }
    }

    /// Takes or renews this instance's live lease on the device.
    async fn renew(&self, id: DeviceId) -> Result<bool, StoreError> {
        let now = Utc::now();
        devices::claim(&self.store, Lease::Live, id, &self.instance, now, now + self.settings.lease).await
    }

    /// Sleeps `pause`; false when stopped meanwhile.
    async fn pause(&self, stop: &CancellationToken, pause: Duration) -> bool {
        tokio::select! {
            () = stop.cancelled() => false,
            () = tokio::time::sleep(pause) => true,
        }
    }
}

/// Why a live connection ended.
#[derive(Debug)]
enum Ended {
    /// The bridge is shutting down.
    Stopped,
    /// Live mode was switched off, or the device disabled or removed.
    NotWanted,
    /// Another instance took the device over.
    LeaseLost,
    /// The connection failed; `was_open` when it had been established first.
    Broke { error: PollError, was_open: bool },
}
