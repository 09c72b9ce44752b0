//! `tinct serve`: logging, bind, banner, graceful shutdown on SIGINT/SIGTERM (drain, then finish
//! in-flight requests within a deadline; a second signal stops at once).

use std::io::IsTerminal;

use std::time::Duration;
use tinct_command::AuthMode;

use tinct_service::{App, LogFormat};
use tinct_surfaces::rest::Lifecycle;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::output::outln;
use tracing_subscriber::EnvFilter;

pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    // The log filter applies to the log lines only; span export has its own.
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = if json {
        lines.json().boxed()
    } else {
        lines.boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(crate::telemetry_export::layer())
        .try_init();
}

pub async fn run(mut app: App) -> Result<(), String> {
    let listen = app.config.listen.clone();
    let listener = TcpListener::bind(&listen).await.map_err(|e| {
        format!(
            "could not listen on {listen}: {e}; pick another address with --listen or TINCT_LISTEN"
        )
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("could not read the bound address: {e}"))?;
    // Checked on the bound address, so a host name that resolves off loopback is caught too.
    tinct_service::auth::check_exposure(app.config.auth, addr).map_err(|e| e.to_string())?;
    if app.config.auth == AuthMode::Open {
        tracing::warn!(%addr, "auth is off (TINCT_AUTH=open): anyone who can reach this address can change tokens; set TINCT_AUTH=closed or read-open with TINCT_AUTH_SECRET before exposing it");
    }
    // Before the banner: a bad schedule stops start-up before anyone is told to connect.
    let jobs = std::sync::Arc::new(tinct_service::jobs::JobRuntime::start(
        &app.services,
        &app.jobs,
        &app.config,
    )?);
    let _backfill = app.backfill_projection();
    let mut signals =
        Signals::new().map_err(|e| format!("could not install signal handlers: {e}"))?;
    let url = format!("http://{addr}");
    outln!(
        "tinct {} listening on {url} (store: {}; roles: {})",
        env!("CARGO_PKG_VERSION"),
        app.services.store.describe(),
        app.config.roles.join(", ")
    );
    outln!("  try: curl {url}/v1/nodes");
    outln!("       tinct demo --remote {url}   # load a sample design system");
    tracing::info!(%addr, instance = %app.services.instance, "listening");
    let drain = Duration::from_secs(app.config.shutdown_drain_secs);
    let deadline = Duration::from_secs(app.config.shutdown_timeout_secs);
    let (draining_tx, draining) = watch::channel(false);
    let (stopping_tx, stopping) = watch::channel(false);
    let lifecycle = Lifecycle {
        draining,
        stopping: stopping.clone(),
    };
    if !app.config.has_role("api") {
        // A worker or scheduler instance answers health and metrics only.
        app.config.surfaces.clear();
    }
    let router = tinct_surfaces::router(&app, lifecycle);
    let draining_jobs = jobs.clone();
    let first_signal: std::sync::Arc<std::sync::OnceLock<std::time::Instant>> = Default::default();
    let signalled = first_signal.clone();
    // The shutdown sequence: first signal → draining (readiness 503, requests still served) for
    // `drain` → the listener closes and in-flight requests get `deadline` to finish → exit 0.
    // A second signal at any point stops the process at once.
    let mut sequence = tokio::spawn(async move {
        let first = signals.next().await;
        let _ = signalled.set(std::time::Instant::now());
        tracing::info!(
            signal = first,
            drain_secs = drain.as_secs(),
            "shutting down: readiness answers 503 while the load balancer notices"
        );
        let _ = draining_tx.send(true);
        // Workers take no new jobs from now; running ones finish below.
        draining_jobs.drain();
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            again = signals.next() => stop_now(again),
        }
        tracing::info!(
            timeout_secs = deadline.as_secs(),
            "drained: no new connections; finishing in-flight requests"
        );
        let _ = stopping_tx.send(true);
        tokio::select! {
            () = tokio::time::sleep(deadline) => {}
            again = signals.next() => stop_now(again),
        }
    });
    let mut stopped = stopping;
    let stopped = async move {
        let _ = stopped.wait_for(|stopping| *stopping).await;
    };
    let mut past_deadline = false;
    tokio::select! {
        served = tinct_surfaces::serve(listener, router, stopped) => {
            served.map_err(|e| format!("server error: {e}"))?;
        }
        _ = &mut sequence => {
            past_deadline = true;
            tracing::warn!(
                timeout_secs = deadline.as_secs(),
                "requests still running after shutdown_timeout_secs; stopping anyway"
            );
        }
    }
    // Running jobs get what is left of drain + deadline since the first signal (they stopped
    // taking new work then), so the whole stop fits the orchestrator's grace period.
    let grace = first_signal.get().map_or(deadline, |at| {
        (drain + deadline).saturating_sub(at.elapsed())
    });
    sequence.abort();
    if past_deadline {
        // Out of time: hand running jobs back now.
        jobs.shutdown(Duration::ZERO).await;
    } else {
        // Bounded by `grace`; a further signal still stops at once.
        let mut again =
            Signals::new().map_err(|e| format!("could not install signal handlers: {e}"))?;
        tokio::select! {
            () = jobs.shutdown(grace) => {}
            signal = again.next() => stop_now(signal),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// A second shutdown signal: no more waiting.
fn stop_now(signal: i32) -> ! {
    tracing::warn!(signal, "second signal: stopping now");
    std::process::exit(128 + signal);
}

/// SIGINT and SIGTERM, as their numbers.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn next(&mut self) -> i32 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => 2,
                _ = self.terminate.recv() => 15,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}
