//! The command cache: reads are served from the platform Cache; mutations clear the commands they
//! name in `invalidates` once they have succeeded.
//!
//! Keys carry a generation per command that every invalidation bumps. A read takes the generation
//! *before* it runs, so a slow read that started before a write stores its answer under the old
//! generation, where no later read looks: a late fill can never bring a stale value back.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tinct_platform::Cache;

use super::{Call, Middleware, Next};
use crate::definition::CachePolicy;
use crate::envelope::CacheStatus;
use crate::error::CommandError;

pub struct CommandCache {
    cache: Arc<dyn Cache>,
}

impl CommandCache {
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        CommandCache { cache }
    }
}

#[async_trait]
impl Middleware for CommandCache {
    async fn handle(&self, call: Call, next: Next<'_>) -> Result<Value, CommandError> {
        let command = Arc::clone(&call.command);
        if command.mutation {
            let ctx = call.ctx.clone();
            let out = next.run(call).await?;
            if !command.invalidates.is_empty() {
                self.cache.invalidate(&command.invalidates).await;
            }
            ctx.set_cache(CacheStatus::Bypass);
            return Ok(out);
        }
        if command.cache == CachePolicy::Never {
            call.ctx.set_cache(CacheStatus::Bypass);
            return next.run(call).await;
        }
        let generation = self.cache.generation(&command.name).await;
        let key = format!("{}#{}#{}", command.name, generation, call.input);
        if let Some(hit) = self.cache.get(&key).await {
            call.ctx.set_cache(CacheStatus::Hit);
            return Ok(Value::clone(&hit));
        }
        let ctx = call.ctx.clone();
        let out = next.run(call).await?;
        self.cache.put(&key, Arc::new(out.clone())).await;
        ctx.set_cache(CacheStatus::Miss);
        Ok(out)
    }
}
