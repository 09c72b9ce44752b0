//! OTLP span export is a cargo feature (`otel`). A binary built without it must not silently
//! ignore `TINCT_OTLP_ENDPOINT`: it refuses to start and says how to get export.

use std::path::Path;
use std::process::Stdio;

use tinct_testkit::tinct_command;

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

#[cfg(not(feature = "otel"))]
#[test]
fn without_the_feature_an_otlp_endpoint_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = tinct_command(Path::new(BIN), &dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("TINCT_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .stdin(Stdio::null())
        .output()
        .expect("run tinct serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("TINCT_OTLP_ENDPOINT") && stderr.contains("--features otel"),
        "{stderr}"
    );
    // It stopped before binding: no banner, and no data directory created.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!dir.path().join("data").exists());
    // The key itself is known configuration, shown by `tinct config`.
    let config = tinct_command(Path::new(BIN), &dir.path().join("data"))
        .arg("config")
        .current_dir(dir.path())
        .env("TINCT_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .output()
        .unwrap();
    assert!(config.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(shown["otlp_endpoint"], "http://127.0.0.1:4318");
}

#[cfg(feature = "otel")]
#[test]
fn with_the_feature_a_malformed_endpoint_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = tinct_command(Path::new(BIN), &dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("TINCT_OTLP_ENDPOINT", "collector:4318")
        .stdin(Stdio::null())
        .output()
        .expect("run tinct serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not an http(s) URL"), "{stderr}");
}

/// A real OTLP/HTTP receiver on loopback: answers every POST with 200 and hands over the path,
/// content type and body of each.
#[cfg(feature = "otel")]
fn collector() -> (String, std::sync::mpsc::Receiver<(String, String, Vec<u8>)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (mut length, mut content_type) = (0, String::new());
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap(),
                            "content-type" => content_type = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                    let _ = tx.send((path, content_type, body));
                }
            });
        }
    });
    (url, rx)
}

#[cfg(feature = "otel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_feature_request_spans_reach_the_collector() {
    let (url, received) = collector();
    let dir = tempfile::tempdir().unwrap();
    let server = tinct_testkit::TinctServer::start_in(
        Path::new(BIN),
        dir.path(),
        &[
            ("TINCT_OTLP_ENDPOINT", url.as_str()),
            ("TINCT_SHUTDOWN_DRAIN_SECS", "0"),
        ],
    );
    for _ in 0..3 {
        let nodes = reqwest::get(format!("{}/v1/nodes", server.url))
            .await
            .unwrap();
        assert_eq!(nodes.status(), 200);
    }
    // Stopping flushes what the batch processor still holds.
    assert!(server.terminate().success());
    let (path, content_type, body) = received
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("an export within 30 s");
    assert_eq!(path, "/v1/traces");
    assert_eq!(content_type, "application/x-protobuf");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("tinct") && text.contains("request"), "{text}");
    assert!(
        text.contains("/v1/nodes"),
        "the span carries the path: {text}"
    );
}
