// The page's view of a node's tokens: rows built from the resolved tokens (GET
// /v1/nodes/{id}/tokens) and the parent's, so each row knows whether the node defines the token,
// overrides an inherited one, or inherits it. Also the text ⇄ value conversion of the forms.

import { formatValue } from "./preview.js";

/**
 * @param {string} node  the selected node
 * @param {object} tokens  path → {type, value, source, aliasChain, description}
 * @param {object|null} parentTokens  the same for the parent (null for a root)
 */
export function buildRows(node, tokens, parentTokens) {
  const rows = [];
  for (const [path, t] of Object.entries(tokens)) {
    const fromParent = parentTokens ? parentTokens[path] : undefined;
    let origin = "inherited";
    if (t.source === node) origin = fromParent ? "overridden" : "defined";
    const text = formatValue(t.type, t.value);
    rows.push({
      path,
      type: t.type,
      value: t.value,
      text,
      source: t.source,
      aliasChain: t.aliasChain || [],
      description: t.description || "",
      origin,
      // What the node would see without its override.
      inherited: origin === "overridden" ? fromParent : null,
      haystack: `${path} ${text} ${t.description || ""}`.toLowerCase(),
    });
  }
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return rows;
}

/** Rows that match every word of `query` and the type and origin filters. */
export function filterRows(rows, { query = "", type = "", origin = "" }) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return rows.filter((r) =>
    (!type || r.type === type)
    && (!origin || r.origin === origin)
    && words.every((w) => r.haystack.includes(w)));
}

export const ORIGIN_LABELS = {
  defined: "Defined here",
  overridden: "Overridden here",
  inherited: "Inherited",
};

const NUMBER = /^-?(\d+\.?\d*|\.\d+)$/;
const ALIAS = /^\{[^{}"]+\}$/;

/**
 * The JSON value to send for what someone typed: aliases and plain strings stay strings, JSON is
 * parsed, and the usual shorthands become DTCG objects (16px, 120ms, cubic-bezier(…), font lists).
 * The server still validates; this only saves typing JSON.
 */
export function parseValueInput(type, text) {
  const raw = text.trim();
  if (ALIAS.test(raw)) return raw;
  if (/^[[{"]/.test(raw)) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  const unit = raw.match(/^(-?(?:\d+\.?\d*|\.\d+))\s*([a-z]+)$/i);
  if (unit && (type === "dimension" || type === "duration")) {
    return { value: Number(unit[1]), unit: unit[2] };
  }
  if (NUMBER.test(raw) && (type === "number" || type === "fontWeight")) return Number(raw);
  if (type === "cubicBezier") {
    const inner = raw.replace(/^cubic-bezier\(/i, "").replace(/\)$/, "");
    const parts = inner.split(",").map((p) => p.trim());
    if (parts.length === 4 && parts.every((p) => NUMBER.test(p))) return parts.map(Number);
  }
  if (type === "fontFamily" && raw.includes(",")) {
    return raw.split(",").map((p) => p.trim().replace(/^["']|["']$/g, "")).filter(Boolean);
  }
  return raw;
}

/** What to put in a value field for an existing value (the inverse of parseValueInput). */
export function valueInputText(type, value) {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if ((type === "dimension" || type === "duration") && value && "unit" in value) {
    return `${value.value}${value.unit}`;
  }
  if (type === "cubicBezier" && Array.isArray(value)) return value.join(", ");
  if (type === "fontFamily" && Array.isArray(value)) return value.join(", ");
  return JSON.stringify(value);
}
