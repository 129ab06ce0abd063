// Who owns the points: the tenant's and each currency's mode with the switch history, the
// master's settings, the shared key (shown once on rotation) and the sync batches.
import { el, errorText, payloadText, statusBadge, when, who } from "../format.js";
import { secretBox } from "../secret-box.js";

const READ = `{
  pointDefinitions { id name externalId isDefault pointMode effectivePointMode }
  pointModeChanges { id pointDefinitionId oldMode newMode actor reason createdAt }
  pointMasterSettings { pointsLogUrl pointsLogAuthHeader pointsLogAuthValue pointsLogTimeoutMs
    pointsLogCacheSeconds adjustmentUrl adjustmentEndpointId updatedBy updatedAt
    keys { keyId current createdBy createdAt retiredAt } }
}`;
const SET_MODE = `mutation($mode: PointMode, $reason: String!, $def: ID) {
  setPointMode(mode: $mode, reason: $reason, pointDefinitionId: $def) { mode change { id } errors { field code message } } }`;
const SAVE = `mutation($input: PointMasterSettingsInput!) { setPointMasterSettings(input: $input) {
  adjustmentEndpointSecret errors { field code message } } }`;
const ROTATE = `mutation { rotatePointMasterKey { key { keyId } secret errors { field code message } } }`;
const BATCHES = `query($after: String) { syncBatches(first: 20, after: $after) {
  nodes { id kind status itemCount appliedCount createdAt finishedAt messages { message timeStamp } }
  pageInfo { hasNextPage endCursor } } }`;
const MODES = ["MASTER", "FOLLOWER_BALANCE", "FOLLOWER_TRANSACTIONS"];

export async function render(main, { session }) {
  const shown = el("div");
  const body = el("div");
  main.append(el("h1", {}, "Point master"), shown, body);

  async function load() {
    const data = await session.request(READ);
    const tenantChange = data.pointModeChanges.find((c) => c.pointDefinitionId === null);
    const tenantMode = tenantChange ? tenantChange.newMode : "MASTER";
    const names = Object.fromEntries(data.pointDefinitions.map((d) => [d.id, d.name]));

    const modeForm = (definition) => {
      const form = document.createElement("admin-form");
      const options = definition
        ? [{ value: "", label: `Follow the tenant's (${tenantMode.replaceAll("_", " ")})` }, ...MODES.map((m) => ({ value: m, label: m.replaceAll("_", " ") }))]
        : MODES.map((m) => ({ value: m, label: m.replaceAll("_", " ") }));
      form.configure({
        fields: [
          { name: "mode", label: definition ? `Mode of “${definition.name}” (definitionId ${definition.externalId})` : "Tenant's point mode", type: "select", options, emptyIsNull: true },
          { name: "reason", label: "Reason for the switch", required: true },
        ],
        values: { mode: definition ? definition.pointMode ?? "" : tenantMode },
        submitLabel: "Switch",
      });
      form.addEventListener("admin-submit", async (e) => {
        try {
          const p = (await session.request(SET_MODE, { ...e.detail.values, def: definition ? definition.id : null })).setPointMode;
          if (!form.setErrors(p.errors)) await load();
        } catch (err) {
          form.showError(errorText(err));
        }
      });
      return form;
    };

    const s = data.pointMasterSettings;
    const settings = document.createElement("admin-form");
    settings.configure({
      fields: [
        { name: "pointsLogUrl", label: "Points log URL template", type: "url", wide: true, hint: "{contactId} is replaced by the member's external id" },
        { name: "pointsLogAuthHeader", label: "Auth header name" },
        { name: "pointsLogAuthValue", label: "Auth header value", type: "password", trim: false, hint: s.pointsLogAuthValue ? `Set (${s.pointsLogAuthValue}); leave empty to keep it` : "Not set" },
        { name: "pointsLogTimeoutMs", label: "Timeout (ms)", type: "number" },
        { name: "pointsLogCacheSeconds", label: "Cache (seconds)", type: "number" },
        { name: "adjustmentUrl", label: "Adjustment URL (loyalty.addPoints)", type: "url", wide: true },
      ],
      values: { ...s, pointsLogAuthValue: "" },
      submitLabel: "Save settings",
    });
    settings.addEventListener("admin-submit", async (e) => {
      const input = { ...e.detail.values };
      if (!input.pointsLogAuthValue) delete input.pointsLogAuthValue; // empty keeps the stored one
      for (const name of ["pointsLogUrl", "adjustmentUrl"]) if (!input[name]) input[name] = null;
      try {
        const p = (await session.request(SAVE, { input })).setPointMasterSettings;
        if (settings.setErrors(p.errors)) return;
        if (p.adjustmentEndpointSecret) shown.replaceChildren(secretBox("Signing secret of the adjustment endpoint:", p.adjustmentEndpointSecret));
        await load();
      } catch (err) {
        settings.showError(errorText(err));
      }
    });

    const rotateProblem = el("div", { class: "alert error", role: "alert" });
    const rotate = el("button", {
      type: "button", class: "secondary",
      onclick: async () => {
        try {
          const p = (await session.request(ROTATE)).rotatePointMasterKey;
          if (p.errors.length) rotateProblem.textContent = payloadText(p.errors);
          else {
            shown.replaceChildren(secretBox(`New shared key ${p.key.keyId}:`, p.secret, "Give it to the point master. Copy it now: it is not shown again."));
            await load();
          }
        } catch (err) {
          rotateProblem.textContent = errorText(err);
        }
      },
    }, "Rotate key (new key shown once)");

    const batches = document.createElement("admin-table");
    batches.errorText = errorText;
    body.replaceChildren(
      el("h2", {}, "Point modes"),
      el("div", { class: "grid2" },
        el("section", { class: "panel" }, modeForm(null)),
        ...data.pointDefinitions.map((d) => el("section", { class: "panel" },
          el("p", { class: "small muted", style: "margin-top:0" }, `In force: ${d.effectivePointMode.replaceAll("_", " ")}`), modeForm(d)))),
      el("h3", {}, "Switch history"),
      data.pointModeChanges.length
        ? el("div", { class: "table-wrap" }, el("table", {},
          el("thead", {}, el("tr", {}, ["When", "Currency", "From", "To", "Who", "Why"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, data.pointModeChanges.map((c) => el("tr", {},
            el("td", {}, when(c.createdAt)), el("td", {}, c.pointDefinitionId ? names[c.pointDefinitionId] || "—" : "Tenant"),
            el("td", {}, c.oldMode ?? "tenant's"), el("td", {}, c.newMode ?? "tenant's"), el("td", {}, who(c.actor)), el("td", {}, c.reason || "—"))))))
        : el("p", { class: "muted" }, "No switches yet: the engine owns the points (MASTER)."),
      el("h2", {}, "Master settings"),
      el("section", { class: "panel" }, settings,
        el("p", { class: "small muted" }, s.updatedBy ? `Last changed by ${who(s.updatedBy)} on ${when(s.updatedAt)}.` : "Not configured yet.")),
      el("h2", {}, "Shared keys"),
      el("section", { class: "panel" },
        s.keys.length
          ? el("ul", {}, s.keys.map((k) => el("li", {}, el("code", {}, k.keyId), k.current ? " (current)" : k.retiredAt ? ` (retired ${when(k.retiredAt)})` : "", ` · by ${who(k.createdBy)} on ${when(k.createdAt)}`)))
          : el("p", { class: "muted" }, "No key yet."),
        rotate, rotateProblem),
      el("h2", {}, "Sync batches"), batches,
    );
    await batches.configure({
      columns: [
        { key: "created", label: "Received", render: (b) => when(b.createdAt) },
        { key: "kind", label: "Kind", render: (b) => b.kind },
        { key: "status", label: "Status", render: (b) => statusBadge(b.status) },
        { key: "counts", label: "Applied / items", render: (b) => `${b.appliedCount} / ${b.itemCount}` },
        { key: "finished", label: "Finished", render: (b) => when(b.finishedAt) },
        { key: "messages", label: "Messages", render: (b) => (b.messages.length ? el("details", {}, el("summary", {}, `${b.messages.length} message(s)`), el("ul", { class: "small" }, b.messages.map((m) => el("li", {}, m.message)))) : "—") },
      ],
      empty: "No uploads from a point master yet.",
      load: (after) => session.request(BATCHES, { after }).then((d) => d.syncBatches),
    });
  }
  await load().catch((err) => body.replaceChildren(el("p", { class: "alert error", role: "alert" }, errorText(err))));
}
