//! `/metrics` and `/metrics.json` on the real binary: valid Prometheus exposition (checked by
//! `promtool check metrics` from Debian's prometheus package), counters that follow the calls
//! made, and replica health and lag read from a real streaming replica.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tinct_testkit::post_command as call;
use tinct_testkit::{Postgres, TinctServer};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample `name{labels}` (labels exactly as rendered, in order), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `promtool check metrics` reads the exposition on stdin and lists every problem.
fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // Lint hints (such as counters without _total) are reported too; only errors fail the check.
    assert!(
        out.status.success(),
        "promtool rejects the exposition:\n{report}\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_by_command_surface_and_code_in_valid_exposition() {
    let server = TinctServer::start(Path::new(BIN));
    let base = &server.url;
    let created = call(base, "node.create", json!({"id": "acme"})).await;
    assert_eq!(created["success"], true);
    for _ in 0..3 {
        call(base, "tokens.resolve", json!({"node": "acme"})).await;
    }
    let missing = call(base, "node.get", json!({"id": "nope"})).await;
    assert_eq!(missing["error"]["code"], "NOT_FOUND");

    let text = scrape(base).await;
    promtool_check(&text);
    let count = |labels: &str| sample(&text, &format!("tinct_commands_total{{{labels}}}"));
    assert_eq!(
        count(r#"command="tokens.resolve",surface="rest",code="OK""#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        count(r#"command="node.create",surface="rest",code="OK""#),
        Some(1.0)
    );
    assert_eq!(
        count(r#"command="node.get",surface="rest",code="NOT_FOUND""#),
        Some(1.0)
    );
    // The first resolve filled the cache; the next two were served from it.
    let cache = |result: &str| {
        sample(
            &text,
            &format!(r#"tinct_cache_requests_total{{command="tokens.resolve",result="{result}"}}"#),
        )
    };
    assert_eq!(
        (cache("miss"), cache("hit")),
        (Some(1.0), Some(2.0)),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"tinct_command_duration_seconds_count{command="tokens.resolve",surface="rest"}"#
        ),
        Some(3.0)
    );
    assert!(text.contains("# TYPE tinct_command_duration_seconds histogram"));
    assert_eq!(
        sample(
            &text,
            r#"tinct_commands_in_progress{command="tokens.resolve"}"#
        ),
        Some(0.0)
    );

    let summary: Value = reqwest::get(format!("{base}/metrics.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["commands"]["total"], 5, "{summary}");
    assert_eq!(summary["commands"]["byName"]["tokens.resolve"], 3);
    assert_eq!(summary["errors"]["total"], 1);
    assert_eq!(summary["errors"]["byCode"]["NOT_FOUND"], 1);
    assert!(summary["commands"]["avgLatencyMs"].as_f64().unwrap() > 0.0);
    assert!(summary["instance"].as_str().is_some_and(|i| !i.is_empty()));
    assert!(summary["uptime"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_health_and_lag_are_metrics() {
    let primary = Postgres::start();
    let mut replica = primary.start_replica();
    let dir = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(
        Path::new(BIN),
        dir.path(),
        &[
            ("TINCT_DATABASE_URL", &primary.url()),
            ("TINCT_READ_REPLICA_URLS", &replica.url()),
        ],
    );
    let text = scrape(&server.url).await;
    promtool_check(&text);
    let healthy = text
        .lines()
        .find(|l| l.starts_with("tinct_replica_healthy{"))
        .unwrap_or_else(|| panic!("no replica health: {text}"));
    assert!(healthy.ends_with(" 1"), "{healthy}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("tinct_replica_lag_bytes{")),
        "{text}"
    );

    replica.stop();
    // The health probe notices within its interval; the gauge follows at the next scrape.
    let mut down = false;
    for _ in 0..50 {
        let text = scrape(&server.url).await;
        if text
            .lines()
            .any(|l| l.starts_with("tinct_replica_healthy{") && l.ends_with(" 0"))
        {
            down = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(down, "a stopped replica shows as unhealthy");
}
