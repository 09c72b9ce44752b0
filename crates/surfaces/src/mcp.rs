//! The MCP surface for AI agents, through the official SDK (rmcp): every command is a tool with its
//! JSON Schema, description, examples and annotations; nodes and exports are resources. Served over
//! stdio (`tinct mcp`) and streamable HTTP (`/mcp` on `tinct serve`, stateless, so any instance
//! behind a load balancer answers any request).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tinct_command::{CommandError, CommandInfo, CommandResult, Context, Registry, Surface};

use crate::rest::{consistency, credential};

/// Where the MCP server runs commands: this process's registry, or a remote tinct (`tinct mcp
/// --remote`).
#[async_trait]
pub trait Executor: Send + Sync {
    async fn execute(&self, name: &str, input: Value, ctx: Context) -> CommandResult;
}

#[async_trait]
impl Executor for Registry {
    async fn execute(&self, name: &str, input: Value, ctx: Context) -> CommandResult {
        Registry::execute(self, name, input, ctx).await
    }
}

/// One MCP server over the command catalogue; cheap to clone per session.
#[derive(Clone)]
pub struct McpServer {
    executor: Arc<dyn Executor>,
    tools: Arc<Vec<Tool>>,
    timeout: Duration,
    /// The newest revision this session wrote: its later reads never see older data, even from
    /// a lagging replica. Over HTTP a session is one request (stateless), which may also carry a
    /// `Tinct-Consistency` header.
    floor: Arc<AtomicU64>,
}

impl McpServer {
    /// Serves this process's registry.
    pub fn local(registry: Arc<Registry>, timeout: Duration) -> Self {
        let catalogue: Vec<CommandInfo> = registry.list().map(CommandInfo::from).collect();
        Self::new(registry, &catalogue, timeout)
    }

    /// Serves `catalogue` through `executor`.
    pub fn new(executor: Arc<dyn Executor>, catalogue: &[CommandInfo], timeout: Duration) -> Self {
        McpServer {
            executor,
            tools: Arc::new(catalogue.iter().map(tool_of).collect()),
            timeout,
            floor: Arc::default(),
        }
    }

    /// A copy with its own read-your-writes floor.
    fn new_session(&self) -> Self {
        McpServer {
            floor: Arc::default(),
            ..self.clone()
        }
    }

    /// A call's context: deadline, the HTTP request's bearer token, and the consistency floor of
    /// the session and of its `Tinct-Consistency` header (a malformed header is refused, not
    /// ignored).
    fn context(&self, request: &RequestContext<RoleServer>) -> Result<Context, CommandError> {
        let floor = self.floor.load(Ordering::Relaxed);
        let parts = request.extensions.get::<axum::http::request::Parts>();
        let token = match parts {
            Some(parts) => consistency(&parts.headers)?,
            None => None,
        };
        Ok(Context::new(Surface::Mcp)
            .with_actor("mcp")
            .with_credential(parts.and_then(|parts| credential(&parts.headers)))
            .with_client(parts.and_then(client_addr))
            .with_deadline(Some(Instant::now() + self.timeout))
            .with_consistency(token.max((floor > 0).then_some(floor))))
    }

    /// Runs a command in this session and remembers the revision it wrote.
    async fn run(
        &self,
        name: &str,
        input: Value,
        request: &RequestContext<RoleServer>,
    ) -> CommandResult {
        let ctx = match self.context(request) {
            Ok(ctx) => ctx,
            Err(e) => return CommandResult::failure(name, &tinct_command::new_trace_id(), "", e),
        };
        let result = self.executor.execute(name, input, ctx).await;
        if let Some(revision) = result.metadata.revision.as_deref()
            && let Ok(revision) = revision.parse::<u64>()
        {
            self.floor.fetch_max(revision, Ordering::Relaxed);
        }
        result
    }

    /// The streamable HTTP endpoint (mount at `/mcp`). Stateless: no session lives in one
    /// instance. `allowed_hosts` guards against DNS rebinding; empty disables the check (for
    /// deployments behind a load balancer that rewrites Host).
    pub fn into_http_service(
        self,
        allowed_hosts: &[String],
    ) -> StreamableHttpService<McpServer, NeverSessionManager> {
        let mut config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true);
        config = if allowed_hosts.is_empty() {
            config.disable_allowed_hosts()
        } else {
            config.with_allowed_hosts(allowed_hosts.iter().cloned())
        };
        StreamableHttpService::new(
            move || Ok(self.new_session()),
            Arc::new(NeverSessionManager::default()),
            config,
        )
    }
}

fn object(value: &Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

/// A command as an MCP tool: schema, description with examples, and behaviour hints.
fn tool_of(def: &CommandInfo) -> Tool {
    let mut description = def.description.clone();
    for example in &def.examples {
        description.push_str(&format!("\nExample ({}): {}", example.title, example.input));
    }
    let destructive = def.name.ends_with(".delete") || def.name.ends_with(".remove");
    let annotations = ToolAnnotations::with_title(def.name.clone())
        .read_only(!def.mutation)
        .destructive(def.mutation && destructive)
        .idempotent(
            !def.mutation
                || def.name.ends_with(".update")
                || def.name.ends_with(".override")
                || def.name.ends_with(".reset"),
        )
        .open_world(false);
    Tool::new(def.name.clone(), description, object(&def.input_schema))
        .with_raw_output_schema(Arc::new(object(&envelope_schema(&def.output_schema))))
        .with_annotations(annotations)
}

/// Structured content is the whole CommandResult; its `data` follows the command's output schema.
/// The output's `$defs` move to the top, where its `#/$defs/…` references point.
fn envelope_schema(output: &Value) -> Value {
    let mut data = output.clone();
    let defs = data.as_object_mut().and_then(|o| {
        o.remove("$schema");
        o.remove("$defs")
    });
    let mut schema = json!({
        "type": "object",
        "properties": {
            "success": {"type": "boolean"},
            // A failed call has no data.
            "data": {"anyOf": [data, {"type": "null"}]},
            "error": {"type": ["object", "null"]},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "metadata": {"type": "object"}
        },
        "required": ["success", "metadata"]
    });
    if let Some(defs) = defs {
        schema["$defs"] = defs;
    }
    schema
}

/// A line a model can read at a glance; the full result is in the structured content.
fn summary(result: &CommandResult) -> String {
    match &result.error {
        Some(e) => {
            let hint = e.suggestion.as_deref().unwrap_or("");
            format!(
                "{} failed: {}: {} {hint}",
                result.metadata.command, e.code, e.message
            )
        }
        None => {
            let data = result.data.as_ref().map(|d| d.to_value());
            let count = data
                .as_ref()
                .and_then(|d| d.get("count"))
                .and_then(Value::as_u64)
                .map(|n| format!(" ({n} tokens)"))
                .unwrap_or_default();
            let revision = result
                .metadata
                .revision
                .as_deref()
                .map(|r| format!(" at revision {r}"))
                .unwrap_or_default();
            format!("{} succeeded{count}{revision}", result.metadata.command)
        }
    }
}

fn tool_result(result: CommandResult) -> CallToolResult {
    let mut out = CallToolResult::success(vec![ContentBlock::text(summary(&result))]);
    out.is_error = Some(!result.success);
    out.structured_content = serde_json::to_value(&result).ok();
    out
}

/// What a `tinct://` resource URI asks for: a command and its input.
fn resource_call(uri: &str) -> Option<(&'static str, Value, &'static str)> {
    let rest = uri.strip_prefix("tinct://nodes")?;
    if rest.is_empty() || rest == "/" {
        return Some(("node.list", json!({"limit": 1000}), "application/json"));
    }
    let rest = rest.strip_prefix('/')?;
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match tail {
        "" => Some(("node.get", json!({ "id": id }), "application/json")),
        "tokens" => Some(("tokens.resolve", json!({ "node": id }), "application/json")),
        file => {
            let format = file.strip_prefix("export.")?;
            Some((
                "tokens.export",
                json!({"node": id, "format": format}),
                "text/plain",
            ))
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("tinct", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "tinct serves design tokens from a tree of nodes (design system → products → themes). \
                 Start with node.list, then tokens.resolve {node} for a node's resolved tokens (value, \
                 source node, alias chain) or tokens.export {node, format}. Writes: token.add, \
                 token.override, token.reset, token.remove. Every result is a CommandResult; errors \
                 carry a code and a suggestion saying what to do next.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let input = request
            .arguments
            .map(Value::Object)
            .unwrap_or_else(|| json!({}));
        let result = self.run(&request.name, input, &context).await;
        Ok(tool_result(result).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let listed = self
            .run("node.list", json!({"limit": 1000}), &context)
            .await;
        let mut resources = vec![
            Resource::new("tinct://nodes", "nodes")
                .with_description("Every node of the tree (design systems, products, themes)")
                .with_mime_type("application/json"),
        ];
        let listed = listed.data.map(|d| d.to_value()).unwrap_or_default();
        for node in listed["nodes"].as_array().into_iter().flatten() {
            let id = node["id"].as_str().unwrap_or_default();
            let name = node["name"].as_str().unwrap_or(id);
            resources.push(
                Resource::new(format!("tinct://nodes/{id}/tokens"), format!("{id} tokens"))
                    .with_description(format!("Resolved tokens of {name}"))
                    .with_mime_type("application/json"),
            );
            resources.push(
                Resource::new(
                    format!("tinct://nodes/{id}/export.css"),
                    format!("{id}.css"),
                )
                .with_description(format!("CSS custom properties of {name}"))
                .with_mime_type("text/css"),
            );
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("tinct://nodes/{id}", "node"),
            ResourceTemplate::new("tinct://nodes/{id}/tokens", "resolved tokens"),
            ResourceTemplate::new("tinct://nodes/{id}/export.{format}", "export")
                .with_description(
                    "any format tokens.export takes, e.g. css, scss, less, js, ts, json, dtcg, swift, android, compose, resolver",
                ),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let Some((command, input, mime)) = resource_call(&uri) else {
            return Err(McpError::resource_not_found(
                format!(
                    "no resource {uri}; try tinct://nodes, tinct://nodes/{{id}}/tokens or tinct://nodes/{{id}}/export.css"
                ),
                None,
            ));
        };
        let result = self.run(command, input, &context).await;
        if let Some(error) = &result.error {
            return Err(McpError::resource_not_found(
                format!("{}: {}", error.code, error.message),
                serde_json::to_value(error).ok(),
            ));
        }
        let data = result.data.map(|d| d.to_value()).unwrap_or_default();
        let text = match command {
            "tokens.export" => data["content"].as_str().unwrap_or_default().to_owned(),
            _ => serde_json::to_string_pretty(&data).unwrap_or_default(),
        };
        let mut contents = ResourceContents::text(text, uri);
        if let ResourceContents::TextResourceContents { mime_type, .. } = &mut contents {
            *mime_type = Some(data["contentType"].as_str().unwrap_or(mime).to_owned());
        }
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

/// The caller's address over HTTP (none over stdio): the connection's peer and its
/// `X-Forwarded-For`, which the rate limiter believes only from a trusted proxy; read as the
/// REST surface reads it.
fn client_addr(parts: &axum::http::request::Parts) -> Option<tinct_command::ClientAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    crate::rest::client_addr(&parts.headers, peer)
}

#[cfg(test)]
mod tests {
    use super::resource_call;

    #[test]
    fn resource_uris_map_to_commands() {
        assert_eq!(resource_call("tinct://nodes").unwrap().0, "node.list");
        assert_eq!(resource_call("tinct://nodes/acme").unwrap().0, "node.get");
        assert_eq!(
            resource_call("tinct://nodes/acme/tokens").unwrap().0,
            "tokens.resolve"
        );
        let (command, input, _) = resource_call("tinct://nodes/acme/export.scss").unwrap();
        assert_eq!(command, "tokens.export");
        assert_eq!(input["format"], "scss");
        assert!(resource_call("http://x").is_none());
        assert!(resource_call("tinct://nodes/acme/other").is_none());
    }
}
