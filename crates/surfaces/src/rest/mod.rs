//! The REST surface: `POST /v1/commands/{name}` for everything, `POST /v1/batch`, and resource
//! routes for the reads a web developer expects.

mod call;
mod edge;
mod export;
mod health;
mod jobs;
mod limits;
mod metrics;
mod panic;
mod resources;
mod ws;

pub use call::{CONSISTENCY_HEADER, client_addr, consistency, credential};

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::{HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tinct_command::{CommandMetrics, Registry};
use tinct_service::{App, Services};

use crate::mcp::McpServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Service;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

/// What every REST handler needs. Behind one `Arc`: axum clones the state for every request and
/// every stateful layer, so a clone must be one reference count, not one per field.
#[derive(Clone)]
pub struct RestState(Arc<RestShared>);

impl std::ops::Deref for RestState {
    type Target = RestShared;

    fn deref(&self) -> &RestShared {
        &self.0
    }
}

pub struct RestShared {
    pub registry: Arc<Registry>,
    pub services: Arc<Services>,
    pub metrics: Arc<CommandMetrics>,
    /// Turns true when the server stops taking connections (WebSockets then close with 1001).
    pub shutdown: watch::Receiver<bool>,
    /// Turns true first, on the shutdown signal: readiness answers 503 while requests are still
    /// served, and every answer closes its connection so proxies stop reusing them.
    pub draining: watch::Receiver<bool>,
    pub request_timeout: Duration,
    pub export_max_age: Duration,
    pub max_body_bytes: u64,
}

impl RestShared {
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }
}

/// How `serve` tells the routes where shutdown stands: `draining` first, `stopping` after the
/// drain delay. Both only ever turn true.
#[derive(Clone)]
pub struct Lifecycle {
    pub draining: watch::Receiver<bool>,
    pub stopping: watch::Receiver<bool>,
}

/// Every route of the configured surfaces, inside the layers every request passes through.
pub fn router(
    app: &App,
    lifecycle: Lifecycle,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    let state = RestState(Arc::new(RestShared {
        registry: app.registry.clone(),
        services: app.services.clone(),
        metrics: app.metrics.clone(),
        shutdown: lifecycle.stopping,
        draining: lifecycle.draining,
        request_timeout: Duration::from_secs(app.config.request_timeout_secs),
        export_max_age: Duration::from_secs(app.config.export_max_age_secs),
        max_body_bytes: app.config.max_body_bytes,
    }));
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
            // `edge` enforces max_body_bytes with the envelope; axum's own 2 MB default for body
            // extractors would otherwise refuse larger bodies first, in plain text.
            .route(
                "/v1/commands/{name}",
                post(call::command)
                    .get(call::describe)
                    .layer(DefaultBodyLimit::disable()),
            )
            .route(
                "/v1/batch",
                post(call::batch).layer(DefaultBodyLimit::disable()),
            )
            .route("/v1/openapi.json", get(call::openapi))
            .route("/v1/nodes", get(resources::list_nodes))
            .route("/v1/nodes/{id}", get(resources::get_node))
            .route("/v1/nodes/{id}/tokens", get(resources::node_tokens))
            .route("/v1/nodes/{id}/{file}", get(export::export_file))
            .route("/v1/jobs/{id}", get(jobs::get_job))
            .route("/v1/jobs/{id}/artifact", get(jobs::job_artifact))
            .route(
                "/v1/snapshots/{node}/{version}/{file}",
                get(jobs::snapshot_file),
            );
    }
    if config.serves("ws") {
        router = router.route("/v1/ws", get(ws::upgrade));
    }
    if config.serves("mcp") {
        let mcp = McpServer::local(
            app.registry.clone(),
            Duration::from_secs(config.mcp_timeout_secs),
        );
        // The MCP service reads the caller's address from the request it hands its tools.
        let mcp = tower::ServiceBuilder::new()
            .map_request(|mut request: Request<Body>| {
                if let Some(peer) = call::current_peer() {
                    request.extensions_mut().insert(ConnectInfo(peer));
                }
                request
            })
            .service(mcp.into_http_service(&config.mcp_allowed_hosts));
        router = router.route_service("/mcp", mcp);
    }
    if config.serves("web") {
        router = router.merge(crate::web::routes());
    }
    let routes = router
        .fallback(call::no_route)
        .method_not_allowed_fallback(call::wrong_method)
        .with_state(state.clone());
    // Request spans and debug events cost every request a span, two clock readings and a wrapped
    // body boxed again, so the trace layer is there only when something records them: debug logs
    // for this module or tower_http, or the OTLP export (whose filter enables both). Failed
    // requests are logged by `edge` either way.
    let traced = tracing::enabled!(tracing::Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG);
    let trace = tower::ServiceBuilder::new()
        // The trace layer's body back into axum's, so the stack has one response type with or
        // without it.
        .map_response(IntoResponse::into_response)
        // The span names the path only: a query may carry an access token.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_failure(()),
        )
        .into_inner();
    // The layers wrap the router once, not each route: `Router::layer` boxes every route again,
    // and every request then clones that box and boxes its future once more. The panic layer is
    // outside `edge` so that `edge` sees the routes' own response type and passes reads straight
    // through.
    tower::ServiceBuilder::new()
        // The panic layer's body into axum's (the body is boxed once, here).
        .map_response(IntoResponse::into_response)
        .option_layer(cors(&config.cors_origins))
        .layer(panic::layer(app.registry.instance()))
        .option_layer(traced.then_some(trace))
        .layer(edge::EdgeLayer::new(state))
        .service(routes)
}

/// Cross-origin access for the configured browser origins; none configured: no CORS headers at
/// all, so browsers keep pages of other origins from reading answers (same-origin only).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        tracing::warn!(
            "cors_origins has '*': pages of any origin can call this API from a browser; list the origins instead"
        );
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| {
                let parsed = HeaderValue::from_str(o.trim_end_matches('/'));
                if parsed.is_err() {
                    tracing::warn!(origin = %o, "cors_origins: not a valid origin; ignored");
                }
                parsed.ok()
            })
            .collect();
        AllowOrigin::list(list)
    };
    let headers = [
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::IF_NONE_MATCH,
        call::CONSISTENCY_HEADER,
        call::TRACE_HEADER,
        call::TRACEPARENT_HEADER,
        call::IDEMPOTENCY_KEY_HEADER,
    ];
    let exposed = [
        header::ETAG,
        header::RETRY_AFTER,
        call::CONSISTENCY_HEADER,
        call::TRACE_HEADER,
        call::IDEMPOTENT_REPLAYED_HEADER,
    ];
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(headers)
            .expose_headers(exposed)
            .max_age(Duration::from_secs(600)),
    )
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    axum::serve(listener, edge::Connections(service))
        .with_graceful_shutdown(shutdown)
        .await
}
