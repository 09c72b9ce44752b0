// The node tree: roots (design systems) → products → themes, as nested lists of links. Links keep
// the tree keyboard- and screen-reader-friendly and make every node addressable (#node=ID).

import { h, replace } from "./dom.js";

export function nodeHref(id) {
  return `#node=${encodeURIComponent(id)}`;
}

/** Children by parent id ("" for roots), each list in id order. */
export function childrenOf(nodes) {
  const byParent = new Map();
  for (const node of nodes) {
    const key = node.parent ?? "";
    if (!byParent.has(key)) byParent.set(key, []);
    byParent.get(key).push(node);
  }
  for (const list of byParent.values()) list.sort((a, b) => (a.id < b.id ? -1 : 1));
  return byParent;
}

/** Ids from the root down to `id`. */
export function lineage(nodesById, id) {
  const out = [];
  for (let n = nodesById.get(id); n && out.length < 1000; n = nodesById.get(n.parent)) out.unshift(n.id);
  return out;
}

export function renderTree(container, nodes, selected) {
  if (!nodes.length) {
    replace(container, h("p", { class: "muted" },
      "No nodes yet. Create one with ", h("code", { text: "tinct call node.create id=acme" }),
      " or load the demo with ", h("code", { text: "tinct demo" }), "."));
    return;
  }
  const byParent = childrenOf(nodes);
  const level = (parent, depth) => {
    const children = byParent.get(parent) || [];
    if (!children.length) return null;
    return h("ul", { class: depth === 0 ? "tree-roots" : "tree-children" },
      children.map((node) => h("li", { class: "tree-item" },
        h("a", {
          href: nodeHref(node.id),
          class: "tree-link",
          "aria-current": node.id === selected ? "page" : null,
          dataset: { node: node.id },
        },
        h("span", { class: "tree-name", text: node.name || node.id }),
        node.name && node.name !== node.id ? h("span", { class: "tree-id", text: node.id }) : null),
        level(node.id, depth + 1))));
  };
  replace(container, level("", 0));
}
