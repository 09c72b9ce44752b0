//! A panic in a route outside the registry (which catches its own) still answers with the
//! envelope: `INTERNAL_ERROR` with a trace id that is also in the log, never a dropped connection.

use std::any::Any;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Response;
use tinct_command::{CommandError, CommandResult, new_trace_id, panic_reason};
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};

use super::call::envelope;

#[derive(Clone)]
pub struct PanicEnvelope {
    instance: Arc<str>,
}

pub fn layer(instance: &str) -> CatchPanicLayer<PanicEnvelope> {
    CatchPanicLayer::custom(PanicEnvelope {
        instance: instance.into(),
    })
}

impl ResponseForPanic for PanicEnvelope {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, err: Box<dyn Any + Send + 'static>) -> Response<Body> {
        let reason = panic_reason(err.as_ref());
        let trace_id = new_trace_id();
        tracing::error!(trace_id = %trace_id, %reason, "route panicked");
        let error = CommandError::internal(format!("internal error (trace id {trace_id})"))
            .suggest(format!(
                "This is a bug in tinct. Report it with trace id {trace_id}."
            ));
        let mut response = envelope(CommandResult::failure("", &trace_id, &self.instance, error));
        // Outside the `edge` layer, which adds this to every other answer.
        super::edge::nosniff(response.headers_mut());
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_route_answers_with_an_internal_error_envelope() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(super::layer("test-instance"));
        let request = axum::http::Request::get("/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let trace = response.headers()["x-trace-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(envelope["success"], false);
        assert_eq!(envelope["error"]["code"], "INTERNAL_ERROR");
        assert_eq!(envelope["metadata"]["traceId"], trace.as_str());
        assert_eq!(envelope["metadata"]["instance"], "test-instance");
        assert!(
            envelope["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&trace)
        );
    }
}
