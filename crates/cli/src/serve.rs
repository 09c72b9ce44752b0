//! `tinct serve`: logging, bind, banner, graceful shutdown on SIGINT/SIGTERM.

use std::io::IsTerminal;

use tinct_command::AuthMode;
use tinct_service::{App, LogFormat};
use tokio::net::TcpListener;

use crate::output::outln;
use tracing_subscriber::EnvFilter;

pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn run(app: App) -> Result<(), String> {
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
    let url = format!("http://{addr}");
    outln!(
        "tinct {} listening on {url} (store: {})",
        env!("CARGO_PKG_VERSION"),
        app.services.store.describe()
    );
    outln!("  try: curl {url}/v1/nodes");
    outln!("       tinct demo --remote {url}   # load a sample design system");
    tracing::info!(%addr, instance = %app.services.instance, "listening");
    let (stopping, shutdown) = tokio::sync::watch::channel(false);
    let router = tinct_surfaces::router(&app, shutdown);
    let signalled = async move {
        shutdown_signal().await;
        let _ = stopping.send(true);
    };
    tinct_surfaces::serve(listener, router, signalled)
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing in-flight requests");
}
