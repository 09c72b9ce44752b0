//! The connections a `PgStore` reads through. sqlx pings every connection it gets back (a round
//! trip to the server per query, and a task spawned to do it), so reads keep their connections:
//! one whose query finished cleanly waits here for the next read as it is. One that failed, or
//! whose read was dropped midway (its state unknown), goes back to sqlx, which checks or closes it.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, PgPool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::postgres::TRUST_IDLE_FOR;
use crate::store::{PoolStatus, Result};

/// A connection idle longer than this goes back to sqlx, which closes it when idle too long.
const KEEP_IDLE_FOR: Duration = Duration::from_secs(60);

pub(crate) struct ReadConns {
    /// Its own pool: connections kept here are checked out of it, so nothing else may wait on it.
    pool: PgPool,
    /// One permit per connection of the pool: a read waits here, never inside the pool.
    permits: std::sync::Arc<Semaphore>,
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

impl ReadConns {
    pub(crate) fn new(pool: PgPool) -> ReadConns {
        let size = pool.options().get_max_connections() as usize;
        ReadConns {
            pool,
            permits: std::sync::Arc::new(Semaphore::new(size)),
            idle: Mutex::default(),
        }
    }

    /// A connection for one read; hand the read's outcome to [`Lent::done`].
    pub(crate) async fn lend(&self) -> Result<Lent<'_>> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            let parked = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((mut conn, since)) = parked else {
                let conn = self.pool.acquire().await?;
                return Ok(self.lent(conn, permit));
            };
            let idle = since.elapsed();
            if idle > KEEP_IDLE_FOR {
                continue; // dropped: back to sqlx
            }
            if idle > TRUST_IDLE_FOR && conn.ping().await.is_err() {
                conn.close_on_drop();
                continue;
            }
            return Ok(self.lent(conn, permit));
        }
    }

    fn lent(&self, conn: PoolConnection<Postgres>, permit: OwnedSemaphorePermit) -> Lent<'_> {
        Lent {
            home: self,
            conn: Some(conn),
            _permit: permit,
        }
    }

    pub(crate) fn status(&self, name: &str) -> PoolStatus {
        let mut status = PoolStatus::of(name, &self.pool);
        let parked = self.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        status.idle = status
            .idle
            .saturating_add(u32::try_from(parked).unwrap_or(u32::MAX));
        status
    }
}

/// A connection lent for one read. Dropped without [`Lent::done`] (the read was cancelled), or
/// done with an error, it goes back to sqlx.
pub(crate) struct Lent<'a> {
    home: &'a ReadConns,
    conn: Option<PoolConnection<Postgres>>,
    _permit: OwnedSemaphorePermit,
}

impl Lent<'_> {
    /// Keeps the connection for the next read when the read succeeded.
    pub(crate) fn done<T>(mut self, outcome: &Result<T>) {
        if outcome.is_ok()
            && let Some(conn) = self.conn.take()
        {
            let mut idle = self.home.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push((conn, Instant::now()));
        }
    }
}

impl Deref for Lent<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("lent until done")
    }
}

impl DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("lent until done")
    }
}
