use thiserror::Error;

/// What can go wrong below the service, independent of the backend.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached or is too busy; the caller may retry.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A unique key is taken (a node id, a token path).
    #[error("a row with that key exists already: {0}")]
    Duplicate(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("could not apply database migrations: {0}")]
    Migration(String),
    /// A stored value could not be decoded (corrupt or hand-edited data).
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Duplicate(db.message().to_owned())
            }
            sqlx::Error::Database(db) if is_busy(db.message()) => {
                StoreError::Unavailable(db.message().to_owned())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}
