//! What can go wrong talking to a device, as one typed error.

/// A device operation failed. Every variant is recoverable by the caller: retry later, fix the
/// configuration, or report the device; none of them loses data already stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// Nothing listens at the address, or the connection was refused.
    #[error("device unreachable: {0}")]
    Unreachable(String),
    /// The device did not answer within the timeout.
    #[error("device did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The device closed the connection.
    #[error("device closed the connection")]
    Closed,
    /// The device refused the communication key.
    #[error("wrong comm key: the device refused authentication")]
    WrongCommKey,
    /// The device wants a comm key and none (or 0) is configured.
    #[error("the device requires a comm key")]
    CommKeyRequired,
    /// The device answered with an error code.
    #[error("device refused command {command}: reply code {code}")]
    Refused {
        /// The command sent.
        command: u16,
        /// The device's reply code.
        code: u16,
    },
    /// A packet or record could not be understood (bad framing, checksum, length or content).
    #[error("protocol error: {0}")]
    Malformed(String),
    /// A download ended before all announced data arrived; nothing of it is returned.
    #[error("truncated data: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes announced.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// The device announced more data than the protocol allows for what it says it holds (its
    /// record count times the largest record, within [`crate::device::client::MAX_DATASET_BYTES`]).
    /// Refused before anything is allocated or read: a broken or hostile device cannot make the
    /// bridge reserve gigabytes.
    #[error("device announced {announced} bytes of data where at most {allowed} are possible")]
    Oversized {
        /// Bytes the device announced (or its record count implies).
        announced: u64,
        /// The most the protocol allows here.
        allowed: u64,
    },
    /// A socket error.
    #[error("network error: {0}")]
    Io(String),
}
