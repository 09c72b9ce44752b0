//! Metrics of every call: a counter by command, surface and outcome code, a latency histogram and
//! an in-progress gauge, through the `metrics` facade (to whatever recorder the process installed,
//! Prometheus in `tinct serve`), plus a small in-process summary for `/metrics.json`. Unknown
//! command names never get this far, so label values stay bounded by the catalogue.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use serde::Serialize;

use super::{Call, Middleware, Next};
use crate::data::Data;
use crate::envelope::CacheStatus;
use crate::error::CommandError;

#[derive(Default)]
pub struct CommandMetrics {
    summary: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    by_name: BTreeMap<String, (u64, f64)>,
    errors_by_code: BTreeMap<&'static str, u64>,
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
/// counted too: the registry drops it at its deadline (`TIMEOUT`), unwinds it on a panic
/// (`INTERNAL_ERROR`), or the client went away (`CANCELLED`).
struct Measured<'a> {
    metrics: &'a CommandMetrics,
    command: String,
    surface: &'static str,
    deadline: Option<Instant>,
    started: Instant,
    in_progress: metrics::Gauge,
    /// Set when the chain returned: `OK` or its error code.
    code: Option<&'static str>,
}

impl Drop for Measured<'_> {
    fn drop(&mut self) {
        self.in_progress.decrement(1.0);
        let code = self.code.unwrap_or_else(|| {
            if std::thread::panicking() {
                "INTERNAL_ERROR"
            } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
                "TIMEOUT"
            } else {
                "CANCELLED"
            }
        });
        let elapsed = self.started.elapsed();
        let command = std::mem::take(&mut self.command);
        metrics::counter!("tinct_commands_total",
            "command" => command.clone(), "surface" => self.surface, "code" => code)
        .increment(1);
        metrics::histogram!("tinct_command_duration_seconds",
            "command" => command.clone(), "surface" => self.surface)
        .record(elapsed.as_secs_f64());
        let mut tally = self
            .metrics
            .summary
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry = tally.by_name.entry(command).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64() * 1000.0;
        if code != "OK" {
            *tally.errors_by_code.entry(code).or_default() += 1;
        }
    }
}

impl CommandMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn summary(&self) -> CommandSummary {
        let tally = self.summary.lock().unwrap_or_else(|e| e.into_inner());
        let total: u64 = tally.by_name.values().map(|(n, _)| n).sum();
        let total_ms: f64 = tally.by_name.values().map(|(_, ms)| ms).sum();
        CommandSummary {
            commands: CommandTotals {
                total,
                by_name: tally
                    .by_name
                    .iter()
                    .map(|(name, (n, _))| (name.clone(), *n))
                    .collect(),
                avg_latency_ms: if total == 0 {
                    0.0
                } else {
                    total_ms / total as f64
                },
            },
            errors: ErrorTotals {
                total: tally.errors_by_code.values().sum(),
                by_code: tally
                    .errors_by_code
                    .iter()
                    .map(|(code, n)| ((*code).to_owned(), *n))
                    .collect(),
            },
        }
    }
}

#[async_trait]
impl Middleware for CommandMetrics {
    async fn handle(&self, call: Call, next: Next<'_>) -> Result<Data, CommandError> {
        let command = call.command.name.clone();
        let ctx = call.ctx.clone();
        let in_progress =
            metrics::gauge!("tinct_commands_in_progress", "command" => command.clone());
        in_progress.increment(1.0);
        let mut measured = Measured {
            metrics: self,
            command: command.clone(),
            surface: ctx.surface.as_str(),
            deadline: ctx.deadline,
            started: Instant::now(),
            in_progress,
            code: None,
        };
        let out = next.run(call).await;
        measured.code = Some(match &out {
            Ok(_) => "OK",
            Err(e) => e.code.as_str(),
        });
        drop(measured);
        let cache = match ctx.cache_status() {
            Some(CacheStatus::Hit) => Some("hit"),
            Some(CacheStatus::Miss) => Some("miss"),
            _ => None,
        };
        if let Some(result) = cache {
            metrics::counter!("tinct_cache_requests_total",
                "command" => command, "result" => result)
            .increment(1);
        }
        out
    }
}
