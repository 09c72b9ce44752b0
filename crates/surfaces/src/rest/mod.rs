//! The REST surface: `POST /v1/commands/{name}` for everything, `POST /v1/batch`, and resource
//! routes for the reads a web developer expects.

mod call;
mod export;
mod health;
mod metrics;
mod panic;
mod resources;
mod ws;

pub use call::{CONSISTENCY_HEADER, consistency, credential};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::{get, post};
use tinct_command::Registry;
use tinct_command::middleware::CommandMetrics;
use tinct_service::{App, Services};

use crate::mcp::McpServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;

/// What every REST handler needs.
#[derive(Clone)]
pub struct RestState {
    pub registry: Arc<Registry>,
    pub services: Arc<Services>,
    pub metrics: Arc<CommandMetrics>,
    /// Turns true when the server starts shutting down (WebSockets then close with 1001).
    pub shutdown: watch::Receiver<bool>,
    pub request_timeout: Duration,
    pub export_max_age: Duration,
}

pub fn router(app: &App, shutdown: watch::Receiver<bool>) -> Router {
    let state = RestState {
        registry: app.registry.clone(),
        services: app.services.clone(),
        metrics: app.metrics.clone(),
        shutdown,
        request_timeout: Duration::from_secs(app.config.request_timeout_secs),
        export_max_age: Duration::from_secs(app.config.export_max_age_secs),
    };
    let config = &app.config;
    // Health and metrics are on every instance, whatever it serves.
    let mut router = Router::new()
        .route("/health", get(health::detail))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::prometheus))
        .route("/metrics.json", get(metrics::summary));
    if config.serves("rest") {
        router = router
            .route("/v1/commands", get(call::catalogue))
            .route(
                "/v1/commands/{name}",
                post(call::command).get(call::describe),
            )
            .route("/v1/batch", post(call::batch))
            .route("/v1/openapi.json", get(call::openapi))
            .route("/v1/nodes", get(resources::list_nodes))
            .route("/v1/nodes/{id}", get(resources::get_node))
            .route("/v1/nodes/{id}/tokens", get(resources::node_tokens))
            .route("/v1/nodes/{id}/{file}", get(export::export_file));
    }
    if config.serves("ws") {
        router = router.route("/v1/ws", get(ws::upgrade));
    }
    if config.serves("mcp") {
        let mcp = McpServer::local(
            app.registry.clone(),
            Duration::from_secs(config.mcp_timeout_secs),
        );
        router = router.route_service("/mcp", mcp.into_http_service(&config.mcp_allowed_hosts));
    }
    if config.serves("web") {
        router = router.merge(crate::web::routes());
    }
    router
        .fallback(call::no_route)
        .method_not_allowed_fallback(call::wrong_method)
        .layer(panic::layer(app.registry.instance()))
        // The span names the path only: a query may carry an access token.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
