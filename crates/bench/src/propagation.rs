//! Change propagation probe of `bench/scale-out`: a WebSocket on instance B, sequential
//! `token.update` writes through instance A, and for each write the time from A's HTTP response
//! to B's matching event (matched by trace id).
//!
//!   propagation --write http://127.0.0.1:A --watch http://127.0.0.1:B
//!               [--node acme] [--path color.base.violet.500] [--count 300] [--warmup 20]
//!               [--timeout-secs 120]
//!
//! Writes alternate two valid colours, so each one changes the value. Prints p50/p90/p99/max in
//! milliseconds of: A's response → B's event (the propagation latency), A's request sent → B's
//! event, and A's write round trip; then one `RESULT` line per figure for scripts. An event that
//! reaches B before A's response has been read counts as a negative latency. Every wait is bounded:
//! 10 s per write and per event, `--timeout-secs` for the whole run.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const USAGE: &str = "usage: propagation --write URL --watch URL [--node ID] [--path PATH] \
                     [--count N] [--warmup N] [--timeout-secs S]";
const VALUES: [&str; 2] = ["#7c3aed", "#8b5cf6"];
const STEP: Duration = Duration::from_secs(10);

struct Args {
    write: String,
    watch: String,
    node: String,
    path: String,
    count: usize,
    warmup: usize,
    timeout: Duration,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        write: String::new(),
        watch: String::new(),
        node: "acme".to_owned(),
        path: "color.base.violet.500".to_owned(),
        count: 300,
        warmup: 20,
        timeout: Duration::from_secs(120),
    };
    let number = |v: &str| {
        v.parse::<usize>()
            .map_err(|_| format!("not a number: {v:?}"))
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--write" => a.write = value.trim_end_matches('/').to_owned(),
            "--watch" => a.watch = value.trim_end_matches('/').to_owned(),
            "--node" => a.node = value,
            "--path" => a.path = value,
            "--count" => a.count = number(&value)?,
            "--warmup" => a.warmup = number(&value)?,
            "--timeout-secs" => a.timeout = Duration::from_secs(number(&value)? as u64),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    if a.write.is_empty() || a.watch.is_empty() || a.count == 0 {
        return Err("--write and --watch are required, --count must be above 0".to_owned());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("propagation: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("propagation: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("propagation: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Milliseconds from `from` to `to`, negative when `to` came first.
fn signed_ms(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(from.duration_since(to).as_secs_f64() * 1e3),
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let ws_url = format!(
        "{}/v1/ws?node={}",
        args.watch.replacen("http://", "ws://", 1),
        args.node
    );
    let (ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(&ws_url))
        .await
        .map_err(|_| format!("{ws_url}: no WebSocket within 10 s"))?
        .map_err(|e| format!("{ws_url}: {e}"))?;
    // The sink half stays alive (unused) until the end, so the socket is not closed early.
    let (_sink, mut stream) = ws.split();
    match tokio::time::timeout(STEP, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) if text.contains("\"hello\"") => {}
        other => return Err(format!("expected a hello from {ws_url}, got {other:?}")),
    }
    // Timestamp each event as soon as its frame is read, on its own task.
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Instant)>();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let at = Instant::now();
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if v["type"] == "event"
                && let Some(trace) = v["traceId"].as_str()
                && tx.send((trace.to_owned(), at)).is_err()
            {
                break;
            }
        }
    });

    let client = reqwest::Client::builder()
        .timeout(STEP)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/v1/commands/token.update", args.write);
    let deadline = Instant::now() + args.timeout;
    let (mut after_response, mut after_send, mut round_trip) = (vec![], vec![], vec![]);
    let run_id = std::process::id();
    for i in 0..args.warmup + args.count {
        if Instant::now() > deadline {
            return Err(format!(
                "stopped after {i} writes: the run took over {:?}",
                args.timeout
            ));
        }
        let trace = format!("bench-propagation-{run_id}-{i}");
        let input = json!({"node": args.node, "path": args.path, "value": VALUES[i % 2]});
        let sent = Instant::now();
        let response = client
            .post(&url)
            .header("x-trace-id", &trace)
            .json(&input)
            .send()
            .await
            .map_err(|e| format!("write {i}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("write {i}: {e}"))?;
        let answered = Instant::now();
        if !status.is_success() {
            return Err(format!(
                "write {i} refused ({status}): {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let arrived = loop {
            match tokio::time::timeout(STEP, rx.recv()).await {
                Ok(Some((t, at))) if t == trace => break at,
                Ok(Some(_)) => continue, // someone else's change
                Ok(None) => return Err("the WebSocket on B closed".to_owned()),
                Err(_) => return Err(format!("no event on B for {trace} within 10 s")),
            }
        };
        if i >= args.warmup {
            after_response.push(signed_ms(answered, arrived));
            after_send.push(signed_ms(sent, arrived));
            round_trip.push(signed_ms(sent, answered));
        }
    }
    reader.abort();

    let early = after_response.iter().filter(|ms| **ms < 0.0).count();
    println!(
        "{} writes through {} (after {} warm-up writes), events on {ws_url}",
        args.count, args.write, args.warmup
    );
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}",
        "ms", "p50", "p90", "p99", "max"
    );
    let rows = [
        (
            "A response -> B event",
            "response_to_event",
            &mut after_response,
        ),
        (
            "A request sent -> B event",
            "send_to_event",
            &mut after_send,
        ),
        ("A write round trip", "write_round_trip", &mut round_trip),
    ];
    let mut results = Vec::new();
    for (label, key, samples) in rows {
        samples.sort_by(f64::total_cmp);
        let p = [0.50, 0.90, 0.99, 1.0].map(|q| percentile(samples, q));
        println!(
            "{label:<28} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            p[0], p[1], p[2], p[3]
        );
        results.push(format!(
            "RESULT {key} p50={:.3} p90={:.3} p99={:.3} max={:.3}",
            p[0], p[1], p[2], p[3]
        ));
    }
    println!("events that reached B before A's response was read: {early}");
    for line in results {
        println!("{line}");
    }
    Ok(())
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
