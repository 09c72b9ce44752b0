//! `tinct build` end to end: the real binary on temporary token files.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn tinct(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinct"))
        .args(args)
        .current_dir(dir)
        .env_remove("TINCT_CONFIG")
        .output()
        .expect("run tinct")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

const BASE: &str = r##"{
  "color": {
    "$type": "color",
    "violet": {"$value": {"colorSpace": "srgb", "components": [0.427, 0.157, 0.851], "hex": "#6d28d9"}},
    "brand": {"$value": "{color.violet}", "$description": "Primary brand colour"}
  },
  "space": {"$type": "dimension", "md": {"$value": {"value": 16, "unit": "px"}}}
}"##;

const OVERRIDE: &str = r##"{"color": {"violet": {"$type": "color", "$value": {"colorSpace": "srgb", "components": [1, 0, 0], "hex": "#ff0000"}}}}"##;

#[test]
fn builds_css_from_a_directory_later_files_winning() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tokens/a-base.json", BASE);
    write(dir.path(), "tokens/b-override.json", OVERRIDE);
    let out = tinct(dir.path(), &["build", "tokens", "--out", "dist"]);
    assert!(out.status.success(), "{out:#?}");
    let css = fs::read_to_string(dir.path().join("dist/tokens.css")).unwrap();
    assert_eq!(
        css,
        ":root {\n  --color-brand: #ff0000;\n  --color-violet: #ff0000;\n  --space-md: 16px;\n}\n"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Built 1 file(s) from 3 tokens in "),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("warning: tokens/b-override.json: 1 token(s) defined in tokens/a-base.json are replaced by this file"), "{}", text(&out.stderr));
}

#[test]
fn builds_every_format_with_name_options() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tokens.json", BASE);
    let out = tinct(
        dir.path(),
        &[
            "build",
            "tokens.json",
            "--format",
            "css,scss,less,js,ts,json,dtcg,swift,android,compose",
            "--prefix",
            "ds",
            "--output-references",
            "--out",
            "out",
        ],
    );
    assert!(out.status.success(), "{out:#?}");
    let read = |f: &str| fs::read_to_string(dir.path().join("out").join(f)).unwrap();
    assert!(read("tokens.css").contains("--ds-color-brand: var(--ds-color-violet);"));
    assert!(
        read("tokens.scss").contains("$ds-color-brand: $ds-color-violet; // Primary brand colour")
    );
    assert!(read("tokens.less").contains("@ds-color-brand: @ds-color-violet;"));
    assert!(read("tokens.js").contains("export const dsColorBrand = dsColorViolet;"));
    assert!(read("tokens.d.ts").contains("export declare const dsColorBrand: string;"));
    assert!(read("tokens.tokens.json").contains("\"$value\": \"{color.violet}\""));
    assert!(read("tokens.swift").contains("public static let dsColorBrand = dsColorViolet"));
    assert!(read("tokens.xml").contains("<dimen name=\"ds_space_md\">16dp</dimen>"));
    assert!(read("tokens.kt").contains("val dsSpaceMd = 16.dp"));
    let snake = tinct(
        dir.path(),
        &[
            "build",
            "tokens.json",
            "--format",
            "json-flat",
            "--name-case",
            "constant",
            "--out",
            "flat",
        ],
    );
    assert!(snake.status.success(), "{snake:#?}");
    assert!(
        fs::read_to_string(dir.path().join("flat/tokens.json"))
            .unwrap()
            .contains("\"COLOR_BRAND\": {")
    );
}

#[test]
fn every_error_is_listed_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.json",
        r##"{"a": {"$type": "dimension", "$value": {"value": 4, "unit": "em"}}, "b": {"$value": 1}, "c": {"$type": "colour", "$value": "#fff"}}"##,
    );
    let out = tinct(dir.path(), &["build", "bad.json", "--out", "dist"]);
    assert_eq!(out.status.code(), Some(2), "{out:#?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: bad.json at /a/$value/unit: \"a\" (dimension): invalid value"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: bad.json at /b: \"b\" has no $type"),
        "{stderr}"
    );
    assert!(stderr.contains("(did you mean \"color\"?)"), "{stderr}");
    assert!(
        stderr.contains("3 error(s); nothing was written."),
        "{stderr}"
    );
    assert!(!dir.path().join("dist").exists());
}

#[test]
fn reference_errors_have_their_own_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "broken.json",
        r##"{"color": {"$type": "color", "red": {"$value": "#f00"}, "brand": {"$value": "{color.rde}"}}}"##,
    );
    let out = tinct(dir.path(), &["build", "broken.json"]);
    assert_eq!(out.status.code(), Some(13), "{out:#?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: broken.json at /color/brand/$value: token \"color.brand\" references \"{color.rde}\", which does not exist; did you mean \"color.red\"?"),
        "{stderr}"
    );
    write(
        dir.path(),
        "cycle.json",
        r#"{"n": {"$type": "number", "a": {"$value": "{n.b}"}, "b": {"$value": "{n.a}"}}}"#,
    );
    let out = tinct(dir.path(), &["build", "cycle.json"]);
    assert_eq!(out.status.code(), Some(12), "{out:#?}");
    assert!(text(&out.stderr).contains("circular reference: n.a -> n.b -> n.a"));
    let out = tinct(dir.path(), &["build", "missing.json"]);
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    assert!(text(&out.stderr).contains("missing.json does not exist"));
    let out = tinct(dir.path(), &["build", "broken.json", "--format", "sass"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("unknown export format \"sass\"; supported formats are css, json")
    );
}

#[test]
fn value_reference_and_cycle_errors_are_listed_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "all.json",
        r#"{"n": {"$type": "number", "bad": {"$value": "x"}, "uses-bad": {"$value": "{n.bad}"},
            "one": {"$value": 1}, "broken": {"$value": "{n.onw}"},
            "a": {"$value": "{n.b}"}, "b": {"$value": "{n.a}"}}}"#,
    );
    let out = tinct(dir.path(), &["build", "all.json", "--out", "dist"]);
    // The first error is the invalid value, so the exit code is 2.
    assert_eq!(out.status.code(), Some(2), "{out:#?}");
    let stderr = text(&out.stderr);
    for expected in [
        "error: all.json at /n/bad/$value: \"n.bad\" (number)",
        "error: all.json at /n/a/$value: circular reference: n.a -> n.b -> n.a",
        "error: all.json at /n/broken/$value: token \"n.broken\" references \"{n.onw}\", which does not exist; did you mean \"n.one\"",
        "3 error(s); nothing was written.",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
    assert!(!stderr.contains("n.uses-bad"), "{stderr}");
    assert!(!dir.path().join("dist").exists());
}

#[test]
fn a_resolver_set_that_includes_itself_is_a_circular_reference() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "loop.resolver.json",
        r##"{"version": "2025.10", "sets": {"a": {"sources": [{"$ref": "#/sets/b"}]}, "b": {"sources": [{"$ref": "#/sets/a"}]}},
            "resolutionOrder": [{"$ref": "#/sets/a"}]}"##,
    );
    let out = tinct(dir.path(), &["build", "--resolver", "loop.resolver.json"]);
    assert_eq!(out.status.code(), Some(12), "{out:#?}");
    assert!(
        text(&out.stderr).contains(
            "error: loop.resolver.json at /sets/a/sources/0: set \"a\" includes itself: a -> b -> a"
        ),
        "{}",
        text(&out.stderr)
    );
}

const RESOLVER: &str = r##"{
  "version": "2025.10",
  "sets": {"base": {"sources": [{"$ref": "base.json"}]}},
  "modifiers": {"theme": {"contexts": {
      "light": [{"color": {"bg": {"$type": "color", "$value": "#ffffff"}}}],
      "dark": [{"$ref": "dark.json"}]
  }, "default": "light"}},
  "resolutionOrder": [{"$ref": "#/sets/base"}, {"$ref": "#/modifiers/theme"}]
}"##;

#[test]
fn resolver_builds_a_css_rule_per_theme_and_a_file_per_theme_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "r/base.json",
        r##"{"color": {"$type": "color", "fg": {"$value": "#111111"}, "surface": {"$value": "{color.bg}"}}}"##,
    );
    write(
        dir.path(),
        "r/dark.json",
        r##"{"color": {"bg": {"$type": "color", "$value": "#000000"}}}"##,
    );
    write(dir.path(), "r/tokens.resolver.json", RESOLVER);
    let out = tinct(
        dir.path(),
        &[
            "build",
            "--resolver",
            "r/tokens.resolver.json",
            "--format",
            "css,json",
            "--out",
            "dist",
        ],
    );
    assert!(out.status.success(), "{out:#?}");
    let css = fs::read_to_string(dir.path().join("dist/tokens.css")).unwrap();
    assert_eq!(
        css,
        ":root {\n  --color-bg: #ffffff;\n  --color-fg: #111111;\n  --color-surface: #ffffff;\n}\n\n[data-theme=\"dark\"] {\n  --color-bg: #000000;\n  --color-surface: #000000;\n}\n"
    );
    assert!(dir.path().join("dist/tokens.json").exists());
    assert!(dir.path().join("dist/tokens.dark.json").exists());
    let out = tinct(
        dir.path(),
        &[
            "build",
            "--resolver",
            "r/tokens.resolver.json",
            "--theme",
            "theme=dark",
            "--out",
            "dark",
        ],
    );
    assert!(out.status.success(), "{out:#?}");
    assert!(
        fs::read_to_string(dir.path().join("dark/tokens.css"))
            .unwrap()
            .contains("--color-surface: #000000;")
    );
    let out = tinct(
        dir.path(),
        &[
            "build",
            "--resolver",
            "r/tokens.resolver.json",
            "--theme",
            "theme=dim",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("there is no context of modifier \"theme\" named \"dim\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn config_file_with_many_outputs_and_json_report() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tokens/base.json", BASE);
    write(
        dir.path(),
        "tinct.build.toml",
        "inputs = [\"tokens\"]\nout = \"gen\"\nprefix = \"acme\"\n\n[[output]]\nformat = \"css\"\nfile = \"vars.css\"\nselector = \".acme\"\n\n[[output]]\nformat = \"scss\"\n\n[[output]]\nformat = \"js\"\nname_case = \"pascal\"\n",
    );
    let out = tinct(dir.path(), &["--json", "build"]);
    assert!(out.status.success(), "{out:#?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["success"], true);
    assert_eq!(report["tokens"], 3);
    let files: Vec<&str> = report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["gen/vars.css", "gen/tokens.scss", "gen/tokens.js"]);
    assert!(
        fs::read_to_string(dir.path().join("gen/vars.css"))
            .unwrap()
            .starts_with(".acme {\n  --acme-color-brand: #6d28d9;")
    );
    assert!(
        fs::read_to_string(dir.path().join("gen/tokens.js"))
            .unwrap()
            .contains("export const AcmeColorBrand = \"#6d28d9\";")
    );
    write(
        dir.path(),
        "tinct.build.toml",
        "inputs = [\"tokens\"]\n[[output]]\nformat = \"css\"\nbogus = 1\n",
    );
    let out = tinct(dir.path(), &["build"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("tinct.build.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_writes_nothing_and_nothing_to_build_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t.json", BASE);
    let out = tinct(dir.path(), &["build", "t.json", "--check"]);
    assert!(out.status.success(), "{out:#?}");
    assert!(text(&out.stdout).starts_with("Checked 1 file(s) from 3 tokens"));
    assert!(!dir.path().join("build").exists());
    let out = tinct(dir.path(), &["build"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nothing to build: pass token files or directories"));
    let out = tinct(dir.path(), &["build", "t.json", "--theme", "theme=dark"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("pass --resolver FILE too"));
}
