//! system.commands (the catalogue) and system.health.

use std::sync::{Arc, OnceLock, Weak};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tinct_command::{
    CachePolicy, CommandDef, CommandError, CommandInfo, Context, ErrorCode, Registry,
};

use crate::errors::from_store;
use crate::services::Services;

/// The registry, known only once it is built; the catalogue command reads it from here.
pub type RegistryCell = Arc<OnceLock<Weak<Registry>>>;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandsIn {
    /// Describe only this command.
    pub name: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct CommandsOut {
    pub commands: Vec<CommandInfo>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    pub name: String,
    pub healthy: bool,
    /// WAL bytes not yet replayed; absent while the replica is down.
    pub lag_bytes: Option<u64>,
}

/// A circuit breaker around a dependency (Redis, a replica): `closed` (in use), `open` (skipped,
/// calls go elsewhere) or `half-open` (being tried again).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerView {
    pub name: String,
    pub state: String,
    /// Consecutive failures counted, or those that opened it.
    pub failures: u32,
    /// When it opened, milliseconds since the Unix epoch; absent while closed.
    pub opened_at_ms: Option<u64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthOut {
    /// `ok`, or `degraded` when a part is down but the instance still serves (see `degraded`).
    pub status: String,
    /// The parts that are down and worked around: a breaker's name (`redis-cache`, `replica …`).
    pub degraded: Vec<String>,
    /// Every circuit breaker of this instance.
    pub breakers: Vec<BreakerView>,
    pub version: String,
    pub instance: String,
    pub store: String,
    pub cache: String,
    pub bus: String,
    /// Read replicas: health and replay lag behind the primary.
    pub replicas: Vec<ReplicaView>,
    /// Latest committed revision.
    pub revision: String,
    pub uptime_secs: u64,
}

pub fn defs(s: &Arc<Services>, registry: &RegistryCell) -> Vec<CommandDef> {
    let cell = registry.clone();
    let h = s.clone();
    vec![
        CommandDef::new(
            "system.commands",
            "The command catalogue: every command with its description, JSON Schemas, flags and examples.",
            move |i: CommandsIn, _ctx: Context| {
                let cell = cell.clone();
                async move {
                    let registry = cell
                        .get()
                        .and_then(Weak::upgrade)
                        .ok_or_else(|| CommandError::internal("the registry is not ready"))?;
                    let commands = match i.name {
                        None => registry.list().map(CommandInfo::from).collect(),
                        Some(name) => vec![registry.describe(&name).ok_or_else(|| {
                            CommandError::new(
                                ErrorCode::CommandNotFound,
                                format!("no command named '{name}'"),
                            )
                            .suggest("Call system.commands without a name to list them all.")
                        })?],
                    };
                    Ok(CommandsOut { commands })
                }
            },
        )
        .scopes(&[])
        .tags(&["system"])
        .example("all", json!({}))
        .example("one", json!({"name": "tokens.resolve"})),
        CommandDef::new(
            "system.health",
            "Whether this instance can reach its store, with version, instance name, revision, replicas and circuit breakers; `degraded` lists the parts that are down but worked around.",
            move |_: Empty, _ctx: Context| {
                let s = h.clone();
                async move {
                    let revision = s.store.revision().await.map_err(from_store)?;
                    let breakers: Vec<BreakerView> = tinct_platform::breaker::all()
                        .into_iter()
                        .map(|b| BreakerView {
                            name: b.name,
                            state: b.state.as_str().to_owned(),
                            failures: b.failures,
                            opened_at_ms: b.opened_at_ms,
                        })
                        .collect();
                    // A webhook receiver that is down is its owner's problem, not this
                    // instance's: its breaker is listed, but does not make the instance degraded.
                    let degraded: Vec<String> = breakers
                        .iter()
                        .filter(|b| b.state != "closed")
                        .filter(|b| !b.name.starts_with(crate::jobs::webhook::BREAKER_PREFIX))
                        .map(|b| b.name.clone())
                        .collect();
                    Ok(HealthOut {
                        status: if degraded.is_empty() { "ok" } else { "degraded" }.to_owned(),
                        degraded,
                        breakers,
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        instance: s.instance.clone(),
                        store: s.store.describe(),
                        cache: s.cache.describe(),
                        bus: s.bus.describe(),
                        replicas: s
                            .store
                            .replicas()
                            .await
                            .into_iter()
                            .map(|r| ReplicaView {
                                name: r.name,
                                healthy: r.healthy,
                                lag_bytes: r.lag_bytes,
                            })
                            .collect(),
                        revision,
                        uptime_secs: s.started.elapsed().as_secs(),
                    })
                }
            },
        )
        .cache(CachePolicy::Never)
        .scopes(&[])
        .tags(&["system"])
        .example("health", json!({})),
    ]
}
