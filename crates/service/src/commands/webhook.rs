//! webhook.create, webhook.list, webhook.delete, webhook.deliveries.
//!
//! A webhook hears of every change to its node and to anything below it (see
//! `jobs/webhook.rs` for the delivery, its signature and the breaker per endpoint).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tinct_command::{CachePolicy, CommandDef, CommandError, Context};
use tinct_platform::{Delivery, NewWebhook, Webhook};

use crate::errors::from_store;
use crate::services::Services;
use crate::tree::{node_not_found, require_node};

/// Change kinds a webhook can filter on (`events`).
pub const KINDS: &[&str] = &[
    "node.created",
    "node.updated",
    "node.deleted",
    "token.added",
    "token.updated",
    "token.overridden",
    "token.removed",
    "token.reset",
    "token.imported",
];
const MAX_URL_LEN: usize = 2048;
const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=256;
/// Deliveries go over plain HTTP only until the HTTP client is built with TLS (reqwest has no
/// TLS feature in this workspace yet); an https URL is refused at creation rather than failing
/// every delivery later.
const HTTPS_DELIVERY: bool = false;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIn {
    /// The node to watch; changes to it and to every node below it are delivered.
    pub node: String,
    /// Where to POST each change: an absolute http:// URL with a host.
    pub url: String,
    /// The key deliveries are signed with (16–256 characters); omit it to have one generated.
    /// It is returned once, by this call.
    pub secret: Option<String>,
    /// Only these change kinds (e.g. ["token.updated"]); omit for every change.
    pub events: Option<Vec<String>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOut {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Verify each delivery's `Tinct-Signature` with it. Shown only now: store it.
    pub secret: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub node: String,
    pub url: String,
    /// The change kinds delivered; absent means every change.
    pub events: Option<Vec<String>>,
    pub active: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        WebhookView {
            id: w.id,
            node: w.node,
            url: w.url,
            events: w.events,
            active: w.active,
            created_at: w.created_at,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListIn {
    /// Only the webhooks on this node (not those on its ancestors); omit for every webhook.
    pub node: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ListOut {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdIn {
    pub id: String,
}

#[derive(Serialize, JsonSchema)]
pub struct DeleteOut {
    pub deleted: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesIn {
    /// The webhook id.
    pub id: String,
    /// How many attempts, newest first: 1–1000 (default 50).
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct DeliveriesOut {
    pub webhook: String,
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The `webhook.deliver` job (also the `Tinct-Delivery-Id` header); see it with jobs.get.
    pub job: i64,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// True when the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's HTTP status; absent when there was no answer.
    pub status: Option<i32>,
    /// Why the attempt failed (no answer, a non-2xx status, "breaker open").
    pub error: Option<String>,
    pub duration_ms: i64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            delivered: d.delivered(),
            job: d.job,
            attempt: d.attempt,
            status: d.status,
            error: d.error,
            duration_ms: d.duration_ms,
            at: d.at,
        }
    }
}

pub fn defs(s: &Arc<Services>) -> Vec<CommandDef> {
    let (c, l, d, v) = (s.clone(), s.clone(), s.clone(), s.clone());
    vec![
        CommandDef::new(
            "webhook.create",
            "Create a webhook: every change to the node or to a node below it is POSTed to the URL as JSON, signed (Tinct-Signature: v1=<hex HMAC-SHA256 of \"{Tinct-Timestamp}.{body}\">), retried with backoff until the receiver answers 2xx. Returns the signing secret once.",
            move |i: CreateIn, ctx: Context| {
                let s = c.clone();
                async move { create(&s, i, ctx).await }
            },
        )
        .mutation(&[])
        .tags(&["webhooks"])
        .example(
            "every change under a design system",
            json!({"node": "acme", "url": "http://hooks.example.com/tinct"}),
        )
        .example(
            "only token updates of a theme",
            json!({"node": "acme-web-dark", "url": "http://ci.example.com/hooks/tokens", "events": ["token.updated"]}),
        ),
        CommandDef::new(
            "webhook.list",
            "List webhooks (never their secrets): those on one node, or all.",
            move |i: ListIn, ctx: Context| {
                let s = l.clone();
                async move { list(&s, i, ctx).await }
            },
        )
        .cache(CachePolicy::Never)
        // URLs are often secret themselves: who can make webhooks can see them.
        .scopes(&["tokens:write"])
        .tags(&["webhooks"])
        .example("all", json!({}))
        .example("on a node", json!({"node": "acme"})),
        CommandDef::new(
            "webhook.delete",
            "Delete a webhook and its delivery log; deliveries not yet made are dropped.",
            move |i: IdIn, _ctx: Context| {
                let s = d.clone();
                async move {
                    if s.webhooks.delete(&i.id).await.map_err(from_store)? {
                        Ok(DeleteOut { deleted: i.id })
                    } else {
                        Err(unknown_webhook(&i.id))
                    }
                }
            },
        )
        .mutation(&[])
        .tags(&["webhooks"])
        .example("one", json!({"id": "wh_0123456789abcdef"})),
        CommandDef::new(
            "webhook.deliveries",
            "The delivery log of a webhook, newest attempt first: status or error, duration, when.",
            move |i: DeliveriesIn, _ctx: Context| {
                let s = v.clone();
                async move {
                    let limit = super::page_limit(i.limit, 50)?;
                    if s.webhooks.get(&i.id).await.map_err(from_store)?.is_none() {
                        return Err(unknown_webhook(&i.id));
                    }
                    let deliveries = s
                        .webhooks
                        .deliveries(&i.id, limit)
                        .await
                        .map_err(from_store)?;
                    Ok(DeliveriesOut {
                        webhook: i.id,
                        deliveries: deliveries.into_iter().map(DeliveryView::from).collect(),
                    })
                }
            },
        )
        .cache(CachePolicy::Never)
        .scopes(&["tokens:write"])
        .tags(&["webhooks"])
        .example("latest attempts", json!({"id": "wh_0123456789abcdef", "limit": 20})),
    ]
}

async fn create(s: &Services, i: CreateIn, ctx: Context) -> Result<CreateOut, CommandError> {
    let url = validate_url(&i.url)?;
    let secret = match i.secret {
        Some(secret) => {
            validate_secret(&secret)?;
            secret
        }
        None => generate_secret(),
    };
    let events = i.events.map(validate_events).transpose()?;
    let new = NewWebhook {
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        node: i.node.clone(),
        url,
        secret,
        events,
    };
    match s.webhooks.create(&new).await.map_err(from_store)? {
        Some(webhook) => Ok(CreateOut {
            secret: webhook.secret.clone(),
            webhook: webhook.into(),
        }),
        None => {
            let store = s.reader(&ctx).await?;
            Err(node_not_found(store, &i.node).await)
        }
    }
}

async fn list(s: &Services, i: ListIn, ctx: Context) -> Result<ListOut, CommandError> {
    if let Some(node) = &i.node {
        require_node(s.reader(&ctx).await?, node).await?;
    }
    let webhooks = s
        .webhooks
        .list(i.node.as_deref())
        .await
        .map_err(from_store)?;
    Ok(ListOut {
        webhooks: webhooks.into_iter().map(WebhookView::from).collect(),
    })
}

fn unknown_webhook(id: &str) -> CommandError {
    CommandError::not_found(format!("no webhook with id '{id}'"))
        .suggest("List webhooks with webhook.list; ids look like wh_0123….")
        .details(json!({"id": id}))
}

const URL_EXAMPLE: &str = "http://hooks.example.com/tinct";

/// An absolute http(s) URL with a host and no credentials, as given (trimmed).
pub fn validate_url(raw: &str) -> Result<String, CommandError> {
    let text = raw.trim();
    let refuse = |why: String| {
        CommandError::validation(format!("url '{text}' is not usable: {why}"))
            .suggest(format!(
                "Send an absolute http:// URL with a host, such as {URL_EXAMPLE}."
            ))
            .details(json!({"field": "url"}))
    };
    if text.len() > MAX_URL_LEN {
        return Err(refuse(format!(
            "it is longer than {MAX_URL_LEN} characters"
        )));
    }
    // reqwest does not re-export url's error type: tell "relative" apart by its text.
    let url = reqwest::Url::parse(text).map_err(|e| {
        if e.to_string().contains("relative URL without a base") {
            refuse("it is not absolute (it has no scheme such as http://)".to_owned())
        } else {
            refuse(format!("it does not parse ({e})"))
        }
    })?;
    match url.scheme() {
        "http" => {}
        "https" if HTTPS_DELIVERY => {}
        "https" => {
            return Err(CommandError::validation(format!(
                "url '{text}' is https, and this build of tinct delivers webhooks over http only (no TLS client yet)"
            ))
            .suggest("Use an http:// URL, e.g. a TLS-terminating proxy on your network that forwards to the https receiver.")
            .details(json!({"field": "url"})));
        }
        other => return Err(refuse(format!("scheme '{other}' is not http"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("it has no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "it carries a user name or password, which webhook.list would show; receivers check deliveries by their signature instead".to_owned(),
        ));
    }
    Ok(text.to_owned())
}

fn validate_secret(secret: &str) -> Result<(), CommandError> {
    let len = secret.chars().count();
    if SECRET_LEN.contains(&len) && !secret.trim().is_empty() {
        return Ok(());
    }
    Err(CommandError::validation(format!(
        "secret must be {}–{} characters, got {len}",
        SECRET_LEN.start(),
        SECRET_LEN.end()
    ))
    .suggest("Send a longer random secret, or omit `secret` to have one generated and returned.")
    .details(json!({"field": "secret"})))
}

fn validate_events(events: Vec<String>) -> Result<Vec<String>, CommandError> {
    if events.is_empty() {
        return Err(
            CommandError::validation("events is empty: nothing would be delivered")
                .suggest("Omit `events` to deliver every change, or name at least one kind.")
                .details(json!({"field": "events", "known": KINDS})),
        );
    }
    if let Some(unknown) = events.iter().find(|e| !KINDS.contains(&e.as_str())) {
        return Err(
            CommandError::validation(format!("unknown change kind '{unknown}' in events"))
                .suggest(format!("Use some of: {}.", KINDS.join(", ")))
                .details(json!({"field": "events", "known": KINDS})),
        );
    }
    let mut events = events;
    events.sort();
    events.dedup();
    Ok(events)
}

/// 256 random bits, hex (from the OS-seeded generator behind v4 UUIDs, 122 bits each).
fn generate_secret() -> String {
    format!(
        "whsec_{}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinct_command::ErrorCode;

    #[test]
    fn urls_must_be_absolute_http_with_a_host() {
        assert_eq!(
            validate_url(" http://127.0.0.1:8080/hook ").unwrap(),
            "http://127.0.0.1:8080/hook"
        );
        for (bad, why) in [
            ("not a url", "not absolute"),
            ("/hooks/tinct", "not absolute"),
            ("ftp://example.com/x", "scheme 'ftp'"),
            ("mailto:a@example.com", "scheme 'mailto'"),
            ("http://", "does not parse"),
            ("http://user:pw@example.com/", "user name or password"),
            ("https://example.com/", "http only"),
        ] {
            let e = validate_url(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ValidationError, "{bad}");
            assert!(e.message.contains(why), "{bad}: {}", e.message);
            assert!(e.suggestion.is_some(), "{bad}");
        }
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(validate_url(&long).unwrap_err().message.contains("longer"));
    }

    #[test]
    fn secrets_and_event_filters_are_checked() {
        assert!(validate_secret("0123456789abcdef").is_ok());
        assert!(validate_secret("short").is_err());
        assert!(validate_secret(&" ".repeat(20)).is_err());
        let generated = generate_secret();
        assert!(validate_secret(&generated).is_ok());
        assert_ne!(generated, generate_secret());
        assert_eq!(
            validate_events(vec![
                "token.updated".into(),
                "node.created".into(),
                "token.updated".into()
            ])
            .unwrap(),
            ["node.created", "token.updated"]
        );
        assert!(validate_events(vec![]).is_err());
        let e = validate_events(vec!["token.changed".into()]).unwrap_err();
        assert!(e.message.contains("token.changed"), "{e:?}");
    }
}
