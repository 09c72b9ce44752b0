// The token list: a windowed list (only the rows in view, plus a few, are in the DOM), so a node
// with thousands of tokens scrolls and filters smoothly. Keyboard: one row is in the tab order
// (roving tabindex); arrows, Page Up/Down, Home and End move between rows; Enter opens one.

import { h, replace } from "./dom.js";
import { ORIGIN_LABELS } from "./model.js";
import { preview } from "./preview.js";

const ROW_HEIGHT = 52; // keep in step with .token-row in app.css
const OVERSCAN = 6;
const FLASH_MS = 2500;

export class TokenList {
  /**
   * @param {HTMLElement} container  the scrolling element
   * @param {{onOpen: (row: object) => void, onEmpty: () => string}} options
   */
  constructor(container, { onOpen, onEmpty }) {
    this.container = container;
    this.onOpen = onOpen;
    this.onEmpty = onEmpty;
    this.rows = [];
    this.active = 0;
    this.selectedPath = null;
    this.flashUntil = new Map();
    this.renderedKey = "";
    this.frame = 0;
    this.list = h("ul", { class: "token-rows", "aria-labelledby": "tokens-heading" });
    this.spacer = h("div", { class: "token-spacer" }, this.list);
    this.empty = h("p", { class: "token-empty muted", hidden: true });
    container.append(this.spacer, this.empty);
    container.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(container);
    this.list.addEventListener("keydown", (e) => this.onKey(e));
    this.list.addEventListener("click", (e) => {
      const button = e.target.closest("button.token-open");
      if (!button) return;
      this.active = Number(button.dataset.index);
      this.open(this.rows[this.active]);
    });
    this.list.addEventListener("focusin", (e) => {
      const button = e.target.closest("button.token-open");
      if (button) this.active = Number(button.dataset.index);
    });
  }

  /** Shows `rows` (already filtered and sorted), keeping the scroll position where it can. */
  setRows(rows) {
    this.rows = rows;
    this.active = Math.min(this.active, Math.max(0, rows.length - 1));
    this.renderedKey = "";
    this.render();
  }

  /** Marks `path` as the one shown in the inspector. */
  select(path) {
    this.selectedPath = path;
    this.renderedKey = "";
    this.render();
  }

  /** Briefly highlights rows that just changed. */
  flash(paths) {
    const until = performance.now() + FLASH_MS;
    for (const p of paths) this.flashUntil.set(p, until);
    this.renderedKey = "";
    this.render();
  }

  /** Scrolls `path` into view and makes it the active row; false when it is filtered out. */
  reveal(path) {
    const index = this.rows.findIndex((r) => r.path === path);
    if (index < 0) return false;
    this.active = index;
    this.ensureVisible(index);
    this.renderedKey = "";
    this.render();
    return true;
  }

  open(row) {
    if (!row) return;
    this.select(row.path);
    this.onOpen(row);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  ensureVisible(index) {
    const top = index * ROW_HEIGHT;
    const view = this.container.clientHeight || ROW_HEIGHT * 10;
    if (top < this.container.scrollTop) this.container.scrollTop = top;
    else if (top + ROW_HEIGHT > this.container.scrollTop + view) this.container.scrollTop = top + ROW_HEIGHT - view;
  }

  onKey(e) {
    if (!e.target.closest("button.token-open")) return;
    const page = Math.max(1, Math.floor(this.container.clientHeight / ROW_HEIGHT) - 1);
    const moves = {
      ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page,
      Home: -Infinity, End: Infinity,
    };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const next = Math.max(0, Math.min(this.rows.length - 1, this.active + moves[e.key]));
    this.active = next;
    this.ensureVisible(next);
    this.renderedKey = "";
    this.render();
    this.focusActive();
  }

  focusActive() {
    const button = this.list.querySelector(`button[data-index="${this.active}"]`);
    if (button) button.focus();
  }

  render() {
    const total = this.rows.length;
    this.spacer.style.height = `${total * ROW_HEIGHT}px`;
    this.empty.hidden = total > 0;
    if (!total) {
      this.empty.textContent = this.onEmpty();
      this.list.replaceChildren();
      this.renderedKey = "empty";
      return;
    }
    const top = this.container.scrollTop;
    const view = this.container.clientHeight || ROW_HEIGHT * 10;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + view) / ROW_HEIGHT) + OVERSCAN);
    const key = `${first}:${last}:${total}`;
    if (key === this.renderedKey) return;
    this.renderedKey = key;
    const hadFocus = this.list.contains(document.activeElement);
    const now = performance.now();
    this.list.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    const items = [];
    for (let i = first; i < last; i++) items.push(this.row(this.rows[i], i, total, now));
    replace(this.list, items);
    if (hadFocus) {
      if (this.active >= first && this.active < last) this.focusActive();
      else this.container.focus({ preventScroll: true });
    }
  }

  row(r, index, total, now) {
    const flashing = (this.flashUntil.get(r.path) ?? 0) > now;
    const selected = r.path === this.selectedPath;
    const label = `${r.path}, ${r.type} ${r.text}, ${ORIGIN_LABELS[r.origin]}${r.origin === "inherited" ? ` from ${r.source}` : ""}`;
    return h("li", {
      class: `token-row${selected ? " selected" : ""}${flashing ? " flash" : ""}`,
      "aria-setsize": total,
      "aria-posinset": index + 1,
      dataset: { path: r.path, origin: r.origin, type: r.type },
    },
    h("span", { class: "cell cell-preview" }, preview(r.type, r.value)),
    h("span", { class: "cell cell-name" },
      h("button", {
        type: "button",
        class: "token-open",
        tabindex: index === this.active ? "0" : "-1",
        "aria-label": label,
        "aria-current": selected ? "true" : null,
        dataset: { index },
        text: r.path,
      }),
      r.description ? h("span", { class: "token-description", text: r.description }) : null),
    h("span", { class: "cell cell-value" },
      h("span", { class: "type-badge", text: r.type }),
      h("span", { class: "value-text", title: r.text, text: r.text })),
    h("span", { class: "cell cell-source" },
      h("span", { class: `origin origin-${r.origin}`, text: r.origin === "inherited" ? `from ${r.source}` : ORIGIN_LABELS[r.origin] }),
      r.aliasChain.length ? h("span", { class: "alias-chain", title: r.aliasChain.join(" → "), text: `→ ${r.aliasChain.join(" → ")}` }) : null));
  }
}
