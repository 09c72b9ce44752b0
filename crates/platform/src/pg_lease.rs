//! Leases on PostgreSQL: one `leases` row per name, every change a single atomic statement on the
//! database clock (instances with skewed clocks agree). Release only expires the row, so the
//! epoch keeps growing across takeovers.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{PgPool, Row};

use crate::PgStore;
use crate::lease::{Epoch, Lease, LeaseError, LeaseState, check, check_holder, check_name};

/// Takes a free or expired lease. Under concurrent acquires, the row lock makes the later
/// statements re-check `expires_at` against the winner's row, so exactly one gets an epoch back.
const ACQUIRE: &str = "\
INSERT INTO leases (name, holder, epoch, expires_at) \
VALUES ($1, $2, 1, now() + make_interval(secs => $3::double precision / 1000)) \
ON CONFLICT (name) DO UPDATE \
SET holder = EXCLUDED.holder, epoch = leases.epoch + 1, expires_at = EXCLUDED.expires_at \
WHERE leases.expires_at <= now() \
RETURNING epoch";

const RENEW: &str = "\
UPDATE leases SET expires_at = now() + make_interval(secs => $4::double precision / 1000) \
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()";

const RELEASE: &str = "\
UPDATE leases SET expires_at = now() \
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()";

const CURRENT: &str = "\
SELECT holder, epoch, \
       (extract(epoch FROM expires_at - now()) * 1000)::bigint AS expires_in_ms \
FROM leases WHERE name = $1 AND expires_at > now()";

pub struct PgLease {
    pool: PgPool,
    location: String,
}

impl PgLease {
    /// Leases on the store's database (its migrations made the table), sharing its pool. A small
    /// pool of its own (`PgStore::open_lazy(url, 2)`) keeps renewals from waiting behind requests.
    pub fn new(store: &PgStore) -> Self {
        PgLease {
            pool: store.pool().clone(),
            location: store.location().to_owned(),
        }
    }
}

fn unavailable(e: sqlx::Error) -> LeaseError {
    LeaseError::Unavailable(format!("postgresql: {e}"))
}

fn epoch(value: i64) -> Epoch {
    Epoch(value.max(0) as u64)
}

fn db_epoch(epoch: Epoch) -> Result<i64, LeaseError> {
    i64::try_from(epoch.0)
        .map_err(|_| LeaseError::Invalid(format!("epoch {epoch} is beyond any stored epoch")))
}

#[async_trait]
impl Lease for PgLease {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Epoch>, LeaseError> {
        let ttl = check(name, holder, ttl)?;
        let row: Option<i64> = sqlx::query_scalar(ACQUIRE)
            .bind(name)
            .bind(holder)
            .bind(ttl as i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(epoch))
    }

    async fn renew(
        &self,
        name: &str,
        holder: &str,
        epoch: Epoch,
        ttl: Duration,
    ) -> Result<bool, LeaseError> {
        let ttl = check(name, holder, ttl)?;
        let done = sqlx::query(RENEW)
            .bind(name)
            .bind(holder)
            .bind(db_epoch(epoch)?)
            .bind(ttl as i64)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, name: &str, holder: &str, epoch: Epoch) -> Result<bool, LeaseError> {
        check_name(name)?;
        check_holder(holder)?;
        let done = sqlx::query(RELEASE)
            .bind(name)
            .bind(holder)
            .bind(db_epoch(epoch)?)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn current(&self, name: &str) -> Result<Option<LeaseState>, LeaseError> {
        check_name(name)?;
        let row = sqlx::query(CURRENT)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = |e: sqlx::Error| LeaseError::Unavailable(format!("postgresql: {e}"));
        let holder: String = row.try_get("holder").map_err(read)?;
        let stored: i64 = row.try_get("epoch").map_err(read)?;
        let ms: i64 = row.try_get("expires_in_ms").map_err(read)?;
        Ok(Some(LeaseState {
            holder,
            epoch: epoch(stored),
            expires_in: Duration::from_millis(ms.max(0) as u64),
        }))
    }

    fn describe(&self) -> String {
        format!("postgresql ({})", self.location)
    }
}
