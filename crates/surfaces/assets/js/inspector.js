// The token inspector: one token in full — preview at real size, value, where it comes from (the
// winning node, what an override replaces, each alias step with its own source) — and the changes
// that make sense for it: update or remove a token the node defines, override an inherited one,
// change or reset an override. Errors from the server appear next to the value field.

import * as api from "./api.js";
import { clearErrors, showError } from "./errors.js";
import { announce, h, replace } from "./dom.js";
import { ORIGIN_LABELS, parseValueInput, valueInputText } from "./model.js";
import { formatValue, preview } from "./preview.js";
import { nodeHref } from "./tree.js";

const FIELDS = ["value"];
const HISTORY_LIMIT = 5;

export class Inspector {
  /**
   * @param {HTMLElement} section
   * @param {object} options
   * @param {(command: string, input: object, done: string, path: string) => Promise<object>} options.mutate
   *        runs a command and returns its envelope (the caller refreshes the page on success)
   * @param {(path: string) => void} options.reveal  shows another token of this node
   */
  constructor(section, { mutate, reveal }) {
    this.section = section;
    this.mutate = mutate;
    this.reveal = reveal;
    this.row = null;
    this.node = null;
    this.busy = false;
  }

  /** Shows `row` of `node`; `byPath` gives the sources of alias steps. */
  show(row, node, byPath) {
    const sameForm = this.row && row && this.row.path === row.path && this.row.origin === row.origin
      && this.node === node && this.formEl;
    this.row = row;
    this.node = node;
    if (!row) {
      this.formEl = null;
      replace(this.section,
        h("h2", { id: "inspector-heading", text: "Token" }),
        h("p", { class: "muted", text: "Select a token to see where its value comes from and to change it." }));
      return;
    }
    const info = this.info(row, node, byPath);
    if (sameForm) {
      this.infoEl.replaceWith(info);
      this.infoEl = info;
      // A value changed elsewhere shows in the field too, unless someone is editing it.
      const input = this.formEl.querySelector("#edit-value");
      if (document.activeElement !== input && input.value === input.defaultValue) {
        input.value = input.defaultValue = valueInputText(row.type, row.value);
      }
      return;
    }
    this.infoEl = info;
    this.formEl = this.form(row);
    replace(this.section, info, this.formEl);
  }

  info(row, node, byPath) {
    const source = (id) => h("a", { href: nodeHref(id), class: "node-ref", text: id });
    const from = [h("span", { class: `origin origin-${row.origin}`, text: ORIGIN_LABELS[row.origin] })];
    if (row.origin === "inherited") from.push(" from ", source(row.source));
    if (row.origin === "overridden" && row.inherited) {
      from.push(h("span", { class: "replaces" },
        "replaces ", h("code", { text: formatValue(row.inherited.type, row.inherited.value) }),
        " from ", source(row.inherited.source)));
    }
    const chain = row.aliasChain.map((path) => h("li", {},
      h("button", { type: "button", class: "linkish", onclick: () => this.reveal(path), text: path }),
      byPath.get(path) ? h("span", { class: "muted", text: ` on ${byPath.get(path).source}` }) : null));
    return h("div", { class: "inspector-info" },
      h("h2", { id: "inspector-heading", class: "inspector-path", text: row.path }),
      h("div", { class: "inspector-preview" }, preview(row.type, row.value, true)),
      h("dl", { class: "facts" },
        h("dt", { text: "Type" }), h("dd", { text: row.type }),
        h("dt", { text: "Value" }), h("dd", {}, h("code", { class: "inspector-value", text: row.text })),
        h("dt", { text: "Comes from" }), h("dd", { class: "inspector-origin" }, from),
        chain.length ? [h("dt", { text: "Alias chain" }), h("dd", {}, h("ol", { class: "chain" }, chain))] : null,
        row.description ? [h("dt", { text: "Description" }), h("dd", { text: row.description })] : null,
        h("dt", { text: "History" }), this.history(row)));
  }

  /** The latest changes of the token where its value is set (the source node), filled in later. */
  history(row) {
    const dd = h("dd", { class: "history" }, h("span", { class: "muted", text: "Loading…" }));
    api.call("token.history", { node: row.source, path: row.path, limit: HISTORY_LIMIT }).then((result) => {
      if (!result.success) {
        replace(dd, h("span", { class: "muted", text: result.error?.message || "Unavailable." }));
        return;
      }
      const entries = result.data.entries;
      if (!entries.length) {
        replace(dd, h("span", { class: "muted", text: "No recorded changes." }));
        return;
      }
      // Definitions log {type, value}; overrides log the bare value.
      const bare = (v) => (v && typeof v === "object" && "type" in v && "value" in v ? v.value : v);
      const show = (v) => (v === null || v === undefined ? "—" : formatValue(row.type, bare(v)));
      replace(dd, h("ol", { class: "history-list" }, entries.map((e) => {
        const at = new Date(e.at);
        return h("li", {},
          h("span", { class: "history-action", text: e.action }),
          " ", h("code", { text: `${show(e.before)} → ${show(e.after)}` }),
          h("span", { class: "muted", text: ` · ${e.actor} · ${Number.isNaN(at.getTime()) ? e.at : at.toLocaleString()}${e.node !== this.node ? ` · on ${e.node}` : ""}` }));
      })));
    });
    return dd;
  }

  form(row) {
    const submitLabel = { defined: "Save", inherited: "Override here", overridden: "Change override" }[row.origin];
    const input = h("input", {
      id: "edit-value", name: "value", autocomplete: "off", spellcheck: "false",
      value: valueInputText(row.type, row.value),
    });
    const form = h("form", { id: "edit-form", class: "stack edit-form", novalidate: true },
      h("div", { class: "field" },
        h("label", { for: "edit-value", text: row.origin === "defined" ? "Value" : `Value on ${this.node}` }),
        input,
        h("p", { class: "field-error", id: "edit-value-error", hidden: true })),
      h("p", { class: "field-error", id: "edit-form-error", hidden: true }),
      h("div", { class: "actions" },
        h("button", { type: "submit", id: "edit-submit", text: submitLabel }),
        row.origin === "overridden"
          ? h("button", { type: "button", id: "edit-reset", class: "secondary", onclick: () => this.reset(), text: "Reset to inherited" })
          : null,
        row.origin === "defined"
          ? h("button", { type: "button", id: "edit-remove", class: "danger", onclick: (e) => this.remove(e.currentTarget), text: "Remove…" })
          : null));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.save(input.value);
    });
    return form;
  }

  async run(command, input, done) {
    if (this.busy) return;
    this.busy = true;
    this.formEl?.setAttribute("aria-busy", "true");
    clearErrors("edit", FIELDS);
    try {
      const envelope = await this.mutate(command, input, done, input.path);
      if (!envelope.success) showError("edit", FIELDS, envelope.error, "value");
    } finally {
      this.busy = false;
      this.formEl?.removeAttribute("aria-busy");
    }
  }

  save(text) {
    const { path, type, origin } = this.row;
    const value = parseValueInput(type, text);
    const command = origin === "defined" ? "token.update" : "token.override";
    const verb = origin === "defined" ? "Updated" : "Overrode";
    return this.run(command, { node: this.node, path, value }, `${verb} ${path} on ${this.node}`);
  }

  reset() {
    const { path } = this.row;
    return this.run("token.reset", { node: this.node, path }, `Reset ${path} on ${this.node}; it inherits again`);
  }

  /** Two steps: the first press asks, the second removes. */
  remove(button) {
    const { path } = this.row;
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = `Confirm: remove ${path}`;
      announce(`Press again to remove ${path} from ${this.node}.`);
      return undefined;
    }
    return this.run("token.remove", { node: this.node, path }, `Removed ${path} from ${this.node}`);
  }
}
