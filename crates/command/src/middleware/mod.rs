//! The middleware chain every call passes through, outermost first. The registry wraps the chain in
//! trace id, timing and panic capture; the chain holds the rest (metrics, auth, validation, cache,
//! and later rate limits) and ends in the handler.

mod authorize;
mod cache;
mod command_metrics;
mod idempotency;
mod rate_limit;
mod validate;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::data::Data;
pub use authorize::Authorize;
pub use cache::CommandCache;
pub use command_metrics::{CommandMetrics, CommandSummary, CommandTotals, ErrorTotals};
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

#[async_trait]
pub trait Middleware: Send + Sync {
    async fn handle(&self, call: Call, next: Next<'_>) -> Result<Data, CommandError>;
}

/// The rest of the chain after the current middleware.
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
}

impl<'a> Next<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn Middleware>]) -> Self {
        Next { rest: chain }
    }

    pub async fn run(self, call: Call) -> Result<Data, CommandError> {
        match self.rest.split_first() {
            Some((first, rest)) => first.handle(call, Next { rest }).await,
            None => (call.command.handler)(call.input, call.ctx).await,
        }
    }
}
