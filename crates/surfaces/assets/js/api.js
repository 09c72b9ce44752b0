// The page's only door to the server: REST calls that always resolve to a CommandResult envelope
// ({success, data, error {code, message, suggestion, details}, metadata}), never throw.
//
// Read-your-writes: the newest revision this page wrote or heard about (a mutation's
// metadata.revision, a live event's revision) goes out as the Tinct-Consistency header, so a read
// is never answered from a replica or cache older than what the page has already seen.

const TOKEN_KEY = "tinct.bearer";
let consistency = null; // a decimal string, or null

export function bearer() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setBearer(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be disabled; the token then lasts for this page only.
  }
}

/** Remembers `revision` when it is newer than the one kept. */
export function noteRevision(revision) {
  if (revision === null || revision === undefined) return;
  const text = String(revision);
  if (!/^\d+$/.test(text)) return;
  if (consistency === null || BigInt(text) > BigInt(consistency)) consistency = text;
}

/** A fresh trace id (32 hex digits), so the page can recognise the events of its own changes. */
export function newTraceId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function headers(json, traceId) {
  const out = { Accept: "application/json" };
  if (traceId) out["x-trace-id"] = traceId;
  if (json) out["Content-Type"] = "application/json";
  const token = bearer();
  if (token) out.Authorization = `Bearer ${token}`;
  if (consistency !== null) out["Tinct-Consistency"] = consistency;
  return out;
}

/** An envelope for a failure that happened before the server could answer. */
function localFailure(code, message, suggestion) {
  return { success: false, data: null, error: { code, message, suggestion, details: null }, metadata: {} };
}

async function request(method, url, body, traceId) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: headers(body !== undefined, traceId),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    return localFailure(
      "OFFLINE",
      "The server cannot be reached.",
      "Check that tinct is running; the page reconnects by itself.",
    );
  }
  let envelope;
  try {
    envelope = await response.json();
  } catch {
    return localFailure(
      "BAD_RESPONSE",
      `The server answered HTTP ${response.status} without a result envelope.`,
      "Check that this page is served by tinct (a proxy may be in the way).",
    );
  }
  noteRevision(envelope?.metadata?.revision);
  return envelope;
}

/** Runs a command: POST /v1/commands/{name}, optionally under a trace id of the caller's. */
export function call(name, input, traceId = null) {
  return request("POST", `/v1/commands/${encodeURIComponent(name)}`, input, traceId);
}

/** A read route, e.g. get(`/v1/nodes/${id}/tokens`). */
export function get(path) {
  return request("GET", path);
}

/** Every node, following nextCursor pages. */
export async function allNodes() {
  const nodes = [];
  let cursor = null;
  for (;;) {
    const query = new URLSearchParams({ limit: "1000" });
    if (cursor) query.set("cursor", cursor);
    const result = await get(`/v1/nodes?${query}`);
    if (!result.success) return result;
    nodes.push(...result.data.nodes);
    cursor = result.data.nextCursor;
    if (!cursor) return { ...result, data: { nodes } };
  }
}

export function exportUrl(node, format) {
  return `/v1/nodes/${encodeURIComponent(node)}/export.${encodeURIComponent(format)}`;
}

/**
 * Downloads an export. A plain link works without a token; with one, the file is fetched with the
 * Authorization header and saved from memory. Resolves to null or an error message.
 */
export async function download(url, filename) {
  let response;
  try {
    response = await fetch(url, { headers: headers(false), cache: "no-store" });
  } catch {
    return "The server cannot be reached.";
  }
  if (!response.ok) {
    const envelope = await response.json().catch(() => null);
    return envelope?.error?.message || `HTTP ${response.status}`;
  }
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
  return null;
}
