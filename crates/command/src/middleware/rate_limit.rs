//! Rate limits, after auth and before input validation: one budget per caller and command class.
//! The caller is the token's subject, or the client address when anonymous (see `TrustedProxies`
//! for `X-Forwarded-For`). Classes: `export` (tokens.export), `write` (mutations), `read` (the
//! rest); `system.*` (health, the catalogue) is never limited, nor are in-process calls (CLI,
//! internal, MCP over stdio). The decision itself is the `Limiter` port's (in-process or Redis).
//!
//! A limiter that cannot decide (Redis down) lets calls through or refuses them, as configured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tinct_platform::{Decision, Limiter, LimiterError, RatePolicy};

use super::{Call, Middleware, Next, Step};
use crate::client::{TrustedProxies, push_address_bucket};
use crate::context::{Context, Surface};
use crate::data::Data;
use crate::definition::CommandDef;
use crate::error::{CommandError, ErrorCode};

/// What the limiter does when it cannot decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitFail {
    /// Let the call through (availability first); logged once per outage and counted.
    #[default]
    Open,
    /// Refuse it with SERVICE_UNAVAILABLE (protection first).
    Closed,
}

impl RateLimitFail {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitFail::Open => "open",
            RateLimitFail::Closed => "closed",
        }
    }
}

/// Which budget a command draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandClass {
    Read,
    Write,
    Export,
}

impl CommandClass {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandClass::Read => "read",
            CommandClass::Write => "write",
            CommandClass::Export => "export",
        }
    }

    /// `None` for commands that are never limited.
    pub fn of(command: &CommandDef) -> Option<CommandClass> {
        if command.name.starts_with("system.") {
            None
        } else if command.name == "tokens.export" {
            Some(CommandClass::Export)
        } else if command.mutation {
            Some(CommandClass::Write)
        } else {
            Some(CommandClass::Read)
        }
    }
}

/// One policy per class; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RatePolicies {
    pub read: Option<RatePolicy>,
    pub write: Option<RatePolicy>,
    pub export: Option<RatePolicy>,
}

impl RatePolicies {
    pub fn get(&self, class: CommandClass) -> Option<&RatePolicy> {
        match class {
            CommandClass::Read => self.read.as_ref(),
            CommandClass::Write => self.write.as_ref(),
            CommandClass::Export => self.export.as_ref(),
        }
    }
}

pub struct RateLimit {
    limiter: Arc<dyn Limiter>,
    policies: RatePolicies,
    fail: RateLimitFail,
    proxies: TrustedProxies,
    /// Set while the limiter fails, so an outage is logged once, not per request.
    failing: AtomicBool,
}

impl RateLimit {
    pub fn new(
        limiter: Arc<dyn Limiter>,
        policies: RatePolicies,
        fail: RateLimitFail,
        proxies: TrustedProxies,
    ) -> Self {
        RateLimit {
            limiter,
            policies,
            fail,
            proxies,
            failing: AtomicBool::new(false),
        }
    }

    /// The limiter key of the call's class and caller (whose budget it draws from); `None` for
    /// calls that are never limited.
    fn key(&self, class: CommandClass, ctx: &Context) -> Option<String> {
        if matches!(ctx.surface, Surface::Cli | Surface::Internal) {
            return None;
        }
        let mut key = String::with_capacity(48);
        key.push_str(class.as_str());
        if let Some(principal) = ctx.principal() {
            key.push_str(":sub:");
            key.push_str(&principal.subject);
            return Some(key);
        }
        match &ctx.client {
            Some(client) => {
                key.push_str(":ip:");
                push_address_bucket(&mut key, self.proxies.client_ip(client));
            }
            // MCP without an address is stdio: the local user's own agent, in-process.
            None if ctx.surface == Surface::Mcp => return None,
            // A network call whose address the surface could not tell: one shared budget.
            None => key.push_str(":ip:unknown"),
        }
        Some(key)
    }

    fn limiter_failed(&self, error: &LimiterError) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, fail = self.fail.as_str(),
            "rate limiter unavailable; {} until it is back",
            match self.fail {
                RateLimitFail::Open => "letting calls through unlimited",
                RateLimitFail::Closed => "refusing limited calls",
            });
        }
        let outcome = match self.fail {
            RateLimitFail::Open => "allowed",
            RateLimitFail::Closed => "refused",
        };
        metrics::counter!("tinct_rate_limiter_unavailable_total", "outcome" => outcome)
            .increment(1);
    }

    fn limiter_answered(&self) {
        // A load first: the common case (no outage) then never writes the shared flag.
        if self.failing.load(Ordering::Relaxed) && self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limiter is back; limits apply again");
        }
    }
}

/// Who a limited call charges: its class, that class's policy and the caller's key.
struct Charge<'a> {
    class: CommandClass,
    policy: &'a RatePolicy,
    key: String,
}

impl RateLimit {
    /// What `call` is charged to; `None` for calls that are never limited.
    fn charge(&self, call: &Call) -> Option<Charge<'_>> {
        let class = CommandClass::of(&call.command)?;
        let policy = self.policies.get(class)?;
        let key = self.key(class, &call.ctx)?;
        Some(Charge { class, policy, key })
    }

    /// Lets the call through or refuses it, from the limiter's answer.
    fn settle(
        &self,
        command: &CommandDef,
        charge: &Charge<'_>,
        answer: Result<Decision, LimiterError>,
    ) -> Result<(), CommandError> {
        match answer {
            Ok(decision) if decision.allowed => {
                self.limiter_answered();
                Ok(())
            }
            Ok(decision) => {
                self.limiter_answered();
                metrics::counter!("tinct_rate_limited_total", "class" => charge.class.as_str())
                    .increment(1);
                Err(rate_limited(
                    command,
                    charge.class,
                    charge.policy,
                    &decision,
                ))
            }
            Err(error) => {
                self.limiter_failed(&error);
                match self.fail {
                    RateLimitFail::Open => Ok(()),
                    RateLimitFail::Closed => Err(limiter_unavailable(charge.class)),
                }
            }
        }
    }
}

#[async_trait]
impl Middleware for RateLimit {
    /// An in-process limiter decides here; one that needs I/O (Redis) decides in `handle`.
    fn before(&self, call: &mut Call) -> Result<Step, CommandError> {
        let Some(charge) = self.charge(call) else {
            return Ok(Step::Pass);
        };
        match self.limiter.check_now(&charge.key, charge.policy) {
            Some(answer) => self
                .settle(&call.command, &charge, answer)
                .map(|()| Step::Pass),
            None => Ok(Step::Wrap),
        }
    }

    async fn handle(&self, call: Call, next: Next<'_>) -> Result<Data, CommandError> {
        if let Some(charge) = self.charge(&call) {
            let answer = self.limiter.check(&charge.key, charge.policy).await;
            self.settle(&call.command, &charge, answer)?;
        }
        next.run(call).await
    }
}

/// Whole seconds, rounded up: a client that waits this long is not refused again for waiting
/// too little.
fn ceil_secs(d: Duration) -> u64 {
    d.as_micros().div_ceil(1_000_000) as u64
}

fn rate_limited(
    command: &CommandDef,
    class: CommandClass,
    policy: &RatePolicy,
    decision: &Decision,
) -> CommandError {
    let retry = ceil_secs(decision.retry_after).max(1);
    let class = class.as_str();
    CommandError::new(
        ErrorCode::RateLimited,
        format!(
            "too many {class} requests: {} is limited to {policy} per caller; retry in {retry} s",
            command.name
        ),
    )
    .suggest(format!(
        "Wait {retry} s (the Retry-After header) before calling again, and spread calls out; an operator can raise rate_limit_{class}."
    ))
    .details(json!({
        "limit": decision.limit,
        "remaining": decision.remaining,
        "retryAfterSecs": retry,
        "resetAfterSecs": ceil_secs(decision.reset_after),
        "policy": policy.header_value(),
        "class": class,
    }))
}

fn limiter_unavailable(class: CommandClass) -> CommandError {
    CommandError::new(
        ErrorCode::ServiceUnavailable,
        format!(
            "the rate limiter is unavailable, and this server refuses {} requests it cannot count (rate_limit_fail=closed)",
            class.as_str()
        ),
    )
    .suggest("Retry in a few seconds. Operators: check the limiter's Redis, or set rate_limit_fail=open to let calls through while it is down.")
    .details(json!({ "retryAfterSecs": 1 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientAddr;
    use crate::registry::Registry;
    use serde_json::Value;
    use tinct_platform::LocalLimiter;

    struct Broken;

    #[async_trait]
    impl Limiter for Broken {
        async fn check(&self, _: &str, _: &RatePolicy) -> Result<Decision, LimiterError> {
            Err(LimiterError::Unavailable("down".into()))
        }
        fn describe(&self) -> String {
            "broken".into()
        }
    }

    fn policy(text: &str) -> Option<RatePolicy> {
        RatePolicy::parse(text).unwrap()
    }

    fn registry(limiter: Arc<dyn Limiter>, fail: RateLimitFail) -> Arc<Registry> {
        let mut builder = Registry::builder();
        let policies = RatePolicies {
            read: policy("1/h burst 2"),
            write: policy("1/h burst 1"),
            export: None,
        };
        let proxies = TrustedProxies::parse(&["10.0.0.1"]).unwrap();
        builder.middleware(Arc::new(RateLimit::new(limiter, policies, fail, proxies)));
        async fn echo(input: Value, _: Context) -> Result<Value, CommandError> {
            Ok(input)
        }
        builder
            .register(CommandDef::new("node.get", "read", echo))
            .unwrap()
            .register(CommandDef::new("node.create", "write", echo).mutation(&[]))
            .unwrap()
            .register(CommandDef::new("tokens.export", "export", echo))
            .unwrap()
            .register(CommandDef::new("system.health", "health", echo))
            .unwrap();
        builder.build()
    }

    fn from(peer: &str, xff: Option<&str>) -> Context {
        Context::new(Surface::Rest).with_client(Some(ClientAddr::new(
            peer.parse().unwrap(),
            xff.map(str::to_owned),
        )))
    }

    async fn codes(
        registry: &Registry,
        name: &str,
        ctx: impl Fn() -> Context,
        n: usize,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let r = registry.execute(name, json!({}), ctx()).await;
            out.push(r.error.map_or("OK".to_owned(), |e| e.code.to_string()));
        }
        out
    }

    #[tokio::test]
    async fn each_client_and_class_has_its_own_budget() {
        let registry = registry(Arc::new(LocalLimiter::new()), RateLimitFail::Open);
        let a = || from("203.0.113.1", None);
        assert_eq!(
            codes(&registry, "node.get", a, 3).await,
            ["OK", "OK", "RATE_LIMITED"]
        );
        assert_eq!(
            codes(&registry, "node.create", a, 2).await,
            ["OK", "RATE_LIMITED"]
        );
        // Unlimited class and system commands.
        assert_eq!(codes(&registry, "tokens.export", a, 5).await, ["OK"; 5]);
        assert_eq!(codes(&registry, "system.health", a, 5).await, ["OK"; 5]);
        // Another address; the CLI and internal calls are never limited.
        assert_eq!(
            codes(&registry, "node.get", || from("203.0.113.2", None), 2).await,
            ["OK"; 2]
        );
        assert_eq!(
            codes(&registry, "node.get", || Context::new(Surface::Cli), 5).await,
            ["OK"; 5]
        );
        assert_eq!(
            codes(&registry, "node.get", || Context::new(Surface::Internal), 5).await,
            ["OK"; 5]
        );
        // MCP over stdio (no address) is in-process too.
        assert_eq!(
            codes(&registry, "node.get", || Context::new(Surface::Mcp), 5).await,
            ["OK"; 5]
        );
    }

    #[tokio::test]
    async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
        let registry = registry(Arc::new(LocalLimiter::new()), RateLimitFail::Open);
        // Behind the trusted proxy, two clients have two budgets.
        let one = || from("10.0.0.1", Some("198.51.100.1"));
        let two = || from("10.0.0.1", Some("198.51.100.2"));
        assert_eq!(codes(&registry, "node.get", one, 2).await, ["OK"; 2]);
        assert_eq!(codes(&registry, "node.get", two, 2).await, ["OK"; 2]);
        // From an untrusted peer the header is ignored: one budget, whatever it claims.
        let claims = |n: u8| move || from("203.0.113.7", Some(&format!("198.51.100.{n}")));
        assert_eq!(codes(&registry, "node.get", claims(3), 2).await, ["OK"; 2]);
        assert_eq!(
            codes(&registry, "node.get", claims(4), 1).await,
            ["RATE_LIMITED"]
        );
    }

    #[tokio::test]
    async fn a_refusal_says_when_to_retry() {
        let registry = registry(Arc::new(LocalLimiter::new()), RateLimitFail::Open);
        let ctx = || from("203.0.113.1", None);
        codes(&registry, "node.create", ctx, 1).await;
        let refused = registry.execute("node.create", json!({}), ctx()).await;
        let error = refused.error.unwrap();
        assert_eq!(error.code, ErrorCode::RateLimited);
        assert!(error.retryable);
        assert!(
            error.message.contains("retry in 3600 s"),
            "{}",
            error.message
        );
        assert!(error.suggestion.unwrap().contains("rate_limit_write"));
        let details = error.details.unwrap();
        assert_eq!(details["limit"], 1);
        assert_eq!(details["remaining"], 0);
        assert_eq!(details["retryAfterSecs"], 3600);
        assert_eq!(details["policy"], "1;w=3600;burst=1");
        assert_eq!(details["class"], "write");
    }

    #[tokio::test]
    async fn a_broken_limiter_fails_open_or_closed_as_configured() {
        let open = registry(Arc::new(Broken), RateLimitFail::Open);
        let ctx = || from("203.0.113.1", None);
        assert_eq!(codes(&open, "node.get", ctx, 3).await, ["OK"; 3]);
        let closed = registry(Arc::new(Broken), RateLimitFail::Closed);
        let refused = closed.execute("node.get", json!({}), ctx()).await;
        let error = refused.error.unwrap();
        assert_eq!(error.code, ErrorCode::ServiceUnavailable);
        assert!(error.retryable);
        assert!(
            error.message.contains("rate_limit_fail=closed"),
            "{}",
            error.message
        );
        // Unlimited commands do not ask the limiter at all.
        assert_eq!(codes(&closed, "system.health", ctx, 1).await, ["OK"]);
        assert_eq!(
            codes(&closed, "node.get", || Context::new(Surface::Cli), 1).await,
            ["OK"]
        );
    }
}
