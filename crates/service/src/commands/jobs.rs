//! jobs.get, jobs.list, jobs.cancel, jobs.retry: background jobs as their callers see them; and
//! snapshots.list, the published versions of a node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tinct_command::{CachePolicy, CommandDef, CommandError, Context};
use tinct_platform::{BlobMeta, Job, JobFilter, JobState};

use crate::errors::{from_blob, from_queue};
use crate::jobs::JobKinds;
use crate::jobs::artifacts::{
    self, artifact_key, artifact_of, artifact_url, snapshot_prefix, snapshot_url,
};
use crate::services::Services;
use crate::tree::node_not_found;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdIn {
    /// The job's id (as `tokens.export {async: true}` or `jobs.list` returned it).
    pub id: i64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListIn {
    /// Only jobs in this state: available, scheduled, running, retryable, completed, discarded
    /// or cancelled.
    pub state: Option<String>,
    /// Only jobs of this kind (e.g. `export`).
    pub kind: Option<String>,
    /// Only jobs on this queue.
    pub queue: Option<String>,
    /// Jobs with an id greater than this (the `next` of the previous page).
    pub after: Option<i64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// A failed attempt.
#[derive(Serialize, JsonSchema)]
pub struct AttemptErrorView {
    pub attempt: i32,
    pub error: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

/// The file a job produced.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactView {
    /// Download it here (GET), with its content type and ETag.
    pub url: String,
    pub content_type: String,
    /// Its length.
    pub bytes: i64,
    pub etag: String,
    /// When it is deleted (milliseconds since the Unix epoch).
    pub expires_at: Option<i64>,
}

/// A job. Times are milliseconds since the Unix epoch, by the database's clock.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub args: Value,
    pub queue: String,
    pub priority: i32,
    /// available, scheduled, running, retryable, completed, discarded or cancelled.
    pub state: String,
    /// When it is (or was) due.
    pub run_at: i64,
    /// Attempts started so far.
    pub attempt: i32,
    pub max_attempts: i32,
    pub unique_key: Option<String>,
    pub partition_key: Option<String>,
    /// The trace of the request that enqueued it; its attempts log under it.
    pub trace_id: Option<String>,
    /// The worker running it now.
    pub locked_by: Option<String>,
    /// A cancel arrived while it ran; it stops at its next heartbeat.
    pub cancel_requested: bool,
    /// The error of each failed attempt, oldest first.
    pub errors: Vec<AttemptErrorView>,
    pub created_at: i64,
    /// When its latest attempt started.
    pub attempted_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Running time of the latest attempt, or of the whole job once finished.
    pub duration_ms: Option<i64>,
    /// The file it produced, once it is there (export jobs).
    pub artifact: Option<ArtifactView>,
}

impl JobView {
    fn new(job: Job, artifact: Option<BlobMeta>) -> Self {
        let duration_ms = match (job.attempted_at, job.finished_at) {
            (Some(start), Some(end)) => Some(end - start),
            _ => None,
        };
        JobView {
            artifact: artifact.map(|m| ArtifactView {
                url: artifact_url(job.id),
                content_type: m.content_type,
                bytes: m.size,
                etag: m.etag,
                expires_at: m.expires_at,
            }),
            id: job.id,
            kind: job.kind,
            args: job.args,
            queue: job.queue,
            priority: job.priority,
            state: job.state.as_str().to_owned(),
            run_at: job.run_at,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            unique_key: job.unique_key,
            partition_key: job.partition_key,
            trace_id: job.trace_id,
            locked_by: job.locked_by,
            cancel_requested: job.cancel_requested,
            errors: job
                .errors
                .into_iter()
                .map(|e| AttemptErrorView {
                    attempt: e.attempt,
                    error: e.error,
                    at: e.at,
                })
                .collect(),
            created_at: job.created_at,
            attempted_at: job.attempted_at,
            finished_at: job.finished_at,
            duration_ms,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct ListOut {
    pub jobs: Vec<JobView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotsIn {
    pub node: String,
    /// Only this version.
    pub version: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotFileView {
    /// e.g. `export.css`.
    pub file: String,
    /// Immutable: cacheable forever (GET).
    pub url: String,
    pub content_type: String,
    pub bytes: i64,
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct SnapshotVersionView {
    /// The node's change revision the files were exported at.
    pub version: i64,
    pub files: Vec<SnapshotFileView>,
}

#[derive(Serialize, JsonSchema)]
pub struct SnapshotsOut {
    pub node: String,
    /// Newest first.
    pub versions: Vec<SnapshotVersionView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishIn {
    pub node: String,
    /// Engine formats to publish, e.g. `["css", "json"]` (default `["css", "json"]`).
    pub formats: Option<Vec<String>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartedOut {
    /// The background job; read it with `jobs.get {"id": jobId}`.
    pub job_id: i64,
    /// The job's state now.
    pub state: String,
    /// Where the job's state is read (GET).
    pub status: String,
    /// True when the same publish was already pending: `jobId` is that job.
    pub duplicate: bool,
}

/// Snapshot files read per listing (a node with more lists only some of its versions).
const MAX_SNAPSHOT_FILES: usize = 10_000;

pub fn defs(s: &Arc<Services>, kinds: &Arc<JobKinds>) -> Vec<CommandDef> {
    let (g, l, c, r, n) = (s.clone(), s.clone(), s.clone(), s.clone(), s.clone());
    let known = kinds.clone();
    let (p, publish_kinds) = (s.clone(), kinds.clone());
    vec![
        CommandDef::new(
            "jobs.get",
            "A background job: its state, attempts and their errors, timings, and the file it produced (`artifact`, with a download URL) once there.",
            move |i: IdIn, _ctx: Context| {
                let s = g.clone();
                async move {
                    let job = s
                        .queue
                        .get(i.id)
                        .await
                        .map_err(from_queue)?
                        .ok_or_else(|| not_found(i.id))?;
                    let artifact = artifact_of(&s, &job).await?;
                    Ok(JobView::new(job, artifact))
                }
            },
        )
        .cache(CachePolicy::Never)
        .tags(&["jobs"])
        .example("an export job", json!({"id": 42})),
        CommandDef::new(
            "jobs.list",
            "Background jobs in id order, a page at a time; filter by state, kind and queue.",
            move |i: ListIn, _ctx: Context| {
                let s = l.clone();
                let kinds = known.clone();
                async move { list(&s, &kinds, i).await }
            },
        )
        .cache(CachePolicy::Never)
        .tags(&["jobs"])
        .example("failed exports", json!({"state": "discarded", "kind": "export"}))
        .example("next page", json!({"after": 100, "limit": 100})),
        CommandDef::new(
            "jobs.cancel",
            "Cancel a job: a pending one at once; a running one stops at its next heartbeat (cancelRequested until then).",
            move |i: IdIn, _ctx: Context| {
                let s = c.clone();
                async move {
                    let job = s.queue.cancel(i.id).await.map_err(from_queue)?;
                    Ok(JobView::new(job, None))
                }
            },
        )
        .mutation(&[])
        .tags(&["jobs"])
        .example("cancel", json!({"id": 42})),
        CommandDef::new(
            "jobs.retry",
            "Run a discarded or cancelled job again (with at least one more attempt).",
            move |i: IdIn, _ctx: Context| {
                let s = r.clone();
                async move {
                    let job = s.queue.retry(i.id).await.map_err(from_queue)?;
                    s.jobs_wake.notify_one();
                    Ok(JobView::new(job, None))
                }
            },
        )
        .mutation(&[])
        .tags(&["jobs"])
        .example("retry", json!({"id": 42})),
        CommandDef::new(
            "snapshots.list",
            "The published snapshots of a node (immutable, versioned exports made by the snapshot job), newest version first.",
            move |i: SnapshotsIn, ctx: Context| {
                let s = n.clone();
                async move { snapshots(&s, i, &ctx).await }
            },
        )
        .cache(CachePolicy::Never)
        .tags(&["jobs", "export"])
        .example("a node's versions", json!({"node": "acme"})),
        CommandDef::new(
            "snapshots.publish",
            "Publish a snapshot of a node now (the snapshot job, in the background): immutable exports under /v1/snapshots/{node}/{version}/, where version is the node's change revision. An unchanged node keeps its version.",
            move |i: PublishIn, ctx: Context| {
                let s = p.clone();
                let kinds = publish_kinds.clone();
                async move { publish(&s, &kinds, i, &ctx).await }
            },
        )
        .mutation(&[])
        .tags(&["jobs", "export"])
        .example("css and json", json!({"node": "acme", "formats": ["css", "json"]})),
    ]
}

fn not_found(id: i64) -> CommandError {
    from_queue(tinct_platform::QueueError::NotFound(id))
}

async fn list(s: &Services, kinds: &JobKinds, i: ListIn) -> Result<ListOut, CommandError> {
    let limit = super::page_limit(i.limit, 100)?;
    let state = match i.state.as_deref() {
        None => None,
        Some(name) => Some(name.parse::<JobState>().map_err(|e| {
            let valid: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            CommandError::validation(format!("state: {}", from_queue(e).message))
                .suggest(format!("Use one of: {}.", valid.join(", ")))
                .details(json!({"field": "state", "valid": valid}))
        })?),
    };
    if let Some(kind) = i.kind.as_deref().filter(|k| kinds.get(k).is_none()) {
        return Err(kinds.unknown(kind));
    }
    if i.after.is_some_and(|a| a < 0) {
        return Err(CommandError::validation("after must be 0 or a job id")
            .suggest("Pass the `next` of the previous page, or leave after out.")
            .details(json!({"field": "after"})));
    }
    let filter = JobFilter {
        state,
        kind: i.kind,
        queue: i.queue,
    };
    let mut jobs = s
        .queue
        .list(&filter, i.after, limit + 1)
        .await
        .map_err(from_queue)?;
    let more = jobs.len() > limit as usize;
    jobs.truncate(limit as usize);
    let next = more.then(|| jobs.last().map(|j| j.id)).flatten();
    // The page's artifacts in one query, not one per completed job.
    let keys: Vec<Option<String>> = jobs
        .iter()
        .map(|job| match job.state {
            JobState::Completed => artifact_key(&job.kind, job.id),
            _ => None,
        })
        .collect();
    let wanted: Vec<String> = keys.iter().flatten().cloned().collect();
    let mut artifacts: HashMap<String, BlobMeta> = s
        .blobs
        .heads(&wanted)
        .await
        .map_err(from_blob)?
        .into_iter()
        .map(|meta| (meta.key.clone(), meta))
        .collect();
    let views = jobs
        .into_iter()
        .zip(keys)
        .map(|(job, key)| JobView::new(job, key.and_then(|key| artifacts.remove(&key))))
        .collect();
    Ok(ListOut { jobs: views, next })
}

async fn publish(
    s: &Services,
    kinds: &JobKinds,
    i: PublishIn,
    ctx: &Context,
) -> Result<StartedOut, CommandError> {
    let store = s.reader(ctx).await?;
    if store
        .node(&i.node)
        .await
        .map_err(crate::errors::from_store)?
        .is_none()
    {
        return Err(node_not_found(store, &i.node).await);
    }
    let formats = i
        .formats
        .unwrap_or_else(|| vec!["css".into(), "json".into()]);
    if formats.is_empty() {
        return Err(CommandError::validation(
            "formats is empty; a snapshot needs at least one format",
        )
        .suggest("Pass e.g. [\"css\", \"json\"], or leave formats out for those two.")
        .details(json!({"field": "formats"})));
    }
    let key = format!("snapshot:{}:{}", i.node, formats.join(","));
    let partition = s.design_system(store, &i.node).await?;
    let job = kinds
        .job(
            artifacts::SNAPSHOT,
            json!({"node": i.node, "formats": formats}),
        )?
        .unique(key)
        .partition(partition)
        .trace(ctx.trace_id.clone());
    let done = s.queue.enqueue(&job).await.map_err(from_queue)?;
    s.jobs_wake.notify_one();
    let state = s
        .queue
        .get(done.id)
        .await
        .map_err(from_queue)?
        .map_or(JobState::Available, |j| j.state);
    Ok(StartedOut {
        job_id: done.id,
        state: state.as_str().to_owned(),
        status: artifacts::status_url(done.id),
        duplicate: done.duplicate,
    })
}

async fn snapshots(
    s: &Services,
    i: SnapshotsIn,
    ctx: &Context,
) -> Result<SnapshotsOut, CommandError> {
    let store = s.reader(ctx).await?;
    if store
        .node(&i.node)
        .await
        .map_err(crate::errors::from_store)?
        .is_none()
    {
        return Err(node_not_found(store, &i.node).await);
    }
    let mut prefix = snapshot_prefix(&i.node);
    if let Some(version) = i.version {
        prefix.push_str(&format!("{version}/"));
    }
    let mut versions: BTreeMap<i64, Vec<SnapshotFileView>> = BTreeMap::new();
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let page = s
            .blobs
            .list(&prefix, after.as_deref(), 1000)
            .await
            .map_err(from_blob)?;
        let full = page.len() == 1000;
        after = page.last().map(|m| m.key.clone());
        seen += page.len();
        for meta in page {
            let rest = &meta.key[snapshot_prefix(&i.node).len()..];
            let Some((version, file)) = rest.split_once('/') else {
                continue;
            };
            let Ok(version) = version.parse::<i64>() else {
                continue;
            };
            versions.entry(version).or_default().push(SnapshotFileView {
                url: snapshot_url(&i.node, version, file),
                file: file.to_owned(),
                content_type: meta.content_type,
                bytes: meta.size,
                etag: meta.etag,
                created_at: meta.created_at,
            });
        }
        if !full || seen >= MAX_SNAPSHOT_FILES {
            break;
        }
    }
    Ok(SnapshotsOut {
        node: i.node,
        versions: versions
            .into_iter()
            .rev()
            .map(|(version, files)| SnapshotVersionView { version, files })
            .collect(),
    })
}
