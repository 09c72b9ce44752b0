//! Command-line grammar. Help text here is what a new user reads first, so it teaches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

const AFTER_HELP: &str = "\
Getting started:
  tinct serve                      run the server on 127.0.0.1:8080 (data in ./tinct-data)
  tinct demo                       load a sample design system into the local data
  tinct call tokens.resolve node=acme-web-dark
  tinct call tokens.export node=acme-web-dark format=css

Exit codes: 0 success, 1 internal error, 2 invalid input, 3 not found, 4 already exists,
5 conflict, 6 unauthorized, 7 forbidden, 8 rate limited, 9 timeout, 10 unavailable,
11 unknown command, 12 circular reference, 13 broken reference, 14 node has children
(`tinct errors` lists them with their meaning).";

#[derive(Debug, Parser)]
#[command(
    name = "tinct",
    version,
    about = "Design tokens as a service: a tree of design systems, products and themes, resolved and exported.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Serialize)]
pub struct Global {
    /// Configuration file (default: ./tinct.toml when present).
    #[arg(long, global = true, env = "TINCT_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory of the embedded database [env: TINCT_DATA_DIR] [default: ./tinct-data].
    #[arg(long, global = true, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Print the full result envelope as JSON (for scripts) instead of human output.
    #[arg(long, global = true)]
    #[serde(skip)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (REST API) on the configured address.
    Serve(ServeArgs),
    /// Run one command, on the local data or against a server with --remote.
    #[command(after_help = CALL_HELP)]
    Call(CallArgs),
    /// List the commands, or describe one with its input schema and examples.
    Commands(CommandsArgs),
    /// Serve the commands to an AI agent over MCP on stdin/stdout (local data, or --remote).
    Mcp(RemoteArgs),
    /// Load a small demo design system (a root, a product, a dark theme, ~40 tokens).
    Demo(RemoteArgs),
    /// Print the effective configuration (secrets masked).
    Config,
    /// Access tokens: `tinct auth token --sub NAME --scopes …` mints one.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// List the error codes with their HTTP status, exit code and meaning.
    Errors,
    /// Build token files offline (a Style Dictionary replacement).
    Build(Box<crate::build::BuildArgs>),
}

const CALL_HELP: &str = "\
Input is built from the arguments after the command name:
  key=value       a string field            node=acme path=color.bg.default
  key:=json       a JSON field              limit:=10  value:='{\"value\":16,\"unit\":\"px\"}'
  key:=@file      a JSON field from a file  document:=@tokens.json
  '{...}'         a whole JSON object       '{\"node\": \"acme\"}'
  @file.json      a JSON object from a file
  -               a JSON object from standard input

Examples:
  tinct call node.create id=acme name='Acme Design System'
  tinct call token.add node=acme path=color.base.violet type=color value=#6d28d9
  tinct call token.override node=acme-web-dark path=color.bg.default value=#000000
  tinct call tokens.export node=acme format=css --remote http://127.0.0.1:8080";

#[derive(Debug, Args, Serialize)]
pub struct ServeArgs {
    /// Address to listen on, host:port (port 0 picks a free one) [env: TINCT_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Surfaces to serve, comma-separated: rest, ws, web, mcp [env: TINCT_SURFACES] [default: all].
    /// E.g. `--surfaces mcp` for an MCP-only deployment.
    #[arg(long, value_name = "LIST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surfaces: Option<String>,
    /// Roles to run, comma-separated: api (the surfaces), worker (runs background jobs),
    /// scheduler (competes to lead: fires cron schedules, hands back jobs of dead workers)
    /// [env: TINCT_ROLES] [default: all three]. E.g. `--role worker` for a worker Deployment.
    #[arg(long = "role", value_name = "LIST")]
    #[serde(rename = "roles", skip_serializing_if = "Option::is_none")]
    pub roles: Option<String>,
}

#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Base URL of a tinct server, e.g. http://127.0.0.1:8080 [env: TINCT_REMOTE].
    #[arg(long, env = "TINCT_REMOTE", value_name = "URL")]
    pub remote: Option<String>,
    /// Read at least at this revision: the `metadata.revision` (or `Tinct-Consistency` header) of
    /// an earlier write, so a read after it never sees older data from a lagging replica
    /// [env: TINCT_CONSISTENCY]. Writes made in this session are remembered without it.
    #[arg(long, env = "TINCT_CONSISTENCY", value_name = "REVISION")]
    pub consistency: Option<u64>,
    /// Access token (a JWT) sent to the --remote server as `Authorization: Bearer` [env:
    /// TINCT_TOKEN]. Local calls open the data directly and need none.
    #[arg(
        long,
        env = "TINCT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Mint an HS256 access token signed with the configured auth_secret (TINCT_AUTH_SECRET),
    /// for development, CI and tests. Prints only the token.
    #[command(after_help = AUTH_TOKEN_HELP)]
    Token(TokenArgs),
}

const AUTH_TOKEN_HELP: &str = "\
Examples:
  export TINCT_TOKEN=$(tinct auth token --sub ci --scopes tokens:read,tokens:write --ttl 12h)
  tinct call token.override node=acme path=color.bg.default value=#000 --remote http://tinct:8080
  curl -H \"Authorization: Bearer $TINCT_TOKEN\" http://tinct:8080/v1/nodes";

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Who the token is for; recorded as the actor of every change made with it.
    #[arg(long, value_name = "NAME")]
    pub sub: String,
    /// Comma-separated scopes: tokens:read, tokens:write, admin (admin implies the others).
    #[arg(long, value_name = "LIST", default_value = "tokens:read")]
    pub scopes: String,
    /// Lifetime: a number with s, m, h or d, e.g. 30m, 12h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub ttl: String,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Command name, e.g. tokens.resolve (see `tinct commands`).
    pub name: String,
    /// Input: key=value, key:=json, a JSON object, @file or - (see below).
    pub input: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct CommandsArgs {
    /// Describe this command in full.
    pub name: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}
