//! A simulated pull device: the ZK binary protocol on TCP and UDP (one port), as an F18 answers it.
//!
//! It follows the fidelity checklist of the protocol notes: sessions assigned on connect, reply ids
//! echoed (and kept across PREPARE/DATA/ACK sequences), wire-correct checksums, comm-key
//! authentication, no payload on no-data replies, one write per reply, unknown commands answered
//! with `ACK_UNKNOWN`, inline replies for small datasets and chunked buffered reads for large ones,
//! real-time events one per write. Faults can be injected to test the client's error handling.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::data::DeviceData;
use crate::device::codec::{self, Packet};
use crate::device::commands::*;
use crate::device::records::{self, AttendanceLayout, AttendanceRecord, FreeSizes, UserLayout};

/// Faults to inject, changeable while the device runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Close a TCP connection once this many bytes were sent on it (mid-transfer).
    pub drop_after_bytes: Option<usize>,
    /// Wait this long before every reply.
    pub delay: Option<Duration>,
    /// Send replies with a wrong checksum.
    pub corrupt_checksum: bool,
    /// Refuse authentication whatever key is sent (and ask for one even without a key).
    pub refuse_auth: bool,
    /// Announce a dataset of this many bytes in every buffered read (always buffered, never
    /// inline), whatever the data: a lying or broken device. The client must refuse it unread.
    pub announce_dataset_bytes: Option<u32>,
    /// Report this many users and attendance records in the counters block, whatever it holds.
    pub announce_record_count: Option<u32>,
}

/// How the simulated device is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Communication key (0 = none).
    pub comm_key: u32,
    /// Attendance record layout (8, 16 or 40 bytes); users use 72 bytes with 40, else 28.
    pub layout: AttendanceLayout,
    /// The device clock's offset from real time (drift).
    pub clock_skew: TimeDelta,
    /// Serial number.
    pub serial_number: String,
    /// Faults to inject.
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            comm_key: 0,
            layout: AttendanceLayout::Tft40,
            clock_skew: TimeDelta::zero(),
            serial_number: "AIOR192960031".into(),
            faults: Faults::default(),
        }
    }
}

/// What a test can observe about the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Sessions opened (CONNECT received).
    pub sessions: usize,
    /// Attendance downloads started.
    pub attendance_reads: usize,
    /// Whether the device is enabled (not locked by a client).
    pub enabled: bool,
    /// Real-time subscriptions made (`REG_EVENT` for attendance), over all sessions.
    pub subscriptions: usize,
}

struct State {
    config: SimConfig,
    data: DeviceData,
    stats: SimStats,
    next_session: u16,
}

/// A running simulated device. Dropping it does not stop it; call [`SimulatedDevice::stop`].
#[derive(Clone)]
pub struct SimulatedDevice {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<AttendanceRecord>,
    stop: CancellationToken,
}

impl std::fmt::Debug for SimulatedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedDevice").field("address", &self.address).finish_non_exhaustive()
    }
}

impl SimulatedDevice {
    /// Serves TCP and UDP on `listen` (port 0 picks a free port, the same for both).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start(listen: SocketAddr, config: SimConfig, data: DeviceData) -> std::io::Result<Self> {
        let tcp = TcpListener::bind(listen).await?;
        let address = tcp.local_addr()?;
        let udp = UdpSocket::bind(address).await?;
        let state = State { config, data, stats: SimStats { enabled: true, ..SimStats::default() }, next_session: 0x4A21 };
        let (events, _) = broadcast::channel(1024);
        let device = SimulatedDevice { address, state: Arc::new(Mutex::new(state)), events, stop: CancellationToken::new() };
        tokio::spawn(device.clone().accept_tcp(tcp));
        tokio::spawn(device.clone().serve_udp(udp));
        Ok(device)
    }

    /// Where it listens (TCP and UDP).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counters and the enabled flag.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// The users and log it holds now.
    pub fn data(&self) -> DeviceData {
        self.lock().data.clone()
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().config.faults = faults;
    }

    /// The device clock now (real time plus skew), local wall time.
    pub fn clock(&self) -> NaiveDateTime {
        Utc::now().naive_utc() + self.lock().config.clock_skew
    }

    /// Records a punch as if someone used the device now; subscribed clients get it live.
    pub fn punch(&self, user_id: &str, state: u8) -> AttendanceRecord {
        let time = self.clock();
        let time = chrono::Timelike::with_nanosecond(&time, 0).unwrap_or(time);
        let mut s = self.lock();
        let uid = s.data.users.iter().find(|u| u.user_id.0 == user_id).map_or(0, |u| u.uid);
        let record = AttendanceRecord {
            uid,
            user_id: crate::domain::EmployeeId(user_id.to_owned()),
            time: crate::domain::WallTime(time),
            verify: 1,
            state,
        };
        s.data.attendance.push(record.clone());
        drop(s);
        let _ = self.events.send(record.clone());
        record
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    async fn accept_tcp(self, listener: TcpListener) {
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(self.clone().serve_tcp(stream));
                    }
                }
            }
        }
    }

    async fn serve_tcp(self, mut stream: TcpStream) {
        // Replies go out as separate writes (PREPARE, DATA, ACK); without this the last one waits
        // for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let mut session = Session::default();
        let mut events = self.events.subscribe();
        let mut sent = 0usize;
        loop {
            let replies = tokio::select! {
                () = self.stop.cancelled() => return,
                read = codec::read_tcp_packet(&mut stream) => match read {
                    Ok((request, _checksum_ok)) => {
                        let exit = request.command == CMD_EXIT;
                        let replies = self.handle(&mut session, &request, false);
                        (replies, exit)
                    }
                    Err(_) => return,
                },
                event = events.recv(), if session.subscribed => match event {
                    Ok(record) => {
                        (vec![Packet::new(CMD_REG_EVENT, u16::try_from(EF_ATTLOG).unwrap_or(1), 0, records::encode_event(&record))], false)
                    }
                    Err(_) => continue,
                },
            };
            let (packets, exit) = replies;
            let faults = self.lock().config.faults.clone();
            for packet in packets {
                if let Some(delay) = faults.delay {
                    tokio::time::sleep(delay).await;
                }
                let mut bytes = packet.encode_tcp();
                if faults.corrupt_checksum {
                    bytes[10] ^= 0x5A;
                }
                if let Some(limit) = faults.drop_after_bytes {
                    if sent + bytes.len() > limit {
                        let _ = stream.write_all(&bytes[..limit.saturating_sub(sent)]).await;
                        return;
                    }
                }
                sent += bytes.len();
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            if exit {
                return;
            }
        }
    }

    async fn serve_udp(self, socket: UdpSocket) {
        let mut sessions: HashMap<SocketAddr, Session> = HashMap::new();
        let mut buf = vec![0u8; codec::MAX_PACKET];
        loop {
            let (n, peer) = tokio::select! {
                () = self.stop.cancelled() => return,
                received = socket.recv_from(&mut buf) => match received {
                    Ok(r) => r,
                    Err(_) => continue,
                },
            };
            let Ok((request, _)) = Packet::decode(&buf[..n]) else { continue };
            let session = sessions.entry(peer).or_default();
            let replies = self.handle(session, &request, true);
            if request.command == CMD_EXIT {
                sessions.remove(&peer);
            }
            let faults = self.lock().config.faults.clone();
            for packet in replies {
                if let Some(delay) = faults.delay {
                    tokio::time::sleep(delay).await;
                }
                let mut bytes = packet.encode();
                if faults.corrupt_checksum {
                    bytes[2] ^= 0x5A;
                }
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    }

    /// The reply packets to one request.
    fn handle(&self, session: &mut Session, request: &Packet, udp: bool) -> Vec<Packet> {
        let mut s = self.lock();
        let reply_id = request.reply;
        let ack = |code: u16, data: Vec<u8>| Packet::new(code, session.id, reply_id, data);
        if request.command == CMD_CONNECT {
            s.next_session = s.next_session.wrapping_add(7).max(1);
            session.id = s.next_session;
            s.stats.sessions += 1;
            let needs_key = s.config.comm_key != 0 || s.config.faults.refuse_auth;
            session.authenticated = !needs_key;
            let code = if needs_key { CMD_ACK_UNAUTH } else { CMD_ACK_OK };
            return vec![Packet::new(code, session.id, reply_id, Vec::new())];
        }
        if request.command == CMD_AUTH {
            let ticks = request.data.get(2).copied().unwrap_or(50);
            let expected = records::make_commkey(s.config.comm_key, session.id, ticks);
            session.authenticated = !s.config.faults.refuse_auth && request.data.get(..4) == Some(&expected[..]);
            return vec![ack(if session.authenticated { CMD_ACK_OK } else { CMD_ACK_UNAUTH }, Vec::new())];
        }
        if request.command == CMD_ACK_OK {
            return Vec::new(); // a client acknowledging a real-time event
        }
        if !session.authenticated {
            return vec![ack(CMD_ACK_UNAUTH, Vec::new())];
        }
        let user_layout = if s.config.layout == AttendanceLayout::Tft40 { UserLayout::Tft72 } else { UserLayout::Short28 };
        match request.command {
            CMD_EXIT | CMD_REFRESHDATA | CMD_CANCELCAPTURE | CMD_STARTVERIFY | 12 => vec![ack(CMD_ACK_OK, Vec::new())],
            CMD_DISABLEDEVICE => {
                s.stats.enabled = false;
                vec![ack(CMD_ACK_OK, Vec::new())]
            }
            CMD_ENABLEDEVICE => {
                s.stats.enabled = true;
                vec![ack(CMD_ACK_OK, Vec::new())]
            }
            CMD_GET_VERSION => vec![ack(CMD_ACK_OK, b"Ver 6.60 Apr 26 2016\0".to_vec())],
            CMD_OPTIONS_RRQ => {
                let name = String::from_utf8_lossy(&request.data).trim_end_matches('\0').to_owned();
                let value = match name.as_str() {
                    "~SerialNumber" => Some(s.config.serial_number.clone()),
                    "~DeviceName" => Some("F18/ID".to_owned()),
                    "~Platform" => Some("ZMM210_TFT".to_owned()),
                    "MAC" => Some("00:17:61:12:34:56".to_owned()),
                    "~UserExtFmt" => Some("1".to_owned()),
                    "FaceFunOn" | "CompatOldFirmware" => Some("0".to_owned()),
                    "ZKFaceVersion" => Some("7".to_owned()),
                    "~ZKFPVersion" => Some("10".to_owned()),
                    "IPAddress" => Some(self.address.ip().to_string()),
                    "NetMask" => Some("255.255.255.0".to_owned()),
                    "GATEIPAddress" => Some("0.0.0.0".to_owned()),
                    _ => None,
                };
                match value {
                    Some(v) => vec![ack(CMD_ACK_OK, format!("{name}={v}\0").into_bytes())],
                    None => vec![ack(CMD_ACK_ERROR, Vec::new())],
                }
            }
            69 => vec![ack(CMD_ACK_OK, vec![9])], // PIN width
            CMD_GET_FREE_SIZES => {
                let mut sizes = FreeSizes {
                    users: u32::try_from(s.data.users.len()).unwrap_or(u32::MAX),
                    fingers: u32::try_from(s.data.users.len()).unwrap_or(u32::MAX),
                    records: u32::try_from(s.data.attendance.len()).unwrap_or(u32::MAX),
                    users_cap: 5000,
                    fingers_cap: 3000,
                    records_cap: 200_000,
                };
                if let Some(count) = s.config.faults.announce_record_count {
                    (sizes.users, sizes.records) = (count, count);
                }
                vec![ack(CMD_ACK_OK, sizes.encode())]
            }
            CMD_GET_TIME => {
                let now = Utc::now().naive_utc() + s.config.clock_skew;
                vec![ack(CMD_ACK_OK, records::encode_time(now).to_le_bytes().to_vec())]
            }
            CMD_SET_TIME => match request.data.get(..4).and_then(|b| records::decode_time(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))) {
                Some(t) => {
                    s.config.clock_skew = t - Utc::now().naive_utc();
                    vec![ack(CMD_ACK_OK, Vec::new())]
                }
                None => vec![ack(CMD_ACK_ERROR, Vec::new())],
            },
            CMD_CLEAR_ATTLOG => {
                s.data.attendance.clear();
                vec![ack(CMD_ACK_OK, Vec::new())]
            }
            CMD_REG_EVENT => {
                let mask = request.data.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                session.subscribed = mask & EF_ATTLOG != 0;
                s.stats.subscriptions += usize::from(session.subscribed);
                vec![ack(CMD_ACK_OK, Vec::new())]
            }
            CMD_DATA_WRRQ => {
                let command = request.data.get(1..3).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
                let body = match command {
                    CMD_ATTLOG_RRQ => {
                        s.stats.attendance_reads += 1;
                        records::encode_attendance(&s.data.attendance, s.config.layout)
                    }
                    CMD_USERTEMP_RRQ => records::encode_users(&s.data.users, user_layout),
                    _ => return vec![ack(CMD_ACK_ERROR, Vec::new())],
                };
                let mut dataset = u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes().to_vec();
                dataset.extend(body);
                // Small sets come inline, as an F18 sends them; a UDP reply must fit in 1024 bytes.
                let inline_limit = if udp { UDP_MAX_DATA - 8 } else { 1024 };
                let announced = s.config.faults.announce_dataset_bytes;
                if dataset.len() <= inline_limit && announced.is_none() {
                    return vec![ack(CMD_DATA, dataset)];
                }
                let size = announced.unwrap_or_else(|| u32::try_from(dataset.len()).unwrap_or(u32::MAX)).to_le_bytes();
                let mut stat = vec![0u8];
                stat.extend_from_slice(&size);
                stat.extend_from_slice(&size);
                stat.extend_from_slice(&0u32.to_le_bytes());
                session.buffer = dataset;
                vec![ack(CMD_ACK_OK, stat)]
            }
            CMD_DATA_RDY => {
                let field = |at: usize| request.data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
                let (Some(start), Some(size)) = (field(0), field(4)) else { return vec![ack(CMD_ACK_ERROR, Vec::new())] };
                let Some(chunk) = session.buffer.get(start..start.saturating_add(size)) else {
                    return vec![ack(CMD_ACK_ERROR, Vec::new())];
                };
                let mut prepare = u32::try_from(size).unwrap_or(0).to_le_bytes().to_vec();
                prepare.extend_from_slice(&0u32.to_le_bytes());
                let mut out = vec![ack(CMD_PREPARE_DATA, prepare)];
                if udp {
                    out.extend(chunk.chunks(UDP_MAX_DATA).map(|piece| ack(CMD_DATA, piece.to_vec())));
                } else {
                    out.push(ack(CMD_DATA, chunk.to_vec()));
                }
                out.push(ack(CMD_ACK_OK, Vec::new()));
                out
            }
            CMD_FREE_DATA => {
                session.buffer = Vec::new();
                vec![ack(CMD_ACK_OK, Vec::new())]
            }
            _ => vec![ack(CMD_ACK_UNKNOWN, Vec::new())],
        }
    }
}

/// Per-connection (TCP) or per-peer (UDP) protocol state.
#[derive(Default)]
struct Session {
    id: u16,
    authenticated: bool,
    subscribed: bool,
    buffer: Vec<u8>,
}
