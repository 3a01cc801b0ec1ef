//! Packets of the ZK binary protocol and their framing on TCP and UDP.
//!
//! A packet is an 8-byte header (command, checksum, session id, reply id, all u16 little-endian)
//! followed by data. Over UDP one datagram is one packet; over TCP each packet is preceded by an
//! 8-byte "top" (`50 50 82 7D` + u32 length). The checksum is the one's complement of the
//! one's-complement sum of the packet's u16 words with the checksum field zeroed, which is what real
//! devices produce and verify.

use tokio::io::{AsyncRead, AsyncReadExt as _};

use super::error::DeviceError;

/// Magic bytes that open every TCP frame.
pub const TCP_MAGIC: [u8; 4] = [0x50, 0x50, 0x82, 0x7D];
/// Length of the packet header.
pub const HEADER_LEN: usize = 8;
/// Largest packet accepted: a full TCP chunk plus headroom. Anything larger is a broken or hostile peer.
pub const MAX_PACKET: usize = 0x1_0000 + 1024;

/// One protocol packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Command (request) or reply code (response).
    pub command: u16,
    /// Session id (for real-time events: the event code).
    pub session: u16,
    /// Reply id, echoed by the device.
    pub reply: u16,
    /// Command data.
    pub data: Vec<u8>,
}

/// The checksum over a header (checksum field zeroed) and data.
pub fn checksum(command: u16, session: u16, reply: u16, data: &[u8]) -> u16 {
    let mut sum: u32 = u32::from(command) + u32::from(session) + u32::from(reply);
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_le_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

impl Packet {
    /// A packet with the given fields.
    pub fn new(command: u16, session: u16, reply: u16, data: Vec<u8>) -> Self {
        Self { command, session, reply, data }
    }

    /// The packet's bytes (header + data), as sent over UDP.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.data.len());
        out.extend_from_slice(&self.command.to_le_bytes());
        out.extend_from_slice(&checksum(self.command, self.session, self.reply, &self.data).to_le_bytes());
        out.extend_from_slice(&self.session.to_le_bytes());
        out.extend_from_slice(&self.reply.to_le_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// The packet framed for TCP.
    pub fn encode_tcp(&self) -> Vec<u8> {
        let body = self.encode();
        let mut out = Vec::with_capacity(8 + body.len());
        out.extend_from_slice(&TCP_MAGIC);
        out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses one packet (header + data); `Ok((packet, checksum_ok))`.
    ///
    /// # Errors
    /// [`DeviceError::Malformed`] when shorter than a header or longer than [`MAX_PACKET`].
    pub fn decode(bytes: &[u8]) -> Result<(Packet, bool), DeviceError> {
        if bytes.len() < HEADER_LEN {
            return Err(DeviceError::Malformed(format!("packet of {} bytes is shorter than its header", bytes.len())));
        }
        if bytes.len() > MAX_PACKET {
            return Err(DeviceError::Malformed(format!("packet of {} bytes is too large", bytes.len())));
        }
        let word = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let packet = Packet { command: word(0), session: word(4), reply: word(6), data: bytes[HEADER_LEN..].to_vec() };
        let valid = word(2) == checksum(packet.command, packet.session, packet.reply, &packet.data);
        Ok((packet, valid))
    }
}

/// Parses a TCP frame's top: the length of the packet that follows.
///
/// # Errors
/// [`DeviceError::Malformed`] for wrong magic, or a length outside 8..=[`MAX_PACKET`].
pub fn frame_length(top: &[u8; 8]) -> Result<usize, DeviceError> {
    if top[..4] != TCP_MAGIC {
        return Err(DeviceError::Malformed(format!("bad TCP frame magic {:02x?}", &top[..4])));
    }
    let length = u32::from_le_bytes([top[4], top[5], top[6], top[7]]) as usize;
    if !(HEADER_LEN..=MAX_PACKET).contains(&length) {
        return Err(DeviceError::Malformed(format!("TCP frame length {length} out of range")));
    }
    Ok(length)
}

/// Reads exactly one TCP frame and decodes its packet.
///
/// # Errors
/// [`DeviceError::Closed`] when the peer closes, [`DeviceError::Malformed`] for bad framing.
pub async fn read_tcp_packet<R: AsyncRead + Unpin>(reader: &mut R) -> Result<(Packet, bool), DeviceError> {
    let mut top = [0u8; 8];
    read_exact(reader, &mut top).await?;
    let length = frame_length(&top)?;
    let mut body = vec![0u8; length];
    read_exact(reader, &mut body).await?;
    Packet::decode(&body)
}

async fn read_exact<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> Result<(), DeviceError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(DeviceError::Closed),
        Err(e) => Err(DeviceError::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors from the protocol notes (captured packets).
    #[test]
    fn checksums_match_captured_packets() {
        assert_eq!(checksum(0x000B, 0xC0C5, 5, b"~OS\0"), 0xEF58);
        assert_eq!(checksum(0x000B, 0x8DF3, 3, b"ZKFaceVersion\0"), 0x175A);
        assert_eq!(checksum(0x07D0, 0x8DF3, 10, &[0x09]), 0x6A29);
        assert_eq!(checksum(0x01F4, 0x0100, 0, &[0x64]), 0xFCA7);
        let connect = Packet::new(1000, 0, 0, Vec::new()).encode_tcp();
        assert_eq!(connect, [0x50, 0x50, 0x82, 0x7D, 8, 0, 0, 0, 0xE8, 0x03, 0x17, 0xFC, 0, 0, 0, 0]);
    }

    #[test]
    fn round_trip_and_rejects() {
        let packet = Packet::new(1503, 77, 9, vec![1, 2, 3]);
        let (back, valid) = Packet::decode(&packet.encode()).expect("decodes");
        assert!(valid);
        assert_eq!(back, packet);
        assert!(Packet::decode(&[1, 2, 3]).is_err());
        let mut bad = packet.encode();
        bad[2] ^= 0xFF;
        assert!(!Packet::decode(&bad).expect("decodes").1);
        assert!(frame_length(&[0x50, 0x50, 0x82, 0x7D, 0xFF, 0xFF, 0xFF, 0x7F]).is_err());
        assert!(frame_length(&[0, 0, 0, 0, 8, 0, 0, 0]).is_err());
    }
}
