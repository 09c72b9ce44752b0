//! Where `tinct call` runs a command: in this process on the local data, or on a server.

use std::time::Duration;

use serde_json::{Value, json};
use tinct_command::{
    BatchItem, BatchResult, CommandError, CommandResult, Context, Surface, new_trace_id,
};
use tinct_service::App;

pub enum Target {
    Local(Box<App>),
    Remote {
        base: String,
        client: reqwest::Client,
    },
}

impl Target {
    pub fn remote(url: &str) -> Result<Target, String> {
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
        Ok(Target::Remote { base, client })
    }

    fn context() -> Context {
        let user = std::env::var("USER").unwrap_or_else(|_| "cli".to_owned());
        Context::new(Surface::Cli).with_actor(format!("cli:{user}"))
    }

    pub async fn execute(&self, name: &str, input: Value) -> CommandResult {
        self.execute_in(name, input, Self::context()).await
    }

    /// Runs with the caller's context locally; a remote server makes its own.
    pub async fn execute_in(&self, name: &str, input: Value, ctx: Context) -> CommandResult {
        match self {
            Target::Local(app) => app.registry.execute(name, input, ctx).await,
            Target::Remote { base, client } => {
                let url = format!("{base}/v1/commands/{name}");
                match post(client, &url, &input).await {
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
        }
    }

    pub async fn execute_batch(&self, items: Vec<BatchItem>, stop_on_error: bool) -> BatchResult {
        match self {
            Target::Local(app) => {
                app.registry
                    .execute_batch(items, stop_on_error, Self::context())
                    .await
            }
            Target::Remote { base, client } => {
                let url = format!("{base}/v1/batch");
                let body = json!({"items": items, "stopOnError": stop_on_error});
                let failed = |e: &str| BatchResult {
                    success: false,
                    results: vec![unreachable_result("batch", e)],
                    skipped: Vec::new(),
                };
                match post(client, &url, &body).await {
                    Ok(body) => {
                        serde_json::from_value(body).unwrap_or_else(|e| failed(&e.to_string()))
                    }
                    Err(e) => failed(&e),
                }
            }
        }
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<Value, String> {
    let response = client
        .post(url)
        .json(body)
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
