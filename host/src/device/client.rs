//! A client for pulled devices: the ZK binary protocol over TCP (default) or UDP.
//!
//! Every network step is bounded by the configured timeout. Replies are matched by reply id and
//! checked by checksum; stale packets are skipped (a bounded number), anything malformed is an error.
//! Downloads are all-or-nothing: a dataset shorter than announced is [`DeviceError::Truncated`],
//! never a shorter list. [`ZkClient::download`] disables the device while reading and re-enables it
//! afterwards whatever happened, reconnecting for that if the connection broke.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpStream, UdpSocket};

use super::codec::{self, Packet};
use super::commands::*;
use super::error::DeviceError;
use super::records::{self, AttendanceLayout, AttendanceRecord, FreeSizes, UserLayout, UserRecord};

/// Stale or unrelated packets skipped while waiting for one reply before giving up.
const MAX_SKIPPED: usize = 100;
/// Real-time events kept while a command waits for its reply (beyond this the oldest are dropped;
/// the periodic poll still reads them from the log).
const MAX_QUEUED_EVENTS: usize = 1024;

/// The largest dataset accepted from any device, whatever it announces: 64 MiB.
///
/// Why this number: the biggest ZK terminals keep about 1,000,000 attendance records (an F18 keeps
/// 100,000, 4 MB in the 40-byte layout), and 64 MiB holds 1.6 million 40-byte records or 900,000
/// 72-byte users. A real device's log always fits; a device announcing more is broken or lying, and
/// a cap this size keeps a small box (the bridge often runs on one) far from the out-of-memory killer.
pub const MAX_DATASET_BYTES: u64 = 64 << 20;

/// Memory reserved up front for a buffered read; the rest grows with the bytes that really arrive,
/// so even an announcement within the limits costs nothing until the device sends the data.
const INITIAL_RESERVE: usize = 1 << 20;

/// The most bytes a dataset of `count` records can have: a u32 length header plus `count` records of
/// the largest layout `record_size`, and never more than [`MAX_DATASET_BYTES`].
///
/// # Errors
/// [`DeviceError::Oversized`] when `count` records alone would pass the cap: the counter is a lie.
pub fn dataset_limit(count: u32, record_size: usize) -> Result<u64, DeviceError> {
    let needed = u64::from(count).saturating_mul(u64::try_from(record_size).unwrap_or(u64::MAX)).saturating_add(4);
    if needed > MAX_DATASET_BYTES {
        return Err(DeviceError::Oversized { announced: needed, allowed: MAX_DATASET_BYTES });
    }
    Ok(needed)
}

/// Checks a buffered-read announcement against the limit for the dataset asked for.
///
/// # Errors
/// [`DeviceError::Oversized`] when `announced` is larger than `allowed`.
pub fn check_announced(announced: u32, allowed: u64) -> Result<usize, DeviceError> {
    let announced_bytes = u64::from(announced);
    if announced_bytes > allowed.min(MAX_DATASET_BYTES) {
        return Err(DeviceError::Oversized { announced: announced_bytes, allowed: allowed.min(MAX_DATASET_BYTES) });
    }
    usize::try_from(announced).map_err(|_| DeviceError::Oversized { announced: announced_bytes, allowed: allowed.min(MAX_DATASET_BYTES) })
}

/// How to reach a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The device's address and port.
    pub address: SocketAddr,
    /// Communication key (0 = none).
    pub comm_key: u32,
    /// Bound on every network step.
    pub timeout: Duration,
    /// Use UDP instead of TCP.
    pub udp: bool,
}

impl ConnectOptions {
    /// TCP to `address`, no comm key, 10-second steps.
    pub fn new(address: SocketAddr) -> Self {
        Self { address, comm_key: 0, timeout: Duration::from_secs(10), udp: false }
    }
}

/// What a device says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Serial number.
    pub serial_number: String,
    /// Model name.
    pub device_name: String,
    /// Hardware platform.
    pub platform: String,
    /// Firmware version string.
    pub firmware: String,
    /// MAC address.
    pub mac: String,
    /// Counters and capacities.
    pub sizes: FreeSizes,
}

/// Users and attendance read in one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Enrolled users.
    pub users: Vec<UserRecord>,
    /// Every attendance record, in log order.
    pub attendance: Vec<AttendanceRecord>,
}

/// Proof that a caller really means to erase the device's attendance log.
#[derive(Debug, Clone, Copy)]
pub struct EraseAttendanceLog;

enum Link {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

/// A connected, authenticated session with one device.
pub struct ZkClient {
    link: Link,
    options: ConnectOptions,
    session: u16,
    reply: u16,
    /// Real-time events that arrived while a command waited for its reply, in arrival order.
    events: VecDeque<Packet>,
}

impl std::fmt::Debug for ZkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkClient").field("address", &self.options.address).field("session", &self.session).finish_non_exhaustive()
    }
}

async fn within<T>(limit: Duration, work: impl Future<Output = Result<T, DeviceError>>) -> Result<T, DeviceError> {
    tokio::time::timeout(limit, work).await.map_err(|_| DeviceError::Timeout(limit))?
}

fn io_error(e: std::io::Error) -> DeviceError {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
            DeviceError::Unreachable(e.to_string())
        }
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::UnexpectedEof => DeviceError::Closed,
        _ => DeviceError::Io(e.to_string()),
    }
}

impl ZkClient {
    /// Connects, and authenticates with the comm key when the device asks for it.
    ///
    /// # Errors
    /// [`DeviceError::Unreachable`], [`DeviceError::Timeout`], [`DeviceError::WrongCommKey`] or a protocol error.
    pub async fn connect(options: ConnectOptions) -> Result<Self, DeviceError> {
        let limit = options.timeout;
        let link = if options.udp {
            let local: SocketAddr = if options.address.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
            let socket = UdpSocket::bind(local).await.map_err(io_error)?;
            socket.connect(options.address).await.map_err(io_error)?;
            Link::Udp(socket)
        } else {
            let stream = within(limit, async { TcpStream::connect(options.address).await.map_err(io_error) }).await?;
            // Requests are small and each waits for its reply: Nagle's delay would only add latency.
            stream.set_nodelay(true).map_err(io_error)?;
            Link::Tcp(stream)
        };
        let mut client = ZkClient { link, options, session: 0, reply: 0, events: VecDeque::new() };
        let reply = client.exchange(CMD_CONNECT, Vec::new()).await?;
        client.session = reply.session;
        match reply.command {
            CMD_ACK_OK => Ok(client),
            CMD_ACK_UNAUTH => {
                if client.options.comm_key == 0 {
                    return Err(DeviceError::CommKeyRequired);
                }
                let key = records::make_commkey(client.options.comm_key, client.session, 50).to_vec();
                match client.exchange(CMD_AUTH, key).await?.command {
                    CMD_ACK_OK => Ok(client),
                    CMD_ACK_UNAUTH => Err(DeviceError::WrongCommKey),
                    code => Err(DeviceError::Refused { command: CMD_AUTH, code }),
                }
            }
            code => Err(DeviceError::Refused { command: CMD_CONNECT, code }),
        }
    }

    async fn write(&mut self, packet: &Packet) -> Result<(), DeviceError> {
        let limit = self.options.timeout;
        match &mut self.link {
            Link::Tcp(stream) => within(limit, async { stream.write_all(&packet.encode_tcp()).await.map_err(io_error) }).await,
            Link::Udp(socket) => within(limit, async { socket.send(&packet.encode()).await.map(drop).map_err(io_error) }).await,
        }
    }

    /// Waits until a packet (or the end of the stream) can be read. Unlike [`Self::read`] this can be
    /// cancelled at any point without losing bytes: it only peeks.
    async fn wait_readable(&mut self) -> Result<(), DeviceError> {
        let mut probe = [0u8; 1];
        match &mut self.link {
            Link::Tcp(stream) => stream.peek(&mut probe).await.map(drop).map_err(io_error),
            Link::Udp(socket) => socket.peek(&mut probe).await.map(drop).map_err(io_error),
        }
    }

    async fn read(&mut self) -> Result<Packet, DeviceError> {
        let limit = self.options.timeout;
        let (packet, checksum_ok) = match &mut self.link {
            Link::Tcp(stream) => within(limit, codec::read_tcp_packet(stream)).await?,
            Link::Udp(socket) => {
                let mut buf = vec![0u8; codec::MAX_PACKET];
                let n = within(limit, async { socket.recv(&mut buf).await.map_err(io_error) }).await?;
                Packet::decode(&buf[..n])?
            }
        };
        if !checksum_ok {
            return Err(DeviceError::Malformed(format!("bad checksum on a reply to command {}", packet.command)));
        }
        Ok(packet)
    }

    /// Reads until a packet with the current reply id arrives (skipping stale replies and events).
    async fn read_reply(&mut self) -> Result<Packet, DeviceError> {
        for _ in 0..MAX_SKIPPED {
            let packet = self.read().await?;
            if packet.command == CMD_REG_EVENT {
                // An event is not a reply; keep it for the subscriber instead of losing it.
                if self.events.len() == MAX_QUEUED_EVENTS {
                    self.events.pop_front();
                }
                self.events.push_back(packet);
            } else if packet.reply == self.reply {
                return Ok(packet);
            }
        }
        Err(DeviceError::Malformed(format!("no reply with id {} among {MAX_SKIPPED} packets", self.reply)))
    }

    /// Sends a command with the next reply id and returns the device's reply.
    async fn exchange(&mut self, command: u16, data: Vec<u8>) -> Result<Packet, DeviceError> {
        if command != CMD_CONNECT {
            self.reply = (self.reply + 1) % 0xFFFF;
        }
        let packet = Packet::new(command, self.session, self.reply, data);
        self.write(&packet).await?;
        self.read_reply().await
    }

    /// Sends a command that must be acknowledged with `ACK_OK`.
    async fn command(&mut self, command: u16, data: Vec<u8>) -> Result<Packet, DeviceError> {
        let reply = self.exchange(command, data).await?;
        match reply.command {
            CMD_ACK_OK => Ok(reply),
            code => Err(DeviceError::Refused { command, code }),
        }
    }

    /// Reads one option (`~SerialNumber`, `MAC`…); `None` when the device does not know it.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn option(&mut self, name: &str) -> Result<Option<String>, DeviceError> {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        let reply = self.exchange(CMD_OPTIONS_RRQ, data).await?;
        if reply.command != CMD_ACK_OK {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&reply.data);
        let text = text.split('\0').next().unwrap_or_default();
        Ok(Some(text.split_once('=').map_or(text, |(_, v)| v).trim().to_owned()))
    }

    /// The device's counters and capacities.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn free_sizes(&mut self) -> Result<FreeSizes, DeviceError> {
        FreeSizes::decode(&self.command(CMD_GET_FREE_SIZES, Vec::new()).await?.data)
    }

    /// Serial number, names, firmware, MAC and counters.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn device_info(&mut self) -> Result<DeviceInfo, DeviceError> {
        let firmware = String::from_utf8_lossy(&self.command(CMD_GET_VERSION, Vec::new()).await?.data)
            .split('\0')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        Ok(DeviceInfo {
            serial_number: self.option("~SerialNumber").await?.unwrap_or_default(),
            device_name: self.option("~DeviceName").await?.unwrap_or_default(),
            platform: self.option("~Platform").await?.unwrap_or_default(),
            mac: self.option("MAC").await?.unwrap_or_default(),
            firmware,
            sizes: self.free_sizes().await?,
        })
    }

    /// The device clock (local wall time, no zone).
    ///
    /// # Errors
    /// Network and protocol errors, or an invalid time.
    pub async fn time(&mut self) -> Result<NaiveDateTime, DeviceError> {
        let data = self.command(CMD_GET_TIME, Vec::new()).await?.data;
        let raw = data.get(..4).ok_or_else(|| DeviceError::Malformed("time reply too short".into()))?;
        let value = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        records::decode_time(value).ok_or_else(|| DeviceError::Malformed(format!("device time {value:#x} is invalid")))
    }

    /// Sets the device clock to a local wall time.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn set_time(&mut self, time: NaiveDateTime) -> Result<(), DeviceError> {
        self.command(CMD_SET_TIME, records::encode_time(time).to_le_bytes().to_vec()).await?;
        self.command(CMD_REFRESHDATA, Vec::new()).await.map(drop)
    }

    /// Locks the keypad and sensor ("working…") so the log does not change during a download.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn disable(&mut self) -> Result<(), DeviceError> {
        self.command(CMD_DISABLEDEVICE, Vec::new()).await.map(drop)
    }

    /// Unlocks the device again.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn enable(&mut self) -> Result<(), DeviceError> {
        self.command(CMD_ENABLEDEVICE, Vec::new()).await.map(drop)
    }

    /// Reads a dataset with the buffered read (prepare, chunked reads, free). `allowed` is the most
    /// bytes this dataset can have ([`dataset_limit`]); a larger announcement is refused before any
    /// memory is reserved for it.
    async fn read_buffer(&mut self, command: u16, fct: u32, allowed: u64) -> Result<Vec<u8>, DeviceError> {
        let mut request = vec![1u8];
        request.extend_from_slice(&command.to_le_bytes());
        request.extend_from_slice(&fct.to_le_bytes());
        request.extend_from_slice(&0u32.to_le_bytes());
        let reply = self.exchange(CMD_DATA_WRRQ, request).await?;
        match reply.command {
            CMD_DATA => return Ok(reply.data),
            CMD_ACK_OK => {}
            code => return Err(DeviceError::Refused { command: CMD_DATA_WRRQ, code }),
        }
        let size = reply.data.get(1..5).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| {
            DeviceError::Malformed("buffered-read announcement too short".into())
        })?;
        let total = check_announced(size, allowed)?;
        let max_chunk = if self.options.udp { UDP_MAX_CHUNK } else { TCP_MAX_CHUNK };
        let mut data = Vec::with_capacity(total.min(INITIAL_RESERVE));
        let mut start = 0u32;
        while start < size {
            let chunk = (size - start).min(max_chunk);
            let mut ask = start.to_le_bytes().to_vec();
            ask.extend_from_slice(&chunk.to_le_bytes());
            data.extend(self.read_chunk(ask, chunk as usize).await?);
            start += chunk;
        }
        self.command(CMD_FREE_DATA, Vec::new()).await?;
        Ok(data)
    }

    /// One `DATA_RDY` exchange: PREPARE_DATA, DATA packet(s), ACK_OK; or a single DATA.
    async fn read_chunk(&mut self, ask: Vec<u8>, expected: usize) -> Result<Vec<u8>, DeviceError> {
        let first = self.exchange(CMD_DATA_RDY, ask).await?;
        match first.command {
            CMD_DATA if first.data.len() == expected => return Ok(first.data),
            CMD_DATA => return Err(DeviceError::Truncated { expected, got: first.data.len() }),
            CMD_PREPARE_DATA => {}
            code => return Err(DeviceError::Refused { command: CMD_DATA_RDY, code }),
        }
        let mut chunk = Vec::with_capacity(expected);
        loop {
            let packet = match self.read_reply().await {
                Ok(packet) => packet,
                Err(DeviceError::Closed | DeviceError::Timeout(_)) if chunk.len() < expected => {
                    return Err(DeviceError::Truncated { expected, got: chunk.len() });
                }
                Err(e) => return Err(e),
            };
            match packet.command {
                CMD_DATA => {
                    chunk.extend_from_slice(&packet.data);
                    if chunk.len() > expected {
                        return Err(DeviceError::Malformed(format!("chunk of {} bytes, {expected} announced", chunk.len())));
                    }
                }
                CMD_ACK_OK if chunk.len() == expected => return Ok(chunk),
                CMD_ACK_OK => return Err(DeviceError::Truncated { expected, got: chunk.len() }),
                code => return Err(DeviceError::Refused { command: CMD_DATA_RDY, code }),
            }
        }
    }

    /// Every enrolled user. The record layout (28 or 72 bytes) follows from the dataset size.
    ///
    /// # Errors
    /// Network, protocol and truncation errors.
    pub async fn users(&mut self) -> Result<Vec<UserRecord>, DeviceError> {
        let sizes = self.free_sizes().await?;
        if sizes.users == 0 {
            return Ok(Vec::new());
        }
        let allowed = dataset_limit(sizes.users, UserLayout::LARGEST.size())?;
        let data = self.read_buffer(CMD_USERTEMP_RRQ, FCT_USER, allowed).await?;
        let body = records::dataset_body(&data)?;
        let layout = match body.len() / sizes.users as usize {
            28 => UserLayout::Short28,
            72 => UserLayout::Tft72,
            other => return Err(DeviceError::Malformed(format!("{other}-byte user records are not a known layout"))),
        };
        if body.len() != sizes.users as usize * layout.size() {
            return Err(DeviceError::Malformed(format!("{} bytes for {} users", body.len(), sizes.users)));
        }
        records::decode_users(body, layout)
    }

    /// Every attendance record; `users` resolves internal ids in the 8-byte layout.
    ///
    /// # Errors
    /// Network, protocol and truncation errors.
    pub async fn attendance(&mut self, users: &[UserRecord]) -> Result<Vec<AttendanceRecord>, DeviceError> {
        let sizes = self.free_sizes().await?;
        if sizes.records == 0 {
            return Ok(Vec::new());
        }
        let allowed = dataset_limit(sizes.records, AttendanceLayout::LARGEST.size())?;
        let data = self.read_buffer(CMD_ATTLOG_RRQ, 0, allowed).await?;
        let body = records::dataset_body(&data)?;
        let size = body.len() / sizes.records as usize;
        let layout = AttendanceLayout::from_size(size)
            .ok_or_else(|| DeviceError::Malformed(format!("{size}-byte attendance records are not a known layout")))?;
        if body.len() != sizes.records as usize * size {
            return Err(DeviceError::Malformed(format!("{} bytes for {} records", body.len(), sizes.records)));
        }
        records::decode_attendance(body, layout, users)
    }

    /// Users and attendance with the device disabled meanwhile; it is re-enabled whatever happens
    /// (over a fresh connection if this one broke).
    ///
    /// # Errors
    /// The download's error, after re-enabling.
    pub async fn download(&mut self) -> Result<Download, DeviceError> {
        let result = async {
            self.disable().await?;
            let users = self.users().await?;
            let attendance = self.attendance(&users).await?;
            Ok(Download { users, attendance })
        }
        .await;
        if self.enable().await.is_err() {
            match ZkClient::connect(self.options.clone()).await {
                Ok(mut fresh) => {
                    let enabled = fresh.enable().await;
                    fresh.disconnect().await;
                    if let Err(e) = enabled {
                        tracing::warn!(device = %self.options.address, error = %e, "could not re-enable the device");
                    }
                }
                Err(e) => tracing::warn!(device = %self.options.address, error = %e, "could not reconnect to re-enable the device"),
            }
        }
        result
    }

    /// Erases the device's attendance log. Only with explicit proof of intent.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn clear_attendance(&mut self, _confirm: EraseAttendanceLog) -> Result<(), DeviceError> {
        self.command(CMD_CLEAR_ATTLOG, Vec::new()).await?;
        self.command(CMD_REFRESHDATA, Vec::new()).await.map(drop)
    }

    /// Subscribes to real-time attendance events on this connection.
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn subscribe(mut self) -> Result<LiveEvents, DeviceError> {
        self.command(CMD_REG_EVENT, EF_ATTLOG.to_le_bytes().to_vec()).await?;
        Ok(LiveEvents { client: self })
    }

    /// Says goodbye (best effort) and closes the connection.
    pub async fn disconnect(mut self) {
        let _ = self.exchange(CMD_EXIT, Vec::new()).await;
    }
}

/// A stream of real-time punches from one device.
///
/// Waiting is cancel-safe: a wait that ends (its deadline, or a dropped future) never cuts a frame in
/// half, because only the *arrival* of data is awaited under the deadline; a frame that has started
/// is read to its end under the step timeout.
#[derive(Debug)]
pub struct LiveEvents {
    client: ZkClient,
}

impl LiveEvents {
    /// The next punch; `Ok(None)` when `wait` passes without one (the connection stays usable).
    ///
    /// # Errors
    /// [`DeviceError::Closed`] when the device goes away; protocol errors for bad events.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<AttendanceRecord>, DeviceError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let packet = match self.client.events.pop_front() {
                Some(queued) => queued,
                None => {
                    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                    match tokio::time::timeout(remaining, self.client.wait_readable()).await {
                        Err(_) => return Ok(None),
                        Ok(ready) => ready?,
                    }
                    let packet = self.client.read().await?;
                    if packet.command != CMD_REG_EVENT {
                        continue; // a late reply to an earlier command
                    }
                    packet
                }
            };
            let ack = Packet::new(CMD_ACK_OK, self.client.session, 0, Vec::new());
            self.client.write(&ack).await?;
            if u32::from(packet.session) == EF_ATTLOG {
                return records::decode_event(&packet.data).map(Some);
            }
        }
    }

    /// Asks the device for its clock, proving the connection is alive (a device that vanished without
    /// closing the connection sends nothing, so silence alone proves nothing). Events arriving
    /// meanwhile are kept for [`Self::next`].
    ///
    /// # Errors
    /// Network and protocol errors.
    pub async fn heartbeat(&mut self) -> Result<NaiveDateTime, DeviceError> {
        self.client.time().await
    }

    /// Says goodbye (best effort) and closes the connection.
    pub async fn close(self) {
        self.client.disconnect().await;
    }
}
