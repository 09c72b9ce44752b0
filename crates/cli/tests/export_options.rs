//! tokens.export options (outputReferences, nameCase, colorFormat, themes, the resolver format)
//! through the real `tinct` binary: as command input and as query parameters of the export
//! routes, each changing the file as it says, and each bad option a VALIDATION_ERROR.

use std::path::Path;

use serde_json::{Value, json};
use tinct_testkit::{TinctServer, tinct_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

/// A server on a data directory holding `tinct demo`: acme → acme-web → acme-web-dark.
struct Demo {
    server: TinctServer,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// An export route's answer.
struct File {
    status: u16,
    etag: String,
    content_type: String,
    body: String,
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().expect("temporary directory");
        let loaded = tinct_command(Path::new(BIN), dir.path())
            .arg("demo")
            .output()
            .expect("run tinct demo");
        assert!(loaded.status.success(), "tinct demo: {loaded:?}");
        Demo {
            server: TinctServer::start_in(Path::new(BIN), dir.path(), &[]),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            _dir: dir,
        }
    }

    /// The tokens.export envelope for `input`.
    async fn export(&self, input: Value) -> Value {
        let url = format!("{}/v1/commands/tokens.export", self.server.url);
        let response = self.http.post(url).json(&input).send().await.expect("POST");
        response.json().await.expect("an envelope")
    }

    /// The exported content, which must succeed.
    async fn content(&self, input: Value) -> String {
        let reply = self.export(input).await;
        assert_eq!(reply["success"], true, "{reply}");
        reply["data"]["content"]
            .as_str()
            .expect("content")
            .to_owned()
    }

    async fn file(&self, path_and_query: &str, if_none_match: Option<&str>) -> File {
        let mut request = self
            .http
            .get(format!("{}{path_and_query}", self.server.url));
        if let Some(etag) = if_none_match {
            request = request.header("if-none-match", etag);
        }
        let response = request.send().await.expect("GET");
        let [etag, content_type] = ["etag", "content-type"].map(|name| {
            let value = response.headers().get(name);
            value
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        });
        let status = response.status().as_u16();
        File {
            status,
            etag,
            content_type,
            body: response.text().await.expect("body"),
        }
    }
}

/// The lines of the CSS rule that starts with `selector`.
fn rule<'a>(css: &'a str, selector: &str) -> Vec<&'a str> {
    let start = css
        .find(&format!("{selector} {{"))
        .unwrap_or_else(|| panic!("no rule {selector} in {css}"));
    css[start..]
        .lines()
        .skip(1)
        .take_while(|l| *l != "}")
        .collect()
}

/// Asserts a VALIDATION_ERROR whose message and suggestion hold the given fragments.
fn refused(reply: &Value, message: &str, suggestion: &str) {
    let error = &reply["error"];
    assert_eq!(error["code"], "VALIDATION_ERROR", "{reply}");
    assert_eq!(reply["success"], false, "{reply}");
    let text = |key: &str| error[key].as_str().unwrap_or_default().to_owned();
    assert!(text("message").contains(message), "{message:?} in {reply}");
    assert!(
        text("suggestion").contains(suggestion),
        "{suggestion:?} in {reply}"
    );
}

#[tokio::test]
async fn output_references_name_case_and_color_format_change_the_file() {
    let demo = Demo::start();
    let css = |extra: Value| {
        let mut input = json!({"node": "acme-web", "format": "css"});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        demo.content(input)
    };

    let plain = css(json!({})).await;
    assert!(
        plain.contains("  --color-brand-primary: #5b21b6;\n"),
        "{plain}"
    );
    let refs = css(json!({"outputReferences": true})).await;
    assert!(
        refs.contains("  --color-brand-primary: var(--color-base-violet-700);\n"),
        "{refs}"
    );
    assert!(
        refs.contains(
            "  --typography-body: var(--font-weight-regular) var(--font-size-body)/1.5 var(--font-family-sans);\n"
        ),
        "{refs}"
    );
    assert_eq!(css(json!({"outputReferences": false})).await, plain);

    let snake = css(json!({"nameCase": "snake"})).await;
    assert!(
        snake.contains("  --color_brand_primary: #5b21b6;\n"),
        "{snake}"
    );
    assert!(!snake.contains("--color-brand-primary"), "{snake}");

    let oklch = css(json!({"colorFormat": "oklch"})).await;
    assert!(
        oklch.contains("  --color-base-violet-700: oklch(0.432 0.2106 292.76);\n"),
        "{oklch}"
    );
    let rgb = css(json!({"colorFormat": "rgb"})).await;
    assert!(
        rgb.contains("  --color-base-white: rgb(255 255 255);\n"),
        "{rgb}"
    );

    let js = demo
        .content(json!({"node": "acme-web", "format": "js", "nameCase": "constant", "colorFormat": "hex", "outputReferences": true}))
        .await;
    assert!(
        js.contains("export const COLOR_BRAND_PRIMARY = COLOR_BASE_VIOLET_700;\n"),
        "{js}"
    );
    assert!(
        js.contains("export const COLOR_BASE_VIOLET_700 = \"#5b21b6\";\n"),
        "{js}"
    );
    let swift = demo
        .content(json!({"node": "acme-web", "format": "swift", "nameCase": "snake"}))
        .await;
    assert!(swift.contains("color_brand_primary"), "{swift}");
}

#[tokio::test]
async fn themes_write_a_rule_per_child_with_only_what_differs() {
    let demo = Demo::start();
    let css = demo
        .content(json!({"node": "acme-web", "format": "css", "themes": true}))
        .await;
    let root = rule(&css, ":root");
    assert!(root.contains(&"  --color-bg-default: #ffffff;"), "{css}");
    assert!(root.contains(&"  --space-1: 4px;"), "{css}");
    let dark = rule(&css, "[data-theme=\"acme-web-dark\"]");
    assert_eq!(
        dark,
        [
            "  --color-action-bg: #8b5cf6;",
            "  --color-bg-default: #0b0b10;",
            "  --color-bg-subtle: #0f172a;",
            "  --color-border-default: #334155;",
            "  --color-brand-primary: #8b5cf6;",
            "  --color-text-default: #f1f5f9;",
            "  --color-text-muted: #cbd5e1;",
        ],
        "{css}"
    );

    // With references, the theme rule re-declares what aliases a changed token, and the base
    // rule can sit under another selector.
    let css = demo
        .content(json!({"node": "acme-web", "format": "css", "themes": true, "outputReferences": true, "selector": ".acme"}))
        .await;
    assert!(css.starts_with(".acme {\n"), "{css}");
    let dark = rule(&css, "[data-theme=\"acme-web-dark\"]");
    assert!(
        dark.contains(&"  --color-bg-default: var(--color-base-black);"),
        "{css}"
    );
    assert!(
        dark.contains(&"  --color-action-bg: var(--color-brand-primary);"),
        "{css}"
    );
    assert!(!dark.iter().any(|l| l.contains("--space-")), "{css}");

    // The root's child is the product; a node without children writes its rule alone.
    let root = demo
        .content(json!({"node": "acme", "format": "css", "themes": true}))
        .await;
    let web = rule(&root, "[data-theme=\"acme-web\"]");
    assert_eq!(
        web,
        [
            "  --color-action-bg: #5b21b6;",
            "  --color-base-violet-700: #5b21b6;",
            "  --color-brand-primary: #5b21b6;",
            "  --radius-md: 8px;",
        ],
        "{root}"
    );
    let leaf = demo
        .content(json!({"node": "acme-web-dark", "format": "css", "themes": true}))
        .await;
    assert_eq!(
        leaf,
        demo.content(json!({"node": "acme-web-dark", "format": "css"}))
            .await
    );
}

#[tokio::test]
async fn a_node_exports_as_a_resolver_document_that_imports_back() {
    let demo = Demo::start();
    let file = demo
        .file("/v1/nodes/acme-web/export.resolver.json", None)
        .await;
    assert_eq!(file.status, 200, "{}", file.body);
    assert!(file.content_type.starts_with("application/json"));
    let doc: Value = serde_json::from_str(&file.body).expect("JSON");
    assert_eq!(doc["version"], "2025.10");
    let base = &doc["sets"]["base"]["sources"][0];
    // The base set is the node's own view: the product's override merged in, aliases kept.
    assert_eq!(
        base["color"]["base"]["violet"]["700"],
        json!({"$type": "color", "$value": "#5b21b6"})
    );
    assert_eq!(
        base["color"]["brand"]["primary"]["$value"],
        "{color.base.violet.700}"
    );
    let dark = &doc["modifiers"]["theme"]["contexts"]["acme-web-dark"][0];
    assert_eq!(
        dark["color"]["bg"]["default"],
        json!({"$type": "color", "$value": "{color.base.black}"})
    );
    assert!(
        dark["space"].is_null(),
        "only the child's own tokens: {dark}"
    );
    // The node itself is the default context, holding nothing of its own.
    assert_eq!(doc["modifiers"]["theme"]["default"], "acme-web");
    assert_eq!(
        doc["modifiers"]["theme"]["contexts"]["acme-web"],
        json!([{}])
    );
    assert_eq!(
        doc["resolutionOrder"],
        json!([{"$ref": "#/sets/base"}, {"$ref": "#/modifiers/theme"}])
    );
    let by_name = demo
        .content(json!({"node": "acme-web", "format": "resolver"}))
        .await;
    assert_eq!(by_name, file.body);

    // Imported into a new root, the root resolves like the node and the theme context like
    // the theme node.
    let url = format!("{}/v1/commands/tokens.import", demo.server.url);
    let imported: Value = demo
        .http
        .post(url)
        .json(&json!({"node": "copy", "document": doc}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("envelope");
    assert_eq!(imported["success"], true, "{imported}");
    for (original, copy) in [
        ("acme-web", "copy"),
        ("acme-web-dark", "copy-theme-acme-web-dark"),
    ] {
        let json_of = |node: &str| demo.content(json!({"node": node, "format": "json"}));
        assert_eq!(json_of(copy).await, json_of(original).await, "{copy}");
    }
}

#[tokio::test]
async fn export_routes_take_the_options_as_query_parameters_with_their_own_etag() {
    let demo = Demo::start();
    let plain = demo.file("/v1/nodes/acme-web/export.css", None).await;
    let themed = demo
        .file(
            "/v1/nodes/acme-web/export.css?outputReferences=true&themes=true",
            None,
        )
        .await;
    assert_eq!(themed.status, 200, "{}", themed.body);
    assert_eq!(
        themed.body,
        demo.content(
            json!({"node": "acme-web", "format": "css", "outputReferences": true, "themes": true})
        )
        .await
    );
    assert!(
        themed.body.contains(
            "[data-theme=\"acme-web-dark\"] {\n  --color-action-bg: var(--color-brand-primary);\n"
        ),
        "{}",
        themed.body
    );
    assert_ne!(themed.etag, plain.etag);
    let again = demo
        .file(
            "/v1/nodes/acme-web/export.css?themes=true&outputReferences=true",
            Some(&themed.etag),
        )
        .await;
    assert_eq!(again.status, 304);
    let other = demo
        .file("/v1/nodes/acme-web/export.css", Some(&themed.etag))
        .await;
    assert_eq!(other.status, 200, "another variant's ETag must not get 304");

    // Options that render the same bytes still name another representation.
    let leaf = demo.file("/v1/nodes/acme-web-dark/export.css", None).await;
    let leaf_themed = demo
        .file("/v1/nodes/acme-web-dark/export.css?themes=true", None)
        .await;
    assert_eq!(leaf_themed.body, leaf.body);
    assert_ne!(leaf_themed.etag, leaf.etag);

    for (query, value) in [
        ("nameCase=camel", "  --colorBrandPrimary: #5b21b6;\n"),
        ("colorFormat=hsl", "  --color-base-white: hsl(0 0% 100%);\n"),
        (
            "outputReferences=false",
            "  --color-brand-primary: #5b21b6;\n",
        ),
    ] {
        let file = demo
            .file(&format!("/v1/nodes/acme-web/export.css?{query}"), None)
            .await;
        assert!(file.body.contains(value), "{query}: {}", file.body);
    }
}

#[tokio::test]
async fn every_bad_option_is_a_validation_error_naming_what_is_valid() {
    let demo = Demo::start();
    let export = |input: Value| demo.export(input);
    refused(
        &export(json!({"node": "acme", "format": "css", "nameCase": "shouty"})).await,
        "nameCase: unknown name case \"shouty\"",
        "Use one of: kebab, camel, pascal, snake, constant.",
    );
    refused(
        &export(json!({"node": "acme", "format": "css", "colorFormat": "cmyk"})).await,
        "colorFormat: unknown colour format \"cmyk\"",
        "Use one of: auto, hex, rgb, hsl, oklch, display-p3.",
    );
    refused(
        &export(json!({"node": "acme", "format": "css", "selector": "a} b{"})).await,
        "selector must be a non-empty CSS selector without braces",
        "Use e.g. :root",
    );
    refused(
        &export(json!({"node": "acme", "format": "sass"})).await,
        "format: unknown export format \"sass\"",
        "compose, resolver.",
    );
    for (input, message, suggestion) in [
        (
            json!({"format": "json", "themes": true}),
            "themes does not apply to json exports",
            "themes works with css; leave it out for json.",
        ),
        (
            json!({"format": "scss", "selector": ".x"}),
            "selector does not apply to scss exports",
            "selector works with css;",
        ),
        (
            json!({"format": "swift", "colorFormat": "hex"}),
            "colorFormat does not apply to swift exports",
            "colorFormat works with css, scss, less, js;",
        ),
        (
            json!({"format": "json", "outputReferences": true}),
            "outputReferences does not apply to json exports",
            "outputReferences works with css, scss, less, js, dtcg, swift, compose;",
        ),
        (
            json!({"format": "dtcg", "nameCase": "camel"}),
            "nameCase does not apply to dtcg exports",
            "nameCase works with css, json-flat,",
        ),
        (
            json!({"format": "resolver", "prefix": "ds"}),
            "prefix does not apply to resolver exports",
            "leave it out for resolver.",
        ),
    ] {
        let mut input = input;
        input["node"] = json!("acme-web");
        refused(&export(input).await, message, suggestion);
    }

    // Over HTTP: the same errors, a flag that is not a boolean, and an unknown parameter.
    let bad = [
        (
            "export.css?nameCase=shouty",
            "unknown name case",
            "kebab, camel",
        ),
        (
            "export.css?themes=yes",
            "query parameter themes must be true or false, not \"yes\"",
            "Use ?themes=true or ?themes=false.",
        ),
        (
            "export.json?colorFormat=hex",
            "colorFormat does not apply to json exports",
            "colorFormat works with css",
        ),
        (
            "export.css?outputRefs=true",
            "'outputRefs' was unexpected",
            "outputReferences",
        ),
    ];
    for (file, message, suggestion) in bad {
        let reply = demo.file(&format!("/v1/nodes/acme-web/{file}"), None).await;
        assert_eq!(reply.status, 400, "{file}: {}", reply.body);
        let body: Value = serde_json::from_str(&reply.body).expect("an envelope");
        refused(&body, message, suggestion);
    }
}
