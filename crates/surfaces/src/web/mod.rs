//! The web page: vanilla HTML, CSS and JavaScript embedded in the binary, served at `/` and
//! `/assets/…`. The page is a client of the REST routes and the WebSocket feed like any other; no
//! business logic lives here, and nothing is fetched from the internet at run time.
//!
//! Every response carries a strict Content-Security-Policy (scripts, styles and connections to this
//! origin only; no framing), `nosniff`, no referrer, and a strong ETag computed at compile time so
//! browsers revalidate cheaply (`304 Not Modified`).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy of the page: everything from this origin, WebSockets to it, no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self' ws: wss:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    etag: u64,
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../../assets/", $path)),
            etag: fnv1a(include_str!(concat!("../../assets/", $path)).as_bytes()),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// Everything under `/assets/`.
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/errors.js", JS),
    asset!("js/inspector.js", JS),
    asset!("js/live.js", JS),
    asset!("js/main.js", JS),
    asset!("js/model.js", JS),
    asset!("js/preview.js", JS),
    asset!("js/tokens.js", JS),
    asset!("js/tree.js", JS),
];

/// FNV-1a, evaluated at compile time: a strong validator for content that never changes at run time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `GET /` (the page) and `GET /assets/{path}`. Generic over the router state, so it can be merged
/// into any router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) => serve(asset, &headers),
        None => {
            let mut response = (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("no asset /assets/{path}\n"),
            )
                .into_response();
            security_headers(response.headers_mut());
            response
        }
    }
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let headers = response.headers_mut();
    security_headers(headers);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    // Revalidate every time: the ETag makes that a cheap 304, and a new binary is picked up at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn security_headers(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        for asset in ASSETS.iter().chain([&INDEX]) {
            // `from "./x.js"` in modules, `src="/assets/x"` / `href="/assets/x"` in the page.
            for (marker, base) in [("from \"./", "js/"), ("\"/assets/", "")] {
                for piece in asset.body.split(marker).skip(1) {
                    let name = piece.split('"').next().unwrap_or_default();
                    let wanted = format!("{base}{name}");
                    assert!(
                        served.contains(&wanted.as_str()),
                        "{} refers to {wanted}, which is not in ASSETS",
                        asset.path
                    );
                }
            }
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_the_policy_would_block() {
        for needle in ["<script>", "style=\"", "<style", "onclick=", "javascript:"] {
            assert!(!INDEX.body.contains(needle), "index.html contains {needle}");
        }
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn etags_differ_with_content() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
