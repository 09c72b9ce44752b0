//! Configuration: defaults, then an optional `tinct.toml`, then `TINCT_*` environment variables,
//! then command-line flags (each later source wins).

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tinct_command::AuthMode;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address `tinct serve` binds, `host:port`; port 0 picks a free one.
    pub listen: String,
    /// Where the embedded SQLite database lives when `database_url` is unset.
    pub data_dir: PathBuf,
    /// `postgres://…` for the scale-out store, or `sqlite://…` to put the embedded one elsewhere.
    pub database_url: Option<String>,
    /// PostgreSQL streaming replicas for reads; a list, or one comma-separated string in the
    /// environment (`TINCT_READ_REPLICA_URLS=postgres://r1/db,postgres://r2/db`).
    #[serde(deserialize_with = "list_or_csv")]
    pub read_replica_urls: Vec<String>,
    /// Connections per PostgreSQL server in this instance's pools.
    pub pool_size: u32,
    /// How long a read carrying a consistency token waits for a replica to catch up before it is
    /// served by the primary, milliseconds.
    pub consistency_wait_ms: u64,
    /// `local` (in-process only) or `redis` (in-process L1 + shared Redis L2; needs `redis_url`).
    pub cache: CacheKind,
    /// `redis://host:port` for the shared L2 cache.
    pub redis_url: Option<String>,
    /// Wake-ups between instances: `postgres` (LISTEN/NOTIFY; the default on PostgreSQL), `redis`
    /// (pub/sub; needs `redis_url`) or `local` (one process; the default on SQLite).
    pub bus: Option<BusKind>,
    /// Where rate limits are counted: `local` (each instance counts alone) or `redis` (one
    /// budget across every instance; needs `redis_url`).
    pub limiter: LimiterKind,
    /// Reads each caller (token subject, else client address) may make: `N/s`, `N/min` or
    /// `N/h`, optionally `burst B` (how many at once; default N), or `off`.
    pub rate_limit_read: String,
    /// Changes (mutations) each caller may make; same form as `rate_limit_read`.
    pub rate_limit_write: String,
    /// `tokens.export` calls (and export routes) each caller may make; same form.
    pub rate_limit_export: String,
    /// When the limiter cannot decide (its Redis is down): `open` lets calls through (a warning
    /// once per outage, counted in metrics), `closed` answers SERVICE_UNAVAILABLE.
    pub rate_limit_fail: tinct_command::middleware::RateLimitFail,
    /// Proxies whose `X-Forwarded-For` names the client (addresses or CIDR ranges, a list or
    /// comma-separated); from any other peer the header is ignored.
    #[serde(deserialize_with = "list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// Name of this process in envelopes and logs; defaults to host name and process id.
    pub instance: Option<String>,
    /// Log filter, e.g. `info` or `tinct=debug,sqlx=warn`.
    pub log: String,
    /// `auto` (pretty in a terminal, JSON otherwise), `pretty` or `json`.
    pub log_format: LogFormat,
    /// Entries the in-process command cache holds.
    pub cache_entries: u64,
    /// Seconds a cached read may live even without invalidation (a safety net, not the mechanism).
    pub cache_ttl_secs: u64,
    /// Deadline for one REST request, seconds.
    pub request_timeout_secs: u64,
    /// How long an idempotency key and its stored result are kept, seconds: a retry with the key
    /// within this time gets the first result; later, the key is free again.
    pub idempotency_retention_secs: u64,
    /// Which surfaces `tinct serve` offers: any of `rest`, `ws`, `web`, `mcp` (a list, or
    /// comma-separated text). Lets REST and MCP instances be deployed and scaled apart.
    #[serde(deserialize_with = "list_or_csv")]
    pub surfaces: Vec<String>,
    /// Deadline for one MCP tool call, seconds (agents run long exports).
    pub mcp_timeout_secs: u64,
    /// Host names MCP over HTTP answers to (DNS-rebinding guard); empty allows any, for
    /// deployments behind a load balancer.
    #[serde(deserialize_with = "list_or_csv")]
    pub mcp_allowed_hosts: Vec<String>,
    /// `Cache-Control: max-age` for export routes, seconds.
    pub export_max_age_secs: u64,
    /// On SIGTERM/SIGINT, seconds `/health/ready` answers 503 while requests are still served, so
    /// a load balancer stops sending new ones before the listener closes.
    pub shutdown_drain_secs: u64,
    /// After the drain, seconds in-flight requests get to finish before the process exits anyway.
    pub shutdown_timeout_secs: u64,
    /// Largest request body accepted (REST, MCP over HTTP), bytes; larger ones get 413.
    pub max_body_bytes: u64,
    /// Browser origins allowed to call the API cross-origin (`https://app.example.com`, a list or
    /// comma-separated); empty: same-origin only; `*`: any (logged as a warning).
    #[serde(deserialize_with = "list_or_csv")]
    pub cors_origins: Vec<String>,
    /// `open` (no checks; `tinct serve` allows it only on a loopback address), `read-open`
    /// (anonymous reads, changes need a token) or `closed` (every command but system.* needs one).
    pub auth: AuthMode,
    /// HS256 secret that verifies tokens (and that `tinct auth token` signs with); at least 32
    /// characters.
    pub auth_secret: Option<Secret>,
    /// A JWK set file of public keys (RSA → RS256, Ed25519 → EdDSA, EC → ES256/ES384; a key's own
    /// `alg` wins) that verify tokens.
    pub auth_jwks_file: Option<PathBuf>,
    /// When set, tokens must carry this `iss`.
    pub auth_issuer: Option<String>,
    /// When set, tokens must carry this `aud`.
    pub auth_audience: Option<String>,
    /// What `tinct serve` runs: any of `api` (the configured surfaces), `worker` (runs background
    /// jobs) and `scheduler` (competes for leadership; the leader fires schedules, rescues jobs of
    /// dead workers and prunes finished ones). A list or comma-separated; all three by default.
    #[serde(deserialize_with = "list_or_csv")]
    pub roles: Vec<String>,
    /// Queues a worker takes jobs from, with relative weights: `critical:6,default:3,low:1`.
    pub worker_queues: String,
    /// Jobs one worker process runs at once.
    pub worker_concurrency: u32,
    /// A running job's lease, milliseconds: renewed every third of it while the job runs; a
    /// killed worker's job is retried once it runs out.
    pub job_lease_ms: u64,
    /// How often an idle worker looks for due jobs, milliseconds (new jobs wake it sooner).
    pub job_poll_ms: u64,
    /// Finished jobs (completed, discarded, cancelled) are kept this long, seconds.
    pub job_retention_secs: u64,
    /// Where the scheduler's leader lease lives: `database` (a row with an epoch; the default) or
    /// `redis` (`SET NX PX` with an epoch; needs `redis_url`).
    pub leader_lease: LeaderLeaseKind,
    /// The leader lease's time to live, milliseconds; renewed every third of it. A dead leader is
    /// replaced within about this long.
    pub leader_ttl_ms: u64,
    /// Cron schedules from configuration (`[[schedules]]` in tinct.toml), beside those made with
    /// `schedule.create`.
    pub schedules: Vec<ScheduleConfig>,
    /// OTLP/HTTP collector base URL, e.g. `http://otel-collector:4318`; spans go to
    /// `{otlp_endpoint}/v1/traces`. Needs a binary built with `--features otel`.
    pub otlp_endpoint: Option<String>,
}

/// A configured secret: serialised as is (figment reads it), but never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    Local,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    Local,
    Postgres,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaderLeaseKind {
    Database,
    Redis,
}

/// A schedule from configuration: `kind` with `args` enqueued at every time `cron` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    /// Five fields (minute hour day month weekday) or six with seconds first; UTC.
    pub cron: String,
    pub kind: String,
    #[serde(default = "no_args")]
    pub args: serde_json::Value,
    /// `catch_up` (a firing missed while no leader ran is run once, late) or `skip`.
    #[serde(default)]
    pub missed: tinct_platform::MissedPolicy,
}

fn no_args() -> serde_json::Value {
    serde_json::json!({})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimiterKind {
    Local,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("./tinct-data"),
            database_url: None,
            read_replica_urls: Vec::new(),
            pool_size: 10,
            consistency_wait_ms: 100,
            cache: CacheKind::Local,
            redis_url: None,
            bus: None,
            limiter: LimiterKind::Local,
            // Per caller: far above what a person, a page or a build pipeline sends, low enough
            // that one client cannot take a public deployment's capacity.
            rate_limit_read: "6000/min".to_owned(),
            rate_limit_write: "1200/min".to_owned(),
            rate_limit_export: "300/min".to_owned(),
            rate_limit_fail: tinct_command::middleware::RateLimitFail::Open,
            trusted_proxies: Vec::new(),
            instance: None,
            log: "info".to_owned(),
            log_format: LogFormat::Auto,
            cache_entries: 10_000,
            cache_ttl_secs: 300,
            request_timeout_secs: 30,
            idempotency_retention_secs: 24 * 60 * 60,
            surfaces: SURFACES.iter().map(|s| (*s).to_owned()).collect(),
            mcp_timeout_secs: 300,
            mcp_allowed_hosts: ["localhost", "127.0.0.1", "::1"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            export_max_age_secs: 60,
            shutdown_drain_secs: 5,
            shutdown_timeout_secs: 30,
            max_body_bytes: 10 * 1024 * 1024,
            cors_origins: Vec::new(),
            auth: AuthMode::Open,
            auth_secret: None,
            auth_jwks_file: None,
            auth_issuer: None,
            auth_audience: None,
            otlp_endpoint: None,
            roles: ROLES.iter().map(|s| (*s).to_owned()).collect(),
            worker_queues: "critical:6,default:3,low:1".to_owned(),
            worker_concurrency: 10,
            job_lease_ms: 30_000,
            job_poll_ms: 1_000,
            job_retention_secs: 7 * 24 * 60 * 60,
            leader_lease: LeaderLeaseKind::Database,
            leader_ttl_ms: 30_000,
            schedules: Vec::new(),
        }
    }
}

/// Accepts `["a", "b"]` or `"a,b"` (environment variables are strings).
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match Form::deserialize(d)? {
        Form::List(list) => list,
        Form::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Every role `tinct serve` can take.
pub const ROLES: [&str; 3] = ["api", "worker", "scheduler"];

/// Every surface `tinct serve` can offer.
pub const SURFACES: [&str; 4] = ["rest", "ws", "web", "mcp"];

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads defaults ← `file` (or `./tinct.toml` when present) ← `TINCT_*` ← `flags`.
    pub fn load(file: Option<&Path>, flags: impl Serialize) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file("tinct.toml")),
        }
        let config: Config = figment
            // These name CLI options, not server configuration.
            .merge(Env::prefixed("TINCT_").ignore(&["config", "remote", "consistency", "token"]))
            .merge(Serialized::globals(flags))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        if let Some(unknown) = config
            .surfaces
            .iter()
            .find(|s| !SURFACES.contains(&s.as_str()))
        {
            return Err(ConfigError(format!(
                "unknown surface '{unknown}'; choose from {}",
                SURFACES.join(", ")
            )));
        }
        if let Some(unknown) = config.roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
            return Err(ConfigError(format!(
                "unknown role '{unknown}' in roles (TINCT_ROLES); choose from {}",
                ROLES.join(", ")
            )));
        }
        if config.roles.is_empty() {
            return Err(ConfigError(format!(
                "roles (TINCT_ROLES) is empty; give at least one of {}",
                ROLES.join(", ")
            )));
        }
        config.rate_policies()?;
        config.trusted_proxies()?;
        config.worker_queue_weights()?;
        for (key, value) in [
            ("job_lease_ms", config.job_lease_ms),
            ("job_poll_ms", config.job_poll_ms),
            ("leader_ttl_ms", config.leader_ttl_ms),
            ("worker_concurrency", u64::from(config.worker_concurrency)),
        ] {
            if value == 0 {
                return Err(ConfigError(format!(
                    "{key} (TINCT_{}) is 0; give a positive number",
                    key.to_uppercase()
                )));
            }
        }
        Ok(config)
    }

    /// The effective configuration for display, with secrets masked.
    pub fn masked(&self) -> serde_json::Value {
        let mut shown = serde_json::to_value(self).unwrap_or_default();
        if let Some(url) = &self.database_url {
            shown["database_url"] = tinct_platform::redact_url(url).into();
        }
        let replicas: Vec<String> = self
            .read_replica_urls
            .iter()
            .map(|u| tinct_platform::redact_url(u))
            .collect();
        shown["read_replica_urls"] = replicas.into();
        if let Some(url) = &self.redis_url {
            shown["redis_url"] = tinct_platform::redact_url(url).into();
        }
        if self.auth_secret.is_some() {
            shown["auth_secret"] = "********".into();
        }
        shown
    }

    /// The bus in effect: as configured, else postgres on a PostgreSQL store and local otherwise.
    pub fn bus_kind(&self) -> BusKind {
        self.bus.unwrap_or(match &self.database_url {
            Some(url) if url.starts_with("postgres") => BusKind::Postgres,
            _ => BusKind::Local,
        })
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `worker_queues` as (queue, weight) pairs, in the order given.
    pub fn worker_queue_weights(&self) -> Result<Vec<(String, u32)>, ConfigError> {
        let bad = |why: String| {
            ConfigError(format!(
                "worker_queues (TINCT_WORKER_QUEUES): {why}; write it like \"critical:6,default:3,low:1\""
            ))
        };
        let mut weights: Vec<(String, u32)> = Vec::new();
        for part in self
            .worker_queues
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, weight) = match part.split_once(':') {
                Some((name, weight)) => {
                    let weight = weight
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|w| (1..=1000).contains(w))
                        .ok_or_else(|| {
                            bad(format!(
                                "weight '{weight}' of queue '{name}' is not a number from 1 to 1000"
                            ))
                        })?;
                    (name.trim(), weight)
                }
                None => (part, 1),
            };
            if name.is_empty() {
                return Err(bad(format!("'{part}' names no queue")));
            }
            if weights.iter().any(|(n, _)| n == name) {
                return Err(bad(format!("queue '{name}' is named twice")));
            }
            weights.push((name.to_owned(), weight));
        }
        if weights.is_empty() {
            return Err(bad("no queue is named".to_owned()));
        }
        Ok(weights)
    }

    pub fn serves(&self, surface: &str) -> bool {
        self.surfaces.iter().any(|s| s == surface)
    }

    /// The rate policies per command class; an unreadable one names its key and an example.
    pub fn rate_policies(&self) -> Result<tinct_command::middleware::RatePolicies, ConfigError> {
        let parse = |key: &str, text: &str| {
            tinct_platform::RatePolicy::parse(text).map_err(|e| {
                ConfigError(format!(
                    "{key} (TINCT_{}): {e}; write it like \"600/min\", \"10/s burst 50\" or \"off\"",
                    key.to_uppercase()
                ))
            })
        };
        Ok(tinct_command::middleware::RatePolicies {
            read: parse("rate_limit_read", &self.rate_limit_read)?,
            write: parse("rate_limit_write", &self.rate_limit_write)?,
            export: parse("rate_limit_export", &self.rate_limit_export)?,
        })
    }

    pub fn trusted_proxies(&self) -> Result<tinct_command::TrustedProxies, ConfigError> {
        tinct_command::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| ConfigError(format!("trusted_proxies (TINCT_TRUSTED_PROXIES): {e}")))
    }

    pub fn instance_name(&self) -> String {
        self.instance.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "tinct".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let c = Config {
            database_url: Some("postgres://a:b@h/d".into()),
            ..Config::default()
        };
        assert!(!c.masked().to_string().contains(":b@"));
    }

    #[test]
    fn the_auth_secret_is_masked_and_kept_out_of_debug() {
        let c = Config::load(
            None,
            serde_json::json!({"auth": "read-open", "auth_secret": "correct-horse-battery-staple"}),
        )
        .unwrap();
        assert_eq!(c.auth, AuthMode::ReadOpen);
        assert_eq!(c.masked()["auth_secret"], "********");
        assert!(!format!("{c:?}").contains("horse"));
        assert_eq!(
            c.auth_secret.as_ref().map(Secret::expose),
            Some("correct-horse-battery-staple")
        );
    }

    #[test]
    fn replica_urls_accept_a_list_or_comma_separated_text() {
        let c = Config::load(
            None,
            serde_json::json!({"read_replica_urls": "postgres://a/x, postgres://b/x"}),
        )
        .unwrap();
        assert_eq!(c.read_replica_urls, ["postgres://a/x", "postgres://b/x"]);
        let c = Config::load(
            None,
            serde_json::json!({"read_replica_urls": ["postgres://c/x"]}),
        )
        .unwrap();
        assert_eq!(c.read_replica_urls, ["postgres://c/x"]);
    }

    #[test]
    fn surfaces_are_checked() {
        let c = Config::load(None, serde_json::json!({"surfaces": "mcp"})).unwrap();
        assert!(c.serves("mcp") && !c.serves("rest"));
        let err = Config::load(None, serde_json::json!({"surfaces": "rest,soap"})).unwrap_err();
        assert!(err.to_string().contains("unknown surface 'soap'"));
    }

    #[test]
    fn flags_win_over_defaults_and_missing_file_is_an_error() {
        let c = Config::load(None, serde_json::json!({"listen": "127.0.0.1:0"})).unwrap();
        assert_eq!(c.listen, "127.0.0.1:0");
        let err = Config::load(
            Some(Path::new("/nonexistent/tinct.toml")),
            serde_json::json!({}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}

#[cfg(test)]
mod job_tests {
    use super::*;

    #[test]
    fn roles_and_worker_queues_parse_and_bad_ones_say_what_to_write() {
        let c = Config::load(None, serde_json::json!({})).unwrap();
        assert!(ROLES.iter().all(|r| c.has_role(r)), "all roles by default");
        assert_eq!(
            c.worker_queue_weights().unwrap(),
            [
                ("critical".into(), 6),
                ("default".into(), 3),
                ("low".into(), 1)
            ]
        );
        let c = Config::load(
            None,
            serde_json::json!({"roles": "worker", "worker_queues": "default, bulk:2"}),
        )
        .unwrap();
        assert!(c.has_role("worker") && !c.has_role("api"));
        assert_eq!(
            c.worker_queue_weights().unwrap(),
            [("default".into(), 1), ("bulk".into(), 2)]
        );
        for (flags, says) in [
            (
                serde_json::json!({"roles": "api,cron"}),
                "unknown role 'cron'",
            ),
            (
                serde_json::json!({"roles": ""}),
                "roles (TINCT_ROLES) is empty",
            ),
            (
                serde_json::json!({"worker_queues": "default:0"}),
                "weight '0'",
            ),
            (
                serde_json::json!({"worker_queues": "a:1,a:2"}),
                "named twice",
            ),
            (
                serde_json::json!({"worker_queues": " , "}),
                "no queue is named",
            ),
            (
                serde_json::json!({"job_lease_ms": 0}),
                "job_lease_ms (TINCT_JOB_LEASE_MS) is 0",
            ),
        ] {
            let err = Config::load(None, flags).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}

#[cfg(test)]
mod rate_limit_tests {
    use super::*;

    #[test]
    fn rate_policies_parse_and_bad_ones_name_their_key() {
        let c = Config::load(
            None,
            serde_json::json!({"rate_limit_read": "off", "rate_limit_export": "10/s burst 3"}),
        )
        .unwrap();
        let policies = c.rate_policies().unwrap();
        assert_eq!(policies.read, None);
        assert_eq!(policies.export.map(|p| (p.rate, p.burst)), Some((10, 3)));
        assert!(policies.write.is_some(), "writes are limited by default");
        let err = Config::load(None, serde_json::json!({"rate_limit_export": "60/day"}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rate_limit_export (TINCT_RATE_LIMIT_EXPORT)")
                && err.contains("'60/day'")
                && err.contains("600/min"),
            "{err}"
        );
    }

    #[test]
    fn trusted_proxies_are_checked() {
        let c = Config::load(
            None,
            serde_json::json!({"trusted_proxies": "10.0.0.0/8, 127.0.0.1"}),
        )
        .unwrap();
        assert!(
            c.trusted_proxies()
                .unwrap()
                .contains("10.1.1.1".parse().unwrap())
        );
        let err = Config::load(None, serde_json::json!({"trusted_proxies": "10.0.0.0/99"}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("trusted_proxies") && err.contains("'10.0.0.0/99'"),
            "{err}"
        );
        let err = Config::load(None, serde_json::json!({"rate_limit_fail": "maybe"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("maybe"), "{err}");
    }
}
