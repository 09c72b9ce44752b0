//! A circuit breaker: stop calling a dependency that keeps failing, and try it again by itself.
//!
//! - **Closed**: every call goes through. `failure_threshold` consecutive failures open it (a
//!   count, not a ratio: the dependencies guarded here — Redis, a replica, a webhook endpoint —
//!   fail all at once when they fail, and a count needs no window to tune).
//! - **Open**: calls are refused at once, without waiting on the dead dependency, for `cool_down`.
//! - **Half-open**: after the cool-down, up to `half_open_trials` calls at a time go through as
//!   trials. One success closes the breaker; one failure opens it again for another cool-down.
//!
//! Time comes from a [`Clock`], so tests drive every transition without sleeping. Every breaker
//! registers itself (weakly) so metrics and health reports can list them all by name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

/// Where a breaker reads the time.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time, for cool-downs.
    fn now(&self) -> Instant;
    /// Wall time, for reporting when a breaker opened.
    fn wall(&self) -> SystemTime;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to (for tests).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        })
    }

    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + self.elapsed()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets trials through.
    pub cool_down: Duration,
    /// Trial calls a half-open breaker lets through at the same time.
    pub half_open_trials: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(1),
            half_open_trials: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    /// The gauge value: 0 closed, 1 half-open, 2 open.
    pub fn level(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Open => "open",
        }
    }
}

/// A breaker as metrics and health reports show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerStatus {
    pub name: String,
    pub state: BreakerState,
    /// Consecutive failures so far (while closed), or those that opened it.
    pub failures: u32,
    /// When it last opened (milliseconds since the Unix epoch); absent while closed.
    pub opened_at_ms: Option<u64>,
    /// Transitions into each state since the process started: closed, half-open, open.
    pub transitions: [u64; 3],
}

struct Inner {
    name: String,
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<Machine>,
    transitions: [AtomicU64; 3],
    /// Tells waiters (a read racing a dying dependency) that the breaker opened.
    opened: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug)]
struct Machine {
    state: BreakerState,
    failures: u32,
    opened_at: Option<(Instant, SystemTime)>,
    trials_in_flight: u32,
}

/// A circuit breaker; clones share one state.
#[derive(Clone)]
pub struct Breaker {
    inner: Arc<Inner>,
}

/// Permission to make one call. Report the outcome with [`Permit::success`] or
/// [`Permit::failure`]; a permit dropped without either (the caller gave up, or the error said
/// nothing about the dependency's health) counts as neither.
#[must_use = "report the call's outcome on the permit"]
pub struct Permit {
    breaker: Breaker,
    trial: bool,
    done: bool,
}

impl Permit {
    pub fn success(mut self) {
        self.done = true;
        self.breaker.on_success(self.trial);
    }

    pub fn failure(mut self) {
        self.done = true;
        self.breaker.on_failure(self.trial);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.trial {
            self.breaker.release_trial();
        }
    }
}

impl Breaker {
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Breaker {
        Self::with_clock(name, config, Arc::new(SystemClock))
    }

    pub fn with_clock(
        name: impl Into<String>,
        config: BreakerConfig,
        clock: Arc<dyn Clock>,
    ) -> Breaker {
        let breaker = Breaker {
            inner: Arc::new(Inner {
                name: name.into(),
                config: BreakerConfig {
                    failure_threshold: config.failure_threshold.max(1),
                    half_open_trials: config.half_open_trials.max(1),
                    ..config
                },
                clock,
                state: Mutex::new(Machine {
                    state: BreakerState::Closed,
                    failures: 0,
                    opened_at: None,
                    trials_in_flight: 0,
                }),
                transitions: Default::default(),
                opened: tokio::sync::watch::channel(0).0,
            }),
        };
        register(&breaker);
        breaker
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A permit for one call, or `None` while the breaker refuses calls (open, or half-open with
    /// every trial slot taken).
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut m = self.machine();
        if m.state == BreakerState::Open {
            let (since, _) = m.opened_at?;
            if self.inner.clock.now().duration_since(since) < self.inner.config.cool_down {
                return None;
            }
            self.enter(&mut m, BreakerState::HalfOpen);
        }
        let trial = m.state == BreakerState::HalfOpen;
        if trial {
            if m.trials_in_flight >= self.inner.config.half_open_trials {
                return None;
            }
            m.trials_in_flight += 1;
        }
        Some(Permit {
            breaker: self.clone(),
            trial,
            done: false,
        })
    }

    /// Whether calls flow freely (closed). A half-open breaker lets only trials through.
    pub fn is_closed(&self) -> bool {
        self.state() == BreakerState::Closed
    }

    /// The state now; an open breaker whose cool-down has passed reads as half-open.
    pub fn state(&self) -> BreakerState {
        let m = self.machine();
        match (m.state, m.opened_at) {
            (BreakerState::Open, Some((since, _)))
                if self.inner.clock.now().duration_since(since) >= self.inner.config.cool_down =>
            {
                BreakerState::HalfOpen
            }
            (state, _) => state,
        }
    }

    pub fn status(&self) -> BreakerStatus {
        let state = self.state();
        let m = self.machine();
        BreakerStatus {
            name: self.inner.name.clone(),
            state,
            failures: m.failures,
            opened_at_ms: m
                .opened_at
                .filter(|_| state != BreakerState::Closed)
                .map(|(_, wall)| {
                    wall.duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64)
                }),
            transitions: [0, 1, 2].map(|i| self.inner.transitions[i].load(Ordering::Relaxed)),
        }
    }

    /// Resolves once the breaker opens after this call (at once if it is open now). Lets a call
    /// stuck on a dependency that others have just found dead give up early.
    pub async fn opened(&self) {
        let mut rx = self.inner.opened.subscribe();
        if self.machine().state == BreakerState::Open {
            return;
        }
        let _ = rx.changed().await;
    }

    fn machine(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_success(&self, trial: bool) {
        let mut m = self.machine();
        if trial {
            m.trials_in_flight = m.trials_in_flight.saturating_sub(1);
        }
        m.failures = 0;
        if m.state != BreakerState::Closed {
            self.enter(&mut m, BreakerState::Closed);
        }
    }

    fn on_failure(&self, trial: bool) {
        let mut m = self.machine();
        if trial {
            m.trials_in_flight = m.trials_in_flight.saturating_sub(1);
        }
        match m.state {
            BreakerState::Closed => {
                m.failures = m.failures.saturating_add(1);
                if m.failures >= self.inner.config.failure_threshold {
                    self.enter(&mut m, BreakerState::Open);
                }
            }
            // A failed trial, or a call let through before the breaker went half-open.
            BreakerState::HalfOpen => {
                m.failures = m.failures.saturating_add(1);
                self.enter(&mut m, BreakerState::Open);
            }
            // Calls that started while closed and fail after it opened change nothing.
            BreakerState::Open => {}
        }
    }

    fn release_trial(&self) {
        let mut m = self.machine();
        m.trials_in_flight = m.trials_in_flight.saturating_sub(1);
    }

    fn enter(&self, m: &mut Machine, to: BreakerState) {
        let from = m.state;
        m.state = to;
        self.inner.transitions[to.level() as usize].fetch_add(1, Ordering::Relaxed);
        match to {
            BreakerState::Open => {
                m.opened_at = Some((self.inner.clock.now(), self.inner.clock.wall()));
                m.trials_in_flight = 0;
                self.inner.opened.send_modify(|n| *n += 1);
                tracing::warn!(breaker = %self.inner.name, from = from.as_str(), failures = m.failures, "circuit breaker open: calls are refused until a trial succeeds");
            }
            BreakerState::HalfOpen => {
                m.trials_in_flight = 0;
                tracing::info!(breaker = %self.inner.name, "circuit breaker half-open: trying again");
            }
            BreakerState::Closed => {
                m.opened_at = None;
                m.failures = 0;
                tracing::info!(breaker = %self.inner.name, from = from.as_str(), "circuit breaker closed: calls flow again");
            }
        }
    }
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.inner.name)
            .field("state", &self.state())
            .finish()
    }
}

fn registry() -> &'static Mutex<Vec<Weak<Inner>>> {
    static ALL: OnceLock<Mutex<Vec<Weak<Inner>>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
}

fn register(breaker: &Breaker) {
    let mut all = registry().lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(&breaker.inner));
}

/// Every live breaker in this process, by name (for `/metrics` and `/health`).
pub fn all() -> Vec<BreakerStatus> {
    let live: Vec<Breaker> = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .map(|inner| Breaker { inner })
        .collect();
    let mut statuses: Vec<BreakerStatus> = live.iter().map(Breaker::status).collect();
    statuses.sort_by(|a, b| a.name.cmp(&b.name));
    statuses
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL_DOWN: Duration = Duration::from_secs(5);

    fn breaker(threshold: u32, trials: u32) -> (Breaker, Arc<ManualClock>) {
        let clock = ManualClock::new();
        let b = Breaker::with_clock(
            "test",
            BreakerConfig {
                failure_threshold: threshold,
                cool_down: COOL_DOWN,
                half_open_trials: trials,
            },
            clock.clone(),
        );
        (b, clock)
    }

    fn fail(b: &Breaker) {
        b.try_acquire().expect("a permit").failure();
    }

    #[test]
    fn closed_stays_closed_below_the_threshold_and_a_success_resets_the_count() {
        let (b, _) = breaker(3, 1);
        fail(&b);
        fail(&b);
        assert_eq!(b.status().failures, 2);
        b.try_acquire().unwrap().success();
        assert_eq!(b.status().failures, 0);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn consecutive_failures_open_it_and_open_refuses_at_once() {
        let (b, clock) = breaker(3, 1);
        for _ in 0..3 {
            fail(&b);
        }
        let s = b.status();
        assert_eq!(s.state, BreakerState::Open);
        assert_eq!(s.failures, 3);
        assert_eq!(s.opened_at_ms, Some(0));
        assert_eq!(s.transitions, [0, 0, 1]);
        assert!(b.try_acquire().is_none());
        clock.advance(COOL_DOWN - Duration::from_millis(1));
        assert!(b.try_acquire().is_none(), "still cooling down");
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn after_the_cool_down_a_limited_number_of_trials_go_through() {
        let (b, clock) = breaker(1, 2);
        fail(&b);
        clock.advance(COOL_DOWN);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let first = b.try_acquire().expect("trial 1");
        let second = b.try_acquire().expect("trial 2");
        assert!(b.try_acquire().is_none(), "only two trials at a time");
        drop(first); // gave up: the slot is free again, the state unchanged
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let third = b.try_acquire().expect("the freed slot");
        second.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.status().opened_at_ms, None);
        assert_eq!(b.status().transitions, [1, 1, 1]);
        // A trial that fails after the breaker closed counts as a normal failure.
        third.failure();
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn a_failed_trial_opens_it_again_for_a_new_cool_down() {
        let (b, clock) = breaker(2, 1);
        fail(&b);
        fail(&b);
        clock.advance(COOL_DOWN);
        b.try_acquire().expect("trial").failure();
        let s = b.status();
        assert_eq!(s.state, BreakerState::Open);
        assert_eq!(s.opened_at_ms, Some(COOL_DOWN.as_millis() as u64));
        assert_eq!(s.transitions, [0, 1, 2]);
        clock.advance(COOL_DOWN / 2);
        assert!(b.try_acquire().is_none());
        clock.advance(COOL_DOWN / 2);
        b.try_acquire().expect("trial").success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn failures_of_calls_started_before_it_opened_change_nothing() {
        let (b, clock) = breaker(1, 1);
        let late = b.try_acquire().unwrap();
        fail(&b);
        late.failure();
        assert_eq!(b.status().transitions, [0, 0, 1]);
        clock.advance(COOL_DOWN);
        assert!(b.try_acquire().is_some());
    }

    #[tokio::test]
    async fn waiters_learn_that_it_opened() {
        let (b, _) = breaker(1, 1);
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.opened().await }
        });
        tokio::task::yield_now().await;
        fail(&b);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        // Already open: returns at once.
        b.opened().await;
    }

    #[test]
    fn every_live_breaker_is_listed() {
        let (b, _) = breaker(1, 1);
        let named = Breaker::new("listed-breaker", BreakerConfig::default());
        fail(&b);
        let all = all();
        assert!(all.iter().any(|s| s.name == "listed-breaker"));
        drop(named);
        assert!(!super::all().iter().any(|s| s.name == "listed-breaker"));
    }
}
