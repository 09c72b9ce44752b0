// The page: wires the node tree, the token list, the inspector, the add form, exports, the access
// token and live updates together. State lives here; the other modules render and report.

import * as api from "./api.js";
import { $, announce, debounce, h, replace } from "./dom.js";
import { clearErrors, showError } from "./errors.js";
import { Inspector } from "./inspector.js";
import { Live } from "./live.js";
import { buildRows, filterRows, parseValueInput } from "./model.js";
import { TYPES } from "./preview.js";
import { TokenList } from "./tokens.js";
import { lineage, nodeHref, renderTree } from "./tree.js";

const ADD_FIELDS = ["path", "type", "value", "description"];
const ACTIVITY_MAX = 25;

const state = {
  nodes: [],
  byId: new Map(),
  node: null, // the selected node id
  rows: [], // every resolved token of the node `loaded`
  byPath: new Map(),
  loaded: null, // the node whose tokens `rows` holds
  filter: { query: "", type: "", origin: "" },
  formats: ["css", "json"],
  loads: 0, // a newer load makes older answers stale
};

const list = new TokenList($("#token-list"), {
  onOpen: (row) => inspector.show(row, state.node, state.byPath),
  onEmpty: () => (state.rows.length
    ? "No token matches the search and filters."
    : "This node has no tokens yet: add one with the form."),
});

const inspector = new Inspector($("#inspector"), {
  mutate,
  reveal: (path) => {
    if (!list.reveal(path)) {
      clearFilters();
      list.reveal(path);
    }
    const row = state.byPath.get(path);
    if (row) list.open(row);
  },
});

const live = new Live({
  onStatus: showConnection,
  onHello: ({ resumed }) => {
    // Events missed while away are replayed (since=); reloading also covers a restarted server.
    // The first hello reloads too: a change between the first load and the subscription would
    // otherwise be missed.
    if (resumed) refreshAll();
    else reloadLater();
  },
  onEvent: receive,
});

// ---------------------------------------------------------------------------------------------
// Loading

function showProblem(slot, envelope) {
  const el = $(slot);
  if (!envelope) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  const { message, suggestion } = envelope.error || {};
  replace(el, h("span", { class: "error-message", text: message || "Something went wrong." }),
    suggestion ? h("span", { class: "error-suggestion", text: suggestion }) : null);
  el.hidden = false;
}

async function loadTree() {
  const result = await api.allNodes();
  if (!result.success) {
    showProblem("#tree-error", result);
    return false;
  }
  showProblem("#tree-error", null);
  state.nodes = result.data.nodes;
  state.byId = new Map(state.nodes.map((n) => [n.id, n]));
  return true;
}

/** The node named in the address (#node=ID), else the first root. */
function wantedNode() {
  const match = location.hash.match(/^#node=(.+)$/);
  const id = match ? decodeURIComponent(match[1]) : null;
  if (id && state.byId.has(id)) return id;
  const root = state.nodes.find((n) => !n.parent);
  return root ? root.id : null;
}

function renderHeader() {
  const node = state.byId.get(state.node);
  const ids = node ? lineage(state.byId, node.id) : [];
  const crumbs = ids.slice(0, -1).flatMap((id) => [
    h("a", { href: nodeHref(id), text: state.byId.get(id)?.name || id }), h("span", { "aria-hidden": "true", text: " › " })]);
  replace($("#node-lineage"), crumbs);
  $("#node-title").textContent = node ? node.name || node.id : "Design tokens";
  replace($("#node-description"), node
    ? [h("code", { text: node.id }), node.description ? ` · ${node.description}` : ""]
    : "");
  $("#exports").hidden = !node;
  if (node) {
    replace($("#export-links"), state.formats.map((format) => h("a", {
      href: api.exportUrl(node.id, format),
      download: `${node.id}.${format}`,
      class: "button-link",
      dataset: { format },
      "aria-label": `Download ${node.id} as ${format.toUpperCase()}`,
      text: format.toUpperCase(),
    })));
  }
}

async function selectNode(id) {
  const changed = id !== state.node;
  state.node = id;
  // Keep the address naming the node shown (e.g. after the named one was deleted).
  if (id && location.hash !== nodeHref(id)) history.replaceState(null, "", nodeHref(id));
  renderTree($("#tree"), state.nodes, id);
  renderHeader();
  // Every change anywhere: a new design system or a node under another root shows up in the
  // tree too; token events for other nodes are only logged (see receive).
  live.follow(null);
  if (changed) {
    inspector.show(null);
    list.selectedPath = null;
    $("#token-list").scrollTop = 0;
  }
  await loadTokens();
}

/**
 * Loads the selected node's resolved tokens (and its parent's, to tell overrides from
 * definitions). Rows whose value or origin changed since the last load of the same node flash;
 * returns their paths.
 */
async function loadTokens({ reveal = null } = {}) {
  const id = state.node;
  const load = ++state.loads;
  const pane = $(".tokens-pane");
  pane.setAttribute("aria-busy", "true");
  if (!id) {
    state.rows = [];
    state.byPath = new Map();
    state.loaded = null;
    applyFilter();
    pane.removeAttribute("aria-busy");
    return [];
  }
  const parent = state.byId.get(id)?.parent;
  const [mine, theirs] = await Promise.all([
    api.get(`/v1/nodes/${encodeURIComponent(id)}/tokens`),
    parent ? api.get(`/v1/nodes/${encodeURIComponent(parent)}/tokens`) : null,
  ]);
  if (load !== state.loads) return [];
  pane.removeAttribute("aria-busy");
  const failed = !mine.success ? mine : theirs && !theirs.success ? theirs : null;
  showProblem("#load-error", failed);
  if (failed) return [];
  const before = state.loaded === id ? state.byPath : null;
  state.rows = buildRows(id, mine.data.tokens, theirs ? theirs.data.tokens : null);
  state.byPath = new Map(state.rows.map((r) => [r.path, r]));
  state.loaded = id;
  const moved = !before ? [] : state.rows
    .filter((r) => {
      const old = before.get(r.path);
      return !old || old.text !== r.text || old.source !== r.source || old.origin !== r.origin;
    })
    .map((r) => r.path);
  updateTypeFilter();
  applyFilter();
  if (moved.length) list.flash(moved);
  if (reveal && !list.reveal(reveal)) {
    clearFilters();
    list.reveal(reveal);
  }
  const selected = list.selectedPath && state.byPath.get(list.selectedPath);
  if (list.selectedPath && !selected) list.select(null);
  inspector.show(selected || null, id, state.byPath);
  return moved;
}

async function refreshAll() {
  if (await loadTree()) await selectNode(wantedNode());
}

// ---------------------------------------------------------------------------------------------
// Search and filters

function updateTypeFilter() {
  const select = $("#token-type-filter");
  const present = [...new Set(state.rows.map((r) => r.type))].sort();
  // Rebuilt only when the types change, so a live update never disturbs someone using it.
  if (select.dataset.types === present.join(",")) return;
  select.dataset.types = present.join(",");
  const current = select.value;
  replace(select, h("option", { value: "", text: "All types" }),
    present.map((t) => h("option", { value: t, text: t })));
  select.value = present.includes(current) ? current : "";
  state.filter.type = select.value;
}

function applyFilter() {
  const shown = filterRows(state.rows, state.filter);
  list.setRows(shown);
  const total = state.rows.length;
  $("#token-count").textContent = shown.length === total
    ? `${total} token${total === 1 ? "" : "s"}`
    : `${shown.length} of ${total} tokens`;
}

function clearFilters() {
  state.filter = { query: "", type: "", origin: "" };
  $("#token-search").value = "";
  $("#token-type-filter").value = "";
  $("#token-origin-filter").value = "";
  applyFilter();
}

const searchLater = debounce(() => {
  state.filter.query = $("#token-search").value;
  applyFilter();
}, 120);

// ---------------------------------------------------------------------------------------------
// Changes

// Trace ids of this page's own changes: their live events need no reload (the change's own
// answer already triggers one).
const ownTraces = new Set();

function send(command, input) {
  const traceId = api.newTraceId();
  ownTraces.add(traceId);
  if (ownTraces.size > 200) ownTraces.delete(ownTraces.values().next().value);
  return api.call(command, input, traceId);
}

/** Runs a mutation; on success announces `done`, reloads, and shows `path`. */
async function mutate(command, input, done, path) {
  const envelope = await send(command, input);
  if (envelope.success) {
    announce(done);
    const removed = command === "token.remove";
    await loadTokens({ reveal: removed ? null : path });
    // The removed token's controls are gone; keep the keyboard in the list.
    if (removed) $("#token-list").focus();
  }
  return envelope;
}

async function addToken(event) {
  event.preventDefault();
  const form = event.currentTarget;
  if (!state.node) return;
  clearErrors("add", ADD_FIELDS);
  const type = $("#add-type").value;
  const input = {
    node: state.node,
    path: $("#add-path").value.trim(),
    type,
    value: parseValueInput(type, $("#add-value").value),
  };
  const description = $("#add-description").value.trim();
  if (description) input.description = description;
  form.setAttribute("aria-busy", "true");
  $("#add-submit").disabled = true;
  try {
    const envelope = await send("token.add", input);
    if (!envelope.success) {
      const fallback = envelope.error?.code === "ALREADY_EXISTS" ? "path" : null;
      showError("add", ADD_FIELDS, envelope.error, fallback);
      return;
    }
    for (const id of ["#add-path", "#add-value", "#add-description"]) $(id).value = "";
    announce(`Added ${input.path} to ${state.node}`);
    await loadTokens({ reveal: input.path });
    const row = state.byPath.get(input.path);
    if (row) list.open(row);
  } finally {
    form.removeAttribute("aria-busy");
    $("#add-submit").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Live updates

function showConnection(status) {
  const el = $("#connection");
  el.dataset.state = status.state;
  const text = {
    live: "Live",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    offline: "Offline — reconnecting",
  }[status.state];
  $("#connection-text").textContent = status.state === "offline" && status.attempt > 1
    ? `${text} (attempt ${status.attempt})`
    : text;
  if (status.instance) el.dataset.instance = status.instance;
  el.title = status.state === "live" ? `Receiving changes live from instance ${status.instance}` : "";
}

// Events come in bursts; one reload follows the last of them (the tree too when nodes changed).
let pendingTree = false;
const reloadLater = debounce(async () => {
  const tree = pendingTree;
  pendingTree = false;
  if (tree) {
    if (await loadTree()) await selectNode(wantedNode());
    return;
  }
  const moved = await loadTokens();
  if (moved.length) {
    announce(`${moved.length === 1 ? moved[0] : `${moved.length} tokens`} changed on ${state.node}`);
  }
}, 80);

function receive(event) {
  api.noteRevision(event.revision);
  const own = ownTraces.delete(event.traceId);
  logActivity(event, own);
  if (own) return;
  // A token change matters here when it is on this node or one it inherits from.
  const affects = state.node ? lineage(state.byId, state.node) : [];
  if (event.kind.startsWith("node.")) pendingTree = true;
  else if (!affects.includes(event.node)) return;
  reloadLater();
}

function logActivity(event, own) {
  const at = new Date(event.at);
  const time = Number.isNaN(at.getTime()) ? event.at : at.toLocaleTimeString();
  const item = h("li", { class: "activity-item", dataset: { seq: event.seq } },
    h("time", { datetime: event.at, text: time }), " ",
    h("strong", { text: event.kind }), " ",
    event.paths.length ? h("code", { text: event.paths.join(", ") }) : null,
    " on ", h("a", { href: nodeHref(event.node), text: event.node }),
    h("span", { class: "muted", text: ` · ${own ? "this page" : event.actor}` }));
  const activity = $("#activity");
  activity.prepend(item);
  while (activity.children.length > ACTIVITY_MAX) activity.lastElementChild.remove();
}

// ---------------------------------------------------------------------------------------------
// Exports and the access token

/** Offers every export format when the command's schema lists them (an enum); else css and json. */
async function loadFormats() {
  const result = await api.get("/v1/commands/tokens.export");
  const schema = result.success ? result.data.commands?.[0]?.inputSchema?.properties?.format : null;
  const named = Array.isArray(schema?.enum) ? schema.enum.filter((f) => typeof f === "string") : [];
  if (named.length) {
    state.formats = [...new Set(["css", "json", ...named])];
    renderHeader();
  }
}

async function onExportClick(event) {
  const link = event.target.closest("a[data-format]");
  if (!link || !api.bearer()) return; // without a token the plain link does it
  event.preventDefault();
  const problem = await api.download(link.href, link.getAttribute("download"));
  if (problem) announce(`Download failed: ${problem}`);
}

function setupAuth() {
  const input = $("#auth-token");
  input.value = api.bearer();
  $("#auth-form").addEventListener("submit", (e) => {
    e.preventDefault();
    api.setBearer(input.value.trim());
    announce(input.value.trim() ? "Access token saved; reloading." : "Access token cleared.");
    live.reconnectNow(); // the socket was opened with the old token
    refreshAll();
  });
  $("#auth-clear").addEventListener("click", () => {
    input.value = "";
    api.setBearer("");
    announce("Access token cleared.");
    live.reconnectNow();
    refreshAll();
  });
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  replace($("#add-type"), TYPES.map((t) => h("option", { value: t, text: t })));
  $("#add-form").addEventListener("submit", addToken);
  $("#token-search").addEventListener("input", searchLater);
  $("#token-type-filter").addEventListener("change", (e) => {
    state.filter.type = e.target.value;
    applyFilter();
  });
  $("#token-origin-filter").addEventListener("change", (e) => {
    state.filter.origin = e.target.value;
    applyFilter();
  });
  $("#export-links").addEventListener("click", onExportClick);
  // Only #node=… addresses a node; other fragments (like the skip link's) leave the selection.
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#node=")) selectNode(wantedNode());
  });
  $(".skip").addEventListener("click", (e) => {
    e.preventDefault();
    $("#token-search").focus();
  });
  setupAuth();
  loadFormats();
  refreshAll().then(() => {
    document.body.dataset.ready = "true";
  });
}

start();
