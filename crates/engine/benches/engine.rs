//! Criterion benches: parse, resolve, and every export format on the Style Dictionary budget
//! sets (9k tokens with references 3 deep, 30k with references 100 deep).
//!
//!   cargo bench -p tinct-engine                 all
//!   cargo bench -p tinct-engine -- resolve      one group

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use tinct_engine::{
    ExportOptions, Format, ResolveOptions, TokenSet, export, parse_document, resolve, resolve_with,
};

/// `tokens` tokens in chains of `depth` references (like bench/run.mjs): colours and
/// dimensions in DTCG 2025.10 object form.
fn generate(tokens: usize, depth: usize) -> Value {
    let mut color = Map::new();
    let mut size = Map::new();
    color.insert("$type".into(), json!("color"));
    size.insert("$type".into(), json!("dimension"));
    let mut made = 0;
    let mut chain = 0;
    while made < tokens {
        let group = if chain % 2 == 0 { "color" } else { "size" };
        let mut steps = Map::new();
        let mut step = 0;
        while step <= depth && made < tokens {
            let value = if step > 0 {
                json!(format!("{{{group}.chain-{chain}.step-{}}}", step - 1))
            } else if group == "color" {
                let c = (chain * 7919) % 0xffffff;
                json!({"colorSpace": "srgb", "components": [
                    (c >> 16) as f64 / 255.0, ((c >> 8) & 255) as f64 / 255.0, (c & 255) as f64 / 255.0
                ]})
            } else {
                json!({"value": chain % 64, "unit": "px"})
            };
            steps.insert(format!("step-{step}"), json!({"$value": value}));
            step += 1;
            made += 1;
        }
        let target = if group == "color" {
            &mut color
        } else {
            &mut size
        };
        target.insert(format!("chain-{chain}"), Value::Object(steps));
        chain += 1;
    }
    json!({"color": color, "size": size})
}

fn benches(c: &mut Criterion) {
    let values_only = ResolveOptions {
        alias_chains: false,
    };
    for (name, tokens, depth) in [("9k-3", 9_000, 3), ("30k-100", 30_000, 100)] {
        let doc = generate(tokens, depth);
        let (document, _) = parse_document(&doc).expect("valid");
        let (layers, meta) = document.layers();
        let resolved = resolve(&layers).expect("resolves");
        c.bench_function(&format!("parse/{name}"), |b| {
            b.iter(|| TokenSet::parse(black_box(&doc), None).finish())
        });
        // What tokens.resolve does: every value plus full lineage (alias chains).
        c.bench_function(&format!("resolve/{name}"), |b| {
            b.iter(|| resolve(black_box(&layers)))
        });
        // What an export needs: values only.
        c.bench_function(&format!("resolve-values/{name}"), |b| {
            b.iter(|| resolve_with(black_box(&layers), &meta, &values_only))
        });
        // The budget: resolve + CSS export (< 100 ms for 30k tokens 100 deep).
        c.bench_function(&format!("resolve+css/{name}"), |b| {
            b.iter(|| {
                let resolved = resolve_with(black_box(&layers), &meta, &values_only).expect("ok");
                export(&resolved, Format::Css, &ExportOptions::default())
            })
        });
        // The engine part of `tinct build --format css`: parsed JSON to CSS text.
        c.bench_function(&format!("build-css/{name}"), |b| {
            b.iter(|| {
                let (document, _) = TokenSet::parse(black_box(&doc), None).finish().expect("ok");
                let resolved = document.into_resolved(&values_only).expect("ok");
                export(&resolved, Format::Css, &ExportOptions::default())
            })
        });
        for format in Format::ALL {
            c.bench_function(&format!("export/{}/{name}", format.as_str()), |b| {
                b.iter(|| export(black_box(&resolved), format, &ExportOptions::default()))
            });
        }
    }
}

criterion_group! {
    name = engine;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(engine);
