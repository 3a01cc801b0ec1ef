//! Connecting to a pulled device that may have a failover address.
//!
//! The original bridge tried a device's `secondary_ip_address` when the first address did not answer;
//! sites rely on it for terminals reachable over two networks. Only "nobody answers" (refused,
//! unreachable, timed out) moves on to the secondary address: a wrong comm key or a protocol error
//! is the device answering, and trying elsewhere would only hide it.

use std::time::Duration;

use crate::device::DeviceError;
use crate::device::client::{ConnectOptions, ZkClient};
use crate::store::devices::Device;

/// Which of a device's addresses answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Answered {
    /// The device's address.
    Primary,
    /// Its failover address, after the first did not answer.
    Secondary,
}

impl std::fmt::Display for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Answered::Primary => "primary",
            Answered::Secondary => "secondary",
        })
    }
}

/// A connected client, which address answered, and that address as `host:port`.
pub struct Connected {
    /// The session.
    pub client: ZkClient,
    /// Primary or secondary.
    pub answered: Answered,
    /// `host:port` that answered.
    pub address: String,
}

/// Whether an error means nothing answered at that address (so another address is worth trying).
pub fn nobody_answered(error: &DeviceError) -> bool {
    matches!(error, DeviceError::Unreachable(_) | DeviceError::Timeout(_))
}

/// Resolves `host:port`.
///
/// # Errors
/// [`DeviceError::Unreachable`] when the name does not resolve.
pub async fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, DeviceError> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| DeviceError::Unreachable(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| DeviceError::Unreachable(format!("{host} has no address")))
}

/// Connects to `primary`, then to `secondary` when the first does not answer. The error returned
/// when both fail names both addresses.
///
/// # Errors
/// The primary's error when it answered with one (or there is no secondary), else the secondary's.
pub async fn connect_either(
    primary: &str,
    secondary: Option<&str>,
    port: u16,
    comm_key: u32,
    timeout: Duration,
    udp: bool,
) -> Result<Connected, DeviceError> {
    let attempt = async |host: &str| -> Result<ZkClient, DeviceError> {
        let address = resolve(host, port).await?;
        ZkClient::connect(ConnectOptions { address, comm_key, timeout, udp }).await
    };
    let first = match attempt(primary).await {
        Ok(client) => return Ok(Connected { client, answered: Answered::Primary, address: format!("{primary}:{port}") }),
        Err(e) => e,
    };
    let Some(secondary) = secondary.filter(|s| !s.trim().is_empty() && nobody_answered(&first)) else {
        return Err(first);
    };
    tracing::warn!(primary = %format!("{primary}:{port}"), error = %first, secondary = %format!("{secondary}:{port}"), "primary address did not answer; trying the secondary");
    match attempt(secondary).await {
        Ok(client) => Ok(Connected { client, answered: Answered::Secondary, address: format!("{secondary}:{port}") }),
        Err(second) if nobody_answered(&second) => {
            Err(DeviceError::Unreachable(format!("neither {primary}:{port} ({first}) nor the secondary {secondary}:{port} ({second}) answered")))
        }
        Err(second) => Err(second),
    }
}

/// [`connect_either`] for a registered pulled device.
///
/// # Errors
/// As [`connect_either`]; [`DeviceError::Unreachable`] for a device without an address or port.
pub async fn connect_device(device: &Device, timeout: Duration) -> Result<Connected, DeviceError> {
    let host = device.address.as_deref().ok_or_else(|| DeviceError::Unreachable(format!("device {:?} has no address", device.name)))?;
    let port = u16::try_from(device.port).map_err(|_| DeviceError::Unreachable(format!("device {:?} has port {}", device.name, device.port)))?;
    let comm_key = u32::try_from(device.comm_key).unwrap_or(0);
    connect_either(host, device.secondary_address.as_deref(), port, comm_key, timeout, false).await
}
