//! The idempotency-key port: claims, stored results and their expiry, kept in the database so
//! every instance sees the same keys.
//!
//! A key moves `running` → `committed` → `done`. `running` carries a lease: a claim whose holder
//! died is taken over once the lease has run out. `committed` is written inside the mutation's own
//! transaction (`StoreTx::seal_key`), so a change and the mark that it happened commit together: a
//! holder whose lease ran out and was taken over cannot commit any more (its seal finds another
//! holder), and a change that committed is never run again even if its result was never stored.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::store::Result;

/// One attempt to claim a key.
#[derive(Debug, Clone)]
pub struct KeyClaim<'a> {
    /// Whose keys these are (the actor): two callers never see each other's keys.
    pub scope: &'a str,
    pub key: &'a str,
    pub command: &'a str,
    /// A digest of the request (command and input); the same key with another request is refused.
    pub fingerprint: &'a str,
    /// Unique per attempt: proves who holds the claim when finishing, releasing or sealing.
    pub token: &'a str,
    /// How long a `running` claim is protected from takeover.
    pub lease: Duration,
    /// How long the key (and its result) is kept.
    pub retention: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// A run holds the key and has not committed a change.
    Running,
    /// A run committed its change; its result is being (or was never) stored.
    Committed,
    /// The result is stored.
    Done,
}

impl KeyState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(KeyState::Running),
            "committed" => Some(KeyState::Committed),
            "done" => Some(KeyState::Done),
            _ => None,
        }
    }
}

/// A key another attempt holds or finished.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub command: String,
    pub fingerprint: String,
    pub state: KeyState,
    /// The stored result (`Done` only).
    pub result: Option<Value>,
    /// When the key was first claimed, RFC 3339 UTC.
    pub first_used_at: String,
    /// The holder's lease has run out (it may have died).
    pub lease_expired: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// The caller holds the key now: run, then `finish_key` or `release_key`.
    Acquired,
    /// Someone else holds or finished the key.
    Existing(StoredKey),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `claim.key` for `claim.scope`: a new key, an expired one or a `running` one whose
    /// lease ran out is taken; otherwise the existing key is returned as it stands.
    async fn claim_key(&self, claim: &KeyClaim<'_>) -> Result<Claimed>;
    /// Stores the result of the holder `token`; false when the claim is no longer its own.
    async fn finish_key(&self, scope: &str, key: &str, token: &str, result: &Value)
    -> Result<bool>;
    /// Gives a `running` claim up so a retry runs again; false when it is not `running` or not the
    /// holder's any more.
    async fn release_key(&self, scope: &str, key: &str, token: &str) -> Result<bool>;
    /// Deletes up to `limit` expired keys (never a live claim); returns how many went.
    async fn prune_keys(&self, limit: u32) -> Result<u64>;
}

/// A stored row as adapters read it back.
pub(crate) struct KeyRow {
    pub token: String,
    pub expired: bool,
    pub stored: StoredKey,
}

/// The row operations the claim is built from; each adapter writes them in its SQL.
#[async_trait]
pub(crate) trait KeyRows: Send + Sync {
    /// Inserts a new `running` row; false when the key exists.
    async fn insert_key(&self, claim: &KeyClaim<'_>) -> Result<bool>;
    async fn fetch_key(&self, scope: &str, key: &str) -> Result<Option<KeyRow>>;
    /// Deletes the row if `token` still holds it.
    async fn delete_key(&self, scope: &str, key: &str, token: &str) -> Result<()>;
    /// Hands a `running` row held by `old_token` to the claim; false when it changed meanwhile.
    async fn take_over_key(&self, claim: &KeyClaim<'_>, old_token: &str) -> Result<bool>;
}

/// The claim, written once over the adapters' row operations. Each step is one atomic statement;
/// a step that loses a race starts over from the row as it now is.
pub(crate) async fn claim_with(rows: &impl KeyRows, claim: &KeyClaim<'_>) -> Result<Claimed> {
    for _ in 0..8 {
        if rows.insert_key(claim).await? {
            return Ok(Claimed::Acquired);
        }
        let Some(row) = rows.fetch_key(claim.scope, claim.key).await? else {
            continue;
        };
        let live_run = row.stored.state != KeyState::Done && !row.stored.lease_expired;
        if row.expired && !live_run {
            rows.delete_key(claim.scope, claim.key, &row.token).await?;
            continue;
        }
        if row.stored.state == KeyState::Running && row.stored.lease_expired {
            if rows.take_over_key(claim, &row.token).await? {
                return Ok(Claimed::Acquired);
            }
            continue;
        }
        return Ok(Claimed::Existing(row.stored));
    }
    Err(crate::StoreError::Unavailable(format!(
        "idempotency key '{}' kept changing under concurrent requests",
        claim.key
    )))
}

/// Whole milliseconds, as the `*_ms` columns hold them.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}
