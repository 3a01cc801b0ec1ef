//! Request signing for CRMs that verify the sender, following the Standard Webhooks scheme
//! (<https://www.standardwebhooks.com>): three headers, `webhook-id` (the idempotency key),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 of
//! HMAC-SHA256 over `id.timestamp.body`, keyed with the bytes of a `whsec_…` secret).
//!
//! HMAC is written out here (RFC 2104, a dozen lines over `sha2`) rather than pulling another crate;
//! the spec's own test vector pins it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

/// A signing key decoded from its `whsec_…` form.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// The secret is not a `whsec_` + base64 string.
#[derive(Debug, thiserror::Error)]
#[error("CRM_SIGNING_SECRET must be `whsec_` followed by base64 (as Standard Webhooks secrets are)")]
pub struct BadSecret;

impl SigningKey {
    /// Parses `whsec_<base64>` (the prefix is optional).
    ///
    /// # Errors
    /// When the rest is not base64 or is empty.
    pub fn parse(secret: &str) -> Result<Self, BadSecret> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
        if key.is_empty() {
            return Err(BadSecret);
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` value for one request.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let message = format!("{id}.{timestamp}.{body}");
        format!("v1,{}", STANDARD.encode(hmac_sha256(&self.0, message.as_bytes())))
    }

    /// Whether `header` (space-separated `v1,<sig>` entries) holds a valid signature; the mock CRM checks
    /// with it.
    pub fn verify(&self, id: &str, timestamp: i64, body: &str, header: &str) -> bool {
        let expected = self.sign(id, timestamp, body);
        header.split(' ').any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
    }
}

/// The three Standard Webhooks headers for a request sent now.
pub fn headers(key: &SigningKey, id: &str, body: &str) -> [(&'static str, String); 3] {
    let timestamp = chrono::Utc::now().timestamp();
    [("webhook-id", id.to_owned()), ("webhook-timestamp", timestamp.to_string()), ("webhook-signature", key.sign(id, timestamp, body))]
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks reference libraries.
    #[test]
    fn standard_webhooks_vector() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let signature = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(key.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#, &format!("v1,bogus {signature}")));
        assert!(!key.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_331, r#"{"test": 2432232314}"#, &signature));
    }

    /// S1 of the reliability checklist: the reference Rust library's known answer.
    #[test]
    fn reference_library_vector() {
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("secret");
        let body = r#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(key.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1_649_367_553, body), "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_rfc4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(SigningKey::parse("whsec_!!!").is_err());
        assert!(SigningKey::parse("whsec_").is_err());
    }
}
