//! The `tinct build --format css` pipeline without the CLI around it, with phase timings:
//!   cargo run --release -p tinct-engine --example prof -- tokens.json out.css
use std::time::Instant;
use tinct_engine::{ExportOptions, Format, ResolveOptions, TokenSet, export};

fn main() {
    let mut args = std::env::args().skip(1);
    let (input, output) = (args.next().expect("input"), args.next().expect("output"));
    let t = Instant::now();
    let text = std::fs::read_to_string(&input).expect("read");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let read = t.elapsed();
    let set = TokenSet::parse(&doc, Some(&input));
    std::mem::forget(doc);
    let (document, _) = set.finish().expect("valid");
    let parsed = t.elapsed();
    let resolved = document
        .into_resolved(&ResolveOptions {
            alias_chains: false,
        })
        .expect("resolves");
    let resolve = t.elapsed();
    let css = export(&resolved, Format::Css, &ExportOptions::default());
    std::fs::write(&output, &css).expect("write");
    let done = t.elapsed();
    eprintln!(
        "read+json {:?}, parse {:?}, resolve {:?}, css+write {:?}, total {:?}",
        read,
        parsed - read,
        resolve - parsed,
        done - resolve,
        done
    );
    std::mem::forget(resolved);
}
