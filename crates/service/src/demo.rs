//! A small design system for a first look: a root, a product and a dark theme, with aliases,
//! composites and overrides. Loaded through ordinary commands, so it exercises the real paths.

use serde_json::{Value, json};
use tinct_command::BatchItem;

pub const ROOT: &str = "acme";
pub const PRODUCT: &str = "acme-web";
pub const THEME: &str = "acme-web-dark";

fn item(command: &str, input: Value) -> BatchItem {
    BatchItem {
        command: command.to_owned(),
        input,
    }
}

fn token(node: &str, path: &str, ty: &str, value: Value) -> BatchItem {
    item(
        "token.add",
        json!({"node": node, "path": path, "type": ty, "value": value}),
    )
}

fn over(node: &str, path: &str, value: Value) -> BatchItem {
    item(
        "token.override",
        json!({"node": node, "path": path, "value": value}),
    )
}

/// The commands that build the demo, in order.
pub fn commands() -> Vec<BatchItem> {
    let mut items = vec![
        item(
            "node.create",
            json!({"id": ROOT, "name": "Acme Design System", "description": "Demo design system loaded by `tinct demo`"}),
        ),
        item(
            "node.create",
            json!({"id": PRODUCT, "parent": ROOT, "name": "Acme Web"}),
        ),
        item(
            "node.create",
            json!({"id": THEME, "parent": PRODUCT, "name": "Acme Web — Dark"}),
        ),
    ];
    let palette = [
        ("color.base.white", "#ffffff"),
        ("color.base.black", "#0b0b10"),
        ("color.base.violet.500", "#8b5cf6"),
        ("color.base.violet.700", "#6d28d9"),
        ("color.base.slate.100", "#f1f5f9"),
        ("color.base.slate.300", "#cbd5e1"),
        ("color.base.slate.700", "#334155"),
        ("color.base.slate.900", "#0f172a"),
        ("color.base.red.600", "#dc2626"),
        ("color.base.green.600", "#16a34a"),
    ];
    for (path, hex) in palette {
        items.push(token(ROOT, path, "color", json!(hex)));
    }
    let semantic = [
        ("color.brand.primary", "{color.base.violet.700}"),
        ("color.bg.default", "{color.base.white}"),
        ("color.bg.subtle", "{color.base.slate.100}"),
        ("color.text.default", "{color.base.slate.900}"),
        ("color.text.muted", "{color.base.slate.700}"),
        ("color.border.default", "{color.base.slate.300}"),
        ("color.feedback.danger", "{color.base.red.600}"),
        ("color.feedback.success", "{color.base.green.600}"),
        ("color.action.bg", "{color.brand.primary}"),
    ];
    for (path, alias) in semantic {
        items.push(token(ROOT, path, "color", json!(alias)));
    }
    for (step, px) in [
        ("1", 4),
        ("2", 8),
        ("3", 12),
        ("4", 16),
        ("6", 24),
        ("8", 32),
    ] {
        items.push(token(
            ROOT,
            &format!("space.{step}"),
            "dimension",
            json!({"value": px, "unit": "px"}),
        ));
    }
    items.extend([
        token(ROOT, "radius.md", "dimension", json!({"value": 6, "unit": "px"})),
        token(ROOT, "font.family.sans", "fontFamily", json!(["Inter", "Helvetica Neue", "sans-serif"])),
        token(ROOT, "font.weight.regular", "fontWeight", json!(400)),
        token(ROOT, "font.weight.bold", "fontWeight", json!(700)),
        token(ROOT, "font.size.body", "dimension", json!({"value": 1, "unit": "rem"})),
        token(ROOT, "motion.duration.fast", "duration", json!({"value": 120, "unit": "ms"})),
        token(ROOT, "motion.easing.standard", "cubicBezier", json!([0.4, 0, 0.2, 1])),
        token(
            ROOT,
            "shadow.card",
            "shadow",
            json!({"color": "#0f172a33", "offsetX": {"value": 0, "unit": "px"}, "offsetY": {"value": 2, "unit": "px"},
                   "blur": {"value": 8, "unit": "px"}, "spread": {"value": 0, "unit": "px"}}),
        ),
        token(
            ROOT,
            "typography.body",
            "typography",
            json!({"fontFamily": "{font.family.sans}", "fontSize": "{font.size.body}", "fontWeight": "{font.weight.regular}",
                   "letterSpacing": {"value": 0, "unit": "px"}, "lineHeight": 1.5}),
        ),
        over(PRODUCT, "color.base.violet.700", json!("#5b21b6")),
        over(PRODUCT, "radius.md", json!({"value": 8, "unit": "px"})),
        over(THEME, "color.bg.default", json!("{color.base.black}")),
        over(THEME, "color.bg.subtle", json!("{color.base.slate.900}")),
        over(THEME, "color.text.default", json!("{color.base.slate.100}")),
        over(THEME, "color.text.muted", json!("{color.base.slate.300}")),
        over(THEME, "color.border.default", json!("{color.base.slate.700}")),
        over(THEME, "color.brand.primary", json!("{color.base.violet.500}")),
    ]);
    items
}
