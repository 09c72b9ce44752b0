//! Metrics of every call: a counter by command, surface and outcome code, a latency histogram and
//! an in-progress gauge, through the `metrics` facade (to whatever recorder the process installed,
//! Prometheus in `tinct serve`), plus a small in-process summary for `/metrics.json`. Unknown
//! command names never get this far, so label values stay bounded by the catalogue.
//!
//! Recorded by the registry itself around the chain (`RegistryBuilder::metrics`), not as a
//! middleware: it is needed on every call, and a middleware that wraps costs every call a boxed
//! future and a move of the call.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::context::Surface;
use crate::envelope::CacheStatus;

#[derive(Default)]
pub struct CommandMetrics {
    /// Failed calls by code, for `/metrics.json` (calls by command are counted in `Handles`).
    errors_by_code: Mutex<BTreeMap<&'static str, u64>>,
    /// Command name → the handles of each surface it was called through. Names come from the
    /// catalogue, so a fast hash is safe here.
    handles: RwLock<HashMap<String, BySurface, foldhash::fast::RandomState>>,
}

type BySurface = Vec<(&'static str, Arc<Handles>)>;

/// The metric handles of one command on one surface, registered on first use: the `metrics`
/// macros build, hash and look up a label set every time they run, on every call.
struct Handles {
    in_progress: metrics::Gauge,
    duration: metrics::Histogram,
    /// Outcome code → its counter (codes come from the closed catalogue), but for `OK`.
    calls: RwLock<HashMap<&'static str, metrics::Counter>>,
    ok: OnceLock<metrics::Counter>,
    /// Made on first use, so commands that are never cached show no cache series.
    cache_hits: OnceLock<metrics::Counter>,
    cache_misses: OnceLock<metrics::Counter>,
    /// Calls and their total duration, for `/metrics.json`.
    finished: AtomicU64,
    total_micros: AtomicU64,
    command: String,
    surface: &'static str,
}

impl Handles {
    fn new(command: &str, surface: &'static str) -> Self {
        let name = command.to_owned();
        Handles {
            in_progress: metrics::gauge!("tinct_commands_in_progress", "command" => name.clone()),
            duration: metrics::histogram!("tinct_command_duration_seconds",
                "command" => name.clone(), "surface" => surface),
            calls: RwLock::default(),
            ok: OnceLock::new(),
            cache_hits: OnceLock::new(),
            cache_misses: OnceLock::new(),
            finished: AtomicU64::new(0),
            total_micros: AtomicU64::new(0),
            command: name,
            surface,
        }
    }

    fn cache_result(&self, counter: &OnceLock<metrics::Counter>, result: &'static str) {
        counter
            .get_or_init(|| {
                metrics::counter!("tinct_cache_requests_total",
                    "command" => self.command.clone(), "result" => result)
            })
            .increment(1);
    }

    fn count(&self, code: &'static str) {
        if code == "OK" {
            // Most calls succeed: their counter is kept aside, without a lookup by code.
            return self.ok.get_or_init(|| self.counter(code)).increment(1);
        }
        let known = read(&self.calls).get(code).cloned();
        let counter = known.unwrap_or_else(|| {
            write(&self.calls)
                .entry(code)
                .or_insert_with(|| self.counter(code))
                .clone()
        });
        counter.increment(1);
    }

    fn counter(&self, code: &'static str) -> metrics::Counter {
        metrics::counter!("tinct_commands_total", "command" => self.command.clone(),
            "surface" => self.surface, "code" => code)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// What `/metrics.json` shows of the commands since this process started.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandSummary {
    pub commands: CommandTotals,
    pub errors: ErrorTotals,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandTotals {
    pub total: u64,
    pub by_name: BTreeMap<String, u64>,
    pub avg_latency_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorTotals {
    pub total: u64,
    pub by_code: BTreeMap<String, u64>,
}

/// One call being measured. Everything is recorded on drop, so a call that never returns is
/// counted too: the client went away (`CANCELLED`), or, should the registry ever drop a call
/// at its deadline or unwind through it, `TIMEOUT` and `INTERNAL_ERROR`.
pub(crate) struct Measured<'a> {
    metrics: &'a CommandMetrics,
    handles: Arc<Handles>,
    deadline: Option<Instant>,
    started: Instant,
    /// Set when the chain returned: `OK` or its error code, and how long it took.
    code: Option<&'static str>,
    elapsed: Option<Duration>,
}

impl Drop for Measured<'_> {
    fn drop(&mut self) {
        self.handles.in_progress.decrement(1.0);
        let code = self.code.unwrap_or_else(|| {
            if std::thread::panicking() {
                "INTERNAL_ERROR"
            } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
                "TIMEOUT"
            } else {
                "CANCELLED"
            }
        });
        let elapsed = self.elapsed.unwrap_or_else(|| self.started.elapsed());
        self.handles.count(code);
        self.handles.duration.record(elapsed.as_secs_f64());
        self.handles.finished.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.handles
            .total_micros
            .fetch_add(micros, Ordering::Relaxed);
        if code != "OK" {
            let mut errors = self
                .metrics
                .errors_by_code
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *errors.entry(code).or_default() += 1;
        }
    }
}

impl CommandMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn handles(&self, command: &str, surface: &'static str) -> Arc<Handles> {
        let known = read(&self.handles)
            .get(command)
            .and_then(|by_surface| by_surface.iter().find(|(s, _)| *s == surface))
            .map(|(_, h)| Arc::clone(h));
        known.unwrap_or_else(|| {
            let mut all = write(&self.handles);
            let by_surface = all.entry(command.to_owned()).or_default();
            match by_surface.iter().find(|(s, _)| *s == surface) {
                Some((_, h)) => Arc::clone(h),
                None => {
                    let made = Arc::new(Handles::new(command, surface));
                    by_surface.push((surface, Arc::clone(&made)));
                    made
                }
            }
        })
    }

    /// Starts measuring one call of `command` through `surface`.
    pub(crate) fn start(
        &self,
        command: &str,
        surface: Surface,
        deadline: Option<Instant>,
        started: Instant,
    ) -> Measured<'_> {
        let handles = self.handles(command, surface.as_str());
        handles.in_progress.increment(1.0);
        Measured {
            metrics: self,
            handles,
            deadline,
            started,
            code: None,
            elapsed: None,
        }
    }

    pub fn summary(&self) -> CommandSummary {
        let mut by_name = BTreeMap::new();
        let (mut total, mut total_micros) = (0u64, 0u64);
        for (command, by_surface) in read(&self.handles).iter() {
            let mut calls = 0;
            for (_, handles) in by_surface {
                calls += handles.finished.load(Ordering::Relaxed);
                total_micros += handles.total_micros.load(Ordering::Relaxed);
            }
            // A command only ever started (still running) has no finished call to show yet.
            if calls > 0 {
                by_name.insert(command.clone(), calls);
            }
            total += calls;
        }
        let errors = self
            .errors_by_code
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        CommandSummary {
            commands: CommandTotals {
                total,
                by_name,
                avg_latency_ms: if total == 0 {
                    0.0
                } else {
                    total_micros as f64 / 1000.0 / total as f64
                },
            },
            errors: ErrorTotals {
                total: errors.values().sum(),
                by_code: errors
                    .iter()
                    .map(|(code, n)| ((*code).to_owned(), *n))
                    .collect(),
            },
        }
    }
}

impl Measured<'_> {
    /// The chain returned `elapsed` after it started: `code` is `OK` or its error code, `cache`
    /// where a read came from. The rest is recorded as `self` drops.
    pub(crate) fn finish(
        mut self,
        code: &'static str,
        cache: Option<CacheStatus>,
        elapsed: Duration,
    ) {
        let handles = &self.handles;
        match cache {
            Some(CacheStatus::Hit) => handles.cache_result(&handles.cache_hits, "hit"),
            Some(CacheStatus::Miss) => handles.cache_result(&handles.cache_misses, "miss"),
            _ => {}
        }
        self.code = Some(code);
        self.elapsed = Some(elapsed);
    }
}
