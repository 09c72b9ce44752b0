//! The web page, end to end: real headless Chromium (Debian's `chromium`, driven over the DevTools
//! protocol by the testkit) against real `tinct serve` processes — on SQLite, and as a two-instance
//! cluster on PostgreSQL (primary + replica) behind nginx for live updates from another instance.
//!
//! Screenshots are kept as artifacts in `target/web-screenshots/` (a failed wait also saves one,
//! named `FAILED-…`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tinct_testkit::post_command as post;
use tinct_testkit::{Browser, Nginx, Page, Postgres, TinctServer, tinct_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Harness

/// `target/web-screenshots`, next to the binary under test (never in the source tree).
fn shots() -> PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in target/<profile>/")
        .join("web-screenshots")
}

async fn browser() -> Browser {
    Browser::launch().await.with_artifacts(shots())
}

async fn shot(page: &Page, name: &str) {
    let path = shots().join(name);
    page.screenshot(&path).await;
    assert!(
        std::fs::metadata(&path)
            .map(|m| m.len() > 1000)
            .unwrap_or(false),
        "screenshot {} is missing or empty",
        path.display()
    );
}

/// A JavaScript string literal.
fn js(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// Runs the `tinct` CLI; returns whether it succeeded and what it printed.
fn cli(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = tinct_command(Path::new(BIN), dir.path())
        .args(args)
        .output()
        .expect("run tinct");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn cli_ok(args: &[&str]) {
    let (ok, text) = cli(args);
    assert!(ok, "tinct {} failed:\n{text}", args.join(" "));
}

/// Opens the page on `node` and waits until its tokens are listed.
async fn open_node(browser: &Browser, base: &str, node: &str) -> Page {
    let page = browser.open(&format!("{base}/#node={node}")).await;
    wait_for_node(&page, node).await;
    page
}

async fn wait_for_node(page: &Page, node: &str) {
    page.wait_for(
        &format!("node {node} to be shown"),
        WAIT,
        &format!(
            "document.body.dataset.ready === 'true'
             && document.querySelector('#tree a[aria-current=page]')?.dataset.node === {n}
             && document.querySelector('.tokens-pane').getAttribute('aria-busy') === null",
            n = js(node)
        ),
    )
    .await;
}

/// Puts `text` in the search box, as typing would (an input event).
async fn search(page: &Page, text: &str) {
    set_value(page, "#token-search", text).await;
}

/// Searches for `path` and waits until it is the first row shown.
async fn show_token(page: &Page, path: &str) {
    search(page, path).await;
    page.wait_for(
        &format!("{path} to be listed"),
        WAIT,
        &format!(
            "document.querySelector('.token-row')?.dataset.path === {p}",
            p = js(path)
        ),
    )
    .await;
}

/// What the list shows for `path` (null when it is not rendered).
async fn row(page: &Page, path: &str) -> Value {
    page.eval(&format!(
        "(() => {{ const r = document.querySelector(`.token-row[data-path=\"${{CSS.escape({p})}}\"]`);
                   if (!r) return null;
                   return {{ value: r.querySelector('.value-text').textContent,
                            origin: r.dataset.origin, type: r.dataset.type,
                            source: r.querySelector('.origin').textContent,
                            chain: r.querySelector('.alias-chain')?.textContent ?? null,
                            flash: r.classList.contains('flash') }}; }})()",
        p = js(path)
    ))
    .await
}

/// Waits until the row for `path` shows `value`.
async fn wait_for_value(page: &Page, path: &str, value: &str) {
    page.wait_for(
        &format!("{path} to show {value}"),
        WAIT,
        &format!(
            "document.querySelector(`.token-row[data-path=\"${{CSS.escape({p})}}\"] .value-text`)?.textContent === {v}",
            p = js(path),
            v = js(value)
        ),
    )
    .await;
}

async fn set_value(page: &Page, selector: &str, value: &str) {
    page.eval(&format!(
        "(() => {{ const el = document.querySelector({s}); el.value = {v};
                   el.dispatchEvent(new Event('input', {{bubbles: true}}));
                   el.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
        s = js(selector),
        v = js(value)
    ))
    .await;
}

async fn click(page: &Page, selector: &str) {
    page.eval(&format!("document.querySelector({}).click()", js(selector)))
        .await;
}

async fn open_in_inspector(page: &Page, path: &str) {
    show_token(page, path).await;
    click(
        page,
        &format!(".token-row[data-path=\"{path}\"] button.token-open"),
    )
    .await;
    page.wait_for(
        &format!("the inspector to show {path}"),
        WAIT,
        &format!(
            "document.querySelector('#inspector-heading')?.textContent === {}",
            js(path)
        ),
    )
    .await;
}

async fn text(page: &Page, selector: &str) -> String {
    page.eval(&format!(
        "document.querySelector({})?.textContent ?? ''",
        js(selector)
    ))
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

async fn wait_live(page: &Page) -> String {
    page.wait_for(
        "the live connection",
        WAIT,
        "document.querySelector('#connection').dataset.state === 'live'
         && document.querySelector('#connection').dataset.instance",
    )
    .await
    .as_str()
    .expect("an instance name")
    .to_owned()
}

/// No exceptions, console errors, policy violations or failed loads, except those `expected`
/// (substrings of the reported line, e.g. the HTTP status of a deliberately refused change).
fn assert_clean(page: &Page, expected: &[&str]) {
    let problems: Vec<String> = page
        .problems()
        .into_iter()
        .filter(|p| !expected.iter().any(|e| p.contains(e)))
        .collect();
    assert!(
        problems.is_empty(),
        "the page reported problems: {problems:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Reading

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_node_tree_and_resolved_tokens_with_previews_and_origins() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.clone();
    cli_ok(&["demo", "--remote", &base]);

    // Served by tinct itself, with a strict policy.
    let response = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "connect-src 'self' ws: wss:",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive}");
    }
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert!(header("content-type").starts_with("text/html"));
    let etag = header("etag");
    let again = reqwest::Client::new()
        .get(format!("{base}/assets/js/main.js"))
        .send()
        .await
        .unwrap();
    assert!(
        again
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let cached = reqwest::Client::new()
        .get(format!("{base}/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    let browser = browser().await;
    // Without an address the page opens the first design system.
    let page = browser.open(&format!("{base}/")).await;
    wait_for_node(&page, "acme").await;
    let tree = page
        .eval(
            "[...document.querySelectorAll('#tree a.tree-link')].map(a =>
               [a.dataset.node, a.closest('ul').closest('li')?.querySelector('a')?.dataset.node ?? null])",
        )
        .await;
    assert_eq!(
        tree,
        json!([
            ["acme", null],
            ["acme-web", "acme"],
            ["acme-web-dark", "acme-web"]
        ]),
        "roots → products → themes"
    );

    click(&page, "#tree a[data-node='acme-web-dark']").await;
    wait_for_node(&page, "acme-web-dark").await;
    assert_eq!(text(&page, "#node-title").await, "Acme Web — Dark");
    assert_eq!(text(&page, "#token-count").await, "34 tokens");
    assert_eq!(
        text(&page, "#node-lineage").await,
        "Acme Design System › Acme Web › "
    );
    shot(&page, "01-theme-tokens.png").await;

    // Colour swatches show the resolved colour.
    show_token(&page, "color.base.violet.500").await;
    let swatch = page
        .eval("getComputedStyle(document.querySelector('.token-row .swatch-fill')).backgroundColor")
        .await;
    assert_eq!(swatch, "rgb(139, 92, 246)");
    // Dimensions as bars of their length, durations and easings sensibly.
    show_token(&page, "space.4").await;
    assert_eq!(row(&page, "space.4").await["value"], "16px");
    assert_eq!(
        page.eval("document.querySelector('.token-row .bar-fill').style.width")
            .await,
        "16px"
    );
    show_token(&page, "motion.duration.fast").await;
    assert_eq!(row(&page, "motion.duration.fast").await["value"], "120ms");
    show_token(&page, "motion.easing.standard").await;
    assert_eq!(
        row(&page, "motion.easing.standard").await["value"],
        "cubic-bezier(0.4, 0, 0.2, 1)"
    );
    assert!(
        page.eval(
            "document.querySelector('.token-row svg.curve path.curve-line').getAttribute('d')"
        )
        .await
        .as_str()
        .unwrap()
        .contains("C0.4 1 0.2 0")
    );
    // Shadows as a shadow, type as a specimen in its own font settings.
    show_token(&page, "shadow.card").await;
    let shadow = page
        .eval("getComputedStyle(document.querySelector('.token-row .shadow-box')).boxShadow")
        .await;
    assert_eq!(shadow, "rgba(15, 23, 42, 0.2) 0px 2px 8px 0px");
    show_token(&page, "typography.body").await;
    let specimen = page
        .eval(
            "(() => { const s = getComputedStyle(document.querySelector('.token-row .specimen'));
                      return [s.fontWeight, s.fontFamily, s.lineHeight]; })()",
        )
        .await;
    assert_eq!(specimen[0], "400");
    assert!(specimen[1].as_str().unwrap().starts_with("Inter"));

    // Where values come from: inherited with its alias chain, overridden here.
    show_token(&page, "color.action.bg").await;
    let action = row(&page, "color.action.bg").await;
    assert_eq!(action["origin"], "inherited");
    assert_eq!(action["source"], "from acme");
    assert_eq!(
        action["chain"],
        "→ color.brand.primary → color.base.violet.500"
    );
    assert_eq!(action["value"], "#8b5cf6");
    open_in_inspector(&page, "color.bg.default").await;
    let origin = text(&page, ".inspector-origin").await;
    assert!(
        origin.starts_with("Overridden here") && origin.contains("replaces #ffffff from acme"),
        "{origin}"
    );
    assert_eq!(
        text(&page, "#inspector .chain").await,
        "color.base.black on acme"
    );
    page.wait_for(
        "the token's history",
        WAIT,
        "document.querySelector('#inspector .history-list li')?.textContent
           .startsWith('token.overridden {color.base.white} → {color.base.black} · anonymous')",
    )
    .await;
    assert_eq!(text(&page, "#edit-submit").await, "Change override");
    assert_eq!(text(&page, "#edit-reset").await, "Reset to inherited");
    shot(&page, "02-inspector.png").await;

    // Filters: by type, by origin, by words of the path.
    search(&page, "").await;
    set_value(&page, "#token-origin-filter", "overridden").await;
    page.wait_for(
        "only the theme's overrides",
        WAIT,
        "document.querySelector('#token-count').textContent === '6 of 34 tokens'",
    )
    .await;
    set_value(&page, "#token-origin-filter", "").await;
    set_value(&page, "#token-type-filter", "dimension").await;
    page.wait_for(
        "only dimensions",
        WAIT,
        "document.querySelector('#token-count').textContent === '8 of 34 tokens'
         && [...document.querySelectorAll('.token-row')].every(r => r.dataset.type === 'dimension')",
    )
    .await;
    set_value(&page, "#token-type-filter", "").await;

    // Exports: CSS and JSON at least (every format when the schema lists them), each link a file.
    let formats = page
        .eval("[...document.querySelectorAll('#export-links a')].map(a => a.dataset.format)")
        .await;
    let formats: Vec<&str> = formats
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(formats[..2], ["css", "json"], "{formats:?}");
    for format in &formats {
        let status = page
            .eval(&format!(
                "fetch(document.querySelector('#export-links a[data-format={}]').href).then(r => r.status)",
                js(format)
            ))
            .await;
        assert_eq!(status, 200, "export.{format}");
    }
    let css = page
        .eval("fetch(document.querySelector('#export-links a[data-format=css]').href).then(r => r.text())")
        .await;
    let css = css.as_str().unwrap();
    assert!(css.starts_with(":root {"), "{css}");
    assert!(css.contains("--color-bg-default: #0b0b10;"), "{css}");
    let href = page
        .eval("document.querySelector('#export-links a[data-format=json]').getAttribute('href')")
        .await;
    assert_eq!(href, "/v1/nodes/acme-web-dark/export.json");

    assert_clean(&page, &[]);

    // The policy is in force: an injected inline script does not run, and the page reports it.
    page.eval(
        "(() => { const s = document.createElement('script'); s.textContent = 'window.__injected = true';
                  document.body.append(s); })()",
    )
    .await;
    assert_eq!(page.eval("window.__injected === undefined").await, true);
    let start = Instant::now();
    while !page
        .problems()
        .iter()
        .any(|p| p.contains("Content Security Policy"))
    {
        assert!(
            start.elapsed() < WAIT,
            "no policy violation reported: {:?}",
            page.problems()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Changing tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_added_overridden_reset_and_removed_with_server_errors_inline() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.clone();
    cli_ok(&["demo", "--remote", &base]);
    let browser = browser().await;
    let page = open_node(&browser, &base, "acme-web-dark").await;

    // An invalid value: the server's own message and suggestion, next to the value field.
    let expected = post(
        &base,
        "token.add",
        json!({"node": "acme-web-dark", "path": "color.accent", "type": "color", "value": "nope"}),
    )
    .await;
    assert_eq!(expected["error"]["code"], "VALIDATION_ERROR");
    set_value(&page, "#add-path", "color.accent").await;
    set_value(&page, "#add-type", "color").await;
    set_value(&page, "#add-value", "nope").await;
    page.eval("document.querySelector('#add-form').requestSubmit()")
        .await;
    page.wait_for(
        "the value error",
        WAIT,
        "!document.querySelector('#add-value-error').hidden",
    )
    .await;
    assert_eq!(
        text(&page, "#add-value-error .error-message").await,
        expected["error"]["message"].as_str().unwrap()
    );
    assert_eq!(
        text(&page, "#add-value-error .error-suggestion").await,
        expected["error"]["suggestion"].as_str().unwrap()
    );
    let a11y = page
        .eval(
            "(() => { const i = document.querySelector('#add-value');
                      return [i.getAttribute('aria-invalid'), i.getAttribute('aria-describedby'),
                              document.activeElement === i,
                              document.querySelector('#add-value-error').getAttribute('role')]; })()",
        )
        .await;
    assert_eq!(
        a11y,
        json!(["true", "add-value-hint add-value-error", true, "alert"])
    );
    shot(&page, "03-inline-validation-error.png").await;

    // Fixed: the token is added, listed as defined here, and the error is gone.
    set_value(&page, "#add-value", "#ff6600").await;
    set_value(&page, "#add-description", "Call to action accent").await;
    page.eval("document.querySelector('#add-form').requestSubmit()")
        .await;
    wait_for_value(&page, "color.accent", "#ff6600").await;
    let added = row(&page, "color.accent").await;
    assert_eq!(added["origin"], "defined");
    assert_eq!(added["source"], "Defined here");
    assert!(
        page.eval("document.querySelector('#add-value-error').hidden")
            .await
            .as_bool()
            .unwrap()
    );
    assert_eq!(text(&page, "#token-count").await, "35 tokens");
    page.wait_for(
        "the inspector to show the new token",
        WAIT,
        "document.querySelector('#inspector-heading')?.textContent === 'color.accent'",
    )
    .await;
    let stored = post(
        &base,
        "tokens.resolve",
        json!({"node": "acme-web-dark", "prefix": "color.accent"}),
    )
    .await;
    assert_eq!(stored["data"]["tokens"]["color.accent"]["value"], "#ff6600");
    assert_eq!(
        stored["data"]["tokens"]["color.accent"]["description"],
        "Call to action accent"
    );
    shot(&page, "04-token-added.png").await;

    // A path the theme already has: the conflict is shown at the path, with what to do instead.
    set_value(&page, "#add-path", "color.bg.default").await;
    set_value(&page, "#add-value", "#000000").await;
    page.eval("document.querySelector('#add-form').requestSubmit()")
        .await;
    page.wait_for(
        "the path error",
        WAIT,
        "!document.querySelector('#add-path-error').hidden",
    )
    .await;
    assert!(
        text(&page, "#add-path-error")
            .await
            .contains("token.override"),
        "{}",
        text(&page, "#add-path-error").await
    );
    assert!(text(&page, "#add-path-error .error-code").await == "ALREADY_EXISTS");

    // Override an inherited token; aliases that point at it follow.
    open_in_inspector(&page, "color.base.violet.500").await;
    assert_eq!(text(&page, "#edit-submit").await, "Override here");
    set_value(&page, "#edit-value", "12px").await;
    click(&page, "#edit-submit").await;
    page.wait_for(
        "the override error",
        WAIT,
        "!document.querySelector('#edit-value-error').hidden",
    )
    .await;
    assert!(
        text(&page, "#edit-value-error .error-message")
            .await
            .starts_with("value for a color token"),
    );
    set_value(&page, "#edit-value", "#a78bfa").await;
    click(&page, "#edit-submit").await;
    wait_for_value(&page, "color.base.violet.500", "#a78bfa").await;
    assert_eq!(
        row(&page, "color.base.violet.500").await["origin"],
        "overridden"
    );
    show_token(&page, "color.action.bg").await;
    wait_for_value(&page, "color.action.bg", "#a78bfa").await;

    // Reset: it inherits again.
    open_in_inspector(&page, "color.base.violet.500").await;
    click(&page, "#edit-reset").await;
    page.wait_for(
        "the reset",
        WAIT,
        "document.querySelector('.token-row[data-path=\"color.base.violet.500\"]')?.dataset.origin === 'inherited'",
    )
    .await;
    wait_for_value(&page, "color.base.violet.500", "#8b5cf6").await;

    // Remove asks once more, then removes.
    open_in_inspector(&page, "color.accent").await;
    click(&page, "#edit-remove").await;
    assert_eq!(
        text(&page, "#edit-remove").await,
        "Confirm: remove color.accent"
    );
    assert!(row(&page, "color.accent").await.is_object());
    click(&page, "#edit-remove").await;
    page.wait_for(
        "color.accent to be gone",
        WAIT,
        "document.querySelector('#token-count').textContent === '0 of 34 tokens'",
    )
    .await;
    let gone = post(
        &base,
        "tokens.resolve",
        json!({"node": "acme-web-dark", "prefix": "color.accent"}),
    )
    .await;
    assert_eq!(gone["data"]["count"], 0);

    assert_clean(
        &page,
        &[
            "status of 400 (Bad Request) http://127.0.0.1",
            "status of 409 (Conflict) http://127.0.0.1",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_works_from_the_keyboard() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.clone();
    cli_ok(&["demo", "--remote", &base]);
    let browser = browser().await;
    let page = open_node(&browser, &base, "acme-web-dark").await;
    let focused = "(() => { const a = document.activeElement;
                            return a.id || a.dataset.node || a.dataset.path || a.closest('[data-path]')?.dataset.path || a.textContent; })()";

    // The first Tab reaches the skip link, which jumps to the token search.
    page.press("Tab", false).await;
    assert_eq!(page.eval(focused).await, "Skip to tokens");
    page.press("Enter", false).await;
    assert_eq!(page.eval(focused).await, "token-search");

    // Search by typing; the list follows after a short debounce.
    page.type_text("color.base").await;
    page.wait_for(
        "the search to apply",
        WAIT,
        "document.querySelector('#token-count').textContent === '10 of 34 tokens'",
    )
    .await;
    // Search → type filter → origin filter → the list (one row in the tab order).
    for _ in 0..3 {
        page.press("Tab", false).await;
    }
    assert_eq!(page.eval(focused).await, "color.base.black");
    page.press("ArrowDown", false).await;
    assert_eq!(page.eval(focused).await, "color.base.green.600");
    page.press("End", false).await;
    assert_eq!(page.eval(focused).await, "color.base.white");
    page.press("Enter", false).await;
    page.wait_for(
        "the inspector",
        WAIT,
        "document.querySelector('#inspector-heading')?.textContent === 'color.base.white'",
    )
    .await;

    // Into the inspector: the source node link, then the value field; Enter overrides.
    page.press("Tab", false).await;
    assert_eq!(page.eval(focused).await, "acme");
    page.press("Tab", false).await;
    assert_eq!(page.eval(focused).await, "edit-value");
    page.eval("document.activeElement.select()").await;
    page.type_text("#fafafa").await;
    page.press("Enter", false).await;
    wait_for_value(&page, "color.base.white", "#fafafa").await;
    page.wait_for(
        "the change to be announced",
        WAIT,
        "document.querySelector('#announcer').textContent === 'Overrode color.base.white on acme-web-dark'",
    )
    .await;
    // Labels: every form control has an accessible name.
    let unlabelled = page
        .eval(
            "[...document.querySelectorAll('input, select, button')]
               .filter(el => !el.labels?.length && !el.getAttribute('aria-label') && !el.textContent.trim())
               .map(el => el.id || el.outerHTML)",
        )
        .await;
    assert_eq!(unlabelled, json!([]));
    shot(&page, "05-keyboard-override.png").await;
    assert_clean(&page, &[]);
}

// ---------------------------------------------------------------------------------------------
// Live

/// Two instances on PostgreSQL (primary + streaming replica) behind nginx. Fields drop in order.
struct Cluster {
    nginx: Nginx,
    instances: Vec<(String, TinctServer)>,
    _replica: Postgres,
    _primary: Postgres,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn start() -> Cluster {
        let primary = Postgres::start();
        let replica = primary.start_replica();
        let mut dirs = Vec::new();
        let mut instances = Vec::new();
        for i in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let name = format!("web-{i}");
            let env = [
                ("TINCT_DATABASE_URL", primary.url()),
                ("TINCT_READ_REPLICA_URLS", replica.url()),
                ("TINCT_INSTANCE", name.clone()),
            ];
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            instances.push((
                name,
                TinctServer::start_in(Path::new(BIN), dir.path(), &env),
            ));
            dirs.push(dir);
        }
        let upstreams: Vec<String> = instances
            .iter()
            .map(|(_, s)| s.url.trim_start_matches("http://").to_owned())
            .collect();
        Cluster {
            nginx: Nginx::start(&upstreams),
            instances,
            _replica: replica,
            _primary: primary,
            _dirs: dirs,
        }
    }

    fn url_of(&self, name: &str) -> String {
        self.instances
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.url.clone())
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    fn other_than(&self, name: &str) -> String {
        self.instances
            .iter()
            .find(|(n, _)| n != name)
            .map(|(n, _)| n.clone())
            .expect("another instance")
    }

    fn kill(&mut self, name: &str) {
        let at = self.instances.iter().position(|(n, _)| n == name).unwrap();
        let (_, server) = self.instances.remove(at);
        Command::new("kill")
            .args(["-KILL", &server.pid().to_string()])
            .status()
            .unwrap();
        drop(server);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_through_another_instance_show_up_live_and_after_failover() {
    let mut cluster = Cluster::start();
    let lb = cluster.nginx.url();
    cli_ok(&["demo", "--remote", &cluster.url_of("web-0")]);
    let browser = browser().await;
    let page = open_node(&browser, &lb, "acme-web-dark").await;
    let serving = wait_live(&page).await;
    let other = cluster.other_than(&serving);
    let other_url = cluster.url_of(&other);
    // Set once; a reload would lose it.
    page.eval("window.__notReloaded = true").await;

    // The CLI writes through the instance that does not hold the page's WebSocket.
    show_token(&page, "color.bg.default").await;
    cli_ok(&[
        "call",
        "token.override",
        "node=acme-web-dark",
        "path=color.bg.default",
        "value=#ff0000",
        "--remote",
        &other_url,
    ]);
    wait_for_value(&page, "color.bg.default", "#ff0000").await;
    assert_eq!(row(&page, "color.bg.default").await["flash"], true);
    page.wait_for(
        "the change in the activity list",
        WAIT,
        "document.querySelector('#activity li')?.textContent.includes('token.overridden color.bg.default on acme-web-dark')",
    )
    .await;
    page.wait_for(
        "the change to be announced",
        WAIT,
        "document.querySelector('#announcer').textContent === 'color.bg.default changed on acme-web-dark'",
    )
    .await;
    shot(&page, "06-live-update-from-another-instance.png").await;

    // A token created on the page, then changed from the CLI through the other instance.
    set_value(&page, "#add-path", "color.live").await;
    set_value(&page, "#add-type", "color").await;
    set_value(&page, "#add-value", "#112233").await;
    page.eval("document.querySelector('#add-form').requestSubmit()")
        .await;
    wait_for_value(&page, "color.live", "#112233").await;
    cli_ok(&[
        "call",
        "token.update",
        "node=acme-web-dark",
        "path=color.live",
        "value=#445566",
        "--remote",
        &other_url,
    ]);
    wait_for_value(&page, "color.live", "#445566").await;

    // A new design system created elsewhere appears in the tree without a reload.
    cli_ok(&[
        "call",
        "node.create",
        "id=other-ds",
        "name=Other DS",
        "--remote",
        &other_url,
    ]);
    page.wait_for(
        "the new design system in the tree",
        WAIT,
        "document.querySelector('#tree a[data-node=\"other-ds\"]') !== null",
    )
    .await;

    // A change on the root reaches the theme through its alias chain.
    show_token(&page, "color.action.bg").await;
    cli_ok(&[
        "call",
        "token.update",
        "node=acme",
        "path=color.base.violet.500",
        "value=#7c3aed",
        "--remote",
        &other_url,
    ]);
    wait_for_value(&page, "color.action.bg", "#7c3aed").await;

    // The instance holding the WebSocket dies: the page reconnects through nginx to the other
    // one, resumes from the last event it saw, and shows what changed meanwhile.
    show_token(&page, "color.bg.default").await;
    cluster.kill(&serving);
    cli_ok(&[
        "call",
        "token.override",
        "node=acme-web-dark",
        "path=color.bg.default",
        "value=#00ff00",
        "--remote",
        &other_url,
    ]);
    wait_for_value(&page, "color.bg.default", "#00ff00").await;
    page.wait_for(
        "the page to be live on the surviving instance",
        WAIT,
        &format!(
            "document.querySelector('#connection').dataset.state === 'live'
             && document.querySelector('#connection').dataset.instance === {}",
            js(&other)
        ),
    )
    .await;
    assert_eq!(page.eval("window.__notReloaded === true").await, true);
    // Every change arrives exactly once, in order, across the reconnect (resumed with since=).
    // The value can show before the event does: the page also reloads when it reconnects.
    page.wait_for(
        "the sixth change event",
        WAIT,
        "document.querySelectorAll('#activity li').length >= 6",
    )
    .await;
    let activity = page
        .eval(
            "[...document.querySelectorAll('#activity li')].map(li => [Number(li.dataset.seq),
               li.querySelector('strong').textContent + ' ' + (li.querySelector('code')?.textContent ?? '')])",
        )
        .await;
    let activity = activity.as_array().unwrap();
    let seqs: Vec<i64> = activity.iter().map(|e| e[0].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first, no duplicates: {activity:?}"
    );
    let kinds: Vec<&str> = activity.iter().map(|e| e[1].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "token.overridden color.bg.default",
            "token.updated color.base.violet.500",
            "node.created ",
            "token.updated color.live",
            "token.added color.live",
            "token.overridden color.bg.default"
        ]
    );
    assert_clean(&page, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_when_it_is_offline_and_reconnecting() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.clone();
    cli_ok(&["demo", "--remote", &base]);
    let browser = browser().await;
    let page = open_node(&browser, &base, "acme-web-dark").await;
    wait_live(&page).await;
    assert_eq!(text(&page, "#connection-text").await, "Live");
    assert_eq!(
        page.eval("document.querySelector('#connection').getAttribute('role')")
            .await,
        "status"
    );

    Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    page.wait_for(
        "the offline state",
        WAIT,
        "document.querySelector('#connection').dataset.state === 'offline'
         && document.querySelector('#connection-text').textContent.startsWith('Offline — reconnecting')",
    )
    .await;
    // It keeps trying.
    page.wait_for(
        "a second attempt",
        WAIT,
        "document.querySelector('#connection-text').textContent.includes('attempt')",
    )
    .await;
    shot(&page, "07-offline-reconnecting.png").await;

    // A change made while offline says so where it was asked for.
    set_value(&page, "#add-path", "color.offline").await;
    set_value(&page, "#add-value", "#123456").await;
    page.eval("document.querySelector('#add-form').requestSubmit()")
        .await;
    page.wait_for(
        "the offline error",
        WAIT,
        "!document.querySelector('#add-form-error').hidden",
    )
    .await;
    assert_eq!(
        text(&page, "#add-form-error .error-message").await,
        "The server cannot be reached."
    );
    drop(server);
}

// ---------------------------------------------------------------------------------------------
// Scale

/// A DTCG document of 5,000 tokens of every kind under `big.`, for node `big` (a child of the
/// demo's root): colours, dimensions, aliases to the root's brand colour, shadows and durations.
fn five_thousand_tokens() -> Value {
    let px = |n: usize| json!({"value": n, "unit": "px"});
    let mut tokens = serde_json::Map::new();
    for i in 0..5000 {
        let token = match i % 5 {
            0 => {
                json!({"$type": "color", "$value": format!("#{:06x}", (i as u64 * 2_654_435) % 0xff_ffff)})
            }
            1 => json!({"$type": "dimension", "$value": px(i % 64)}),
            2 => json!({"$type": "color", "$value": "{color.brand.primary}"}),
            3 => json!({"$type": "shadow", "$value": {"color": "#0f172a33", "offsetX": px(0),
                    "offsetY": px(i % 8), "blur": px(8), "spread": px(0)}}),
            _ => json!({"$type": "duration", "$value": {"value": i % 500, "unit": "ms"},
                    "$description": format!("step {i}")}),
        };
        tokens.insert(format!("t{i:05}"), token);
    }
    json!({ "big": tokens })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_tokens_render_as_a_window_and_filter() {
    let server = TinctServer::start(Path::new(BIN));
    let base = server.url.clone();
    cli_ok(&["demo", "--remote", &base]);
    let created = post(
        &base,
        "node.create",
        json!({"id": "big", "parent": "acme", "name": "Big product"}),
    )
    .await;
    assert_eq!(created["success"], true, "{created}");
    // One write: the server validates and resolves all 5,000 for real.
    let imported = post(
        &base,
        "tokens.import",
        json!({"node": "big", "document": five_thousand_tokens()}),
    )
    .await;
    assert_eq!(imported["success"], true, "{imported}");
    let resolved = post(&base, "tokens.resolve", json!({"node": "big"})).await;
    let tokens = resolved["data"]["tokens"].as_object().unwrap();
    // The page shows what the node resolves to: the 5,000 plus what it inherits from the root.
    let total = tokens.len();
    assert!(total > 5000, "{total}");
    let shadows = tokens.values().filter(|t| t["type"] == "shadow").count();
    let browser = browser().await;
    let page = open_node(&browser, &base, "acme").await;
    let started = Instant::now();
    page.eval("location.hash = '#node=big'").await;
    wait_for_node(&page, "big").await;
    page.wait_for(
        "5,000 tokens",
        WAIT,
        &format!("document.querySelector('#token-count').textContent === '{total} tokens'"),
    )
    .await;
    println!("{total} tokens shown in {:?}", started.elapsed());
    let rendered = page
        .eval("document.querySelectorAll('.token-row').length")
        .await
        .as_u64()
        .unwrap();
    assert!(
        (10..100).contains(&rendered),
        "{rendered} rows in the DOM: the list must render a window, not every token"
    );
    shot(&page, "08-five-thousand-tokens.png").await;

    // Scrolled to the end, the last rows are there (and still only a window of them).
    page.eval("(() => { const l = document.querySelector('#token-list'); l.scrollTop = l.scrollHeight; })()")
        .await;
    // The list is in path order, as the resolved map is.
    let last = tokens.keys().next_back().unwrap();
    page.wait_for(
        "the last token",
        WAIT,
        &format!(
            "document.querySelector(`.token-row[data-path=\"${{CSS.escape({})}}\"]`) !== null",
            js(last)
        ),
    )
    .await;
    assert!(
        page.eval("document.querySelectorAll('.token-row').length")
            .await
            .as_u64()
            .unwrap()
            < 100
    );

    // Filtering 5,000 rows by type and text.
    set_value(&page, "#token-type-filter", "shadow").await;
    page.wait_for(
        "only shadows",
        WAIT,
        &format!(
            "document.querySelector('#token-count').textContent === '{shadows} of {total} tokens'"
        ),
    )
    .await;
    show_token(&page, "big.t04998").await;
    assert_eq!(
        text(&page, "#token-count").await,
        format!("1 of {total} tokens")
    );
    set_value(&page, "#token-type-filter", "").await;
    search(&page, "step 4999").await;
    page.wait_for(
        "the description search",
        WAIT,
        "document.querySelector('.token-row')?.dataset.path === 'big.t04999'",
    )
    .await;
    // The aliases resolve through the root's brand colour; the root's own tokens are inherited.
    show_token(&page, "big.t00002").await;
    let alias = row(&page, "big.t00002").await;
    assert_eq!(alias["value"], tokens["color.brand.primary"]["value"]);
    assert!(
        alias["chain"]
            .as_str()
            .unwrap()
            .contains("color.brand.primary"),
        "{alias}"
    );
    assert_eq!(row(&page, "big.t00000").await, Value::Null);
    show_token(&page, "color.brand.primary").await;
    assert_eq!(
        row(&page, "color.brand.primary").await["origin"],
        "inherited"
    );
    assert_clean(&page, &[]);
}
