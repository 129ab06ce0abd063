// Webhook endpoints: create (secret shown once), edit, disable, rotate, ping.
import { el, errorText, payloadText, statusBadge, when } from "../format.js";
import { secretBox } from "../secret-box.js";

const LIST = `{ webhookEndpoints { id url events payloadFormat enabled disabledReason failingSince
  previousSecretValidUntil createdAt } }`;
const FIELDS = "endpoint { id } secret errors { field code message }";
const CREATE = `mutation($input: WebhookEndpointInput!) { createWebhookEndpoint(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: WebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { ${FIELDS} } }`;
const ROTATE = `mutation($id: ID!, $overlap: Int!) { rotateWebhookSecret(id: $id, overlapSeconds: $overlap) { ${FIELDS} } }`;
const PING = `mutation($id: ID!) { pingWebhookEndpoint(id: $id) { deliveries { id status } errors { field code message } } }`;
const DELETE = `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deleted errors { field code message } } }`;
// The catalogue (schema.graphql WebhookEventType; docs/webhooks.md). A new endpoint wants
// the redemption events unless the admin picks others.
const EVENTS = [
  "redemption.created", "redemption.status_changed", "points.earned", "points.spent",
  "points.refunded", "points.adjusted", "points.expired", "points.expiring_soon",
  "member.tier_changed", "reward.low_stock", "sync.batch_failed_items", "endpoint.disabled",
];
const DEFAULT_EVENTS = ["redemption.created", "redemption.status_changed"];
const FORMATS = ["GAMIFY", "XTREMEPUSH", "TOOLZZ"];

function endpointFields(values = {}) {
  return [
    { name: "url", label: "URL", type: "url", required: true, wide: true, placeholder: "https://shop.example/hooks/gamify" },
    ...EVENTS.map((event) => ({ name: `event:${event}`, label: `Send ${event}`, type: "checkbox", default: (values.events || DEFAULT_EVENTS).includes(event) })),
    { name: "payloadFormat", label: "Payload format", type: "select", options: FORMATS.map((f) => ({ value: f, label: f })), hint: "Only redemption.created has the XTREMEPUSH and TOOLZZ shapes; other events use the GAMIFY shape." },
  ];
}

function inputOf(values) {
  return {
    url: values.url,
    events: EVENTS.filter((e) => values[`event:${e}`]),
    payloadFormat: values.payloadFormat,
  };
}

export async function render(main, { session }) {
  const shown = el("div");
  const problem = el("div", { class: "alert error", role: "alert" });
  const list = el("div");
  main.append(
    el("h1", {}, "Webhooks"),
    el("p", {}, el("a", { href: "#/webhooks/deliveries" }, "Delivery log →"), " ", el("a", { href: "#/webhooks/deliveries?status=DEAD" }, "Dead deliveries →")),
    shown, problem,
  );

  const create = document.createElement("admin-form");
  create.configure({ fields: endpointFields(), submitLabel: "Add endpoint" });
  create.id = "new-endpoint";
  create.addEventListener("admin-submit", async (e) => {
    create.busy = true;
    try {
      const payload = (await session.request(CREATE, { input: inputOf(e.detail.values) })).createWebhookEndpoint;
      if (create.setErrors(payload.errors)) return;
      shown.replaceChildren(secretBox("Signing secret of the new endpoint:", payload.secret));
      create.configure({ fields: endpointFields(), submitLabel: "Add endpoint" });
      await load();
    } catch (err) {
      create.showError(errorText(err));
    } finally {
      create.busy = false;
    }
  });
  main.append(el("h2", {}, "Endpoints"), list, el("h2", {}, "Add an endpoint"), el("section", { class: "panel" }, create));

  async function run(mutation, variables, field, after) {
    problem.textContent = "";
    try {
      const payload = (await session.request(mutation, variables))[field];
      if (payload.errors.length) problem.textContent = payloadText(payload.errors);
      else await after(payload);
    } catch (err) {
      problem.textContent = errorText(err);
    }
  }

  async function load() {
    const endpoints = (await session.request(LIST)).webhookEndpoints;
    if (!endpoints.length) {
      list.replaceChildren(el("p", { class: "muted" }, "No endpoints yet: add one below."));
      return;
    }
    list.replaceChildren(...endpoints.map((ep) => card(ep)));
  }

  function card(ep) {
    const editable = ep.payloadFormat !== "POINT_MASTER";
    const edit = document.createElement("admin-form");
    const details = el("details", {}, el("summary", {}, "Edit"), edit);
    if (editable) {
      edit.configure({ fields: endpointFields(ep), values: ep, submitLabel: "Save endpoint" });
      edit.addEventListener("admin-submit", async (e) => {
        const payload = (await session.request(UPDATE, { id: ep.id, input: inputOf(e.detail.values) }).catch((err) => (edit.showError(errorText(err)), null)));
        if (payload && !edit.setErrors(payload.updateWebhookEndpoint.errors)) await load();
      });
    }
    const pinged = el("span", { class: "small", role: "status" });
    return el("section", { class: "panel endpoint", "data-url": ep.url },
      el("div", { class: "toolbar" },
        el("strong", { class: "mono" }, ep.url),
        statusBadge(ep.enabled ? "ENABLED" : "DISABLED"),
        el("span", { class: "spacer" }),
        el("a", { href: `#/webhooks/deliveries?endpoint=${ep.id}` }, "Deliveries")),
      el("dl", { class: "props small" },
        el("dt", {}, "Events"), el("dd", {}, ep.events.join(", ")),
        el("dt", {}, "Format"), el("dd", {}, ep.payloadFormat),
        ep.disabledReason ? [el("dt", {}, "Disabled because"), el("dd", {}, ep.disabledReason)] : [],
        ep.failingSince ? [el("dt", {}, "Failing since"), el("dd", {}, when(ep.failingSince))] : [],
        ep.previousSecretValidUntil ? [el("dt", {}, "Old secret signs until"), el("dd", {}, when(ep.previousSecretValidUntil))] : [],
        el("dt", {}, "Created"), el("dd", {}, when(ep.createdAt)),
      ),
      editable
        ? el("div", { class: "form-actions", style: "margin:10px 0" },
          el("button", { type: "button", class: "secondary", onclick: () => run(UPDATE, { id: ep.id, input: { enabled: !ep.enabled } }, "updateWebhookEndpoint", load) }, ep.enabled ? "Disable" : "Enable"),
          el("button", { type: "button", class: "secondary", onclick: () => run(PING, { id: ep.id }, "pingWebhookEndpoint", () => (pinged.textContent = "Ping sent: see the delivery log.")) }, "Ping"),
          el("button", {
            type: "button", class: "secondary",
            onclick: () => run(ROTATE, { id: ep.id, overlap: 86400 }, "rotateWebhookSecret", async (p) => {
              shown.replaceChildren(secretBox(`New signing secret for ${ep.url}:`, p.secret, "The old one keeps signing for 24 hours. Copy it now: it is not shown again."));
              await load();
            }),
          }, "Rotate secret"),
          el("button", { type: "button", class: "secondary", onclick: () => confirm(`Delete the endpoint ${ep.url}?`) && run(DELETE, { id: ep.id }, "deleteWebhookEndpoint", load) }, "Delete"),
          pinged)
        : el("p", { class: "muted small" }, "The point master's adjustment endpoint: change it on the Point master screen."),
      editable ? details : null,
    );
  }

  await load().catch((err) => (problem.textContent = errorText(err)));
}
