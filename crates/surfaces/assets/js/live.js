// Live change events over GET /v1/ws?node=ID&subtree=true&since=SEQ.
//
// The server sends {"type":"hello","instance","position"} and then {"type":"event","seq",…} in
// sequence order. After a disconnect the page reconnects with since= the last sequence it saw, so
// it misses nothing and sees nothing twice; meanwhile it reports "offline — reconnecting".
// A browser cannot set headers on a WebSocket, so the page's access token goes in access_token.

import { bearer } from "./api.js";

const MIN_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

export class Live {
  /**
   * @param {object} handlers
   * @param {(event: object) => void} handlers.onEvent  each change event, in order
   * @param {(status: {state: string, instance?: string, retryInMs?: number, attempt?: number}) => void} handlers.onStatus
   * @param {(hello: {instance: string, resumed: boolean}) => void} handlers.onHello
   */
  constructor({ onEvent, onStatus, onHello }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onHello = onHello;
    this.node = null;
    this.socket = null;
    this.last = null; // the last sequence seen (or the feed position at hello)
    this.attempt = 0;
    this.timer = 0;
    this.everConnected = false;
    window.addEventListener("online", () => this.reconnectNow());
  }

  /** Follows `node` and its subtree (null: every event); reconnects when that changes. */
  follow(node) {
    if (this.socket && this.node === node) return;
    this.node = node;
    this.reconnectNow();
  }

  reconnectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.close();
    this.open();
  }

  close() {
    if (!this.socket) return;
    const socket = this.socket;
    this.socket = null;
    socket.onclose = socket.onerror = socket.onmessage = socket.onopen = null;
    socket.close(1000, "page moved on");
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams();
    if (this.node) {
      query.set("node", this.node);
      query.set("subtree", "true");
    }
    if (this.last !== null) query.set("since", String(this.last));
    const token = bearer();
    if (token) query.set("access_token", token);
    const qs = query.toString();
    return `${scheme}//${location.host}/v1/ws${qs ? `?${qs}` : ""}`;
  }

  open() {
    this.onStatus({ state: this.everConnected ? "reconnecting" : "connecting", attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onmessage = (message) => this.receive(message);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.scheduleRetry();
    };
    // An error is always followed by close; nothing to do here.
    socket.onerror = () => {};
  }

  receive(message) {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    if (data.type === "hello") {
      const resumed = this.everConnected;
      this.everConnected = true;
      this.attempt = 0;
      if (this.last === null) this.last = data.position;
      this.onStatus({ state: "live", instance: data.instance });
      this.onHello({ instance: data.instance, resumed });
    } else if (data.type === "event") {
      if (this.last !== null && data.seq <= this.last) return;
      this.last = data.seq;
      this.onEvent(data);
    }
  }

  scheduleRetry() {
    const delay = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.onStatus({ state: "offline", retryInMs: delay, attempt: this.attempt });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }
}
