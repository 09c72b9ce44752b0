//! The Lease port: a named lease held by one holder at a time, for a time to live. Each takeover
//! gives the lease a higher epoch, the fencing token: work done under an older epoch can be told
//! apart (and refused) after another holder took over.
//!
//! Adapters: `LocalLease` (in-process: the embedded store runs one process, which always leads),
//! `PgLease` (a row on PostgreSQL, on the database clock) and `RedisLease` (`SET NX PX` with
//! compare-and-renew / compare-and-delete scripts). `Leadership` keeps a lease in the background.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// The fencing token of one tenure: higher means later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Who holds a lease now, for health pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: String,
    pub epoch: Epoch,
    /// Until the lease expires unless renewed, on the backend's clock.
    pub expires_in: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// A name, holder or TTL the lease cannot take; nothing was changed.
    #[error("invalid lease request: {0}")]
    Invalid(String),
    /// The backend did not answer (or failed); the caller must not assume it holds the lease.
    #[error("the lease backend is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Lease: Send + Sync {
    /// Takes the lease if it is free or expired, with a new, higher epoch; `None` while anyone
    /// (this holder included) holds it.
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Epoch>, LeaseError>;

    /// Extends the lease to `ttl` from now if `holder` holds it with `epoch` and it has not
    /// expired; `false` otherwise (someone took over, or it lapsed).
    async fn renew(
        &self,
        name: &str,
        holder: &str,
        epoch: Epoch,
        ttl: Duration,
    ) -> Result<bool, LeaseError>;

    /// Frees the lease if `holder` holds it with `epoch`; `false` if it did not.
    async fn release(&self, name: &str, holder: &str, epoch: Epoch) -> Result<bool, LeaseError>;

    /// The current holder, or `None` when the lease is free or expired.
    async fn current(&self, name: &str) -> Result<Option<LeaseState>, LeaseError>;

    /// One line for logs and health.
    fn describe(&self) -> String;
}

/// Longest TTL a lease takes: anything longer is surely a unit mistake (seconds for ms).
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Checks a lease name: used in Redis keys (inside a `{hash tag}`), so a plain word.
pub(crate) fn check_name(name: &str) -> Result<(), LeaseError> {
    if name.is_empty() {
        return Err(LeaseError::Invalid(
            "the lease name is empty; name it, e.g. 'scheduler'".to_owned(),
        ));
    }
    if name.len() > 200
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
    {
        return Err(LeaseError::Invalid(format!(
            "the lease name '{name}' must be at most 200 letters, digits, '.', '_', '-' or ':'"
        )));
    }
    Ok(())
}

pub(crate) fn check_holder(holder: &str) -> Result<(), LeaseError> {
    if holder.is_empty() || holder.len() > 200 {
        return Err(LeaseError::Invalid(
            "the lease holder must be 1 to 200 bytes, e.g. 'host-pid'".to_owned(),
        ));
    }
    Ok(())
}

/// The TTL in whole milliseconds (the unit both backends keep).
pub(crate) fn check_ttl(ttl: Duration) -> Result<u64, LeaseError> {
    if ttl < Duration::from_millis(1) {
        return Err(LeaseError::Invalid(format!(
            "the lease TTL must be at least 1 ms (got {ttl:?}); the default is 30 s"
        )));
    }
    if ttl > MAX_TTL {
        return Err(LeaseError::Invalid(format!(
            "the lease TTL must be at most 24 h (got {ttl:?}); the default is 30 s"
        )));
    }
    Ok(ttl.as_millis() as u64)
}

pub(crate) fn check(name: &str, holder: &str, ttl: Duration) -> Result<u64, LeaseError> {
    check_name(name)?;
    check_holder(holder)?;
    check_ttl(ttl)
}

/// In-process leases: one process, so its single leadership runner always leads (epoch 1, renewed
/// for as long as the process runs). It keeps the port's rules, so it passes the same suite.
#[derive(Default)]
pub struct LocalLease {
    leases: Mutex<HashMap<String, Held>>,
}

struct Held {
    holder: String,
    epoch: Epoch,
    expires: Instant,
}

impl LocalLease {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Held>) -> T) -> T {
        f(&mut self.leases.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl Lease for LocalLease {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Epoch>, LeaseError> {
        check(name, holder, ttl)?;
        let now = Instant::now();
        Ok(self.with(|leases| match leases.get_mut(name) {
            Some(held) if held.expires > now => None,
            Some(held) => {
                held.holder = holder.to_owned();
                held.epoch = Epoch(held.epoch.0 + 1);
                held.expires = now + ttl;
                Some(held.epoch)
            }
            None => {
                let epoch = Epoch(1);
                leases.insert(
                    name.to_owned(),
                    Held {
                        holder: holder.to_owned(),
                        epoch,
                        expires: now + ttl,
                    },
                );
                Some(epoch)
            }
        }))
    }

    async fn renew(
        &self,
        name: &str,
        holder: &str,
        epoch: Epoch,
        ttl: Duration,
    ) -> Result<bool, LeaseError> {
        check(name, holder, ttl)?;
        let now = Instant::now();
        Ok(self.with(|leases| match leases.get_mut(name) {
            Some(held) if held.holder == holder && held.epoch == epoch && held.expires > now => {
                held.expires = now + ttl;
                true
            }
            _ => false,
        }))
    }

    async fn release(&self, name: &str, holder: &str, epoch: Epoch) -> Result<bool, LeaseError> {
        check_name(name)?;
        check_holder(holder)?;
        let now = Instant::now();
        Ok(self.with(|leases| match leases.get_mut(name) {
            // Expire rather than remove: the next holder's epoch must still be higher.
            Some(held) if held.holder == holder && held.epoch == epoch && held.expires > now => {
                held.expires = now;
                true
            }
            _ => false,
        }))
    }

    async fn current(&self, name: &str) -> Result<Option<LeaseState>, LeaseError> {
        check_name(name)?;
        let now = Instant::now();
        Ok(self.with(|leases| {
            leases
                .get(name)
                .filter(|held| held.expires > now)
                .map(|held| LeaseState {
                    holder: held.holder.clone(),
                    epoch: held.epoch,
                    expires_in: held.expires - now,
                })
        }))
    }

    fn describe(&self) -> String {
        "in-process".to_owned()
    }
}
