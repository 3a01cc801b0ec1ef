//! A simulated push (ADMS) terminal: the HTTP client side of `/iclock/…`.
//!
//! It behaves like the firmware: handshake first, then upload unacknowledged attendance in batches
//! with a stamp, poll for commands every `Delay` seconds, execute them (clock set, re-send, reboot,
//! info) and post the results. Anything but an `OK` answer (or no answer) leaves the batch
//! unacknowledged, and it is sent again after `ErrorDelay`: exactly what makes a bridge restart in
//! the middle of a batch harmless. New punches can be added while it runs ([`PushTerminal::punch`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use crate::device::push::PushCommand;

/// One attendance record held by the simulated terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPunch {
    /// User id.
    pub pin: String,
    /// Device-local wall time.
    pub time: NaiveDateTime,
    /// Punch state.
    pub state: u8,
    /// Verify type.
    pub verify: u8,
}

impl SimPunch {
    fn line(&self) -> String {
        format!("{}\t{}\t{}\t{}\t0\t0\t0", self.pin, self.time.format("%Y-%m-%d %H:%M:%S"), self.state, self.verify)
    }
}

/// What the terminal has done, for tests to inspect.
#[derive(Debug, Clone, Default)]
pub struct TerminalState {
    /// Every record the terminal holds, in log order.
    pub log: Vec<SimPunch>,
    /// How many leading records of `log` the server acknowledged.
    pub acknowledged: usize,
    /// Device clock minus real time.
    pub clock_skew: TimeDelta,
    /// Commands received, as `(id, command line, return code)`.
    pub commands: Vec<(i64, String, i32)>,
    /// Upload attempts that did not get `OK`.
    pub failed_uploads: usize,
    /// Times the terminal "rebooted".
    pub reboots: usize,
}

/// Settings of a simulated terminal.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Serial number.
    pub serial: String,
    /// Base URL of the bridge (`http://127.0.0.1:8000`).
    pub server: String,
    /// Records per upload.
    pub batch_size: usize,
    /// Seconds between command polls (the server's `Delay` overrides it).
    pub poll_every: Duration,
    /// Wait after a failed request.
    pub error_delay: Duration,
}

impl PushConfig {
    /// A terminal `serial` talking to `server`, with short delays suited to tests.
    pub fn new(serial: &str, server: &str) -> Self {
        Self {
            serial: serial.to_owned(),
            server: server.trim_end_matches('/').to_owned(),
            batch_size: 100,
            poll_every: Duration::from_millis(200),
            error_delay: Duration::from_millis(200),
        }
    }
}

/// A running (or ready to run) simulated push terminal. Cheap to clone: clones share state.
#[derive(Debug, Clone)]
pub struct PushTerminal {
    config: PushConfig,
    state: Arc<Mutex<TerminalState>>,
    http: reqwest::Client,
}

impl PushTerminal {
    /// A terminal holding `log`.
    pub fn new(config: PushConfig, log: Vec<SimPunch>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        let state = TerminalState { log, ..TerminalState::default() };
        Self { config, state: Arc::new(Mutex::new(state)), http }
    }

    fn lock(&self) -> MutexGuard<'_, TerminalState> {
        // A poisoned lock only means a test thread panicked; the data is still the simulator's.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot of what the terminal holds and has done.
    pub fn state(&self) -> TerminalState {
        self.lock().clone()
    }

    /// Records a new punch "now" (device clock); it is uploaded at once, like `Realtime=1`.
    pub fn punch(&self, pin: &str, state: u8) {
        let mut s = self.lock();
        let now = Utc::now().naive_utc() + s.clock_skew;
        let time = chrono::Timelike::with_nanosecond(&now, 0).unwrap_or(now);
        s.log.push(SimPunch { pin: pin.to_owned(), time, state, verify: 1 });
    }

    /// Makes the terminal's clock run `skew` ahead of (or, negative, behind) real time.
    pub fn set_clock_skew(&self, skew: TimeDelta) {
        self.lock().clock_skew = skew;
    }

    /// Adds a record with an explicit time.
    pub fn add(&self, punch: SimPunch) {
        self.lock().log.push(punch);
    }

    /// Runs the terminal's loop until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut handshaken = false;
        loop {
            let pause = if !handshaken {
                match self.handshake().await {
                    Ok(()) => {
                        handshaken = true;
                        Duration::ZERO
                    }
                    Err(()) => self.config.error_delay,
                }
            } else {
                match self.cycle().await {
                    Ok(()) => self.config.poll_every,
                    Err(()) => {
                        // Like the firmware: after an error, wait and start again with a handshake.
                        handshaken = false;
                        self.config.error_delay
                    }
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn url(&self, path: &str, extra: &str) -> String {
        format!("{}/iclock/{path}?SN={}{extra}", self.config.server, self.config.serial)
    }

    async fn handshake(&self) -> Result<(), ()> {
        let response = self.http.get(self.url("cdata", "&options=all&pushver=2.4.1")).send().await.map_err(drop)?;
        if !response.status().is_success() {
            return Err(());
        }
        let body = response.text().await.map_err(drop)?;
        // The terminal trusts the server's stamp: records up to it are known there.
        if let Some(stamp) = body.lines().find_map(|l| l.strip_prefix("ATTLOGStamp=")) {
            let stamp: usize = stamp.trim().parse().unwrap_or(0);
            let mut s = self.lock();
            s.acknowledged = stamp.min(s.log.len());
        }
        Ok(())
    }

    /// Uploads what is unacknowledged, then polls for and runs commands.
    async fn cycle(&self) -> Result<(), ()> {
        loop {
            let (batch, end) = {
                let s = self.lock();
                let end = (s.acknowledged + self.config.batch_size).min(s.log.len());
                let lines: Vec<String> = s.log[s.acknowledged..end].iter().map(SimPunch::line).collect();
                (lines, end)
            };
            if batch.is_empty() {
                break;
            }
            let url = self.url("cdata", &format!("&table=ATTLOG&Stamp={end}"));
            let ok = match self.http.post(url).body(batch.join("\n") + "\n").send().await {
                Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t.starts_with("OK")),
                _ => false,
            };
            let mut s = self.lock();
            if ok {
                s.acknowledged = s.acknowledged.max(end);
            } else {
                s.failed_uploads += 1;
                return Err(());
            }
        }
        let response = self.http.get(self.url("getrequest", "")).send().await.map_err(drop)?;
        if !response.status().is_success() {
            return Err(());
        }
        let body = response.text().await.map_err(drop)?;
        let mut results = Vec::new();
        for line in body.lines() {
            let Some(rest) = line.strip_prefix("C:") else { continue };
            let Some((id, command)) = rest.split_once(':') else { continue };
            let Ok(id) = id.parse::<i64>() else { continue };
            let code = self.execute(command);
            self.lock().commands.push((id, command.to_owned(), code));
            let name = command.split_whitespace().next().unwrap_or_default();
            results.push(format!("ID={id}&Return={code}&CMD={name}"));
        }
        if !results.is_empty() {
            let response = self.http.post(self.url("devicecmd", "")).body(results.join("\n") + "\n").send().await.map_err(drop)?;
            if !response.status().is_success() {
                return Err(());
            }
        }
        Ok(())
    }

    /// Carries out a command; returns the firmware's return code.
    fn execute(&self, command: &str) -> i32 {
        let mut s = self.lock();
        match PushCommand::parse(command) {
            Some(PushCommand::SetTime(t)) => {
                s.clock_skew = t - Utc::now().naive_utc();
                0
            }
            Some(PushCommand::Resend { from, to }) => {
                // Re-upload: forget acknowledgements from the first record in range on.
                let first = s.log.iter().position(|p| p.time.date() >= from && p.time.date() <= to);
                if let Some(first) = first {
                    s.acknowledged = s.acknowledged.min(first);
                }
                0
            }
            Some(PushCommand::Reboot) => {
                s.reboots += 1;
                0
            }
            Some(PushCommand::Info) => 0,
            None => -1002,
        }
    }
}
