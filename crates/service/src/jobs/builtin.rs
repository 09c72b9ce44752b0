//! Job kinds for checking a deployment's workers: `noop` (the cost of the queue itself; the job
//! benchmark runs it) and `sleep` (holds a worker for a while, to watch leases, cancellation and
//! graceful stops).

use std::time::Duration;

use serde::Deserialize;

use super::{JobDef, JobFailure, NoArgs};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepArgs {
    /// How long to hold the worker, milliseconds (at most an hour).
    ms: u64,
}

pub fn defs() -> Vec<JobDef> {
    vec![
        JobDef::new("noop", "args {} — does nothing", |_: NoArgs, _| async {
            Ok(())
        }),
        JobDef::new(
            "sleep",
            "args {\"ms\": <milliseconds, at most 3600000>} — holds a worker that long",
            |args: SleepArgs, _| async move {
                if args.ms > 3_600_000 {
                    return Err(JobFailure::new("sleep takes at most 3600000 ms"));
                }
                tokio::time::sleep(Duration::from_millis(args.ms)).await;
                Ok(())
            },
        )
        .timeout(Duration::from_secs(3_700)),
    ]
}
