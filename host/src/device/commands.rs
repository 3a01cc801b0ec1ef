//! Command and reply codes of the ZK binary protocol (decimal, as in the vendor SDK).

#![allow(missing_docs)]

pub const CMD_OPTIONS_RRQ: u16 = 11;
pub const CMD_ATTLOG_RRQ: u16 = 13;
pub const CMD_CLEAR_ATTLOG: u16 = 15;
pub const CMD_USERTEMP_RRQ: u16 = 9;
pub const CMD_GET_FREE_SIZES: u16 = 50;
pub const CMD_STARTVERIFY: u16 = 60;
pub const CMD_CANCELCAPTURE: u16 = 62;
pub const CMD_GET_TIME: u16 = 201;
pub const CMD_SET_TIME: u16 = 202;
pub const CMD_REG_EVENT: u16 = 500;
pub const CMD_CONNECT: u16 = 1000;
pub const CMD_EXIT: u16 = 1001;
pub const CMD_ENABLEDEVICE: u16 = 1002;
pub const CMD_DISABLEDEVICE: u16 = 1003;
pub const CMD_REFRESHDATA: u16 = 1013;
pub const CMD_GET_VERSION: u16 = 1100;
pub const CMD_AUTH: u16 = 1102;
pub const CMD_PREPARE_DATA: u16 = 1500;
pub const CMD_DATA: u16 = 1501;
pub const CMD_FREE_DATA: u16 = 1502;
pub const CMD_DATA_WRRQ: u16 = 1503;
pub const CMD_DATA_RDY: u16 = 1504;
pub const CMD_ACK_OK: u16 = 2000;
pub const CMD_ACK_ERROR: u16 = 2001;
pub const CMD_ACK_UNAUTH: u16 = 2005;
pub const CMD_ACK_UNKNOWN: u16 = 0xFFFF;

/// Table code of users in a buffered read.
pub const FCT_USER: u32 = 5;
/// Real-time event: an attendance record.
pub const EF_ATTLOG: u32 = 1;

/// Largest chunk one buffered-read request asks for over TCP.
pub const TCP_MAX_CHUNK: u32 = 0xFFC0;
/// Largest chunk one buffered-read request asks for over UDP.
pub const UDP_MAX_CHUNK: u32 = 16 * 1024;
/// Largest data part of one UDP datagram.
pub const UDP_MAX_DATA: usize = 1024;
