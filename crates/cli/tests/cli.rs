//! End-to-end tests of the `tinct` command line: the real binary, on its own temporary data
//! directory per test (and a real `tinct serve` where `--remote` is under test).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;
use tinct_testkit::{TinctServer, tinct_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// The documented catalogue: code, HTTP status, exit code.
const CODES: [(&str, u16, i32); 14] = [
    ("VALIDATION_ERROR", 400, 2),
    ("NOT_FOUND", 404, 3),
    ("ALREADY_EXISTS", 409, 4),
    ("CONFLICT", 409, 5),
    ("UNAUTHORIZED", 401, 6),
    ("FORBIDDEN", 403, 7),
    ("RATE_LIMITED", 429, 8),
    ("TIMEOUT", 504, 9),
    ("SERVICE_UNAVAILABLE", 503, 10),
    ("COMMAND_NOT_FOUND", 404, 11),
    ("INTERNAL_ERROR", 500, 1),
    ("CIRCULAR_REFERENCE", 422, 12),
    ("BROKEN_REFERENCE", 422, 13),
    ("NODE_HAS_CHILDREN", 409, 14),
];

/// What one run printed and how it ended.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// Asserts exit 0 and returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// A working directory with its own data directory; every run happens inside it, so no
/// `tinct.toml` or data of the caller is ever picked up.
struct Cli {
    dir: TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = tinct_command(Path::new(BIN), &self.data_dir());
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env("RUST_BACKTRACE", "0");
        for proxy in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
            cmd.env_remove(proxy);
        }
        cmd
    }

    fn finish(cmd: &mut Command) -> Out {
        let output = cmd.output().expect("run tinct");
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        Self::finish(&mut self.command(args))
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        Self::finish(self.command(args).envs(env.iter().copied()))
    }

    /// Runs with `input` on standard input.
    fn run_stdin(&self, args: &[&str], input: &str) -> Out {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tinct");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let output = child.wait_with_output().expect("wait for tinct");
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// A data directory with the demo loaded.
    fn with_demo() -> Cli {
        let cli = Cli::new();
        cli.run(&["demo"]).ok();
        cli
    }

    /// The resolved tokens of `node` from `--json call tokens.resolve`.
    fn resolved(&self, node: &str) -> Value {
        let out = self.run(&["--json", "call", "tokens.resolve", &format!("node={node}")]);
        out.ok();
        out.json()["data"]["tokens"].clone()
    }
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Asserts the human error format: nothing on stdout, `error[CODE]` and a hint on stderr.
fn assert_error(out: &Out, code: &str, exit: i32) {
    assert_eq!(out.code, exit, "exit code for {code}: {out:#?}");
    assert!(out.stdout.is_empty(), "{code}: nothing on stdout: {out:#?}");
    assert!(
        out.stderr.contains(&format!("error[{code}]")),
        "stderr names {code}: {out:#?}"
    );
    let hint = out
        .stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("hint:"))
        .unwrap_or_else(|| panic!("{code}: no hint on stderr: {out:#?}"));
    assert!(!hint.trim().is_empty(), "{code}: empty hint: {out:#?}");
}

// ---------------------------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------------------------

#[test]
fn help_teaches_with_examples() {
    let cli = Cli::new();
    let help = cli.run(&["--help"]);
    let text = help.ok();
    for expected in [
        "Getting started",
        "tinct serve",
        "tinct demo",
        "tinct call tokens.resolve node=acme-web-dark",
        "tinct call tokens.export node=acme-web-dark format=css",
        "Exit codes",
        "tinct errors",
    ] {
        assert!(
            text.contains(expected),
            "tinct --help lacks {expected:?}:\n{text}"
        );
    }
    for sub in ["serve", "call", "commands", "demo", "config", "errors"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "tinct --help does not list {sub}:\n{text}"
        );
    }

    let call = cli.run(&["call", "--help"]);
    let text = call.ok();
    for expected in [
        "Examples:",
        "key=value",
        "key:=json",
        "@file",
        "tinct call node.create id=acme",
        "tinct call token.add node=acme",
        "--remote",
        "--json",
    ] {
        assert!(
            text.contains(expected),
            "tinct call --help lacks {expected:?}:\n{text}"
        );
    }

    // No subcommand: a usage error that still points at the help.
    let bare = cli.run(&[]);
    assert_eq!(bare.code, 2, "{bare:#?}");
    assert!(bare.stderr.contains("Usage"), "{bare:#?}");
}

// ---------------------------------------------------------------------------------------------
// Demo, human and JSON output
// ---------------------------------------------------------------------------------------------

#[test]
fn demo_then_resolve_prints_a_readable_table() {
    let cli = Cli::new();
    let demo = cli.run(&["demo"]);
    let text = demo.ok();
    assert!(text.contains("Loaded the demo"), "{demo:#?}");
    assert!(text.contains("acme-web-dark"), "{demo:#?}");

    let out = cli.run(&["call", "tokens.resolve", "node=acme-web-dark"]);
    let text = out.ok();
    assert!(out.stderr.is_empty(), "{out:#?}");
    let line = |path: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(path))
            .unwrap_or_else(|| panic!("no line for {path}:\n{text}"))
            .to_owned()
    };
    let bg = line("color.bg.default");
    assert!(
        bg.contains("#0b0b10"),
        "the dark theme's override wins: {bg}"
    );
    assert!(bg.contains("acme-web-dark"), "source shown: {bg}");
    let action = line("color.action.bg");
    assert!(action.contains("#8b5cf6"), "{action}");
    assert!(
        action.contains("color.brand.primary"),
        "alias chain shown: {action}"
    );
    assert!(line("color.base.violet.700").contains("#5b21b6"));

    let count = cli
        .resolved("acme-web-dark")
        .as_object()
        .expect("tokens")
        .len();
    assert!(count > 30, "the demo has ~40 tokens, got {count}");
    assert_eq!(
        text.lines().last(),
        Some(format!("{count} tokens on acme-web-dark").as_str()),
        "{text}"
    );

    let nodes = cli.run(&["call", "node.list"]);
    let ids: Vec<&str> = nodes
        .ok()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["acme", "acme-web", "acme-web-dark"], "{nodes:#?}");
}

#[test]
fn resolve_with_json_prints_the_envelope() {
    let cli = Cli::with_demo();
    let out = cli.run(&["--json", "call", "tokens.resolve", "node=acme-web-dark"]);
    out.ok();
    let envelope = out.json();
    assert_eq!(envelope["success"], true);
    assert_eq!(envelope["error"], Value::Null);
    assert_eq!(envelope["metadata"]["command"], "tokens.resolve");
    assert_eq!(envelope["metadata"]["commandVersion"], 1);
    assert_eq!(
        envelope["metadata"]["traceId"]
            .as_str()
            .expect("traceId")
            .len(),
        32
    );
    let tokens = &envelope["data"]["tokens"];
    assert_eq!(envelope["data"]["node"], "acme-web-dark");
    assert_eq!(
        envelope["data"]["count"].as_u64(),
        Some(tokens.as_object().expect("tokens").len() as u64)
    );
    let bg = &tokens["color.bg.default"];
    assert_eq!(bg["value"], "#0b0b10");
    assert_eq!(bg["type"], "color");
    assert_eq!(bg["source"], "acme-web-dark");
    assert_eq!(bg["aliasChain"], json!(["color.base.black"]));
    assert_eq!(tokens["color.base.violet.700"]["source"], "acme-web");

    // Errors with --json: the envelope on stdout, the exit code of the error.
    let missing = cli.run(&["--json", "call", "node.get", "id=nope"]);
    assert_eq!(missing.code, 3, "{missing:#?}");
    let envelope = missing.json();
    assert_eq!(envelope["success"], false);
    assert_eq!(envelope["error"]["code"], "NOT_FOUND");
    assert!(envelope["error"]["suggestion"].is_string(), "{envelope}");
}

#[test]
fn json_flag_after_the_input_prints_the_envelope() {
    let cli = Cli::with_demo();
    let out = cli.run(&["call", "tokens.resolve", "node=acme-web-dark", "--json"]);
    assert_eq!(
        out.code, 0,
        "`--json` after the input is the global flag, not input: {out:#?}"
    );
    assert_eq!(
        out.json()["data"]["tokens"]["color.bg.default"]["value"],
        "#0b0b10"
    );
}

#[test]
fn demo_twice_says_already_loaded() {
    let cli = Cli::with_demo();
    let before = cli.resolved("acme-web-dark");
    let again = cli.run(&["demo"]);
    let text = again.ok();
    assert!(text.contains("already loaded"), "{again:#?}");
    assert_eq!(cli.resolved("acme-web-dark"), before, "nothing changed");
    let nodes = cli.run(&["--json", "call", "node.list"]);
    nodes.ok();
    assert_eq!(
        nodes.json()["data"]["nodes"]
            .as_array()
            .expect("nodes")
            .len(),
        3
    );
}

#[test]
fn export_css_prints_the_stylesheet() {
    let cli = Cli::with_demo();
    let out = cli.run(&["call", "tokens.export", "node=acme-web-dark", "format=css"]);
    let css = out.ok();
    assert!(css.starts_with(":root {"), "{css}");
    assert!(css.contains("  --color-bg-default: #0b0b10;"), "{css}");
    assert!(css.contains("--color-action-bg: #8b5cf6;"), "{css}");
    assert!(css.trim_end().ends_with('}'), "{css}");
    assert!(out.stderr.is_empty(), "{out:#?}");

    let scoped = cli.run(&[
        "call",
        "tokens.export",
        "node=acme-web-dark",
        "format=css",
        "selector=[data-theme=\"dark\"]",
        "prefix=acme",
    ]);
    let css = scoped.ok();
    assert!(css.starts_with("[data-theme=\"dark\"] {"), "{css}");
    assert!(css.contains("--acme-color-bg-default: #0b0b10;"), "{css}");

    let json_out = cli.run(&["call", "tokens.export", "node=acme-web-dark", "format=json"]);
    let parsed: Value = serde_json::from_str(json_out.ok()).expect("JSON export");
    assert_eq!(parsed["color"]["bg"]["default"], "#0b0b10");
}

#[test]
fn call_builds_input_from_pairs_json_objects_files_and_stdin() {
    let cli = Cli::new();
    cli.run(&["call", "node.create", "id=acme", "name=Acme Design System"])
        .ok();
    cli.run(&[
        "call",
        "token.add",
        "node=acme",
        "path=space.md",
        "type=dimension",
        "value:={\"value\":16,\"unit\":\"px\"}",
    ])
    .ok();
    cli.run(&[
        "call",
        "token.add",
        "{\"node\": \"acme\", \"path\": \"color.a\", \"type\": \"color\", \"value\": \"#101010\"}",
    ])
    .ok();
    let file = cli.dir.path().join("input.json");
    std::fs::write(
        &file,
        r##"{"node": "acme", "path": "color.b", "type": "color", "value": "{color.a}"}"##,
    )
    .expect("write input file");
    cli.run(&["call", "token.add", &format!("@{}", file.display())])
        .ok();
    cli.run_stdin(
        &["call", "token.add", "-", "path=font.weight.body"],
        r#"{"node": "acme", "type": "fontWeight", "value": 400}"#,
    )
    .ok();

    let tokens = cli.resolved("acme");
    assert_eq!(
        tokens["space.md"]["value"],
        json!({"value": 16, "unit": "px"})
    );
    assert_eq!(tokens["color.a"]["value"], "#101010");
    assert_eq!(tokens["color.b"]["value"], "#101010");
    assert_eq!(tokens["color.b"]["aliasChain"], json!(["color.a"]));
    assert_eq!(tokens["font.weight.body"]["value"], 400);
    assert_eq!(tokens.as_object().expect("tokens").len(), 4);

    let node = cli.run(&["--json", "call", "node.get", "id=acme"]);
    node.ok();
    assert_eq!(node.json()["data"]["name"], "Acme Design System");
    let history = cli.run(&["--json", "call", "token.history", "node=acme", "limit:=1"]);
    history.ok();
    let entries = history.json()["data"]["entries"].clone();
    assert_eq!(entries.as_array().expect("entries").len(), 1);
    assert!(
        entries[0]["actor"]
            .as_str()
            .expect("actor")
            .starts_with("cli:"),
        "the CLI records who acted: {entries}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors and exit codes
// ---------------------------------------------------------------------------------------------

#[test]
fn errors_exit_with_their_code_a_message_and_a_hint() {
    let cli = Cli::with_demo();
    let before = cli.resolved("acme-web-dark");
    let cases: [(&[&str], &str, i32); 8] = [
        (&["call", "node.get", "id=nope"], "NOT_FOUND", 3),
        (
            &["call", "node.create", "id=Not Valid"],
            "VALIDATION_ERROR",
            2,
        ),
        (&["call", "nod.get", "id=acme"], "COMMAND_NOT_FOUND", 11),
        (&["call", "node.delete", "id=acme"], "NODE_HAS_CHILDREN", 14),
        (&["call", "node.create", "id=acme"], "ALREADY_EXISTS", 4),
        (
            &[
                "call",
                "token.update",
                "node=acme",
                "path=color.base.violet.700",
                "value={color.action.bg}",
            ],
            "CIRCULAR_REFERENCE",
            12,
        ),
        (
            &["call", "token.remove", "node=acme", "path=color.base.white"],
            "BROKEN_REFERENCE",
            13,
        ),
        (
            &["call", "token.remove", "node=acme", "path=radius.md"],
            "CONFLICT",
            5,
        ),
    ];
    for (args, code, exit) in cases {
        let out = cli.run(args);
        assert_error(&out, code, exit);
    }
    let unknown = cli.run(&["call", "nod.get", "id=acme"]);
    assert!(
        unknown.stderr.contains("node.get"),
        "suggests the close name: {unknown:#?}"
    );
    let missing = cli.run(&["call", "node.get", "id=acme-web-drak"]);
    assert!(
        missing.stderr.contains("acme-web-dark"),
        "suggests the close id: {missing:#?}"
    );
    assert_eq!(
        cli.resolved("acme-web-dark"),
        before,
        "no failed call changed anything"
    );
    let nodes = cli.run(&["--json", "call", "node.list"]);
    nodes.ok();
    assert_eq!(
        nodes.json()["data"]["nodes"]
            .as_array()
            .expect("nodes")
            .len(),
        3
    );
}

#[test]
fn unreadable_call_arguments_exit_2_with_a_message() {
    let cli = Cli::new();
    let out = cli.run(&["call", "node.get", "oops"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    assert!(out.stderr.contains("oops"), "names the argument: {out:#?}");
    assert!(
        out.stderr.contains("key=value"),
        "says what works: {out:#?}"
    );

    let out = cli.run(&["call", "node.get", "id:=not json"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("id=text"), "{out:#?}");

    let out = cli.run(&["call", "node.get", "@/no/such/file.json"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("could not read"), "{out:#?}");

    let out = cli.run(&["call"]);
    assert_eq!(
        out.code, 2,
        "a missing command name is a usage error: {out:#?}"
    );
}

#[test]
fn schema_violations_name_the_field_and_change_nothing_locally_and_remotely() {
    let cli = Cli::with_demo();
    let server = TinctServer::start_in(Path::new(BIN), &cli.data_dir(), &[]);
    let before = cli.resolved("acme-web-dark");
    // (input, words the message must contain)
    let cases: [(&[&str], &[&str]); 5] = [
        (&["node=acme", "path=color.x", "type=color"], &["value"]),
        (
            &[
                "node=acme",
                "path=color.x",
                "type=color",
                "value=#fff",
                "colour=red",
            ],
            &["colour"],
        ),
        (
            &[
                "node=acme",
                "path=color.x",
                "type=color",
                "value=#fff",
                "description:=7",
            ],
            &["description"],
        ),
        (&[r#"{"node": "acme", "path": 7}"#], &["path"]),
        (&["[1, 2]"], &["object"]),
    ];
    for (input, words) in cases {
        for remote in [false, true] {
            let mut args = vec!["call", "token.add"];
            args.extend_from_slice(input);
            if remote {
                args.extend_from_slice(&["--remote", &server.url]);
            }
            let out = cli.run(&args);
            assert_eq!(out.code, 2, "{args:?}: {out:#?}");
            assert!(out.stdout.is_empty(), "{args:?}: {out:#?}");
            for word in words {
                assert!(out.stderr.contains(word), "{args:?} names {word}: {out:#?}");
            }
        }
    }
    let stdin = cli.run_stdin(&["call", "token.add", "-"], "{\"node\": \"acme\",");
    assert_eq!(stdin.code, 2, "malformed JSON on stdin: {stdin:#?}");
    assert!(stdin.stderr.contains("JSON"), "{stdin:#?}");
    assert_eq!(cli.resolved("acme-web-dark"), before, "nothing changed");
}

#[test]
fn consistency_must_be_a_revision_number() {
    let cli = Cli::new();
    let out = cli.run(&["call", "node.list", "--consistency", "yesterday"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("--consistency"), "{out:#?}");
    // A token the store has reached reads as usual, locally and from the environment.
    let out = cli.run_env(
        &["--json", "call", "node.list"],
        &[("TINCT_CONSISTENCY", "0")],
    );
    assert_eq!(out.json()["success"], true, "{out:#?}");
}

#[test]
fn serve_on_a_fresh_directory_creates_its_data_and_says_what_to_try() {
    let cli = Cli::new();
    let mut child = cli
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env_remove("TINCT_DATA_DIR")
        .env("TINCT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tinct serve");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let banner = lines.next().expect("a banner").unwrap();
    let try_line = lines.next().expect("a line to try").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner.contains("listening on http://127.0.0.1:"),
        "{banner}"
    );
    assert!(try_line.contains("try: curl http://"), "{try_line}");
    assert!(
        cli.dir.path().join("tinct-data").is_dir(),
        "the default data directory ./tinct-data is created"
    );
}

#[test]
fn a_sqlite_database_url_puts_the_embedded_store_elsewhere() {
    let cli = Cli::new();
    let file = cli.dir.path().join("elsewhere.db");
    let url = format!("sqlite://{}", file.display());
    let env = [("TINCT_DATABASE_URL", url.as_str())];
    cli.run_env(&["demo"], &env).ok();
    assert!(file.is_file(), "the database is at the URL's path");
    let out = cli.run_env(&["--json", "call", "node.get", "id=acme"], &env);
    assert_eq!(out.json()["data"]["id"], "acme", "{out:#?}");
    assert!(!cli.data_dir().exists(), "the data directory is not used");
}

#[test]
fn a_bad_remote_url_is_a_usage_error() {
    let cli = Cli::new();
    let out = cli.run(&["call", "--remote", "localhost:8080", "node.get", "id=acme"]);
    assert!(out.stderr.contains("--remote"), "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    assert_eq!(
        out.code, 2,
        "a malformed --remote is bad input (exit 2), not an internal error (exit 1): {out:#?}"
    );
}

#[test]
fn closed_stdout_does_not_crash_the_cli() {
    let cli = Cli::new();
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Cli::finish(cli.command(&["errors"]).stdout(writer));
    assert!(
        !out.stderr.contains("panicked"),
        "`tinct errors | head -0` must not panic: {out:#?}"
    );
    assert_ne!(out.code, 101, "{out:#?}");
}

// ---------------------------------------------------------------------------------------------
// Remote
// ---------------------------------------------------------------------------------------------

#[test]
fn remote_call_returns_the_same_data_as_local() {
    let server = TinctServer::start(Path::new(BIN));
    let remote = Cli::new();
    let loaded = remote.run(&["demo", "--remote", &server.url]);
    assert!(loaded.ok().contains("Loaded the demo"), "{loaded:#?}");
    let local = Cli::with_demo();

    let via_server = remote.run(&[
        "--json",
        "call",
        "--remote",
        &server.url,
        "tokens.resolve",
        "node=acme-web-dark",
    ]);
    via_server.ok();
    let via_server = via_server.json();
    assert_eq!(via_server["success"], true);
    let here = local.run(&["--json", "call", "tokens.resolve", "node=acme-web-dark"]);
    here.ok();
    assert_eq!(via_server["data"], here.json()["data"]);
    assert_eq!(
        via_server["data"]["tokens"]["color.bg.default"]["value"],
        "#0b0b10"
    );

    // The remote CLI's own data directory is empty: the answer really came from the server.
    let own = remote.run(&["call", "node.get", "id=acme"]);
    assert_eq!(own.code, 3, "{own:#?}");

    let css_remote = remote.run(&[
        "call",
        "--remote",
        &server.url,
        "tokens.export",
        "node=acme-web-dark",
        "format=css",
    ]);
    let css_local = local.run(&["call", "tokens.export", "node=acme-web-dark", "format=css"]);
    assert_eq!(css_remote.ok(), css_local.ok());

    // Errors from the server keep their code and hint.
    let missing = remote.run(&["call", "--remote", &server.url, "node.get", "id=nope"]);
    assert_error(&missing, "NOT_FOUND", 3);

    // The catalogue through the server.
    let commands = remote.run(&["commands", "--remote", &server.url]);
    assert!(commands.ok().contains("tokens.resolve"), "{commands:#?}");
}

#[test]
fn remote_flag_after_the_input_as_in_the_help_example() {
    let server = TinctServer::start(Path::new(BIN));
    let cli = Cli::new();
    cli.run(&["demo", "--remote", &server.url]).ok();
    // Verbatim shape of the example in `tinct call --help`.
    let out = cli.run(&[
        "call",
        "tokens.export",
        "node=acme",
        "format=css",
        "--remote",
        &server.url,
    ]);
    assert_eq!(
        out.code, 0,
        "`--remote URL` after the input must work: {out:#?}"
    );
    assert!(out.stdout.starts_with(":root {"), "{out:#?}");
}

#[test]
fn remote_to_a_dead_port_is_service_unavailable() {
    let cli = Cli::new();
    let url = format!("http://127.0.0.1:{}", dead_port());
    let out = cli.run(&["call", "--remote", &url, "node.get", "id=acme"]);
    assert_error(&out, "SERVICE_UNAVAILABLE", 10);
    assert!(out.stderr.contains(&url), "names the URL: {out:#?}");

    let demo = cli.run(&["demo", "--remote", &url]);
    assert_error(&demo, "SERVICE_UNAVAILABLE", 10);

    let json_out = cli.run(&["--json", "call", "--remote", &url, "node.get", "id=acme"]);
    assert_eq!(json_out.code, 10, "{json_out:#?}");
    let envelope = json_out.json();
    assert_eq!(envelope["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(envelope["error"]["retryable"], true);
}

// ---------------------------------------------------------------------------------------------
// Catalogue, error codes, configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn commands_lists_every_command_and_describes_one() {
    let cli = Cli::new();
    let out = cli.run(&["commands"]);
    let text = out.ok();
    for name in [
        "node.create",
        "node.delete",
        "node.get",
        "node.list",
        "node.update",
        "system.commands",
        "system.health",
        "token.add",
        "token.history",
        "token.override",
        "token.remove",
        "token.reset",
        "token.update",
        "tokens.export",
        "tokens.resolve",
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("`tinct commands` does not list {name}:\n{text}"));
        let write = name.starts_with("node.") && name != "node.get" && name != "node.list"
            || name.starts_with("token.") && name != "token.history";
        assert_eq!(
            line.contains(" write "),
            write,
            "{name} is marked {}: {line}",
            if write { "write" } else { "read" }
        );
    }
    assert!(text.contains("tinct commands NAME"), "{text}");

    let one = cli.run(&["commands", "tokens.resolve"]);
    one.ok();
    let info = one.json();
    assert_eq!(info["name"], "tokens.resolve");
    assert_eq!(info["mutation"], false);
    assert!(
        info["inputSchema"]["properties"]["node"].is_object(),
        "{info}"
    );
    assert!(
        info["inputSchema"]["properties"]["prefix"].is_object(),
        "{info}"
    );
    assert_eq!(info["inputSchema"]["required"], json!(["node"]));
    assert!(
        !info["examples"].as_array().expect("examples").is_empty(),
        "{info}"
    );

    let unknown = cli.run(&["commands", "tokens.reslove"]);
    assert_error(&unknown, "COMMAND_NOT_FOUND", 11);
}

#[test]
fn errors_lists_every_code_with_status_and_exit_code() {
    let cli = Cli::new();
    let out = cli.run(&["errors"]);
    let text = out.ok();
    for (code, http, exit) in CODES {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(code))
            .unwrap_or_else(|| panic!("`tinct errors` lacks {code}:\n{text}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], http.to_string(), "{line}");
        assert_eq!(fields[2], exit.to_string(), "{line}");
        assert!(fields.len() > 4, "a meaning is given: {line}");
    }

    let out = cli.run(&["--json", "errors"]);
    out.ok();
    let all = out.json();
    let all = all.as_array().expect("array");
    assert_eq!(all.len(), CODES.len());
    for (code, http, exit) in CODES {
        let entry = all
            .iter()
            .find(|e| e["code"] == code)
            .unwrap_or_else(|| panic!("--json errors lacks {code}"));
        assert_eq!(entry["httpStatus"], http, "{entry}");
        assert_eq!(entry["exitCode"], exit, "{entry}");
        assert_eq!(
            entry["retryable"],
            matches!(code, "RATE_LIMITED" | "TIMEOUT" | "SERVICE_UNAVAILABLE"),
            "{entry}"
        );
        assert!(
            !entry["meaning"].as_str().unwrap_or("").is_empty(),
            "{entry}"
        );
    }
}

#[test]
fn config_prints_json_and_masks_the_database_password() {
    let cli = Cli::new();
    let out = cli.run_env(
        &["config"],
        &[
            // Not "secret": the output names the auth_secret key.
            ("TINCT_DATABASE_URL", "sqlite://u:hunter2@x"),
            ("TINCT_LISTEN", "127.0.0.1:9999"),
        ],
    );
    let text = out.ok();
    assert!(!text.contains("hunter2"), "the password leaks: {text}");
    let config = out.json();
    assert_eq!(config["database_url"], "sqlite://u:***@x");
    assert_eq!(config["listen"], "127.0.0.1:9999");
    assert_eq!(
        config["data_dir"],
        cli.data_dir().display().to_string(),
        "TINCT_DATA_DIR is honoured"
    );

    // Precedence: defaults ← tinct.toml ← TINCT_* ← flags.
    std::fs::write(
        cli.dir.path().join("tinct.toml"),
        "log = \"debug\"\nexport_max_age_secs = 5\ncache_entries = 7\n",
    )
    .expect("write tinct.toml");
    let out = cli.run_env(
        &["--data-dir", "/elsewhere", "config"],
        &[("TINCT_CACHE_ENTRIES", "9")],
    );
    let config = out.json();
    assert_eq!(config["log"], "debug", "{config}");
    assert_eq!(config["export_max_age_secs"], 5, "{config}");
    assert_eq!(
        config["cache_entries"], 9,
        "environment beats the file: {config}"
    );
    assert_eq!(
        config["data_dir"], "/elsewhere",
        "the flag beats the environment: {config}"
    );
}

#[test]
fn config_masks_a_password_that_contains_an_at_sign() {
    let cli = Cli::new();
    let out = cli.run_env(
        &["config"],
        &[(
            "TINCT_DATABASE_URL",
            "postgres://app:p@ss@db.internal/tinct",
        )],
    );
    let text = out.ok();
    assert!(
        !text.contains("p@ss") && !text.contains("ss@db"),
        "part of the password leaks: {text}"
    );
    assert_eq!(
        out.json()["database_url"],
        "postgres://app:***@db.internal/tinct"
    );
}
