//! The Webhooks port: URLs that hear of every change to a node or anything below it, and the log
//! of each delivery attempt.
//!
//! Deliveries are jobs (`webhook.deliver`) enqueued inside the change's own write transaction
//! ([`crate::StoreTx::webhook_targets`] finds the webhooks to notify there), so a change and the
//! deliveries announcing it commit together or not at all. Times are milliseconds since the Unix
//! epoch by the database's clock.

use async_trait::async_trait;
use serde::Serialize;

use crate::store::Result;

/// A webhook to store. The caller picks the id and the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhook {
    pub id: String,
    pub node: String,
    pub url: String,
    pub secret: String,
    /// Change kinds to deliver (`token.updated` …); `None` delivers every change.
    pub events: Option<Vec<String>>,
}

/// A stored webhook. Its secret is never serialised: it is shown once, when created.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub node: String,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub events: Option<Vec<String>>,
    pub active: bool,
    pub created_at: i64,
}

/// A webhook a change must be delivered to, as the write transaction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub id: String,
    pub events: Option<Vec<String>>,
}

impl WebhookTarget {
    /// Whether a change of kind `action` goes to this webhook.
    pub fn wants(&self, action: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.iter().any(|e| e == action))
    }
}

/// One delivery attempt to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub webhook: String,
    /// The `webhook.deliver` job making the attempt.
    pub job: i64,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// The receiver's HTTP status; `None` when there was no answer.
    pub status: Option<i32>,
    /// Why the attempt failed; `None` when it was delivered.
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: i64,
    pub webhook: String,
    pub job: i64,
    pub attempt: i32,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: i64,
}

impl Delivery {
    /// Delivered: the receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Stores a webhook on an existing node; `None` when the node does not exist (nothing is
    /// stored). An id that is taken is [`crate::StoreError::Duplicate`].
    async fn create(&self, webhook: &NewWebhook) -> Result<Option<Webhook>>;
    async fn get(&self, id: &str) -> Result<Option<Webhook>>;
    /// The webhooks on `node` (only those on the node itself, not on its ancestors), or every
    /// webhook; oldest first.
    async fn list(&self, node: Option<&str>) -> Result<Vec<Webhook>>;
    /// Deletes the webhook and its delivery log; false when there was no such webhook.
    async fn delete(&self, id: &str) -> Result<bool>;
    /// Records one attempt; `None` when the webhook is gone (deleted since the job was enqueued).
    async fn record(&self, delivery: &NewDelivery) -> Result<Option<Delivery>>;
    /// The webhook's newest `limit` attempts, newest first.
    async fn deliveries(&self, webhook: &str, limit: u32) -> Result<Vec<Delivery>>;
    /// Removes attempts recorded before `before` (milliseconds since the Unix epoch), at most
    /// `limit` of them; returns how many went.
    async fn prune_deliveries(&self, before: i64, limit: u32) -> Result<u64>;
}

/// Decodes the stored `events` column (a JSON array, or null).
pub(crate) fn events_from(text: Option<String>) -> Result<Option<Vec<String>>> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| crate::StoreError::Corrupt(format!("webhook events: {e}")))
    })
    .transpose()
}

pub(crate) fn events_to(events: &Option<Vec<String>>) -> Option<String> {
    events
        .as_ref()
        .map(|e| serde_json::Value::from(e.clone()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_without_a_filter_wants_every_change() {
        let all = WebhookTarget {
            id: "w".into(),
            events: None,
        };
        assert!(all.wants("token.updated"));
        let some = WebhookTarget {
            id: "w".into(),
            events: Some(vec!["node.deleted".into()]),
        };
        assert!(some.wants("node.deleted"));
        assert!(!some.wants("token.updated"));
    }
}
