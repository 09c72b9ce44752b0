//! The official MCP Inspector (npm `@modelcontextprotocol/inspector`, CLI mode) against tinct, over
//! stdio and streamable HTTP. `scripts/test` installs it and sets MCP_INSPECTOR_BIN.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tinct_testkit::{TinctServer, tinct_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

fn inspector() -> PathBuf {
    let default = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/mcp-inspector/node_modules/.bin/mcp-inspector");
    let path = std::env::var_os("MCP_INSPECTOR_BIN")
        .map(PathBuf::from)
        .unwrap_or(default);
    assert!(
        path.exists(),
        "the MCP Inspector is not installed at {}; run scripts/test (it installs it with npm)",
        path.display()
    );
    path
}

/// Runs the inspector's CLI mode and parses its JSON answer.
fn inspect(catalog: &Path, target: &[&str], method: &[&str]) -> Value {
    let out = Command::new(inspector())
        .arg("--cli")
        .args(target)
        .args(method)
        .env("MCP_CATALOG_PATH", catalog)
        .output()
        .expect("run the MCP Inspector");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "inspector failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("inspector printed no JSON ({e}): {stdout}"))
}

fn check(catalog: &Path, target: &[&str]) {
    let tools = inspect(catalog, target, &["--method", "tools/list"]);
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"tokens.resolve"), "{names:?}");
    let resolved = inspect(
        catalog,
        target,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "tokens.resolve",
            "--tool-arg",
            "node=acme-web-dark",
            "prefix=color.bg",
        ],
    );
    assert_eq!(resolved["isError"], false, "{resolved}");
    assert_eq!(
        resolved["structuredContent"]["data"]["tokens"]["color.bg.default"]["value"],
        "#0b0b10"
    );
}

#[test]
fn the_mcp_inspector_lists_tools_and_resolves_tokens_over_stdio_and_http() {
    let server = TinctServer::start(Path::new(BIN));
    let demo = tinct_command(Path::new(BIN), &server.data_dir)
        .arg("demo")
        .output()
        .unwrap();
    assert!(demo.status.success());
    let scratch = tempfile::tempdir().unwrap();
    let catalog = scratch.path().join("catalog.json");
    let data_dir = server.data_dir.to_str().unwrap().to_owned();
    check(
        &catalog,
        &["-e", &format!("TINCT_DATA_DIR={data_dir}"), BIN, "mcp"],
    );
    check(&catalog, &[&format!("{}/mcp", server.url)]);
}
