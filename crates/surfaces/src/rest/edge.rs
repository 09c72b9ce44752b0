//! What every request passes through: the peer address for `context()`, set per connection
//! (`Connections`), and, as one tower layer, the request limits, a log line for each failed
//! request (5xx) and the headers every answer carries (`nosniff`; `Connection: close` while
//! draining, so a proxy's kept-alive connections end cleanly after their answer instead of being
//! cut when the server stops).
//!
//! Written as a service rather than `axum::middleware::from_fn`, which boxes the inner service and
//! the future of every request: a request without a body (every read) goes straight through.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::serve::IncomingStream;
use futures::future::{BoxFuture, Either};
use tokio::net::TcpListener;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::RestState;
use super::call::{TRACE_HEADER, with_peer};
use super::limits;

#[derive(Clone)]
pub struct EdgeLayer {
    state: RestState,
}

impl EdgeLayer {
    pub fn new(state: RestState) -> Self {
        EdgeLayer { state }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            state: self.state.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    state: RestState,
    inner: S,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let inner = if limits::may_have_body(&request) {
            // The service that was polled ready goes with the request; a clone stays.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            let state = self.state.clone();
            Either::Right(Box::pin(async move {
                match limits::admit(&state, request).await {
                    Ok(request) => inner.call(request).await,
                    Err(refused) => Ok(refused),
                }
            }) as BoxFuture<'static, _>)
        } else {
            Either::Left(self.inner.call(request))
        };
        Answer {
            inner,
            state: self.state.clone(),
        }
    }
}

/// Makes the service of each accepted connection: the whole stack, with the connection's peer
/// address in scope for each of its requests (`call::with_peer`) rather than in an extension
/// inserted into every request.
#[derive(Clone)]
pub struct Connections<S>(pub S);

impl<S: Clone> Service<IncomingStream<'_, TcpListener>> for Connections<S> {
    type Response = Connection<S>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Connection<S>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: IncomingStream<'_, TcpListener>) -> Self::Future {
        std::future::ready(Ok(Connection {
            peer: *incoming.remote_addr(),
            inner: self.0.clone(),
        }))
    }
}

/// The stack as one connection serves it.
#[derive(Clone)]
pub struct Connection<S> {
    peer: SocketAddr,
    inner: S,
}

impl<S: Service<Request>> Service<Request> for Connection<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<Option<SocketAddr>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        with_peer(Some(self.peer), || self.inner.call(request))
    }
}

/// `nosniff` on an answer that does not set its own (the page sets stricter headers too).
pub(super) fn nosniff(headers: &mut HeaderMap) {
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
}

pin_project_lite::pin_project! {
    /// The inner answer with the headers every answer carries.
    pub struct Answer<F> {
        #[pin]
        inner: F,
        state: RestState,
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if response.status().is_server_error() {
            // The trace id leads to what the command logged about it.
            let trace_id = response.headers().get(&TRACE_HEADER);
            let trace_id = trace_id.and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::error!(status = response.status().as_u16(), %trace_id, "request failed");
        }
        let headers = response.headers_mut();
        nosniff(headers);
        if this.state.is_draining() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}
