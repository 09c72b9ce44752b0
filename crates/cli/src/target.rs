//! Where `tinct call` runs a command: in this process on the local data, or on a server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tinct_command::{
    BatchItem, BatchResult, CommandError, CommandResult, Context, Surface, new_trace_id,
};
use tinct_service::App;

/// A CLI session: where commands run, and the newest revision it has written or was given, so its
/// reads never see older data (read-your-writes across replicas, `--consistency`).
pub struct Target {
    place: Place,
    floor: AtomicU64,
}

enum Place {
    Local(Box<App>),
    Remote {
        base: String,
        client: reqwest::Client,
        /// Sent as `Authorization: Bearer`.
        token: Option<String>,
    },
}

impl Target {
    pub fn local(app: App, consistency: Option<u64>) -> Target {
        Target::at(Place::Local(Box::new(app)), consistency)
    }

    pub fn remote(
        url: &str,
        consistency: Option<u64>,
        token: Option<&str>,
    ) -> Result<Target, String> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            return Err(format!(
                "--remote must be an http:// URL such as http://127.0.0.1:8080 (got '{url}')"
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("could not build an HTTP client: {e}"))?;
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Target::at(
            Place::Remote {
                base,
                client,
                token,
            },
            consistency,
        ))
    }

    fn at(place: Place, consistency: Option<u64>) -> Target {
        Target {
            place,
            floor: AtomicU64::new(consistency.unwrap_or(0)),
        }
    }

    fn context(&self) -> Context {
        let user = std::env::var("USER").unwrap_or_else(|_| "cli".to_owned());
        Context::new(Surface::Cli).with_actor(format!("cli:{user}"))
    }

    /// The session's floor joined with the caller's own token.
    fn consistency(&self, ctx: &Context) -> Option<u64> {
        let floor = self.floor.load(Ordering::Relaxed);
        ctx.consistency.max((floor > 0).then_some(floor))
    }

    /// Raises the floor to a result's revision, so later reads of this session see that write.
    fn remember(&self, result: &CommandResult) {
        if let Some(revision) = result.metadata.revision.as_deref()
            && let Ok(revision) = revision.parse::<u64>()
        {
            self.floor.fetch_max(revision, Ordering::Relaxed);
        }
    }

    pub async fn execute(&self, name: &str, input: Value) -> CommandResult {
        self.execute_in(name, input, self.context()).await
    }

    /// Runs with the caller's context locally; a remote server makes its own from the headers.
    pub async fn execute_in(&self, name: &str, input: Value, ctx: Context) -> CommandResult {
        let consistency = self.consistency(&ctx);
        let result = match &self.place {
            Place::Local(app) => {
                let ctx = ctx.with_consistency(consistency);
                app.registry.execute(name, input, ctx).await
            }
            Place::Remote {
                base,
                client,
                token,
            } => {
                let url = format!("{base}/v1/commands/{name}");
                match post(client, &url, &input, consistency, token.as_deref()).await {
                    Ok(body) => serde_json::from_value(body).unwrap_or_else(|e| {
                        unreachable_result(
                            name,
                            &format!(
                                "the server answered with something other than a tinct result: {e}"
                            ),
                        )
                    }),
                    Err(e) => unreachable_result(name, &e),
                }
            }
        };
        self.remember(&result);
        result
    }

    pub async fn execute_batch(&self, items: Vec<BatchItem>, stop_on_error: bool) -> BatchResult {
        let ctx = self.context();
        let consistency = self.consistency(&ctx);
        let batch = match &self.place {
            Place::Local(app) => {
                let ctx = ctx.with_consistency(consistency);
                app.registry.execute_batch(items, stop_on_error, ctx).await
            }
            Place::Remote {
                base,
                client,
                token,
            } => {
                let url = format!("{base}/v1/batch");
                let body = json!({"items": items, "stopOnError": stop_on_error});
                let failed = |e: &str| BatchResult {
                    success: false,
                    results: vec![unreachable_result("batch", e)],
                    skipped: Vec::new(),
                };
                match post(client, &url, &body, consistency, token.as_deref()).await {
                    Ok(body) => {
                        serde_json::from_value(body).unwrap_or_else(|e| failed(&e.to_string()))
                    }
                    Err(e) => failed(&e),
                }
            }
        };
        batch.results.iter().for_each(|r| self.remember(r));
        batch
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    consistency: Option<u64>,
    bearer: Option<&str>,
) -> Result<Value, String> {
    let mut request = client.post(url).json(body);
    if let Some(token) = consistency {
        request = request.header("tinct-consistency", token.to_string());
    }
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    response
        .json::<Value>()
        .await
        .map_err(|e| format!("unreadable answer from {url}: {e}"))
}

/// An envelope for a server we could not talk to, so output and exit code stay uniform.
fn unreachable_result(command: &str, reason: &str) -> CommandResult {
    let error = CommandError::unavailable(reason.to_owned())
        .suggest("Check the URL and that `tinct serve` is running there (GET /health/ready).");
    CommandResult::failure(command, &new_trace_id(), "cli", error)
}

#[async_trait::async_trait]
impl tinct_surfaces::mcp::Executor for Target {
    async fn execute(&self, name: &str, input: Value, ctx: Context) -> CommandResult {
        self.execute_in(name, input, ctx).await
    }
}
