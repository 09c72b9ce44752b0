//! Idempotency keys and `expectedRevision` on mutations.
//!
//! Every mutation's input schema gains two optional fields at registration (`augment_schema`):
//! `idempotencyKey` (or the transport's `Idempotency-Key` header) and `expectedRevision`. This
//! middleware takes both out of the input before the handler sees it. `expectedRevision` goes on
//! the context, where the write path compares it with the target inside its transaction. A key is
//! claimed in the database before the handler runs: the same key with the same request returns the
//! stored result and runs nothing; with another request it is a `CONFLICT`; while the first run
//! is still going, a `CONFLICT` that says to retry. The claim is sealed in the mutation's own
//! transaction, so a run whose claim was taken over (it outlived its lease) cannot commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tinct_platform::{Claimed, IdempotencyStore, KeyClaim, KeyState, StoreError, StoredKey};

use super::{Call, Middleware, Next, Step};
use crate::context::Context;
use crate::data::Data;
use crate::envelope::{CacheStatus, ErrorBody};
use crate::error::{CommandError, ErrorCode};

/// The input field that carries an idempotency key.
pub const IDEMPOTENCY_KEY_FIELD: &str = "idempotencyKey";
/// The input field that carries the revision the caller last read.
pub const EXPECTED_REVISION_FIELD: &str = "expectedRevision";
/// Every replayed result carries a warning that starts so (REST adds `Idempotent-Replayed: true`).
pub const REPLAY_WARNING: &str = "idempotent replay";
pub const MAX_KEY_LEN: usize = 255;
/// Characters a key may use besides ASCII letters and digits (UUIDs, ULIDs, base64 all fit).
const KEY_PUNCTUATION: &[u8] = b"-_.:~+/=";
/// How long a claim lasts past the call's deadline, or without one (CLI calls in process).
const LEASE_MARGIN: Duration = Duration::from_secs(5);
const LEASE_WITHOUT_DEADLINE: Duration = Duration::from_secs(60);
/// Expired keys are pruned at most this often per instance, this many at a time.
const PRUNE_EVERY_SECS: u64 = 60;
const PRUNE_BATCH: u32 = 1000;

/// The idempotency key a call holds: the write path seals it in the mutation's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHold {
    pub scope: String,
    pub key: String,
    pub token: String,
}

pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    retention: Duration,
    /// Unix seconds of the last prune this instance started.
    last_prune: AtomicU64,
}

impl Idempotency {
    /// Keys and their results are kept for `retention`.
    pub fn new(store: Arc<dyn IdempotencyStore>, retention: Duration) -> Self {
        Idempotency {
            store,
            retention,
            last_prune: AtomicU64::new(0),
        }
    }

    async fn run(
        &self,
        mut call: Call,
        next: Next<'_>,
        hold: KeyHold,
    ) -> Result<Data, CommandError> {
        call.ctx.idempotency = Some(hold.clone());
        let ctx = call.ctx.clone();
        // A call dropped mid-run (deadline, disconnect) gives the claim back at once, unless
        // its change committed (then the seal keeps the key, so it never runs twice).
        let mut guard = ReleaseOnDrop {
            store: Some(Arc::clone(&self.store)),
            hold: hold.clone(),
        };
        let outcome = next.run(call).await;
        guard.store = None;
        let record = |outcome: Value| {
            json!({
                "outcome": outcome,
                "revision": ctx.revision(),
                "warnings": ctx.warnings(),
            })
        };
        let (keep, release_first) = match &outcome {
            Ok(data) => (record(json!({"data": data})), false),
            Err(e) if kept(e.code) => (record(json!({"error": ErrorBody::from(e.clone())})), false),
            // A transient failure frees the key so a retry runs again — unless the change
            // committed anyway (say the commit's answer was lost): then retries must learn that
            // it happened, not be told to retry forever.
            Err(_) => (
                record(json!({"error": ErrorBody::from(committed_unrecorded(&hold.key))})),
                true,
            ),
        };
        // Stored by a task of its own: this call being dropped now (deadline, client gone) must
        // not leave a committed change without its result.
        let store = Arc::clone(&self.store);
        let key = hold.key.clone();
        let stored = tokio::spawn(async move {
            if release_first
                && store
                    .release_key(&hold.scope, &hold.key, &hold.token)
                    .await?
            {
                return Ok(());
            }
            finish(store.as_ref(), &hold, &keep).await
        })
        .await;
        match stored {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(trace_id = %ctx.trace_id, %key, error = %e, "could not store the result of an idempotency key");
            }
            Err(e) => {
                tracing::warn!(trace_id = %ctx.trace_id, %key, error = %e, "storing the result of an idempotency key did not finish");
            }
        }
        outcome
    }

    /// Starts a prune of expired keys now and then, off the request's path.
    fn maybe_prune(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.last_prune.load(Ordering::Relaxed);
        if now < last + PRUNE_EVERY_SECS
            || self
                .last_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            match store.prune_keys(PRUNE_BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(pruned = n, "expired idempotency keys pruned"),
                Err(e) => tracing::warn!(error = %e, "could not prune expired idempotency keys"),
            }
        });
    }
}

#[async_trait]
impl Middleware for Idempotency {
    /// Only mutations take keys.
    fn before(&self, call: &mut Call) -> Result<Step, CommandError> {
        Ok(if call.command.mutation {
            Step::Wrap
        } else {
            Step::Pass
        })
    }

    async fn handle(&self, mut call: Call, next: Next<'_>) -> Result<Data, CommandError> {
        let field = take_field(&mut call.input, IDEMPOTENCY_KEY_FIELD);
        let key = match (field, call.ctx.idempotency_key.take()) {
            (Some(Value::String(field)), Some(header)) if field != header => {
                return Err(CommandError::validation(
                    "the Idempotency-Key header and the idempotencyKey field differ",
                )
                .suggest("Send the key once, as the header or as the field.")
                .details(json!({"field": IDEMPOTENCY_KEY_FIELD})));
            }
            (Some(Value::String(field)), _) => Some(field),
            (Some(_), _) => {
                return Err(CommandError::validation("idempotencyKey must be a string")
                    .suggest(KEY_RULE_HINT)
                    .details(json!({"field": IDEMPOTENCY_KEY_FIELD})));
            }
            (None, header) => header,
        };
        if let Some(key) = &key {
            check_key(key)?;
        }
        // The fingerprint covers expectedRevision: it is part of what was asked.
        let fingerprint = key
            .as_ref()
            .map(|_| fingerprint(&call.command.name, &call.input));
        if let Some(expected) = take_field(&mut call.input, EXPECTED_REVISION_FIELD) {
            call.ctx.expected_revision = Some(expected.as_u64().ok_or_else(|| {
                CommandError::validation("expectedRevision must be a whole number, 0 or more")
                    .suggest("Send the `revision` of the node or token as you last read it.")
                    .details(json!({"field": EXPECTED_REVISION_FIELD}))
            })?);
        }
        let (Some(key), Some(fingerprint)) = (key, fingerprint) else {
            return next.run(call).await;
        };
        let hold = KeyHold {
            scope: call.ctx.actor.clone(),
            key,
            token: uuid::Uuid::new_v4().simple().to_string(),
        };
        let claim = KeyClaim {
            scope: &hold.scope,
            key: &hold.key,
            command: &call.command.name,
            fingerprint: &fingerprint,
            token: &hold.token,
            lease: lease(&call.ctx),
            retention: self.retention,
        };
        let claimed = self.store.claim_key(&claim).await.map_err(store_error)?;
        self.maybe_prune();
        match claimed {
            Claimed::Acquired => self.run(call, next, hold).await,
            Claimed::Existing(stored) => answer(&call, &hold.key, &fingerprint, stored),
        }
    }
}

async fn finish(
    store: &dyn IdempotencyStore,
    hold: &KeyHold,
    result: &Value,
) -> Result<(), StoreError> {
    if !store
        .finish_key(&hold.scope, &hold.key, &hold.token, result)
        .await?
    {
        tracing::warn!(key = %hold.key, "idempotency key was taken over before its result was stored");
    }
    Ok(())
}

/// What retries get when the change of the first request committed but its outcome was lost.
fn committed_unrecorded(key: &str) -> CommandError {
    CommandError::new(
        ErrorCode::Conflict,
        format!(
            "the first request with idempotency key '{key}' committed its change, but its result could not be stored"
        ),
    )
    .suggest("Read the current state (node.get, token.history) to see the change; it will not run again with this key.")
}

/// What a request with a key someone already used gets.
fn answer(
    call: &Call,
    key: &str,
    fingerprint: &str,
    stored: StoredKey,
) -> Result<Data, CommandError> {
    let details = json!({
        "idempotencyKey": key,
        "command": stored.command,
        "firstUsedAt": stored.first_used_at,
    });
    if stored.fingerprint != fingerprint {
        return Err(CommandError::new(
            ErrorCode::Conflict,
            format!(
                "idempotency key '{key}' was already used at {} for a different request ({} with other input)",
                stored.first_used_at, stored.command
            ),
        )
        .suggest("Use a new idempotency key for a new request; reuse a key only to retry exactly the same request.")
        .details(details));
    }
    match (stored.state, stored.result) {
        (KeyState::Done, Some(result)) => replay(&call.ctx, key, &stored.first_used_at, result),
        (KeyState::Committed, _) if stored.lease_expired => Err(CommandError::new(
            ErrorCode::Conflict,
            format!(
                "the first request with idempotency key '{key}' committed its change, but the instance running it stopped before its result was stored"
            ),
        )
        .suggest("Read the current state (node.get, token.history) to see the change; it will not run again with this key.")
        .details(details)),
        _ => Err(CommandError::new(
            ErrorCode::Conflict,
            format!("a request with idempotency key '{key}' is still in progress"),
        )
        .suggest("Retry in a moment with the same key: once the first request finishes, the retry returns its result.")
        .details(json!({
            "idempotencyKey": key,
            "command": stored.command,
            "firstUsedAt": stored.first_used_at,
            "inProgress": true,
        }))
        .retryable(true)),
    }
}

/// The stored outcome, again, marked as a replay; nothing runs.
fn replay(ctx: &Context, key: &str, first: &str, result: Value) -> Result<Data, CommandError> {
    if let Some(revision) = result.get("revision").and_then(Value::as_str) {
        ctx.set_revision(revision);
    }
    for warning in result
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        ctx.warn(warning);
    }
    ctx.warn(format!(
        "{REPLAY_WARNING}: the stored result of the first request with idempotency key '{key}' (at {first}); nothing ran again"
    ));
    ctx.set_cache(CacheStatus::Bypass);
    let outcome = result.get("outcome").cloned().unwrap_or(Value::Null);
    if let Some(error) = outcome.get("error") {
        let body: ErrorBody = serde_json::from_value(error.clone()).map_err(|e| {
            CommandError::internal(format!("a stored idempotent result is not readable: {e}"))
        })?;
        return Err(CommandError {
            code: body.code,
            message: body.message,
            suggestion: body.suggestion,
            details: body.details,
            retryable: Some(body.retryable),
        });
    }
    Ok(outcome.get("data").cloned().unwrap_or(Value::Null).into())
}

/// Failures the caller caused are kept and replayed; transient ones are not, so a retry runs.
fn kept(code: ErrorCode) -> bool {
    !code.retryable() && code != ErrorCode::InternalError
}

/// A claim outlives the call's deadline a little; a holder that died loses it after that.
fn lease(ctx: &Context) -> Duration {
    match ctx.deadline {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()) + LEASE_MARGIN,
        None => LEASE_WITHOUT_DEADLINE,
    }
}

const KEY_RULE_HINT: &str = "Use 1–255 characters from A–Z, a–z, 0–9 and - _ . : ~ + / = (a fresh UUID per request works), and send the same key only to retry that request.";

fn check_key(key: &str) -> Result<(), CommandError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || KEY_PUNCTUATION.contains(&b));
    if ok {
        return Ok(());
    }
    let shown: String = key.chars().take(40).collect();
    let why = if key.is_empty() {
        "it is empty".to_owned()
    } else if key.len() > MAX_KEY_LEN {
        format!("it is {} bytes long, more than {MAX_KEY_LEN}", key.len())
    } else {
        "it holds characters other than letters, digits and - _ . : ~ + / =".to_owned()
    };
    Err(
        CommandError::validation(format!("idempotency key {shown:?} is not valid: {why}"))
            .suggest(KEY_RULE_HINT)
            .details(json!({"field": IDEMPOTENCY_KEY_FIELD})),
    )
}

fn take_field(input: &mut Value, name: &str) -> Option<Value> {
    input.as_object_mut().and_then(|fields| fields.remove(name))
}

fn store_error(e: StoreError) -> CommandError {
    match e {
        StoreError::Unavailable(reason) => {
            CommandError::unavailable(format!("idempotency keys are unavailable: {reason}"))
        }
        other => CommandError::internal(format!("idempotency key store: {other}")),
    }
}

/// SHA-256 of the command and its input with object keys sorted, so the same request in another
/// key order is the same request.
fn fingerprint(command: &str, input: &Value) -> String {
    let mut text = String::new();
    canonical(&json!({"command": command, "input": input}), &mut text);
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&fields[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Adds `idempotencyKey` and `expectedRevision` to a mutation's input schema, so validation,
/// OpenAPI, MCP tool schemas and `tinct commands` all know them.
pub fn augment_schema(schema: &mut Value) {
    let Some(root) = schema.as_object_mut() else {
        return;
    };
    let properties = root
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(properties) = properties.as_object_mut() else {
        return;
    };
    properties.insert(
        IDEMPOTENCY_KEY_FIELD.to_owned(),
        json!({
            "type": "string",
            "description": "Makes a retry safe: the same key with the same input returns the first result instead of running again (the Idempotency-Key header does the same). 1–255 characters from A–Z, a–z, 0–9 and - _ . : ~ + / =; a fresh UUID per request works.",
        }),
    );
    properties.insert(
        EXPECTED_REVISION_FIELD.to_owned(),
        json!({
            "type": "integer",
            "minimum": 0,
            "description": "Refuse with CONFLICT unless the target still has this revision: the `revision` of the node (node.*) or of the node's own token entry (token.*) as last read; 0 means it must not exist yet.",
        }),
    );
}

/// Gives an unfinished claim back when the call is dropped mid-run.
struct ReleaseOnDrop {
    /// `None` once the run finished (the result decides what happens to the key).
    store: Option<Arc<dyn IdempotencyStore>>,
    hold: KeyHold,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let (Some(store), Ok(runtime)) = (self.store.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let hold = self.hold.clone();
        runtime.spawn(async move {
            // Only a `running` claim goes: a sealed one committed and must never run twice.
            if let Err(e) = store.release_key(&hold.scope, &hold.key, &hold.token).await {
                tracing::warn!(key = %hold.key, error = %e, "could not release an abandoned idempotency key; it frees itself when its lease runs out");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_rule() {
        for ok in [
            "a",
            "3f0c2a9e-1b7d-4c55-9a1e-0d6f1e2b3c4d",
            "ulid:01HZX~v1/+=",
            &"k".repeat(255),
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "é", "new\nline", &"k".repeat(256)] {
            let e = check_key(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ValidationError, "{bad:?}");
            assert!(e.suggestion.unwrap().contains("1–255"));
        }
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_values() {
        let a = fingerprint(
            "node.create",
            &json!({"id": "a", "name": "A", "x": {"p": 1, "q": 2}}),
        );
        let b = fingerprint(
            "node.create",
            &json!({"x": {"q": 2, "p": 1}, "name": "A", "id": "a"}),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("node.create", &json!({"id": "a", "name": "B"}))
        );
        assert_ne!(
            a,
            fingerprint(
                "node.update",
                &json!({"id": "a", "name": "A", "x": {"p": 1, "q": 2}})
            )
        );
    }

    #[test]
    fn schemas_gain_both_fields() {
        let mut schema = json!({"type": "object", "properties": {"id": {"type": "string"}}, "additionalProperties": false});
        augment_schema(&mut schema);
        let props = schema["properties"].as_object().unwrap();
        assert!(props.contains_key("id"));
        assert_eq!(props[IDEMPOTENCY_KEY_FIELD]["type"], "string");
        assert_eq!(props[EXPECTED_REVISION_FIELD]["minimum"], 0);
    }

    #[test]
    fn only_caller_errors_are_kept() {
        assert!(kept(ErrorCode::ValidationError));
        assert!(kept(ErrorCode::Conflict));
        assert!(!kept(ErrorCode::InternalError));
        assert!(!kept(ErrorCode::Timeout));
        assert!(!kept(ErrorCode::ServiceUnavailable));
    }
}
