//! The Limiter port: decides one request against a rate policy for a key, with GCRA (the generic
//! cell rate algorithm). Each key keeps one number, its theoretical arrival time (TAT): requests
//! are spaced one emission interval apart, and up to `burst` of them may arrive at once.
//!
//! Adapters: `LocalLimiter` (in-process, one instance's view) and `RedisLimiter` (one Lua script on
//! Redis server time, shared by every instance). A limiter that cannot decide returns an error;
//! the caller chooses whether that lets the request through or refuses it.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use foldhash::fast::RandomState;
use redis::aio::ConnectionManager;

use crate::redis_script::Script;

/// A rate policy: `rate` requests per `period`, up to `burst` of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    pub rate: u32,
    pub period: Duration,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a rate policy: {reason}")]
pub struct PolicyError {
    pub text: String,
    pub reason: String,
}

impl RatePolicy {
    /// Parses `N/s`, `N/min` or `N/h`, optionally followed by `burst B` (default burst: N).
    /// `off` means no limit (`Ok(None)`).
    pub fn parse(text: &str) -> Result<Option<RatePolicy>, PolicyError> {
        let error = |reason: &str| PolicyError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let mut words = trimmed.split_whitespace();
        let rate_part = words.next().ok_or_else(|| error("it is empty"))?;
        let (count, unit) = rate_part
            .split_once('/')
            .ok_or_else(|| error("write it as N/s, N/min or N/h"))?;
        let rate: u32 = count
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| error("the count before '/' must be a whole number above 0"))?;
        let period = match unit.to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(error("the unit after '/' must be s, min or h")),
        };
        let burst = match (words.next(), words.next(), words.next()) {
            (None, _, _) => rate,
            (Some(word), Some(n), None) if word.eq_ignore_ascii_case("burst") => n
                .parse()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| error("the burst must be a whole number above 0"))?,
            _ => return Err(error("only 'burst B' may follow the rate")),
        };
        let policy = RatePolicy {
            rate,
            period,
            burst,
        };
        if policy.interval_micros() == 0 {
            return Err(error(
                "the rate is too high (more than one request per microsecond)",
            ));
        }
        Ok(Some(policy))
    }

    /// Time between two requests at the sustained rate, in microseconds.
    pub fn interval_micros(&self) -> u64 {
        self.period.as_micros() as u64 / u64::from(self.rate.max(1))
    }

    /// The policy as an IETF `RateLimit-Policy` value: `N;w=SECONDS;burst=B`.
    pub fn header_value(&self) -> String {
        format!(
            "{};w={};burst={}",
            self.rate,
            self.period.as_secs(),
            self.burst
        )
    }
}

impl std::fmt::Display for RatePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => {
                return write!(
                    f,
                    "{}/{}s burst {}",
                    self.rate,
                    self.period.as_secs(),
                    self.burst
                );
            }
        };
        write!(f, "{}/{unit} burst {}", self.rate, self.burst)
    }
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The burst: how many requests a key with a full budget may make at once.
    pub limit: u32,
    /// Requests still allowed at once after this one.
    pub remaining: u32,
    /// Until the budget is full again.
    pub reset_after: Duration,
    /// Until the next request would be allowed (zero when this one was).
    pub retry_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimiterError {
    #[error("the rate limiter's redis is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Limiter: Send + Sync {
    /// Decides one request for `key` under `policy`; an allowed request uses up budget.
    async fn check(&self, key: &str, policy: &RatePolicy) -> Result<Decision, LimiterError>;

    /// The same decision without waiting, for limiters that keep their state in this process;
    /// `None` when deciding needs I/O (then `check`).
    fn check_now(
        &self,
        _key: &str,
        _policy: &RatePolicy,
    ) -> Option<Result<Decision, LimiterError>> {
        None
    }

    /// One line for logs and health.
    fn describe(&self) -> String;
}

/// GCRA on a TAT in microseconds: the new TAT to store (if allowed) and the decision. Shared by
/// the local adapter and the tests; the Lua script does the same arithmetic.
fn gcra(stored_tat: Option<u64>, now: u64, policy: &RatePolicy) -> (Option<u64>, Decision) {
    let interval = policy.interval_micros();
    let tolerance = interval * u64::from(policy.burst);
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat + interval;
    // How far ahead of now the key would be; at most the tolerance is allowed.
    let ahead = new_tat - now;
    if ahead > tolerance {
        let decision = Decision {
            allowed: false,
            limit: policy.burst,
            remaining: 0,
            reset_after: Duration::from_micros(tat - now),
            retry_after: Duration::from_micros(ahead - tolerance),
        };
        return (None, decision);
    }
    let decision = Decision {
        allowed: true,
        limit: policy.burst,
        remaining: ((tolerance - ahead) / interval) as u32,
        reset_after: Duration::from_micros(ahead),
        retry_after: Duration::ZERO,
    };
    (Some(new_tat), decision)
}

/// Monotonic time for the local limiter; tests inject a manual one.
pub trait Clock: Send + Sync {
    fn now(&self) -> Duration;
}

/// Time since the clock was made.
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Shards keep one lock from serialising every request of the process.
const SHARDS: usize = 16;
/// Keys one shard remembers (262,144 in all, some 20 MB); past it, the shard drops keys to stay
/// bounded.
const SHARD_CAPACITY: usize = 16_384;
/// How often a shard forgets keys whose budget is full again.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// In-process GCRA: one instance's view of each key.
pub struct LocalLimiter {
    clock: Arc<dyn Clock>,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

#[derive(Default)]
struct Shard {
    /// Key → TAT in microseconds of the clock.
    tats: HashMap<String, u64, RandomState>,
    next_sweep: u64,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock::default()))
    }
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        LocalLimiter {
            clock,
            hasher: RandomState::default(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Keys remembered right now (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).tats.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn decide(&self, key: &str, policy: &RatePolicy) -> Decision {
        let now = self.clock.now().as_micros() as u64;
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        if now >= shard.next_sweep || shard.tats.len() >= SHARD_CAPACITY {
            // A TAT in the past means a full budget: forgetting the key changes nothing.
            shard.tats.retain(|_, tat| *tat > now);
            shard.next_sweep = now + SWEEP_EVERY.as_micros() as u64;
            if shard.tats.len() >= SHARD_CAPACITY {
                // Still full of live keys (a flood of distinct clients): forget the ones closest
                // to a full budget rather than grow without bound.
                let mut tats: Vec<u64> = shard.tats.values().copied().collect();
                let cut = tats.len() / 2;
                let (_, median, _) = tats.select_nth_unstable(cut);
                let median = *median;
                shard.tats.retain(|_, tat| *tat > median);
            }
        }
        // One lookup for a known key; a new one is copied in only when it is allowed.
        let stored = shard.tats.get_mut(key);
        let (new_tat, decision) = gcra(stored.as_deref().copied(), now, policy);
        match (new_tat, stored) {
            (Some(tat), Some(slot)) => *slot = tat,
            (Some(tat), None) => {
                shard.tats.insert(key.to_owned(), tat);
            }
            (None, _) => {}
        }
        decision
    }
}

#[async_trait]
impl Limiter for LocalLimiter {
    async fn check(&self, key: &str, policy: &RatePolicy) -> Result<Decision, LimiterError> {
        Ok(self.decide(key, policy))
    }

    fn check_now(&self, key: &str, policy: &RatePolicy) -> Option<Result<Decision, LimiterError>> {
        Some(Ok(self.decide(key, policy)))
    }

    fn describe(&self) -> String {
        "in-process".to_owned()
    }
}

/// GCRA in one round trip, on Redis server time so instances with skewed clocks agree. Returns
/// {allowed, remaining, reset after µs, retry after µs}. The key expires when its budget is full
/// again, so idle clients cost no memory. Large numbers are formatted with %.0f: Lua's default
/// number format keeps only 14 digits.
static GCRA: Script = Script::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > tolerance then
  return {0, 0, tat - now, ahead - tolerance}
end
local ttl_ms = math.ceil(ahead / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, math.floor((tolerance - ahead) / interval), ahead, 0}
",
);

/// How long one decision may take before Redis counts as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is not asked again for this long: requests get the error at once
/// instead of each waiting for a timeout.
const BACKOFF: Duration = Duration::from_secs(1);
const PREFIX: &str = "tinct:rl:";

/// Cluster-wide GCRA: every instance asks the same Redis.
pub struct RedisLimiter {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    down_until: Mutex<Option<Instant>>,
}

type Answer = (u8, u64, u64, u64);

impl RedisLimiter {
    /// Never fails on an unreachable Redis: each check reports it until Redis answers.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisLimiter {
            client: redis::Client::open(url)?,
            connection: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
        })
    }

    fn backing_off(&self) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }

    fn failed(&self, what: impl std::fmt::Display) -> LimiterError {
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + BACKOFF);
        LimiterError::Unavailable(what.to_string())
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(ready) = slot.as_ref() {
            return Ok(ready.clone());
        }
        let manager = self.client.get_connection_manager().await?;
        Ok(slot.insert(manager).clone())
    }

    async fn run(&self, key: &str, policy: &RatePolicy) -> redis::RedisResult<Answer> {
        let mut conn = self.connection().await?;
        let key = format!("{PREFIX}{key}");
        let args = [
            policy.interval_micros().to_string(),
            policy.burst.to_string(),
        ];
        GCRA.run(&mut conn, &[&key], &args).await
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn check(&self, key: &str, policy: &RatePolicy) -> Result<Decision, LimiterError> {
        if self.backing_off() {
            return Err(LimiterError::Unavailable(
                "it failed a moment ago".to_owned(),
            ));
        }
        let (allowed, remaining, reset, retry) =
            match tokio::time::timeout(CALL_TIMEOUT, self.run(key, policy)).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => return Err(self.failed(e)),
                Err(_) => return Err(self.failed("the call timed out")),
            };
        Ok(Decision {
            allowed: allowed == 1,
            limit: policy.burst,
            remaining: remaining.min(u64::from(u32::MAX)) as u32,
            reset_after: Duration::from_micros(reset),
            retry_after: Duration::from_micros(retry),
        })
    }

    fn describe(&self) -> String {
        if self.backing_off() {
            "redis (unavailable)".to_owned()
        } else {
            "redis".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct ManualClock(AtomicU64);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            self.0.fetch_add(by.as_micros() as u64, Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Duration {
            Duration::from_micros(self.0.load(Ordering::SeqCst))
        }
    }

    fn policy(text: &str) -> RatePolicy {
        RatePolicy::parse(text).unwrap().unwrap()
    }

    fn limiter() -> (Arc<ManualClock>, LocalLimiter) {
        let clock = Arc::new(ManualClock::default());
        (clock.clone(), LocalLimiter::with_clock(clock))
    }

    #[test]
    fn burst_is_allowed_at_once_then_requests_are_spaced() {
        let (clock, limiter) = limiter();
        let p = policy("60/min burst 3");
        for remaining in [2, 1, 0] {
            let d = limiter.decide("ana", &p);
            assert!(d.allowed);
            assert_eq!((d.limit, d.remaining), (3, remaining));
        }
        let denied = limiter.decide("ana", &p);
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.retry_after, Duration::from_secs(1));
        assert_eq!(denied.reset_after, Duration::from_secs(3));
        // A denied request uses no budget: one interval later exactly one more is allowed.
        clock.advance(Duration::from_millis(999));
        assert!(!limiter.decide("ana", &p).allowed);
        clock.advance(Duration::from_millis(1));
        let d = limiter.decide("ana", &p);
        assert!(d.allowed && d.remaining == 0, "{d:?}");
        assert!(!limiter.decide("ana", &p).allowed);
        // Another key has its own budget.
        assert!(limiter.decide("bob", &p).allowed);
    }

    #[test]
    fn reset_is_when_the_budget_is_full_again() {
        let (clock, limiter) = limiter();
        let p = policy("10/s burst 5");
        let first = limiter.decide("k", &p);
        assert_eq!(first.reset_after, Duration::from_millis(100));
        let second = limiter.decide("k", &p);
        assert_eq!(second.reset_after, Duration::from_millis(200));
        clock.advance(second.reset_after);
        let after = limiter.decide("k", &p);
        assert_eq!(after.remaining, 4, "the budget was full again");
    }

    #[test]
    fn the_sustained_rate_over_a_window_is_burst_plus_window_over_interval() {
        let (clock, limiter) = limiter();
        let p = policy("60/min burst 10");
        let mut allowed = 0;
        // One attempt every 100 ms for 30 s.
        for _ in 0..300 {
            allowed += u32::from(limiter.decide("k", &p).allowed);
            clock.advance(Duration::from_millis(100));
        }
        // 10 at once, then one per second for the 29.9 s after the first request.
        assert_eq!(allowed, 10 + 29);
    }

    #[test]
    fn keys_whose_budget_is_full_again_are_forgotten() {
        let (clock, limiter) = limiter();
        let p = policy("1/s");
        for i in 0..100 {
            limiter.decide(&format!("client-{i}"), &p);
        }
        assert_eq!(limiter.len(), 100);
        clock.advance(SWEEP_EVERY + Duration::from_secs(1));
        limiter.decide("late", &p);
        // Each shard sweeps on its next use; touch every shard through new keys.
        for i in 0..1000 {
            limiter.decide(&format!("again-{i}"), &p);
        }
        assert!(
            (0..100).all(|i| !limiter.shards.iter().any(|s| s
                .lock()
                .unwrap()
                .tats
                .contains_key(&format!("client-{i}")))),
            "expired keys are gone"
        );
    }

    #[test]
    fn policies_parse_with_units_and_burst() {
        assert_eq!(
            policy("60/min"),
            RatePolicy {
                rate: 60,
                period: Duration::from_secs(60),
                burst: 60
            }
        );
        assert_eq!(policy(" 5/s burst 2 ").burst, 2);
        assert_eq!(policy("100/h").period, Duration::from_secs(3600));
        assert_eq!(
            policy("600/min burst 100").header_value(),
            "600;w=60;burst=100"
        );
        assert_eq!(policy("600/min burst 100").to_string(), "600/min burst 100");
        assert_eq!(RatePolicy::parse("off").unwrap(), None);
        assert_eq!(RatePolicy::parse("OFF").unwrap(), None);
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        for (text, words) in [
            ("", "empty"),
            ("60", "N/s, N/min or N/h"),
            ("0/min", "above 0"),
            ("-1/min", "whole number"),
            ("60/day", "s, min or h"),
            ("60/min burst", "only 'burst B'"),
            ("60/min burst 0", "burst must be"),
            ("60/min bursts 5", "only 'burst B'"),
            ("4000000000/s", "too high"),
        ] {
            let e = RatePolicy::parse(text).unwrap_err();
            assert!(e.to_string().contains(words), "{text}: {e}");
        }
    }
}
