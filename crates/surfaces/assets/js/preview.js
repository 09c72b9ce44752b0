// What the page knows about DTCG token types: how to write a resolved value as text and how to
// preview it (colour swatches, dimension and duration bars, shadows, type specimens, easing
// curves). Everything is built with the DOM and CSSOM, so the Content-Security-Policy holds.

import { h, svg } from "./dom.js";

/** The DTCG types, in the order the add form offers them. */
export const TYPES = [
  "color", "dimension", "fontFamily", "fontWeight", "duration", "cubicBezier", "number",
  "strokeStyle", "border", "transition", "shadow", "gradient", "typography",
];

/** The longest bar, in px, before it is drawn as "longer than shown". */
const BAR_MAX_PX = { compact: 64, large: 300 };

const COLOR_FUNCTIONS = {
  hsl: (c) => `hsl(${c[0]} ${c[1]}% ${c[2]}%`,
  hwb: (c) => `hwb(${c[0]} ${c[1]}% ${c[2]}%`,
  lab: (c) => `lab(${c.join(" ")}`,
  lch: (c) => `lch(${c.join(" ")}`,
  oklab: (c) => `oklab(${c.join(" ")}`,
  oklch: (c) => `oklch(${c.join(" ")}`,
};

/** A CSS colour for a DTCG colour value (a string, or {colorSpace, components, alpha, hex}). */
export function cssColor(value) {
  if (typeof value === "string") return value;
  if (!value || typeof value !== "object") return null;
  const components = Array.isArray(value.components) ? value.components : [];
  const alpha = value.alpha ?? 1;
  const fn = COLOR_FUNCTIONS[value.colorSpace];
  const css = fn
    ? `${fn(components)} / ${alpha})`
    : `color(${value.colorSpace} ${components.join(" ")} / ${alpha})`;
  if (globalThis.CSS?.supports?.("color", css)) return css;
  return typeof value.hex === "string" ? value.hex : null;
}

/** "16px" for {value: 16, unit: "px"}; the JSON otherwise. */
function measure(value) {
  if (value && typeof value === "object" && "value" in value && "unit" in value) {
    return `${value.value}${value.unit}`;
  }
  if (typeof value === "number") return String(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

function px(value) {
  if (!value || typeof value !== "object") return 0;
  const n = Number(value.value) || 0;
  if (value.unit === "rem" || value.unit === "em") return n * 16;
  if (value.unit === "s") return n * 1000;
  return n;
}

function fontFamily(value) {
  const names = Array.isArray(value) ? value : [value];
  const generic = /^(serif|sans-serif|monospace|cursive|fantasy|system-ui|ui-\w+)$/;
  return names
    .filter((n) => typeof n === "string")
    .map((n) => (generic.test(n) ? n : `"${n.replace(/["\\]/g, "")}"`))
    .join(", ");
}

function cssShadow(value) {
  const layers = Array.isArray(value) ? value : [value];
  return layers
    .filter((s) => s && typeof s === "object")
    .map((s) => [
      s.inset ? "inset" : "",
      measure(s.offsetX ?? 0), measure(s.offsetY ?? 0), measure(s.blur ?? 0), measure(s.spread ?? 0),
      cssColor(s.color) ?? "",
    ].filter(Boolean).join(" "))
    .join(", ");
}

function cubicBezier(value) {
  return Array.isArray(value) ? `cubic-bezier(${value.join(", ")})` : String(value);
}

function cssGradient(value) {
  const stops = (Array.isArray(value) ? value : [])
    .map((s) => `${cssColor(s?.color) ?? "transparent"} ${Math.round((Number(s?.position) || 0) * 100)}%`);
  return stops.length ? `linear-gradient(90deg, ${stops.join(", ")})` : "none";
}

function strokeStyle(value) {
  return typeof value === "string" ? value : "dashed";
}

/** A short, human reading of a resolved value. */
export function formatValue(type, value) {
  switch (type) {
    case "color":
      return typeof value === "string" ? value : (value?.hex ?? cssColor(value) ?? JSON.stringify(value));
    case "dimension":
    case "duration":
      return measure(value);
    case "cubicBezier":
      return cubicBezier(value);
    case "fontFamily":
      return Array.isArray(value) ? value.join(", ") : String(value);
    case "shadow":
      return cssShadow(value);
    case "border":
      return value && typeof value === "object"
        ? `${measure(value.width)} ${strokeStyle(value.style)} ${formatValue("color", value.color)}`
        : JSON.stringify(value);
    case "transition":
      return value && typeof value === "object"
        ? `${measure(value.duration)} ${cubicBezier(value.timingFunction)}${value.delay ? ` delay ${measure(value.delay)}` : ""}`
        : JSON.stringify(value);
    case "typography":
      return value && typeof value === "object"
        ? `${value.fontWeight ?? ""} ${measure(value.fontSize)}/${measure(value.lineHeight ?? "normal")} ${Array.isArray(value.fontFamily) ? value.fontFamily[0] : value.fontFamily ?? ""}`.trim()
        : JSON.stringify(value);
    default:
      return typeof value === "string" ? value : JSON.stringify(value);
  }
}

function swatch(color) {
  const el = h("span", { class: "swatch", "aria-hidden": "true" });
  const fill = h("span", { class: "swatch-fill" });
  if (color) fill.style.background = color;
  else el.classList.add("swatch-unknown");
  el.append(fill);
  return el;
}

function bar(length, cls, large) {
  const max = large ? BAR_MAX_PX.large : BAR_MAX_PX.compact;
  const el = h("span", { class: `bar ${cls}`, "aria-hidden": "true" });
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${Math.max(1, Math.min(max, length))}px`;
  if (length > max) el.classList.add("bar-overflow");
  el.append(fill);
  return el;
}

function curve(points) {
  const [x1, y1, x2, y2] = Array.isArray(points) ? points.map(Number) : [0.25, 0.1, 0.25, 1];
  const path = `M0 1 C${x1} ${1 - y1} ${x2} ${1 - y2} 1 0`;
  return svg("svg", { class: "curve", viewBox: "-0.1 -0.35 1.2 1.7", preserveAspectRatio: "none", "aria-hidden": "true" },
    svg("path", { class: "curve-axis", d: "M0 1 L1 1 M0 1 L0 0" }),
    svg("path", { class: "curve-line", d: path }));
}

function specimen(style, text, large) {
  const el = h("span", { class: `specimen${large ? " specimen-large" : ""}`, "aria-hidden": "true", text });
  Object.assign(el.style, style);
  return el;
}

function typographyStyle(value, large) {
  const style = {};
  if (!value || typeof value !== "object") return style;
  if (value.fontFamily) style.fontFamily = fontFamily(value.fontFamily);
  if (value.fontWeight !== undefined) style.fontWeight = String(value.fontWeight);
  const size = px(value.fontSize);
  if (size) style.fontSize = `${large ? size : Math.min(size, 24)}px`;
  if (value.letterSpacing) style.letterSpacing = measure(value.letterSpacing);
  if (value.lineHeight !== undefined) style.lineHeight = String(measure(value.lineHeight));
  return style;
}

/**
 * A visual preview of a resolved value. `large` is the inspector's version (real sizes, sample
 * text); the list uses the compact one.
 */
export function preview(type, value, large = false) {
  switch (type) {
    case "color":
      return swatch(cssColor(value));
    case "dimension":
      return bar(px(value), "bar-dimension", large);
    case "duration":
      return bar(px(value) / 10, "bar-duration", large);
    case "cubicBezier":
      return curve(value);
    case "transition":
      return curve(value?.timingFunction);
    case "shadow": {
      const el = h("span", { class: "shadow-box", "aria-hidden": "true" });
      el.style.boxShadow = cssShadow(value);
      return el;
    }
    case "border": {
      const el = h("span", { class: "border-box", "aria-hidden": "true" });
      el.style.border = `${Math.min(px(value?.width), 8)}px ${strokeStyle(value?.style)} ${cssColor(value?.color) ?? "currentColor"}`;
      return el;
    }
    case "strokeStyle": {
      const el = h("span", { class: "stroke-line", "aria-hidden": "true" });
      el.style.borderTopStyle = strokeStyle(value);
      return el;
    }
    case "gradient": {
      const el = h("span", { class: "swatch gradient", "aria-hidden": "true" });
      el.style.background = cssGradient(value);
      return el;
    }
    case "typography":
      return specimen(typographyStyle(value, large), large ? "The quick brown fox jumps" : "Ag", large);
    case "fontFamily":
      return specimen({ fontFamily: fontFamily(value) }, large ? "The quick brown fox jumps" : "Ag", large);
    case "fontWeight":
      return specimen({ fontWeight: String(value) }, "Ag", large);
    default:
      return h("span", { class: "preview-none", "aria-hidden": "true" });
  }
}
