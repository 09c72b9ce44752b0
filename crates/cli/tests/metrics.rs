//! `/metrics` and `/metrics.json` on the real binary: valid Prometheus exposition (checked by
//! `promtool check metrics` from Debian's prometheus package), counters that follow the calls
//! made, and replica health and lag read from a real streaming replica.

use std::path::Path;

use serde_json::{Value, json};
use tinct_testkit::post_command as call;
use tinct_testkit::{Postgres, TinctServer, promtool_check, tinct_command};

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
    // Pools: the primary's and the replica's, named like the replica's other series.
    assert_eq!(
        sample(&text, r#"tinct_db_pool_max_connections{pool="primary"}"#),
        Some(10.0),
        "{text}"
    );
    let replica_label = healthy
        .strip_prefix("tinct_replica_healthy{replica=")
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("{healthy}"));
    assert!(
        sample(
            &text,
            &format!("tinct_db_pool_max_connections{{pool={replica_label}}}")
        )
        .is_some(),
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

/// Scrapes until `ready` holds for the text (bounded), and returns that text.
async fn scrape_until(base: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(base).await;
        if ready(&text) {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} never showed in /metrics:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_event_feed_and_websockets_are_metrics_that_follow_the_instance() {
    let server = TinctServer::start(Path::new(BIN));
    let base = &server.url;
    let text = scrape(base).await;
    promtool_check(&text);
    // SQLite: one writer connection, a small reader pool.
    let pool = |text: &str, series: &str| sample(text, series).unwrap_or(f64::NAN);
    assert_eq!(
        pool(&text, r#"tinct_db_pool_max_connections{pool="writer"}"#),
        1.0
    );
    assert_eq!(
        pool(&text, r#"tinct_db_pool_max_connections{pool="readers"}"#),
        4.0
    );
    for name in ["writer", "readers"] {
        let idle = pool(
            &text,
            &format!(r#"tinct_db_pool_connections{{pool="{name}",state="idle"}}"#),
        );
        let busy = pool(
            &text,
            &format!(r#"tinct_db_pool_connections{{pool="{name}",state="busy"}}"#),
        );
        assert!(idle >= 0.0 && busy >= 0.0, "{name}: {text}");
    }
    assert_eq!(sample(&text, "tinct_websocket_connections"), Some(0.0));
    assert_eq!(sample(&text, "tinct_bus_lag_events"), Some(0.0), "{text}");
    let start = sample(&text, "tinct_event_feed_position").expect("feed position");

    // Sockets are counted while open.
    let ws_url = format!("{}/v1/ws", base.replace("http://", "ws://"));
    let (first, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let (second, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    scrape_until(base, "two open sockets", |t| {
        sample(t, "tinct_websocket_connections") == Some(2.0)
    })
    .await;
    drop(first);
    scrape_until(base, "one socket after a close", |t| {
        sample(t, "tinct_websocket_connections") == Some(1.0)
    })
    .await;
    drop(second);

    // The feed follows writes made here and by another process on the same data.
    for id in ["a", "b"] {
        let created = call(base, "node.create", json!({ "id": id })).await;
        assert_eq!(created["success"], true, "{created}");
    }
    let out = tinct_command(Path::new(BIN), &server.data_dir)
        .args(["call", "node.create", "id=c"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = scrape_until(base, "three new events delivered", |t| {
        sample(t, "tinct_event_feed_position").is_some_and(|p| p >= start + 3.0)
            && sample(t, "tinct_bus_lag_events") == Some(0.0)
            && sample(t, "tinct_websocket_connections") == Some(0.0)
    })
    .await;
    promtool_check(&text);
    // The write went through the writer's pool: it has a connection open.
    let writer_open = pool(
        &text,
        r#"tinct_db_pool_connections{pool="writer",state="idle"}"#,
    ) + pool(
        &text,
        r#"tinct_db_pool_connections{pool="writer",state="busy"}"#,
    );
    assert_eq!(writer_open, 1.0, "{text}");
}
