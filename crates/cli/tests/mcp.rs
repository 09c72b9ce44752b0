//! MCP through the official SDK's client (rmcp), over stdio (`tinct mcp`) and streamable HTTP
//! (`/mcp` on `tinct serve`), against the real binary.

use std::path::Path;

use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tinct_testkit::{TinctServer, tinct_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

type Client = RunningService<RoleClient, ()>;

fn demo(data_dir: &Path) {
    let out = tinct_command(Path::new(BIN), data_dir)
        .arg("demo")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

async fn stdio_client(data_dir: &Path) -> Client {
    let std_cmd = tinct_command(Path::new(BIN), data_dir);
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.arg("mcp");
    let transport = TokioChildProcess::new(cmd).expect("spawn tinct mcp");
    ().serve(transport).await.expect("MCP handshake over stdio")
}

async fn http_client(base: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    ().serve(transport).await.expect("MCP handshake over HTTP")
}

async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    client.call_tool(params).await.expect("tools/call")
}

/// The checks every transport must pass.
async fn exercise(client: &Client) {
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "tinct");

    let tools = client.list_all_tools().await.unwrap();
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("tool {name} listed"))
            .clone()
    };
    let resolve = tool("tokens.resolve");
    assert_eq!(resolve.input_schema["required"], json!(["node"]));
    let hints = resolve.annotations.unwrap();
    assert_eq!(hints.read_only_hint, Some(true));
    assert!(resolve.description.unwrap().contains("Example"));
    let remove = tool("token.remove").annotations.unwrap();
    assert_eq!(remove.read_only_hint, Some(false));
    assert_eq!(remove.destructive_hint, Some(true));
    assert_eq!(
        tool("token.override").annotations.unwrap().idempotent_hint,
        Some(true)
    );

    // Every output schema compiles on its own (its references resolve) …
    for t in &tools {
        let schema = Value::Object(t.output_schema.as_ref().unwrap().as_ref().clone());
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("output schema of {} does not compile: {e}", t.name));
    }
    // … and results, successes and failures alike, follow it, as a validating client checks.
    let conforms = |name: &str, result: &CallToolResult| {
        let schema = Value::Object(tool(name).output_schema.unwrap().as_ref().clone());
        let validator = jsonschema::validator_for(&schema).unwrap();
        let content = result.structured_content.as_ref().unwrap();
        let errors: Vec<String> = validator
            .iter_errors(content)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{name} result breaks its schema: {errors:?}"
        );
    };

    let ok = call(client, "tokens.resolve", json!({"node": "acme-web-dark"})).await;
    assert_eq!(ok.is_error, Some(false));
    conforms("tokens.resolve", &ok);
    let envelope = ok.structured_content.unwrap();
    assert_eq!(envelope["success"], true);
    assert_eq!(
        envelope["data"]["tokens"]["color.bg.default"]["value"],
        "#0b0b10"
    );
    assert!(ok.content[0].as_text().unwrap().text.contains("succeeded"));

    // Errors are tool errors that keep the code and the suggestion.
    let missing = call(client, "tokens.resolve", json!({"node": "acme-web-drak"})).await;
    assert_eq!(missing.is_error, Some(true));
    conforms("tokens.resolve", &missing);
    let envelope = missing.structured_content.unwrap();
    assert_eq!(envelope["error"]["code"], "NOT_FOUND");
    assert!(
        envelope["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("acme-web-dark")
    );
    let invalid = call(client, "token.add", json!({"node": "acme"})).await;
    assert_eq!(invalid.is_error, Some(true));
    assert!(
        invalid.content[0]
            .as_text()
            .unwrap()
            .text
            .contains("VALIDATION_ERROR")
    );

    // A write through MCP is a write like any other.
    let written = call(
        client,
        "token.override",
        json!({"node": "acme-web-dark", "path": "color.brand.primary", "value": "#f472b6"}),
    )
    .await;
    assert_eq!(written.is_error, Some(false), "{written:?}");
    conforms("token.override", &written);
    let after = call(
        client,
        "tokens.resolve",
        json!({"node": "acme-web-dark", "prefix": "color.brand"}),
    )
    .await;
    assert_eq!(
        after.structured_content.unwrap()["data"]["tokens"]["color.brand.primary"]["value"],
        "#f472b6"
    );

    // Resources: the node tree and exports.
    let resources = client.list_all_resources().await.unwrap();
    assert!(
        resources
            .iter()
            .any(|r| r.uri == "tinct://nodes/acme-web-dark/export.css")
    );
    let css = client
        .read_resource(ReadResourceRequestParams::new(
            "tinct://nodes/acme-web-dark/export.css",
        ))
        .await
        .unwrap();
    let text = serde_json::to_value(&css.contents[0]).unwrap();
    assert!(text["text"].as_str().unwrap().starts_with(":root {"));
    assert!(
        client
            .read_resource(ReadResourceRequestParams::new("tinct://nope"))
            .await
            .is_err(),
        "an unknown resource is an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_stdio_lists_tools_calls_them_and_reads_resources() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let client = stdio_client(dir.path()).await;
    exercise(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_streamable_http_on_tinct_serve() {
    let server = TinctServer::start(Path::new(BIN));
    demo(&server.data_dir);
    let client = http_client(&server.url).await;
    exercise(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_consistency_header_is_refused_over_mcp_http() {
    use reqwest::header::{HeaderName, HeaderValue};
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let server = TinctServer::start(Path::new(BIN));
    demo(&server.data_dir);
    let with_header = |value: &'static str| {
        let headers = [(
            HeaderName::from_static("tinct-consistency"),
            HeaderValue::from_static(value),
        )];
        StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", server.url))
                .custom_headers(headers.into_iter().collect()),
        )
    };
    let client = ().serve(with_header("not-a-revision")).await.unwrap();
    let refused = call(&client, "tokens.resolve", json!({"node": "acme"})).await;
    assert_eq!(refused.is_error, Some(true));
    let envelope = refused.structured_content.unwrap();
    assert_eq!(envelope["error"]["code"], "VALIDATION_ERROR");
    assert!(
        envelope["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Tinct-Consistency")
    );
    client.cancel().await.unwrap();

    // A well-formed token the store has reached reads as usual.
    let client = ().serve(with_header("1")).await.unwrap();
    let read = call(&client, "tokens.resolve", json!({"node": "acme"})).await;
    assert_eq!(read.is_error, Some(false), "{read:?}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_mcp_can_drive_a_remote_server() {
    let server = TinctServer::start(Path::new(BIN));
    demo(&server.data_dir);
    let empty = tempfile::tempdir().unwrap();
    let std_cmd = tinct_command(Path::new(BIN), empty.path());
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.args(["mcp", "--remote", &server.url]);
    let client = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
    let result = call(&client, "node.get", json!({"id": "acme"})).await;
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.structured_content.unwrap()["data"]["childCount"], 1);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surfaces_can_be_deployed_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mcp_only = TinctServer::start_in(Path::new(BIN), dir.path(), &[("TINCT_SURFACES", "mcp")]);
    let rest = reqwest::get(format!("{}/v1/commands", mcp_only.url))
        .await
        .unwrap();
    assert_eq!(rest.status(), 404, "an MCP-only instance serves no REST");
    let ready = reqwest::get(format!("{}/health/ready", mcp_only.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "health is on every instance");
    let client = http_client(&mcp_only.url).await;
    assert!(!client.list_all_tools().await.unwrap().is_empty());
    client.cancel().await.unwrap();

    let other = tempfile::tempdir().unwrap();
    let rest_only = TinctServer::start_in(
        Path::new(BIN),
        other.path(),
        &[("TINCT_SURFACES", "rest,ws")],
    );
    let mcp = reqwest::Client::new()
        .post(format!("{}/mcp", rest_only.url))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), 404, "a REST-only instance serves no MCP");
}

#[test]
fn an_unknown_surface_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = tinct_command(Path::new(BIN), dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--surfaces",
            "rest,soap",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown surface 'soap'"), "{stderr}");
}
