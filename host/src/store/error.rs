//! The storage layer's error type.

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot connect to the {backend} database: {message}")]
    Connect {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What went wrong (never includes a password).
        message: String,
    },
    /// No pooled connection became available.
    #[error("database connection pool: {0}")]
    Pool(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A value already exists where it must be unique (a user name, say).
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A value the database cannot hold.
    #[error("{0}")]
    Invalid(String),
    /// A row the caller named does not exist.
    #[error("{0} not found")]
    NotFound(String),
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Pool(e.to_string())
    }
}
