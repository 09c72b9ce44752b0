//! The `tinct` binary.

mod args;
mod auth;
mod build;
mod input;
mod output;
mod serve;
mod target;
mod telemetry_export;

use std::process::ExitCode;

use clap::Parser;
use serde_json::{Map, Value, json};
use tinct_command::{AuthMode, ErrorCode};
use tinct_service::{App, Config};

use args::{AuthCommand, Cli, Command, RemoteArgs};
use output::outln;
use target::Target;

// mimalloc: per-thread free lists instead of glibc's locked arenas (measured in bench/README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("could not start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(ErrorCode::ValidationError.exit_code() as u8)
        }
        Err(Failure::Start(message)) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let mut flags = match serde_json::to_value(&cli.global) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Command::Serve(serve) = &cli.command
        && let Ok(Value::Object(more)) = serde_json::to_value(serve)
    {
        flags.extend(more);
    }
    Config::load(cli.global.config.as_deref(), Value::Object(flags)).map_err(|e| e.to_string())
}

/// Why a command could not run: bad usage (exit 2) or a failure to start (exit 1).
enum Failure {
    Usage(String),
    Start(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Start(message)
    }
}

async fn target(cli: &Cli, remote: &RemoteArgs) -> Result<Target, Failure> {
    match &remote.remote {
        Some(url) => {
            Target::remote(url, remote.consistency, remote.token.as_deref()).map_err(Failure::Usage)
        }
        None => {
            let mut config = load_config(cli)?;
            // Auth guards the network surfaces. A local call opens the database itself, so
            // whoever runs it can already read and write everything.
            config.auth = AuthMode::Open;
            serve::init_logging("warn", config.log_format);
            let app = App::open(config).await.map_err(|e| e.to_string())?;
            Ok(Target::local(app, remote.consistency))
        }
    }
}

/// Exit code of a result: 0 on success, else the code of its error.
fn exit_of(result: &tinct_command::CommandResult) -> u8 {
    u8::try_from(result.exit_code()).unwrap_or(1)
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let json = cli.global.json;
    match &cli.command {
        Command::Serve(_) => {
            let config = load_config(&cli)?;
            // Flushes the last spans when serving ends.
            let _export = telemetry_export::start(&config)?;
            serve::init_logging(&config.log, config.log_format);
            let app = App::open(config).await.map_err(|e| e.to_string())?;
            serve::run(app).await?;
            Ok(0)
        }
        Command::Call(args) => {
            let input = match input::build(&args.input) {
                Ok(input) => input,
                Err(message) => {
                    eprintln!("error: {message}");
                    return Ok(ErrorCode::ValidationError.exit_code() as u8);
                }
            };
            let target = target(&cli, &args.remote).await?;
            let result = target.execute(&args.name, input).await;
            output::print(&result, json);
            Ok(exit_of(&result))
        }
        Command::Commands(args) => {
            let target = target(&cli, &args.remote).await?;
            let input = match &args.name {
                Some(name) => json!({ "name": name }),
                None => json!({}),
            };
            let result = target.execute("system.commands", input).await;
            output::print(&result, json);
            Ok(exit_of(&result))
        }
        Command::Mcp(remote) => {
            let target = target(&cli, remote).await?;
            mcp_stdio(target).await
        }
        Command::Demo(remote) => {
            let target = target(&cli, remote).await?;
            demo(&target, json).await
        }
        Command::Config => {
            let config = load_config(&cli)?;
            outln!(
                "{}",
                serde_json::to_string_pretty(&config.masked()).unwrap_or_default()
            );
            Ok(0)
        }
        Command::Auth(AuthCommand::Token(args)) => {
            let config = load_config(&cli)?;
            let token = auth::token(&config, args).map_err(Failure::Usage)?;
            outln!("{token}");
            Ok(0)
        }
        Command::Errors => {
            print_errors(json);
            Ok(0)
        }
        Command::Build(args) => Ok(build::run(args, json)?),
    }
}

/// MCP over stdin/stdout: stdout carries the protocol, so nothing else may print there.
async fn mcp_stdio(target: Target) -> Result<u8, Failure> {
    use rmcp::ServiceExt;
    let catalogue = target.execute("system.commands", json!({})).await;
    let Some(commands) = catalogue.data.filter(|_| catalogue.success) else {
        let reason = catalogue.error.map(|e| e.message).unwrap_or_default();
        return Err(Failure::Start(format!(
            "could not read the command catalogue: {reason}"
        )));
    };
    let catalogue: Vec<tinct_command::CommandInfo> =
        serde_json::from_value(commands.to_value()["commands"].take())
            .map_err(|e| Failure::Start(format!("unreadable command catalogue: {e}")))?;
    let timeout = std::time::Duration::from_secs(300);
    let server =
        tinct_surfaces::mcp::McpServer::new(std::sync::Arc::new(target), &catalogue, timeout);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| Failure::Start(format!("MCP session failed to start: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| Failure::Start(format!("MCP session ended with an error: {e}")))?;
    Ok(0)
}

async fn demo(target: &Target, json: bool) -> Result<u8, Failure> {
    use tinct_service::demo;
    let items = demo::commands();
    let total = items.len();
    let batch = target.execute_batch(items, true).await;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&batch).unwrap_or_default()
        );
    }
    let first_error = batch.results.iter().find(|r| !r.success);
    match first_error {
        None => {
            if !json {
                outln!(
                    "Loaded the demo design system: nodes {}, {} and {} ({total} commands).",
                    demo::ROOT,
                    demo::PRODUCT,
                    demo::THEME
                );
                outln!("Try:");
                outln!("  tinct call tokens.resolve node={}", demo::THEME);
                outln!(
                    "  tinct call token.override node={} path=color.brand.primary value=#f472b6",
                    demo::THEME
                );
                outln!("  tinct call tokens.export node={} format=css", demo::THEME);
            }
            Ok(0)
        }
        Some(r) if batch.results.len() == 1 && r.error_code() == Some(ErrorCode::AlreadyExists) => {
            if !json {
                outln!(
                    "The demo is already loaded (node '{}' exists). Try: tinct call tokens.resolve node={}",
                    demo::ROOT,
                    demo::THEME
                );
            }
            Ok(0)
        }
        Some(r) => {
            if !json {
                output::print(r, false);
            }
            Ok(exit_of(r))
        }
    }
}

fn print_errors(json: bool) {
    if json {
        let all: Vec<Value> = ErrorCode::ALL
            .iter()
            .map(|c| json!({"code": c.as_str(), "httpStatus": c.http_status(), "exitCode": c.exit_code(), "retryable": c.retryable(), "meaning": c.meaning()}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return;
    }
    outln!(
        "{:<20} {:>4} {:>4}  {:<9} meaning",
        "code",
        "http",
        "exit",
        "retryable"
    );
    for c in ErrorCode::ALL {
        outln!(
            "{:<20} {:>4} {:>4}  {:<9} {}",
            c.as_str(),
            c.http_status(),
            c.exit_code(),
            if c.retryable() { "yes" } else { "no" },
            c.meaning()
        );
    }
}
