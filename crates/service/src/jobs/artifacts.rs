//! Job kinds that produce files, and the housekeeping that removes them:
//!
//! - `export`: a `tokens.export {…, async: true}` run in the background; its file is stored as the
//!   blob `export/{job id}` until the job's retention runs out.
//! - `snapshot`: publishes immutable, versioned exports of a node as `snapshot/{node}/{version}/
//!   export.{format}`, where the version is the node's change revision (the newest change to the
//!   node or an ancestor). An unchanged node keeps its version: re-running writes nothing.
//! - `maintenance.cleanup`: prunes finished jobs past the retention, expired blobs and expired
//!   idempotency keys.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tinct_command::{CommandError, Context, ErrorCode, Surface};
use tinct_engine::{ExportOptions, Format, export};
use tinct_platform::{Blob, BlobMeta, IdempotencyStore, Job, JobState, NewJob, PutMode, StoreRead};

use super::{JobCtx, JobDef, JobFailure, NoArgs};
use crate::commands::tokens::{ExportIn, export_node};
use crate::errors::{from_blob, from_store};
use crate::services::Services;
use crate::tree::resolve_node;

pub const EXPORT: &str = "export";
pub const SNAPSHOT: &str = "snapshot";
pub const CLEANUP: &str = "maintenance.cleanup";

/// Attempts of an export: a failure is mostly a node that went away or a broken alias, which
/// retrying does not mend.
const EXPORT_ATTEMPTS: i32 = 3;

/// The blob an export job stores its file as.
pub fn export_key(job_id: i64) -> String {
    format!("export/{job_id}")
}

/// The blob the file of job `id` of `kind` is under, for kinds that produce one.
pub fn artifact_key(kind: &str, id: i64) -> Option<String> {
    (kind == EXPORT).then(|| export_key(id))
}

/// Where a job's file is downloaded.
pub fn artifact_url(job_id: i64) -> String {
    format!("/v1/jobs/{job_id}/artifact")
}

/// Where a job's state is read.
pub fn status_url(job_id: i64) -> String {
    format!("/v1/jobs/{job_id}")
}

/// The blob key prefix of a node's snapshots (all versions).
pub fn snapshot_prefix(node: &str) -> String {
    format!("snapshot/{node}/")
}

/// The blob of one snapshot file.
pub fn snapshot_key(node: &str, version: i64, file: &str) -> String {
    format!("{}{version}/{file}", snapshot_prefix(node))
}

/// The file name of a format in a snapshot.
pub fn snapshot_file(format: Format) -> String {
    format!("export.{}", format.as_str())
}

/// Where a snapshot file is served.
pub fn snapshot_url(node: &str, version: i64, file: &str) -> String {
    format!("/v1/snapshots/{node}/{version}/{file}")
}

/// The arguments of an `export` job: the command's input, and the consistency token of the call
/// that asked for it (so the export sees at least what that caller saw).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportArgs {
    pub request: ExportIn,
    pub at_least: Option<u64>,
}

/// The `export` job for `args`, on its queue with its attempts.
pub fn export_job(args: &ExportArgs) -> Result<NewJob, CommandError> {
    let args = serde_json::to_value(args)
        .map_err(|e| CommandError::internal(format!("export job args: {e}")))?;
    Ok(NewJob::new(EXPORT, args).max_attempts(EXPORT_ATTEMPTS))
}

/// An engine format a snapshot publishes; checked when the job is enqueued.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
struct SnapshotFormat(Format);

impl TryFrom<String> for SnapshotFormat {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        name.parse::<Format>().map(SnapshotFormat).map_err(|_| {
            let valid: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            format!(
                "unknown snapshot format {name:?}; use one of {}",
                valid.join(", ")
            )
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotArgs {
    node: String,
    formats: Vec<SnapshotFormat>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn failure(e: CommandError) -> JobFailure {
    JobFailure::new(format!("{}: {}", e.code.as_str(), e.message))
}

/// The kinds of this module. `retention` is how long finished jobs (and so export files) are
/// kept; `keys` are the idempotency keys cleanup prunes.
pub fn defs(
    s: &Arc<Services>,
    keys: Arc<dyn IdempotencyStore>,
    retention: Duration,
) -> Vec<JobDef> {
    let (e, p, c) = (s.clone(), s.clone(), s.clone());
    vec![
        JobDef::new(
            EXPORT,
            "args {\"request\": <tokens.export input>, \"atLeast\": <consistency token or null>} — \
             runs the export and stores its file for jobs.get and /v1/jobs/{id}/artifact",
            move |args: ExportArgs, job: JobCtx| {
                let s = e.clone();
                async move { run_export(&s, args, job, retention).await }
            },
        )
        .max_attempts(EXPORT_ATTEMPTS)
        .timeout(Duration::from_secs(300))
        // Its file is only reachable through the job that made it: tokens.export {async: true}.
        .internal(),
        JobDef::new(
            SNAPSHOT,
            "args {\"node\": \"<id>\", \"formats\": [\"css\", \"json\", …]} — publishes immutable \
             exports of the node's current version under /v1/snapshots/{node}/{version}/",
            move |args: SnapshotArgs, job: JobCtx| {
                let s = p.clone();
                async move { run_snapshot(&s, args, job).await }
            },
        )
        .max_attempts(5)
        .timeout(Duration::from_secs(300)),
        JobDef::new(
            CLEANUP,
            "args {} — prunes finished jobs past job_retention_secs, expired blobs and expired \
             idempotency keys",
            move |_: NoArgs, job: JobCtx| {
                let s = c.clone();
                let keys = keys.clone();
                async move { run_cleanup(&s, keys.as_ref(), retention, job).await }
            },
        )
        .queue("low")
        .max_attempts(3)
        .timeout(Duration::from_secs(600)),
    ]
}

async fn run_export(
    s: &Services,
    args: ExportArgs,
    job: JobCtx,
    retention: Duration,
) -> Result<(), JobFailure> {
    let ctx = Context::new(Surface::Internal)
        .with_trace_id(Some(&job.trace_id))
        .with_actor(format!("job:{}", job.id))
        .with_consistency(args.at_least);
    let mut request = args.request;
    request.r#async = None;
    let out = export_node(s, request, ctx).await.map_err(failure)?;
    let expires = now_ms().saturating_add(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    let meta = s
        .blobs
        .put(
            &export_key(job.id),
            &out.content_type,
            out.content.as_bytes(),
            Some(expires),
            PutMode::Replace,
        )
        .await
        .map_err(|e| failure(from_blob(e)))?
        .ok_or_else(|| JobFailure::new("the export file was not stored"))?;
    tracing::info!(job = job.id, node = %out.node, format = %out.format, bytes = meta.size, "export stored");
    Ok(())
}

/// The node's change revision: the newest change recorded on it or any ancestor (its resolved
/// tokens depend on nothing else). `None` when the node does not exist.
pub async fn node_version(store: &dyn StoreRead, node: &str) -> Result<Option<i64>, CommandError> {
    let lineage = store.lineage(node).await.map_err(from_store)?;
    if lineage.is_empty() {
        return Ok(None);
    }
    let mut version = 0;
    for n in &lineage {
        version = version.max(n.revision);
        if let Some(last) = store
            .history(&n.id, None, 1)
            .await
            .map_err(from_store)?
            .first()
        {
            version = version.max(last.revision.parse::<i64>().unwrap_or(last.seq));
        }
    }
    Ok(Some(version))
}

async fn run_snapshot(s: &Services, args: SnapshotArgs, job: JobCtx) -> Result<(), JobFailure> {
    if args.formats.is_empty() {
        return Err(JobFailure::new(
            "a snapshot needs at least one format, e.g. [\"css\", \"json\"]",
        ));
    }
    let store = s
        .store
        .read_view(None)
        .await
        .map_err(from_store)
        .map_err(failure)?;
    // Version and content must come from the same state: a change that lands between reading
    // the version and the tokens shows as a newer version afterwards, and the attempt reads again.
    let mut tries = 0;
    let (version, files) = loop {
        let before = node_version(store, &args.node)
            .await
            .map_err(failure)?
            .ok_or_else(|| JobFailure::new(format!("no node with id '{}'", args.node)))?;
        let resolved = resolve_node(store, &args.node).await.map_err(failure)?;
        let files: Vec<(Format, String)> = args
            .formats
            .iter()
            .map(|f| (f.0, export(&resolved, f.0, &ExportOptions::default())))
            .collect();
        let after = node_version(store, &args.node).await.map_err(failure)?;
        if after == Some(before) {
            break (before, files);
        }
        tries += 1;
        if tries >= 5 {
            return Err(JobFailure::new(format!(
                "node '{}' kept changing while it was exported; the job retries later",
                args.node
            )));
        }
    };
    let mut written = 0;
    for (format, content) in files {
        let key = snapshot_key(&args.node, version, &snapshot_file(format));
        let stored = s
            .blobs
            .put(
                &key,
                format.content_type(),
                content.as_bytes(),
                None,
                PutMode::KeepExisting,
            )
            .await
            .map_err(|e| failure(from_blob(e)))?;
        written += usize::from(stored.is_some());
    }
    tracing::info!(job = job.id, node = %args.node, version, written, "snapshot published");
    Ok(())
}

async fn run_cleanup(
    s: &Services,
    keys: &dyn IdempotencyStore,
    retention: Duration,
    job: JobCtx,
) -> Result<(), JobFailure> {
    let jobs = s.queue.prune(retention).await?;
    let blobs = s.blobs.delete_expired().await?;
    const KEY_BATCH: u32 = 1000;
    let mut keys_pruned = 0;
    loop {
        let done = keys.prune_keys(KEY_BATCH).await?;
        keys_pruned += done;
        if done < u64::from(KEY_BATCH) {
            break;
        }
    }
    // The delivery log is kept as long as finished jobs.
    let before = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
    let mut deliveries = 0;
    loop {
        let done = s.webhooks.prune_deliveries(before, KEY_BATCH).await?;
        deliveries += done;
        if done < u64::from(KEY_BATCH) {
            break;
        }
    }
    tracing::info!(
        job = job.id,
        jobs,
        blobs,
        keys = keys_pruned,
        deliveries,
        "maintenance cleanup"
    );
    Ok(())
}

/// Job `id`'s stored file with its bytes, for the download route once `jobs.get` let the caller
/// see the job (of `kind`, in `state`); else why there is none and what to do.
pub async fn artifact_file(
    s: &Services,
    id: i64,
    kind: &str,
    state: &str,
) -> Result<Blob, CommandError> {
    let key = artifact_key(kind, id);
    let blob = match &key {
        Some(key) => s.blobs.get(key).await.map_err(from_blob)?,
        None => None,
    };
    blob.ok_or_else(|| match state.parse::<JobState>().ok() {
        Some(st) if !st.is_finished() => CommandError::new(
            ErrorCode::Conflict,
            format!("job {id} is {st}; its file is there once it has completed"),
        )
        .suggest(format!(
            "Poll GET {} (jobs.get) until its state is completed, then download again.",
            status_url(id)
        ))
        .details(serde_json::json!({"id": id, "state": st.as_str()})),
        Some(JobState::Completed) if key.is_some() => {
            CommandError::not_found(format!("the file of job {id} has expired"))
                .suggest("Run the export again (tokens.export with async: true).")
        }
        Some(JobState::Completed) => {
            CommandError::not_found(format!("job {id} ({kind}) produces no file"))
                .suggest("Only export jobs have a file; read the job with jobs.get.")
        }
        _ => CommandError::not_found(format!("job {id} ended {state} without a file"))
            .suggest("See its errors with jobs.get, and run it again with jobs.retry."),
    })
}

/// One file of a published snapshot with its bytes (the snapshot route, once `snapshots.list`
/// listed it for the caller).
pub async fn published_file(
    s: &Services,
    node: &str,
    version: i64,
    file: &str,
) -> Result<Option<Blob>, CommandError> {
    s.blobs
        .get(&snapshot_key(node, version, file))
        .await
        .map_err(from_blob)
}

/// A job's stored file (without its bytes), if its kind makes one and it is there.
pub async fn artifact_of(s: &Services, job: &Job) -> Result<Option<BlobMeta>, CommandError> {
    match artifact_key(&job.kind, job.id) {
        Some(key) => s.blobs.head(&key).await.map_err(from_blob),
        None => Ok(None),
    }
}
