//! The reference server of `bench/scale-out`: one axum route answering a fixed JSON body, nothing
//! else (no middleware, no state). Cached reads of tinct are measured as a ratio against it.
//!
//!   bare-axum --listen 127.0.0.1:18220 [--body-file FILE | --bytes N]
//!
//! `--body-file` serves that file's bytes (the script passes a real resolved-tokens answer, so the
//! body size is the same); otherwise a generated JSON object of about N bytes (default 4096).
//! Every path answers 200 with the body.

use std::process::ExitCode;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;

const USAGE: &str = "usage: bare-axum --listen ADDR [--body-file FILE | --bytes N]";

fn generated(bytes: usize) -> String {
    let mut body = String::from("{\"success\":true,\"data\":{\"tokens\":{");
    let mut i = 0;
    while body.len() + 60 < bytes {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            "\"color.bench.{i:04}\":{{\"value\":\"#8b5cf6\",\"type\":\"color\"}}"
        ));
        i += 1;
    }
    body.push_str("}}}");
    body
}

fn main() -> ExitCode {
    let mut listen = None;
    let mut body_file = None;
    let mut bytes = 4096usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = Some(v),
            ("--body-file", Some(v)) => body_file = Some(v),
            ("--bytes", Some(v)) => match v.parse() {
                Ok(n) => bytes = n,
                Err(_) => return usage(&format!("--bytes wants a number, not {v:?}")),
            },
            _ => return usage(&format!("unexpected argument {arg:?}")),
        }
    }
    let Some(listen) = listen else {
        return usage("--listen is required");
    };
    let body = match body_file {
        Some(path) => match std::fs::read(&path) {
            Ok(b) => Bytes::from(b),
            Err(e) => return usage(&format!("cannot read {path}: {e}")),
        },
        None => Bytes::from(generated(bytes)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(&format!("could not start the async runtime: {e}")),
    };
    match runtime.block_on(serve(&listen, body)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare-axum: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: &str, body: Bytes) -> std::io::Result<()> {
    let size = body.len();
    let handler = move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body) }
    };
    let app = Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "bare-axum listening on {} ({size} bytes per answer)",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}

fn usage(message: &str) -> ExitCode {
    eprintln!("bare-axum: {message}\n{USAGE}");
    ExitCode::from(2)
}
