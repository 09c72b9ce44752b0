//! Printing results: the envelope as JSON for scripts, or a human view. Data goes to stdout;
//! errors, hints and warnings go to stderr.

use std::io::Write;

use serde_json::Value;
use tinct_command::CommandResult;

/// Writes to stdout. A reader that went away (`tinct … | head`) ends the program quietly instead
/// of a panic.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// `println!` to stdout through [`emit`].
macro_rules! outln {
    () => { $crate::output::emit("\n") };
    ($($arg:tt)*) => { $crate::output::emit(&format!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use outln;

pub fn print(result: &CommandResult, json: bool) {
    if json {
        println!(
            "{}",
            pretty(&serde_json::to_value(result).unwrap_or_default())
        );
        return;
    }
    for warning in &result.warnings {
        eprintln!("warning: {warning}");
    }
    match (&result.data, &result.error) {
        (_, Some(error)) => {
            eprintln!("error[{}]: {}", error.code, error.message);
            if let Some(suggestion) = &error.suggestion {
                eprintln!("  hint: {suggestion}");
            }
            if let Some(details) = &error.details {
                eprintln!("  details: {}", pretty(details).replace('\n', "\n  "));
            }
            eprintln!("  trace id: {}", result.metadata.trace_id);
        }
        (Some(data), None) => emit(&human(&result.metadata.command, &data.to_value())),
        (None, None) => {}
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A view per command where a table reads better than JSON; JSON otherwise.
fn human(command: &str, data: &Value) -> String {
    match command {
        "tokens.export" => data["content"].as_str().unwrap_or_default().to_owned(),
        "tokens.resolve" => resolved_table(data),
        "node.list" => node_table(data),
        "system.commands" => catalogue(data),
        _ => format!("{}\n", pretty(data)),
    }
}

fn resolved_table(data: &Value) -> String {
    let Some(tokens) = data["tokens"].as_object() else {
        return format!("{}\n", pretty(data));
    };
    let width = tokens.keys().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (path, t) in tokens {
        let value = match &t["value"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let chain = t["aliasChain"].as_array().map_or(String::new(), |c| {
            let hops: Vec<&str> = c.iter().filter_map(Value::as_str).collect();
            if hops.is_empty() {
                String::new()
            } else {
                format!(" via {}", hops.join(" → "))
            }
        });
        out.push_str(&format!(
            "{path:<width$}  {value}  [{} from {}{chain}]\n",
            t["type"].as_str().unwrap_or_default(),
            t["source"].as_str().unwrap_or_default(),
        ));
    }
    out.push_str(&format!(
        "{} tokens on {}\n",
        tokens.len(),
        data["node"].as_str().unwrap_or_default()
    ));
    out
}

fn node_table(data: &Value) -> String {
    let mut out = String::new();
    for node in data["nodes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<24} {:<24} {}\n",
            node["id"].as_str().unwrap_or_default(),
            node["parent"].as_str().unwrap_or("-"),
            node["name"].as_str().unwrap_or_default()
        ));
    }
    if let Some(cursor) = data["nextCursor"].as_str() {
        out.push_str(&format!("more: pass cursor={cursor}\n"));
    }
    out
}

fn catalogue(data: &Value) -> String {
    let commands = data["commands"].as_array().cloned().unwrap_or_default();
    if let [one] = commands.as_slice() {
        return format!("{}\n", pretty(one));
    }
    let mut out = String::new();
    for c in &commands {
        let kind = if c["mutation"].as_bool() == Some(true) {
            "write"
        } else {
            "read "
        };
        out.push_str(&format!(
            "{:<16} {kind}  {}\n",
            c["name"].as_str().unwrap_or_default(),
            c["description"].as_str().unwrap_or_default()
        ));
    }
    out.push_str("Describe one with `tinct commands NAME`.\n");
    out
}
