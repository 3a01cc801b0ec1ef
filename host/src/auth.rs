//! Password and API-token hashing.
//!
//! Passwords use argon2id with the OWASP baseline (19 MiB, t=2, p=1: the `argon2` crate's defaults);
//! hashing takes tens of milliseconds, so async callers run it with `spawn_blocking`.
//! API tokens are 256 random bits with a readable `zkb_` prefix. They are looked up by SHA-256: with
//! that much entropy a slow hash adds latency and no security.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Shortest password accepted (ASVS V6.2.1).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted; long enough for passphrases, short enough to bound hashing work.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Why a password or token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password breaks the length policy.
    #[error("password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters long")]
    PasswordPolicy,
    /// The hashing library failed (for instance on a corrupt stored hash).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a password into an argon2id PHC string after checking the length policy.
///
/// # Errors
/// [`AuthError::PasswordPolicy`] for a too short or too long password.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let length = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        return Err(AuthError::PasswordPolicy);
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string (exactly as typed: no trimming or truncation).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A freshly generated API token: show `token` once, store `hash` and `prefix`.
#[derive(Clone)]
pub struct NewToken {
    /// The secret itself, `zkb_` + 64 hex digits.
    pub token: String,
    /// Hex SHA-256 of `token`.
    pub hash: String,
    /// The first 12 characters, safe to display.
    pub prefix: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Makes a new random API token.
pub fn generate_token() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("zkb_{}", hex::encode(bytes));
    NewToken { hash: hash_token(&token), prefix: token.chars().take(12).collect(), token }
}

/// The lookup hash of a presented token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_and_policy() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse ", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert!(matches!(hash_password("short"), Err(AuthError::PasswordPolicy)));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 68);
        assert_eq!(hash_token(&a.token), a.hash);
        assert!(!format!("{a:?}").contains(&a.token));
    }
}
