//! Request signing for CRMs that verify the sender, following the Standard Webhooks scheme
//! (<https://www.standardwebhooks.com>): three headers, `webhook-id` (the idempotency key),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 of
//! HMAC-SHA256 over `id.timestamp.body`, keyed with the bytes of a `whsec_…` secret).
//!
//! HMAC is [`crate::hmac`]'s (a dozen lines over `sha2`); the spec's own test vector pins it here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::hmac::{constant_time_eq, hmac_sha256};

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

    #[test]
    fn bad_secrets_are_refused() {
        assert!(SigningKey::parse("whsec_!!!").is_err());
        assert!(SigningKey::parse("whsec_").is_err());
    }
}
