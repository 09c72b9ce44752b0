//! Leases on Redis: the lease is a key `tinct:lease:{name}` whose value is `epoch:holder`, set
//! with `SET NX PX` (so it expires on Redis's clock); renew and release compare the whole value
//! first (compare-and-renew / compare-and-delete scripts), so only the current tenure can touch it.
//!
//! The epoch lives in a companion key and is raised in the same script as the `SET NX`, so epochs
//! follow takeovers exactly. It never drops below Redis server time in milliseconds: a Redis that
//! restarted without its data still hands out epochs above every earlier one (PostgreSQL's lease
//! row is durable and needs no such floor).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use crate::lease::{Epoch, Lease, LeaseError, LeaseState, check, check_holder, check_name};
use crate::redis_script::Script;

/// KEYS: lease, epoch. ARGV: holder, TTL in ms. The new epoch as text, or nil while held.
/// Numbers are formatted with %.0f: Lua's default format keeps only 14 digits.
static ACQUIRE: Script = Script::new(
    r"
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local t = redis.call('TIME')
local floor = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
if epoch < floor then epoch = floor end
local text = string.format('%.0f', epoch)
redis.call('SET', KEYS[1], text .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
redis.call('SET', KEYS[2], text)
return text
",
);

/// KEYS: lease. ARGV: `epoch:holder`, TTL in ms. 1 if renewed.
static RENEW: Script = Script::new(
    r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
",
);

/// KEYS: lease. ARGV: `epoch:holder`. 1 if released.
static RELEASE: Script = Script::new(
    r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
);

/// How long one call may take before Redis counts as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

pub struct RedisLease {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
}

impl RedisLease {
    /// Never fails on an unreachable Redis: each call reports it until Redis answers.
    pub fn new(url: &str) -> Result<Self, LeaseError> {
        Ok(RedisLease {
            client: redis::Client::open(url)
                .map_err(|e| LeaseError::Invalid(format!("the Redis URL is not valid: {e}")))?,
            connection: tokio::sync::Mutex::new(None),
        })
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self.client.get_connection_manager().await?;
        Ok(slot.insert(conn).clone())
    }

    /// Runs one call on the shared connection, bounded by `CALL_TIMEOUT`.
    async fn call<T, F>(&self, f: impl FnOnce(ConnectionManager) -> F) -> Result<T, LeaseError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let work = async {
            let conn = self.connection().await?;
            f(conn).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(LeaseError::Unavailable(format!("redis: {e}"))),
            Err(_) => Err(LeaseError::Unavailable(format!(
                "redis did not answer within {CALL_TIMEOUT:?}"
            ))),
        }
    }
}

fn key(name: &str) -> String {
    format!("tinct:lease:{{{name}}}")
}

fn value(holder: &str, epoch: Epoch) -> String {
    format!("{epoch}:{holder}")
}

#[async_trait]
impl Lease for RedisLease {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Epoch>, LeaseError> {
        let ttl = check(name, holder, ttl)?;
        let (lease, epoch_key) = (key(name), format!("{}:epoch", key(name)));
        let args = [holder.to_owned(), ttl.to_string()];
        let epoch: Option<String> =
            self.call(|mut conn| async move {
                ACQUIRE.run(&mut conn, &[&lease, &epoch_key], &args).await
            })
            .await?;
        epoch
            .map(|text| {
                text.parse().map(Epoch).map_err(|_| {
                    LeaseError::Unavailable(format!("redis answered a non-numeric epoch '{text}'"))
                })
            })
            .transpose()
    }

    async fn renew(
        &self,
        name: &str,
        holder: &str,
        epoch: Epoch,
        ttl: Duration,
    ) -> Result<bool, LeaseError> {
        let ttl = check(name, holder, ttl)?;
        let lease = key(name);
        let args = [value(holder, epoch), ttl.to_string()];
        let renewed: i64 = self
            .call(|mut conn| async move { RENEW.run(&mut conn, &[&lease], &args).await })
            .await?;
        Ok(renewed == 1)
    }

    async fn release(&self, name: &str, holder: &str, epoch: Epoch) -> Result<bool, LeaseError> {
        check_name(name)?;
        check_holder(holder)?;
        let lease = key(name);
        let args = [value(holder, epoch)];
        let released: i64 = self
            .call(|mut conn| async move { RELEASE.run(&mut conn, &[&lease], &args).await })
            .await?;
        Ok(released == 1)
    }

    async fn current(&self, name: &str) -> Result<Option<LeaseState>, LeaseError> {
        check_name(name)?;
        let lease = key(name);
        let (value, pttl): (Option<String>, i64) = self
            .call(|mut conn| async move {
                redis::pipe()
                    .atomic()
                    .get(&lease)
                    .pttl(&lease)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let Some(value) = value else {
            return Ok(None);
        };
        let parsed = value
            .split_once(':')
            .and_then(|(epoch, holder)| Some((epoch.parse().ok()?, holder)));
        let Some((epoch, holder)) = parsed else {
            return Err(LeaseError::Unavailable(format!(
                "the lease key holds '{value}', not 'epoch:holder'"
            )));
        };
        Ok(Some(LeaseState {
            holder: holder.to_owned(),
            epoch: Epoch(epoch),
            expires_in: Duration::from_millis(pttl.max(0) as u64),
        }))
    }

    fn describe(&self) -> String {
        "redis".to_owned()
    }
}
