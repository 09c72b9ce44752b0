//! The command cache: reads are served from the platform Cache; mutations clear the commands they
//! name in `invalidates` once they have succeeded.
//!
//! Keys carry a generation per command that every invalidation bumps. A read takes the generation
//! *before* it runs, so a slow read that started before a write stores its answer under the old
//! generation, where no later read looks: a late fill can never bring a stale value back. A miss
//! also reads at least at the revision of the write behind the generation, so a lagging replica
//! cannot fill the new generation with old data either.

use std::sync::Arc;

use async_trait::async_trait;
use tinct_platform::{Cache, Cached, CachedValue, Generation};

use super::{Call, Middleware, Next, Step};
use crate::data::Data;
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

    /// The key of a read in the command's current generation, and that generation.
    fn key(&self, call: &Call) -> (String, Generation) {
        let generation = self.cache.generation(&call.command.name);
        let key = cache_key(&call.command.name, generation.number, &call.input);
        (key, generation)
    }
}

/// A caller holding a newer consistency token than the entry is known to have skips it: this
/// instance may not have heard of that write yet.
fn usable(hit: Option<CachedValue>, call: &Call) -> Option<CachedValue> {
    let wanted = call.ctx.consistency.unwrap_or(0);
    hit.filter(|c| c.revision >= wanted)
}

#[async_trait]
impl Middleware for CommandCache {
    /// A hit in this process answers here, before any future is built for the call.
    fn before(&self, call: &mut Call) -> Result<Step, CommandError> {
        if call.command.mutation {
            return Ok(Step::Wrap);
        }
        if call.command.cache == CachePolicy::Never {
            call.ctx.set_cache(CacheStatus::Bypass);
            return Ok(Step::Pass);
        }
        let (key, _) = self.key(call);
        Ok(match usable(self.cache.get_local(&key), call) {
            Some(hit) => {
                call.ctx.set_cache(CacheStatus::Hit);
                Step::Answer(Data::from(hit.value.clone()))
            }
            None => Step::Wrap,
        })
    }

    async fn handle(&self, call: Call, next: Next<'_>) -> Result<Data, CommandError> {
        let command = Arc::clone(&call.command);
        if command.mutation {
            let ctx = call.ctx.clone();
            let out = next.run(call).await?;
            // A mutation reports where its change sits in the change log; one that changed nothing
            // reports nothing and invalidates nothing.
            if let Some(number) = ctx.change_seq().filter(|_| !command.invalidates.is_empty()) {
                let revision = ctx.revision().and_then(|r| r.parse().ok()).unwrap_or(0);
                let to = Generation { number, revision };
                self.cache.invalidate(&command.invalidates, to).await;
            }
            ctx.set_cache(CacheStatus::Bypass);
            return Ok(out);
        }
        // Taken again: the generation must be the one current before the handler runs, and a
        // shared level (Redis) may hold what this process does not.
        let (key, generation) = self.key(&call);
        if let Some(hit) = usable(self.cache.get(&key).await, &call) {
            call.ctx.set_cache(CacheStatus::Hit);
            return Ok(Data::from(hit.value.clone()));
        }
        let mut call = call;
        call.ctx.require_at_least(generation.revision);
        let floor = call.ctx.consistency.unwrap_or(0);
        let ctx = call.ctx.clone();
        let out = next.run(call).await?;
        // The handler marked its answer as one that must not be reused (it started a job).
        if ctx.cache_status() == Some(CacheStatus::Bypass) {
            return Ok(out);
        }
        ctx.set_cache(CacheStatus::Miss);
        if !self.cache.stores() {
            return Ok(out);
        }
        let value = out.shared().map_err(|e| {
            CommandError::internal(format!(
                "{} produced an answer that is not JSON: {e}",
                command.name
            ))
        })?;
        let entry = Cached {
            value,
            revision: floor,
        };
        self.cache.put(&key, Arc::new(entry)).await;
        Ok(out)
    }
}

/// `command#generation#input`. Written straight into one buffer: `format!` of a JSON value goes
/// through the formatting machinery character by character, on every cached read.
fn cache_key(command: &str, generation: u64, input: &serde_json::Value) -> String {
    let mut key = Vec::with_capacity(command.len() + 24 + 64);
    key.extend_from_slice(command.as_bytes());
    key.push(b'#');
    // Writing a number or a JSON value into memory cannot fail.
    let _ = serde_json::to_writer(&mut key, &generation);
    key.push(b'#');
    let _ = serde_json::to_writer(&mut key, input);
    String::from_utf8(key).unwrap_or_default()
}
