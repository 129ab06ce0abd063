// A graphql-transport-ws client (enisdenjo/graphql-ws PROTOCOL.md). After a dropped
// connection it reconnects with backoff and re-subscribes; a subscription with a
// `resumeKey` passes the last `eventId` it saw as `$after`, so no event is missed.

const MIN_DELAY = 500;
const MAX_DELAY = 15000;
const ACK_TIMEOUT = 10000;
const SILENCE_LIMIT = 45000; // the server pings every 15 s: this long without a word, the link is dead
const EXPIRED = /expired/i;

export class LiveClient extends EventTarget {
  constructor({ url, token, WebSocket = globalThis.WebSocket }) {
    super();
    this.url = url;
    this._token = token;
    this._WebSocket = WebSocket;
    this._subs = new Map(); // id -> { query, variables, handlers, resumeKey, after }
    this._nextId = 1;
    this._attempt = 0;
    this._stopped = false; // close() called, or refused until a new token
    this.status = "closed";
  }

  get token() { return this._token; }

  set token(value) {
    this._token = value;
    this._stopped = false;
    this._attempt = 0;
    if (this._subs.size) (this._drop(1000, "New credential"), this._connect());
  }

  subscribe(query, variables, { next, error }, { resumeKey } = {}) {
    const id = String(this._nextId++);
    this._subs.set(id, { query, variables: { ...variables }, next, error, resumeKey, after: null });
    if (this._acked) this._send({ id, type: "subscribe", payload: this._payload(id) });
    else if (!this._socket && !this._timer && !this._stopped) this._connect();
    return () => {
      if (this._subs.delete(id) && this._acked) this._send({ id, type: "complete" });
    };
  }

  close() {
    this._stopped = true;
    this._subs.clear();
    this._drop(1000, "Closed by the page");
    this._setStatus("closed");
  }

  _payload(id) {
    const sub = this._subs.get(id);
    const variables = { ...sub.variables };
    if (sub.resumeKey && sub.after != null) variables.after = sub.after;
    return { query: sub.query, variables };
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }

  _connect() {
    clearTimeout(this._timer);
    this._timer = null;
    this._setStatus(this.status === "reconnecting" ? "reconnecting" : "connecting");
    const socket = (this._socket = new this._WebSocket(this.url, "graphql-transport-ws"));
    this._acked = false;
    socket.onopen = () => {
      const payload = this._token ? { Authorization: `Bearer ${this._token}` } : {};
      this._send({ type: "connection_init", payload });
      this._watch(ACK_TIMEOUT);
    };
    socket.onmessage = (message) => this._receive(socket, message.data);
    socket.onclose = (event) => this._closed(socket, event);
  }

  _receive(socket, raw) {
    if (socket !== this._socket) return;
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    this._watch(SILENCE_LIMIT);
    const sub = message.id != null ? this._subs.get(message.id) : null;
    switch (message.type) {
      case "connection_ack":
        this._acked = true;
        this._attempt = 0;
        this._setStatus("open");
        for (const id of this._subs.keys()) this._send({ id, type: "subscribe", payload: this._payload(id) });
        break;
      case "ping":
        this._send({ type: "pong" });
        break;
      case "next":
        if (!sub) break;
        if (message.payload?.errors?.length && !message.payload.data) this._failed(message.id, message.payload.errors);
        else {
          const value = sub.resumeKey ? message.payload?.data?.[sub.resumeKey] : null;
          if (value?.eventId != null) sub.after = String(value.eventId);
          sub.next?.(message.payload);
        }
        break;
      case "error":
        if (sub) this._failed(message.id, Array.isArray(message.payload) ? message.payload : [message.payload]);
        break;
      case "complete": // the server ended it, unless it is being subscribed again
        if (sub && !sub.resubscribing) this._subs.delete(message.id);
        if (sub) sub.resubscribing = false;
    }
  }

  _failed(id, errors) {
    const sub = this._subs.get(id);
    const extensions = errors[0]?.extensions ?? {};
    if (extensions.code === "TOKEN_EXPIRED") {
      sub.resubscribing = true;
      this.dispatchEvent(new Event("token-expired"));
      return; // kept: re-subscribed once the page gives a new token
    }
    if (sub.resumeKey && extensions.lastEventId != null) {
      // Fell behind or lost the server's feed: pick up after the last event it was given.
      sub.after = String(extensions.lastEventId);
      sub.resubscribing = true;
      setTimeout(() => {
        if (this._subs.has(id) && this._acked) this._send({ id, type: "subscribe", payload: this._payload(id) });
      }, MIN_DELAY);
      return;
    }
    this._subs.delete(id);
    sub.error?.(errors);
  }

  _closed(socket, event) {
    if (socket !== this._socket) return;
    this._socket = null;
    this._acked = false;
    clearTimeout(this._watchdog);
    if (this._stopped) return;
    const expired = event.code === 4401 || (event.code === 4403 && EXPIRED.test(event.reason || ""));
    if (expired || event.code === 4403) {
      // Retrying with the same credential cannot help: wait for a new token.
      this._stopped = true;
      this._setStatus("closed");
      this.dispatchEvent(new CustomEvent(expired ? "token-expired" : "refused", { detail: event.code }));
      return;
    }
    this._retry();
  }

  _retry() {
    if (this._stopped || !this._subs.size) return this._setStatus("closed");
    this._setStatus("reconnecting");
    const ceiling = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this._attempt++);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this._timer = setTimeout(() => this._connect(), delay);
  }

  _drop(code, reason) {
    clearTimeout(this._timer);
    clearTimeout(this._watchdog);
    this._timer = null;
    const socket = this._socket;
    this._socket = null;
    this._acked = false;
    if (socket && socket.readyState <= 1) socket.close(code, reason);
  }

  _watch(ms) {
    clearTimeout(this._watchdog);
    const socket = this._socket;
    this._watchdog = setTimeout(() => {
      if (socket !== this._socket) return;
      this._drop(4408, "No answer from the server");
      this._retry();
    }, ms);
  }

  _send(message) {
    if (this._socket?.readyState === 1) this._socket.send(JSON.stringify(message));
  }
}
