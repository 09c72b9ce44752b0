//! The command layer: definitions, registry, context, the CommandResult envelope, the error
//! catalogue, the middleware chain and the metrics the registry records of every call. It knows nothing of HTTP or SQL.

mod auth;
mod client;
mod command_metrics;
mod context;
mod data;
mod definition;
mod envelope;
mod error;
pub mod middleware;
mod registry;

pub use auth::{
    ADMIN_SCOPE, AuthMode, Authenticator, Credential, Principal, SCOPES, TokenRejected,
};
pub use client::{BadProxy, ClientAddr, TrustedProxies, address_bucket};
pub use command_metrics::{CommandMetrics, CommandSummary, CommandTotals, ErrorTotals};
pub use context::{Context, Surface, new_trace_id};
pub use data::Data;
pub use definition::{CachePolicy, CommandDef, CommandInfo, Example, schema_of};
pub use envelope::{CacheStatus, CommandResult, ErrorBody, Metadata};
pub use error::{CommandError, ErrorCode};
pub use registry::{
    BatchItem, BatchResult, Registry, RegistryBuilder, RegistryError, panic_reason,
};
