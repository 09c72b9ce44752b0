//! The Limiter adapters on one conformance suite, the Redis one against a real Redis; two
//! `RedisLimiter`s share one budget (two local ones do not); the script's key expires with its
//! budget; an unreachable Redis is an error (the caller applies its fail-open or fail-closed
//! policy) until it answers again.

use std::time::Duration;

use tinct_platform::{Limiter, LimiterError, LocalLimiter, RatePolicy, RedisLimiter};
use tinct_testkit::Redis;

fn policy(text: &str) -> RatePolicy {
    RatePolicy::parse(text).unwrap().unwrap()
}

/// Fires `n` requests for `key` as fast as possible; how many were allowed.
async fn fire(limiter: &dyn Limiter, key: &str, policy: &RatePolicy, n: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        allowed += usize::from(limiter.check(key, policy).await.unwrap().allowed);
    }
    allowed
}

/// What every Limiter adapter does: the burst at once, then refusals that say when to retry and
/// when the budget is full again; keys and policies apart.
async fn conformance(limiter: &dyn Limiter) {
    // One request an hour: nothing refills while the test runs.
    let p = policy("1/h burst 5");
    for remaining in (0..5).rev() {
        let d = limiter.check("ana", &p).await.unwrap();
        assert!(d.allowed, "{d:?}");
        assert_eq!((d.limit, d.remaining), (5, remaining));
    }
    let denied = limiter.check("ana", &p).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    // The next slot opens one interval (an hour) after the burst; the budget is full after five.
    let hour = Duration::from_secs(3600);
    let minute = Duration::from_secs(60);
    assert!(
        denied.retry_after <= hour && denied.retry_after > hour - minute,
        "{denied:?}"
    );
    assert!(
        denied.reset_after <= hour * 5 && denied.reset_after > hour * 5 - minute,
        "{denied:?}"
    );
    // A refusal uses no budget, and another key has its own.
    assert!(!limiter.check("ana", &p).await.unwrap().allowed);
    assert!(limiter.check("bob", &p).await.unwrap().allowed);
    // A fast policy: one at once, the next within one interval.
    let fast = policy("10/s burst 1");
    assert!(limiter.check("fast", &fast).await.unwrap().allowed);
    let refused = limiter.check("fast", &fast).await.unwrap();
    assert!(!refused.allowed);
    assert!(
        refused.retry_after <= Duration::from_millis(100),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_local_limiter_conforms() {
    conformance(&LocalLimiter::new()).await;
}

#[tokio::test]
async fn the_redis_script_conforms() {
    let redis = Redis::start();
    conformance(&RedisLimiter::new(&redis.url()).unwrap()).await;
}

#[tokio::test]
async fn the_key_expires_when_its_budget_is_full_again() {
    let redis = Redis::start();
    let limiter = RedisLimiter::new(&redis.url()).unwrap();
    let p = policy("10/s burst 2");
    assert!(limiter.check("short", &p).await.unwrap().allowed);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg("tinct:rl:short")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (1..=100).contains(&ttl),
        "PX expiry of one interval, got {ttl}"
    );
}

#[tokio::test]
async fn two_limiters_on_one_redis_share_the_budget() {
    let redis = Redis::start();
    let a = RedisLimiter::new(&redis.url()).unwrap();
    let b = RedisLimiter::new(&redis.url()).unwrap();
    let p = policy("1/h burst 10");
    let mut allowed = 0;
    for i in 0..30 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        allowed += usize::from(limiter.check("shared", &p).await.unwrap().allowed);
    }
    assert_eq!(allowed, 10, "both instances draw from one budget");
    // Two local limiters, by contrast, each have the whole budget.
    let (x, y) = (LocalLimiter::new(), LocalLimiter::new());
    assert_eq!(
        fire(&x, "shared", &p, 15).await + fire(&y, "shared", &p, 15).await,
        20
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_until_it_answers_again() {
    let mut redis = Redis::start();
    let limiter = RedisLimiter::new(&redis.url()).unwrap();
    let p = policy("1/h burst 3");
    assert!(limiter.check("k", &p).await.unwrap().allowed);
    redis.stop();
    let error = limiter.check("k", &p).await.unwrap_err();
    assert!(matches!(error, LimiterError::Unavailable(_)), "{error}");
    assert_eq!(limiter.describe(), "redis (unavailable)");
    redis.restart();
    // Back after its backoff; the restarted Redis has forgotten the script and the key.
    let start = std::time::Instant::now();
    let decision = loop {
        match limiter.check("k", &p).await {
            Ok(decision) => break decision,
            Err(_) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "the limiter never used Redis again"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(decision.allowed);
    assert_eq!(decision.remaining, 2, "a fresh budget on the fresh Redis");
}
