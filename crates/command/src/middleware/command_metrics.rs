//! Metrics of every call: a counter by command, surface and outcome code, a latency histogram and
//! an in-progress gauge, through the `metrics` facade (to whatever recorder the process installed,
//! Prometheus in `tinct serve`), plus a small in-process summary for `/metrics.json`. Unknown
//! command names never get this far, so label values stay bounded by the catalogue.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use super::{Call, Middleware, Next};
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

/// Lowers the in-progress gauge however the call ends, a panic included.
struct InProgress(metrics::Gauge);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.decrement(1.0);
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
    async fn handle(&self, call: Call, next: Next<'_>) -> Result<Value, CommandError> {
        let command = call.command.name.clone();
        let surface = call.ctx.surface.as_str();
        let ctx = call.ctx.clone();
        let gauge = metrics::gauge!("tinct_commands_in_progress", "command" => command.clone());
        gauge.increment(1.0);
        let _in_progress = InProgress(gauge);
        let started = Instant::now();
        let out = next.run(call).await;
        let elapsed = started.elapsed();
        let code = match &out {
            Ok(_) => "OK",
            Err(e) => e.code.as_str(),
        };
        metrics::counter!("tinct_commands_total",
            "command" => command.clone(), "surface" => surface, "code" => code)
        .increment(1);
        metrics::histogram!("tinct_command_duration_seconds",
            "command" => command.clone(), "surface" => surface)
        .record(elapsed.as_secs_f64());
        let cache = match ctx.cache_status() {
            Some(CacheStatus::Hit) => Some("hit"),
            Some(CacheStatus::Miss) => Some("miss"),
            _ => None,
        };
        if let Some(result) = cache {
            metrics::counter!("tinct_cache_requests_total",
                "command" => command.clone(), "result" => result)
            .increment(1);
        }
        let mut tally = self.summary.lock().unwrap_or_else(|e| e.into_inner());
        let entry = tally.by_name.entry(command).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64() * 1000.0;
        if let Err(e) = &out {
            *tally.errors_by_code.entry(e.code.as_str()).or_default() += 1;
        }
        out
    }
}
