// The webhook delivery log: every delivery with its attempts; replay one or since a time.
import { el, errorText, payloadText, shortId, statusBadge, when } from "../format.js";

const LIST = `query($filter: WebhookDeliveryFilter, $after: String) {
  webhookDeliveries(filter: $filter, first: 25, after: $after) {
    nodes { id endpointId event redemptionId status attemptCount nextAttemptAt lastStatusCode lastError deliveredAt createdAt
      attempts { attemptedAt statusCode latencyMs responseBody error } }
    pageInfo { hasNextPage endCursor } } }`;
const ENDPOINTS = `{ webhookEndpoints { id url } }`;
const REPLAY = `mutation($id: ID!) { replayDelivery(id: $id) { deliveries { id status } errors { field code message } } }`;
const REPLAY_SINCE = `mutation($endpointId: ID!, $since: DateTime!) { replayDeliveries(endpointId: $endpointId, since: $since) {
  deliveries { id } errors { field code message } } }`;

// Deliveries whose attempts staff opened: kept open when the log is read again.
const opened = new Set();

function attempts(d) {
  if (!d.attempts.length) return el("span", { class: "muted" }, "none yet");
  const details = el("details", { open: opened.has(d.id) },
    el("summary", {}, `${d.attempts.length} attempt${d.attempts.length > 1 ? "s" : ""}`),
    el("ol", { class: "small" }, d.attempts.map((a) => el("li", {},
      `${when(a.attemptedAt)} · ${a.statusCode !== null ? "HTTP " + a.statusCode : a.error || "no answer"} · ${a.latencyMs} ms`,
      a.responseBody ? el("pre", {}, a.responseBody.slice(0, 300)) : null))));
  details.addEventListener("toggle", () => (details.open ? opened.add(d.id) : opened.delete(d.id)));
  return details;
}

export async function render(main, { session, query }) {
  const endpoints = (await session.request(ENDPOINTS)).webhookEndpoints;
  const urls = Object.fromEntries(endpoints.map((e) => [e.id, e.url]));
  const notice = el("div", { class: "alert ok", role: "status" });
  const problem = el("div", { class: "alert error", role: "alert" });
  const filters = document.createElement("admin-form");
  const endpointOptions = [{ value: "", label: "Every endpoint" }, ...endpoints.map((e) => ({ value: e.id, label: e.url }))];
  filters.configure({
    fields: [
      { name: "endpointId", label: "Endpoint", type: "select", options: endpointOptions },
      { name: "status", label: "Status", type: "select", options: [{ value: "", label: "Any status" }, ...["PENDING", "DELIVERED", "DEAD"].map((s) => ({ value: s, label: s }))] },
    ],
    values: { endpointId: query.get("endpoint") || "", status: query.get("status") || "" },
    submitLabel: "Filter",
  });
  filters.addEventListener("admin-submit", (e) => {
    const p = new URLSearchParams();
    if (e.detail.values.endpointId) p.set("endpoint", e.detail.values.endpointId);
    if (e.detail.values.status) p.set("status", e.detail.values.status);
    location.hash = `#/webhooks/deliveries${p.size ? "?" + p : ""}`;
  });
  const since = document.createElement("admin-form");
  since.configure({
    fields: [
      { name: "endpointId", label: "Endpoint", type: "select", required: true, options: endpoints.map((e) => ({ value: e.id, label: e.url })) },
      { name: "since", label: "Dead deliveries created since (UTC)", type: "datetime", required: true },
    ],
    values: { endpointId: query.get("endpoint") || "" },
    submitLabel: "Replay dead deliveries",
  });
  since.addEventListener("admin-submit", async (e) => {
    try {
      const payload = (await session.request(REPLAY_SINCE, e.detail.values)).replayDeliveries;
      if (since.setErrors(payload.errors)) return;
      notice.textContent = `${payload.deliveries.length} deliver${payload.deliveries.length === 1 ? "y" : "ies"} queued again.`;
      await table.reload();
    } catch (err) {
      since.showError(errorText(err));
    }
  });

  const table = document.createElement("admin-table");
  table.errorText = errorText;
  main.append(
    el("p", {}, el("a", { href: "#/webhooks" }, "← Webhooks")),
    el("h1", {}, "Delivery log"),
    el("div", { class: "grid2" }, el("section", { class: "panel", "aria-label": "Filters" }, filters),
      endpoints.length ? el("section", { class: "panel", "aria-label": "Replay since" }, since) : null),
    notice, problem, table,
  );
  const filter = {};
  if (query.get("endpoint")) filter.endpointId = query.get("endpoint");
  if (query.get("status")) filter.status = query.get("status");

  async function replay(id) {
    problem.textContent = "";
    notice.textContent = "";
    try {
      const payload = (await session.request(REPLAY, { id })).replayDelivery;
      if (payload.errors.length) problem.textContent = payloadText(payload.errors);
      else notice.textContent = `Delivery ${shortId(id)} queued again.`;
      await table.reload();
    } catch (err) {
      problem.textContent = errorText(err);
    }
  }

  await table.configure({
    columns: [
      { key: "created", label: "Created", render: (d) => when(d.createdAt) },
      // Filtered to one endpoint, its URL is above: the attempts get the room.
      ...(filter.endpointId ? [] : [{ key: "endpoint", label: "Endpoint", render: (d) => el("span", { class: "mono small" }, urls[d.endpointId] || shortId(d.endpointId)) }]),
      { key: "event", label: "Event", render: (d) => d.event },
      { key: "redemption", label: "Redemption", render: (d) => (d.redemptionId ? el("a", { href: `#/redemptions/${d.redemptionId}`, class: "mono" }, shortId(d.redemptionId)) : "—") },
      {
        key: "status", label: "Status",
        // The replay button sits under the status, so it stays in view on a tablet.
        render: (d) => [statusBadge(d.status),
          d.status === "PENDING" && d.nextAttemptAt ? el("div", { class: "small muted" }, `next ${when(d.nextAttemptAt)}`) : null,
          el("div", { style: "margin-top:6px" },
          el("button", { type: "button", class: "secondary", onclick: () => replay(d.id), "aria-label": `Replay delivery ${shortId(d.id)}` }, "Replay"))],
      },
      { key: "attempts", label: "Attempts", render: attempts },
    ],
    empty: filter.status === "DEAD" ? "No dead deliveries." : "No deliveries.",
    load: (after) => session.request(LIST, { filter, after }).then((d) => d.webhookDeliveries),
  });
  const refresh = setInterval(() => table.reload(), 5000);
  return () => clearInterval(refresh);
}
