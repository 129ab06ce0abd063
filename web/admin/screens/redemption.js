// One redemption: its timeline, its webhook deliveries, and confirm / cancel.
import { el, errorText, json, statusBadge, when, who } from "../format.js";
import { OPEN, watchRedemptions } from "../redemption-fields.js";

const READ = `query($id: ID!) {
  redemption(id: $id) {
    id status quantity pointsSpent fulfillmentData reason refundedAt createdAt updatedAt
    reward { id name type value } member { id externalUserId email name }
    events { id kind message fromStatus toStatus data actor createdAt }
  }
  webhookDeliveries(filter: {redemptionId: $id}, first: 20) {
    nodes { id event status attemptCount lastStatusCode createdAt deliveredAt
      attempts { attemptedAt statusCode latencyMs error } }
  }
}`;
const CONFIRM = `mutation($id: ID!, $data: JSON, $reason: String) {
  confirmRedemption(id: $id, data: $data, reason: $reason) {
    redemption { id status } errors { field code message } } }`;
const CANCEL = `mutation($id: ID!, $reason: String) {
  cancelRedemption(id: $id, reason: $reason) { redemption { id status } errors { field code message } } }`;

const KIND_WORDS = {
  REDEEM_REQUESTED: "Redeem requested",
  POINTS_WITHDRAWN: "Points withdrawn",
  STATUS_CHANGED: "Status changed",
  POINTS_REFUNDED: "Points refunded",
  STOCK_RETURNED: "Stock returned",
  WEBHOOK_POSTED: "Webhook posted",
  DATA_ADDED: "Data added",
};

function eventDetail(event) {
  const d = event.data || {};
  const parts = [];
  if (d.balanceBefore !== undefined && d.balanceAfter !== undefined) {
    parts.push(`balance ${d.balanceBefore} → ${d.balanceAfter}`);
  }
  if (d.attempt) parts.push(`attempt ${d.attempt}`);
  if (d.statusCode !== undefined && d.statusCode !== null) parts.push(`HTTP ${d.statusCode}`);
  if (d.error) parts.push(d.error);
  if (d.latencyMs !== undefined) parts.push(`${d.latencyMs} ms`);
  return parts.join(" · ");
}

export async function render(main, { session, params }) {
  const [id] = params;
  const problem = el("div", { class: "alert error", role: "alert" });
  const done = el("div", { class: "alert ok", role: "status" });
  const body = el("div");
  main.append(el("p", {}, el("a", { href: "#/redemptions" }, "← Redemptions")), el("h1", {}, "Redemption"), problem, done, body);

  let shownStatus = null;
  const summary = el("section", { class: "panel", "aria-label": "Summary" });
  const outcome = el("div");
  const timeline = el("ol", { class: "timeline panel" });
  const deliveryLog = el("div");

  async function load() {
    const data = await session.request(READ, { id });
    const r = data.redemption;
    if (!r) {
      body.replaceChildren(el("p", {}, "No redemption with this id."));
      return null;
    }
    if (!body.contains(summary)) {
      body.replaceChildren(
        el("div", { class: "grid2" }, summary, outcome),
        el("h2", {}, "Timeline"), timeline,
        el("h2", {}, "Webhook deliveries"), deliveryLog,
      );
    }
    summary.replaceChildren(
      el("dl", { class: "props" },
        el("dt", {}, "Status"), el("dd", { "data-testid": "status" }, statusBadge(r.status)),
        el("dt", {}, "ID"), el("dd", { class: "mono" }, r.id),
        el("dt", {}, "Reward"), el("dd", {}, `${r.reward.name} (${r.reward.type}${r.reward.value ? ", " + r.reward.value : ""})`),
        el("dt", {}, "Member"), el("dd", {}, el("a", { href: `#/members/${r.member.id}` }, r.member.externalUserId), r.member.email ? ` · ${r.member.email}` : ""),
        el("dt", {}, "Quantity"), el("dd", {}, String(r.quantity)),
        el("dt", {}, "Points spent"), el("dd", {}, String(r.pointsSpent)),
        el("dt", {}, "Created"), el("dd", {}, when(r.createdAt)),
        el("dt", {}, "Updated"), el("dd", {}, when(r.updatedAt)),
        el("dt", {}, "Reason"), el("dd", {}, r.reason || "—"),
        el("dt", {}, "Refunded"), el("dd", {}, when(r.refundedAt)),
        el("dt", {}, "Fulfilment data"), el("dd", {}, json(r.fulfillmentData)),
      ),
    );
    // The confirm / cancel forms are rebuilt only when the status moves, so what staff
    // are typing survives the timeline growing underneath (webhook attempts).
    if (r.status !== shownStatus) {
      shownStatus = r.status;
      outcome.replaceChildren(actions(r));
    }
    timeline.replaceChildren(...r.events.map((e) =>
      el("li", { "data-kind": e.kind },
        el("div", {}, el("strong", {}, KIND_WORDS[e.kind] || e.kind), " ",
          e.toStatus ? el("span", {}, e.fromStatus ? [statusBadge(e.fromStatus), " → "] : "", statusBadge(e.toStatus)) : "",
          " ", el("span", { class: "muted small" }, eventDetail(e))),
        e.message ? el("div", {}, e.message) : null,
        el("div", { class: "when" }, `${when(e.createdAt)} · by ${who(e.actor)}`),
        e.data ? el("details", {}, el("summary", { class: "small" }, "Data"), json(e.data)) : null,
      )));
    deliveryLog.replaceChildren(deliveries(data.webhookDeliveries.nodes));
    return r;
  }

  function deliveries(nodes) {
    if (!nodes.length) return el("p", { class: "muted" }, "No webhook delivery for this redemption.");
    return el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Event", "Status", "Attempts", "Last HTTP status", "Created"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, nodes.map((d) => el("tr", {},
        el("td", {}, d.event), el("td", {}, statusBadge(d.status)),
        el("td", {}, d.attempts.map((a) => el("div", { class: "small" }, `${when(a.attemptedAt)}: ${a.statusCode ?? a.error ?? "—"} (${a.latencyMs} ms)`)), d.attempts.length ? "" : "none yet"),
        el("td", {}, d.lastStatusCode ?? "—"), el("td", {}, when(d.createdAt)),
      ))),
    ));
  }

  function actions(r) {
    const panel = el("section", { class: "panel", "aria-labelledby": "actions-title", style: "height:100%" }, el("h2", { id: "actions-title", style: "margin-top:0" }, "Outcome"));
    if (!OPEN.includes(r.status)) {
      panel.append(el("p", { class: "muted" }, `${r.status === "FULFILLED" ? "Fulfilled" : "Failed"}: this is final.`));
      return panel;
    }
    const confirm = document.createElement("admin-form");
    confirm.configure({
      fields: [
        { name: "data", label: "Fulfilment data (JSON, optional)", type: "json", hint: 'What the member receives, e.g. {"code": "VC-123"}' },
        { name: "reason", label: "Note (optional)" },
      ],
      submitLabel: "Confirm (fulfilled)",
    });
    confirm.id = "confirm-form";
    confirm.addEventListener("admin-submit", (e) => act(confirm, CONFIRM, { id, ...e.detail.values }, "confirmRedemption", "Confirmed: the redemption is fulfilled."));
    const cancel = document.createElement("admin-form");
    cancel.configure({
      fields: [{ name: "reason", label: "Reason for cancelling", required: true, hint: "The member's points are refunded." }],
      submitLabel: "Cancel (failed, refund)",
    });
    cancel.id = "cancel-form";
    cancel.querySelector("button[type=submit]").classList.add("danger");
    cancel.addEventListener("admin-submit", (e) => act(cancel, CANCEL, { id, reason: e.detail.values.reason }, "cancelRedemption", "Cancelled: the points are refunded."));
    panel.append(el("h3", {}, "Confirm"), confirm, el("h3", {}, "Cancel"), cancel);
    return panel;
  }

  async function act(form, mutation, variables, field, message) {
    form.busy = true;
    try {
      const payload = (await session.request(mutation, variables))[field];
      if (!form.setErrors(payload.errors)) {
        done.textContent = message;
        await load();
      }
    } catch (err) {
      form.showError(errorText(err));
    } finally {
      form.busy = false;
    }
  }

  await load().catch((err) => (problem.textContent = errorText(err)));
  const stop = watchRedemptions(session, (update) => {
    if (update.redemption.id === id) load().catch((err) => (problem.textContent = errorText(err)));
  });
  return () => stop();
}
