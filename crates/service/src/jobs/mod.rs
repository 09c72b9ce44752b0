//! Background work: the kinds of job tinct runs (`kinds.rs`), the worker pool that runs them
//! (`worker.rs`), and the leader-only scheduler and maintenance (`scheduler.rs`).
//!
//! A job kind is data plus a handler, like a command: a name (`export`, `webhook.deliver` …), the
//! queue it goes to, how long one attempt may take, how many attempts it gets, and a typed handler
//! whose argument type checks a job's `args` before it is ever enqueued.

pub mod artifacts;
pub mod builtin;
pub mod cron;
pub mod kinds;
pub mod runtime;
pub mod scheduler;
pub mod webhook;
pub mod worker;

pub use kinds::{JobCtx, JobDef, JobFailure, JobKinds, NoArgs};
pub use runtime::JobRuntime;
