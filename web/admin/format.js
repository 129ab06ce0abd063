// How the console writes values: dates, statuses, JSON, and errors in words.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function when(value) {
  if (!value) return "—";
  // UTC like the filters and the dashboard's "today", compact: 2026-12-04 18:53:03.
  return new Date(value).toISOString().slice(0, 19).replace("T", " ");
}

export function statusBadge(status) {
  if (!status) return el("span", { class: "muted" }, "—");
  return el("span", { class: "status", "data-status": status }, status.replaceAll("_", " "));
}

// Who did something ("admin:<uuid>", "api_key:gk_ab12", "system:webhooks"), uuids shortened.
export function who(actor) {
  return String(actor || "—").replace(/([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "$1…");
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) : "—";
}

export function json(value) {
  return el("pre", { class: "mono" }, value == null ? "—" : JSON.stringify(value, null, 2));
}

// A failure of a request, in words for staff (the client's GraphQLError or anything else).
export function errorText(err) {
  const code = err && err.code;
  const words = {
    NETWORK_ERROR: "The engine could not be reached. Check your connection and try again.",
    UNAUTHENTICATED: "You are not logged in.",
    TOKEN_EXPIRED: "Your session expired. Log in again.",
    FORBIDDEN: "Your account may not do this.",
    RATE_LIMITED: "Too many requests: wait a moment and try again.",
  };
  if (code && words[code]) {
    const wait = err.retryAfter ? ` (retry in ${err.retryAfter} s)` : "";
    return words[code] + wait;
  }
  const message = (err && err.message) || String(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

// The mutation payload's errors as a sentence each, for places with no field to attach to.
export function payloadText(errors) {
  return errors.map((e) => (e.field ? `${e.field}: ${e.message} (${e.code})` : `${e.message} (${e.code})`)).join(" ");
}

// An ISO time for a <input type="datetime-local"> value read as UTC, and back.
export function fromLocalInput(value) {
  return value ? new Date(value + (value.length === 16 ? ":00" : "") + "Z").toISOString() : null;
}
export function toLocalInput(iso) {
  return iso ? new Date(iso).toISOString().slice(0, 16) : "";
}
