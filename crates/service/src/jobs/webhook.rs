//! Webhook deliveries: the `webhook.deliver` job kind.
//!
//! Every change enqueues one delivery per webhook on the changed node or an ancestor, in the
//! change's own transaction ([`enqueue_deliveries`], called by `Services::log`). A delivery POSTs
//! the change as JSON, signed so the receiver can check it came from us and is fresh:
//!
//! ```text
//! Tinct-Webhook-Id:  <webhook id>
//! Tinct-Delivery-Id: <job id; the same on every retry — receivers dedupe on it>
//! Tinct-Timestamp:   <unix seconds when this attempt was sent>
//! Tinct-Signature:   v1=<hex HMAC-SHA256 of "{timestamp}.{body}" keyed with the webhook's secret>
//! ```
//!
//! A 2xx answer delivers it; anything else fails the attempt and the worker retries with backoff.
//! Each endpoint (URL origin) has a circuit breaker: after consecutive failures it opens and
//! attempts fail at once without calling the endpoint until the cool-down lets a trial through.
//! Every attempt — delivered, refused, unanswered or stopped by the breaker — goes in the
//! delivery log (`webhook.deliveries`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tinct_command::{CommandError, Context};
use tinct_platform::{Breaker, BreakerConfig, NewDelivery, NewJob, StoreTx, Webhook, Webhooks};

use super::{JobCtx, JobDef, JobFailure};
use crate::errors::{from_queue, from_store};

/// The job kind.
pub const DELIVER: &str = "webhook.deliver";
/// How long one attempt waits for the receiver's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per delivery: with the queue's backoff (1 s, 2 s, 4 s … ±20 %) the last one is
/// about an hour after the first.
pub const MAX_ATTEMPTS: i32 = 12;
/// Per endpoint: three failures in a row open the breaker; after 30 s one trial goes through.
pub const BREAKER: BreakerConfig = BreakerConfig {
    failure_threshold: 3,
    cool_down: Duration::from_secs(30),
    half_open_trials: 1,
};
/// The prefix of the breakers' names (`webhook http://host:port`), as health and metrics show them.
pub const BREAKER_PREFIX: &str = "webhook ";

/// What a `webhook.deliver` job carries: which webhook, and the change (without the secret,
/// which is read when the attempt runs, so a deleted webhook gets nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverArgs {
    pub webhook: String,
    pub event: Value,
}

/// The change as receivers see it (plus `webhook` and `deliveryId`, added when sent).
pub fn event(
    node: &str,
    kind: &str,
    paths: &[String],
    ctx: &Context,
    revision: &str,
    at: SystemTime,
) -> Value {
    json!({
        "node": node,
        "kind": kind,
        "paths": paths,
        "actor": ctx.actor,
        "traceId": ctx.trace_id,
        "revision": revision,
        "at": rfc3339(at),
    })
}

/// Enqueues a delivery of the change to every webhook on `node` or an ancestor that wants
/// `kind`, inside the change's transaction: the deliveries commit with the change, or neither
/// does. Returns how many were enqueued.
pub async fn enqueue_deliveries(
    tx: &dyn StoreTx,
    ctx: &Context,
    node: &str,
    kind: &str,
    paths: &[String],
) -> Result<usize, CommandError> {
    let targets = tx.webhook_targets(node).await.map_err(from_store)?;
    let mut targets = targets.into_iter().filter(|t| t.wants(kind)).peekable();
    if targets.peek().is_none() {
        return Ok(0);
    }
    let event = event(
        node,
        kind,
        paths,
        ctx,
        &tx.revision_number(),
        SystemTime::now(),
    );
    let mut enqueued = 0;
    for target in targets {
        let args = DeliverArgs {
            webhook: target.id.clone(),
            event: event.clone(),
        };
        let job = NewJob::new(DELIVER, serde_json::to_value(&args).unwrap_or_default())
            .max_attempts(MAX_ATTEMPTS)
            // One slow endpoint's backlog does not hold up the others'.
            .partition(target.id)
            .trace(ctx.trace_id.clone());
        tx.enqueue(&job).await.map_err(from_queue)?;
        enqueued += 1;
    }
    Ok(enqueued)
}

/// `v1=<hex HMAC-SHA256 of "{timestamp}.{body}">` keyed with `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(3 + digest.len() * 2);
    out.push_str("v1=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// `scheme://host:port` of a URL: what one breaker guards.
pub fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// Sends deliveries: one HTTP client, one breaker per endpoint.
pub struct Deliverer {
    hooks: Arc<dyn Webhooks>,
    client: reqwest::Client,
    breakers: Mutex<HashMap<String, Breaker>>,
    breaker: BreakerConfig,
}

/// What one attempt came to.
struct Outcome {
    status: Option<i32>,
    error: Option<String>,
}

impl Deliverer {
    pub fn new(hooks: Arc<dyn Webhooks>) -> Self {
        Self::with_breaker(hooks, BREAKER)
    }

    pub fn with_breaker(hooks: Arc<dyn Webhooks>, breaker: BreakerConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            // A moved endpoint is the owner's to fix: following redirects would send signed
            // changes wherever the receiver points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tinct-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client builds");
        Deliverer {
            hooks,
            client,
            breakers: Mutex::default(),
            breaker,
        }
    }

    /// The breaker of an endpoint (made on first use, kept for the life of the process).
    pub fn breaker(&self, origin: &str) -> Breaker {
        let mut breakers = self.breakers.lock().unwrap_or_else(|e| e.into_inner());
        breakers
            .entry(origin.to_owned())
            .or_insert_with(|| Breaker::new(format!("{BREAKER_PREFIX}{origin}"), self.breaker))
            .clone()
    }

    /// One attempt of a delivery; `Err` makes the worker retry it with backoff.
    pub async fn deliver(&self, args: DeliverArgs, ctx: &JobCtx) -> Result<(), JobFailure> {
        let Some(hook) = self.hooks.get(&args.webhook).await.map_err(|e| {
            JobFailure::new(format!("could not read webhook {}: {e}", args.webhook))
        })?
        else {
            tracing::info!(webhook = %args.webhook, job = ctx.id, "webhook deleted; delivery dropped");
            return Ok(());
        };
        if !hook.active {
            return Ok(());
        }
        let started = Instant::now();
        let outcome = self.attempt(&hook, args.event, ctx).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let recorded = self
            .hooks
            .record(&NewDelivery {
                webhook: hook.id.clone(),
                job: ctx.id,
                attempt: ctx.attempt,
                status: outcome.status,
                error: outcome.error.clone(),
                duration_ms,
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!(webhook = %hook.id, job = ctx.id, error = %e, "could not record a webhook delivery attempt");
        }
        match outcome.error {
            None => Ok(()),
            // The URL stays in the delivery log: job errors are readable more widely.
            Some(error) => Err(JobFailure::new(format!("webhook {}: {error}", hook.id))),
        }
    }

    async fn attempt(&self, hook: &Webhook, event: Value, ctx: &JobCtx) -> Outcome {
        let failed = |error: String| Outcome {
            status: None,
            error: Some(error),
        };
        let url = match reqwest::Url::parse(&hook.url) {
            Ok(url) => url,
            Err(e) => return failed(format!("the stored URL is not valid ({e})")),
        };
        let origin = origin(&url);
        let breaker = self.breaker(&origin);
        let Some(permit) = breaker.try_acquire() else {
            return failed(
                "breaker open: the endpoint failed repeatedly, so it was not called; retried after the cool-down"
                    .to_owned(),
            );
        };
        let mut body = event;
        if let Some(fields) = body.as_object_mut() {
            fields.insert("webhook".into(), hook.id.clone().into());
            fields.insert("deliveryId".into(), ctx.id.into());
        }
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Tinct-Webhook-Id", &hook.id)
            .header("Tinct-Delivery-Id", ctx.id.to_string())
            .header("Tinct-Delivery-Attempt", ctx.attempt.to_string())
            .header("Tinct-Timestamp", timestamp.to_string())
            .header("Tinct-Signature", signature(&hook.secret, timestamp, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                let code = Some(i32::from(status.as_u16()));
                if status.is_success() {
                    permit.success();
                    return Outcome {
                        status: code,
                        error: None,
                    };
                }
                // 5xx and 429: the endpoint is in trouble. Other answers come from a live
                // endpoint that refuses this delivery: not the breaker's business.
                if status.is_server_error() || status.as_u16() == 429 {
                    permit.failure();
                } else {
                    permit.success();
                }
                let hint = if status.is_redirection() {
                    " (redirects are not followed: set the webhook to the final URL)"
                } else {
                    ""
                };
                Outcome {
                    status: code,
                    error: Some(format!("the receiver answered {status}{hint}")),
                }
            }
            Err(e) => {
                permit.failure();
                let e = e.without_url();
                let why = if e.is_timeout() {
                    format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
                } else if e.is_connect() {
                    format!("could not connect: {}", chain(&e))
                } else {
                    chain(&e)
                };
                failed(why)
            }
        }
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

fn rfc3339(at: SystemTime) -> String {
    let ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(0))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `webhook.deliver` kind, delivering through `deliverer`.
pub fn defs(deliverer: Arc<Deliverer>) -> Vec<JobDef> {
    vec![
        JobDef::new(
            DELIVER,
            "args {\"webhook\": \"<webhook id>\", \"event\": {…}} — POSTs the signed change to the webhook's URL (enqueued by every change; not meant to be enqueued by hand)",
            move |args: DeliverArgs, ctx: JobCtx| {
                let deliverer = deliverer.clone();
                async move { deliverer.deliver(args, &ctx).await }
            },
        )
        .max_attempts(MAX_ATTEMPTS)
        // The request's own timeout ends an attempt first; this bounds the bookkeeping too.
        .timeout(REQUEST_TIMEOUT * 3)
        // A scheduled delivery would be a signed event that never happened.
        .internal(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Expected value from Python: hmac.new(b"whsec_test", b'1700000000.{"a":1}', sha256).
        assert_eq!(
            signature("whsec_test", 1_700_000_000, b"{\"a\":1}"),
            "v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(
            signature("whsec_test", 1_700_000_001, b"{\"a\":1}"),
            signature("whsec_test", 1_700_000_000, b"{\"a\":1}")
        );
    }

    #[test]
    fn origins_keep_scheme_host_and_port() {
        let url = reqwest::Url::parse("https://Hooks.Example.com/a/b?c=d").unwrap();
        assert_eq!(origin(&url), "https://hooks.example.com");
        let url = reqwest::Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert_eq!(origin(&url), "http://127.0.0.1:8080");
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20.123Z");
    }
}
