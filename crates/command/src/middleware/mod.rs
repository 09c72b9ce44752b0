//! The middleware chain every call passes through, outermost first. The registry wraps the chain in
//! trace id, timing, metrics (`crate::command_metrics`, recorded by the registry itself) and panic
//! capture; the chain holds the rest (auth, rate limits, validation, idempotency, cache) and ends in
//! the handler.

mod authorize;
mod cache;
mod idempotency;
mod rate_limit;
mod validate;

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::data::Data;
pub use authorize::Authorize;
pub use cache::CommandCache;
pub use idempotency::{
    EXPECTED_REVISION_FIELD, IDEMPOTENCY_KEY_FIELD, Idempotency, KeyHold, REPLAY_WARNING,
    augment_schema,
};
pub use rate_limit::{CommandClass, RateLimit, RateLimitFail, RatePolicies};
pub use validate::ValidateInput;

use crate::context::Context;
use crate::definition::CommandDef;
use crate::error::CommandError;

/// One command invocation as it travels down the chain.
pub struct Call {
    pub command: Arc<CommandDef>,
    pub input: Value,
    pub ctx: Context,
}

/// What `Middleware::before` decided.
pub enum Step {
    /// Hand the call on; this middleware has nothing to do after the rest of the chain.
    Pass,
    /// Run `Middleware::handle` around the rest of the chain.
    Wrap,
    /// Answer now (a cache hit): the rest of the chain does not run.
    Answer(Data),
}

#[async_trait]
pub trait Middleware: Send + Sync {
    /// Runs first, without a future of its own: the checks that need no I/O. Most calls never
    /// need more, and every `handle` costs an allocation and a move of the call.
    fn before(&self, _call: &mut Call) -> Result<Step, CommandError> {
        Ok(Step::Wrap)
    }

    /// Runs around the rest of the chain when `before` asked for it.
    async fn handle(&self, call: Call, next: Next<'_>) -> Result<Data, CommandError> {
        next.run(call).await
    }
}

/// The rest of the chain after the current middleware.
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
}

impl<'a> Next<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn Middleware>]) -> Self {
        Next { rest: chain }
    }

    /// Runs the rest of the chain.
    pub async fn run(self, call: Call) -> Result<Data, CommandError> {
        match self.advance(call)? {
            Advance::Answered(data) => Ok(data),
            Advance::Waiting(future) => future.await,
        }
    }

    /// Runs the `before` steps, without waiting: a call answered there (an L1 cache hit) never
    /// builds a future, and the registry's own future stays small because all it may have to
    /// wait for is behind a box (`handle` and handlers return boxed futures anyway).
    pub(crate) fn advance(self, mut call: Call) -> Result<Advance<'a>, CommandError> {
        let mut rest = self.rest;
        while let Some((first, after)) = rest.split_first() {
            rest = after;
            match first.before(&mut call)? {
                Step::Pass => {}
                Step::Wrap => return Ok(Advance::Waiting(first.handle(call, Next { rest }))),
                Step::Answer(data) => return Ok(Advance::Answered(data)),
            }
        }
        Ok(Advance::Waiting((call.command.handler)(
            call.input, call.ctx,
        )))
    }
}

/// How far `Next::advance` got without waiting.
pub(crate) enum Advance<'a> {
    /// A middleware answered.
    Answered(Data),
    /// What is left: a middleware's `handle` around the rest, or the handler.
    Waiting(BoxFuture<'a, Result<Data, CommandError>>),
}
