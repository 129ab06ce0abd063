// Tiers (with the activity that qualifies for each), point currencies (with their expiry
// policy), API keys, the widget's allowed origins, and the admin's password.
import { el, errorText, payloadText, when } from "../format.js";
import { secretBox } from "../secret-box.js";

const READ = `{ tiers { id name rank minValue } pointDefinitions { id name description externalId isDefault expiryPolicy expiryValue }
  apiKeys { id name prefix createdAt revokedAt } allowedOrigins }`;
const EXPIRY = {
  NEVER: "Never expire",
  AFTER_DAYS: "Expire N days after earning",
  AFTER_MONTHS: "Expire N months after earning",
  END_OF_MONTH: "Expire at the end of the month of earning (+ N months)",
  END_OF_YEAR: "Expire at the end of the year of earning (+ N years)",
};
function expiryText(d) {
  const n = d.expiryValue;
  return {
    NEVER: "Never",
    AFTER_DAYS: `${n} days after earning`,
    AFTER_MONTHS: `${n} months after earning`,
    END_OF_MONTH: n ? `End of the month of earning + ${n} months` : "End of the month of earning",
    END_OF_YEAR: n ? `End of the year of earning + ${n} years` : "End of the year of earning",
  }[d.expiryPolicy];
}
const SAVE_TIER = `mutation($input: TierInput!) { saveTier(input: $input) { tier { id } errors { field code message } } }`;
const DELETE_TIER = `mutation($id: ID!) { deleteTier(id: $id) { deleted errors { field code message } } }`;
const SAVE_DEFINITION = `mutation($input: PointDefinitionInput!) { savePointDefinition(input: $input) {
  pointDefinition { id } errors { field code message } } }`;
const CREATE_KEY = `mutation($name: String!) { createApiKey(name: $name) { apiKey { id prefix } key errors { field code message } } }`;
const REVOKE_KEY = `mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } errors { field code message } } }`;
const SET_ORIGINS = `mutation($origins: [String!]!) { setAllowedOrigins(origins: $origins) { origins errors { field code message } } }`;
const CHANGE_PASSWORD = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) {
  changed errors { field code message } } }`;

function tableOf(headers, rows) {
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { class: "empty", colspan: headers.length }, "None yet.")))));
}

export async function render(main, { session }) {
  const problem = el("div", { class: "alert error", role: "alert" });
  const body = el("div");
  main.append(el("h1", {}, "Settings"), problem, body);

  const submit = (form, mutation, field, toVariables, after) => form.addEventListener("admin-submit", async (e) => {
    form.busy = true;
    try {
      const payload = (await session.request(mutation, toVariables(e.detail.values)))[field];
      if (!form.setErrors(payload.errors)) await after(payload);
    } catch (err) {
      form.showError(errorText(err));
    } finally {
      form.busy = false;
    }
  });
  const act = async (mutation, variables, field) => {
    problem.textContent = "";
    try {
      const payload = (await session.request(mutation, variables))[field];
      if (payload.errors.length) problem.textContent = payloadText(payload.errors);
      else await load();
    } catch (err) {
      problem.textContent = errorText(err);
    }
  };

  async function load() {
    const data = await session.request(READ);
    const keyShown = el("div");

    const tier = document.createElement("admin-form");
    tier.configure({ fields: [{ name: "name", label: "Tier name", required: true }, { name: "rank", label: "Rank (higher is better)", type: "number", required: true },
      { name: "minValue", label: "Qualifies from (points in the tier policy's window; empty: by hand only)", type: "number" }], submitLabel: "Add tier" });
    submit(tier, SAVE_TIER, "saveTier", (v) => ({ input: v }), load);

    const definition = document.createElement("admin-form");
    definition.configure({ fields: [{ name: "name", label: "Currency name", required: true }, { name: "description", label: "Description" }], submitLabel: "Add currency" });
    submit(definition, SAVE_DEFINITION, "savePointDefinition", (v) => ({ input: v }), load);

    const expiryOptions = Object.entries(EXPIRY).map(([value, label]) => ({ value, label }));
    const expiry = document.createElement("admin-form");
    expiry.id = "currency-expiry";
    expiry.configure({
      fields: [
        { name: "id", label: "Currency", type: "select", options: data.pointDefinitions.map((d) => ({ value: d.id, label: d.name })) },
        { name: "expiryPolicy", label: "Points awarded without a validTo", type: "select", options: expiryOptions },
        { name: "expiryValue", label: "N (days, months or years)", type: "number" },
      ],
      // The first currency's policy as it is (the default currency comes first).
      values: data.pointDefinitions[0] ? { id: data.pointDefinitions[0].id, expiryPolicy: data.pointDefinitions[0].expiryPolicy, expiryValue: data.pointDefinitions[0].expiryValue } : {},
      submitLabel: "Save expiry",
    });
    const byId = Object.fromEntries(data.pointDefinitions.map((d) => [d.id, d]));
    submit(expiry, SAVE_DEFINITION, "savePointDefinition", (v) => ({ input: { ...v, name: byId[v.id].name, description: byId[v.id].description } }), load);


    const key = document.createElement("admin-form");
    key.id = "new-api-key";
    key.configure({ fields: [{ name: "name", label: "Key name", required: true, hint: "Which backend uses it, e.g. shop-backend" }], submitLabel: "Create API key" });
    submit(key, CREATE_KEY, "createApiKey", (v) => v, async (p) => {
      await load();
      body.querySelector("#key-shown").replaceChildren(secretBox(`API key ${p.apiKey.prefix}…:`, p.key));
    });

    const origins = document.createElement("admin-form");
    origins.configure({
      fields: [{ name: "origins", label: "Allowed browser origins (one per line)", type: "textarea", wide: true, hint: "scheme://host[:port] of the shops' pages that embed the widget" }],
      values: { origins: data.allowedOrigins.join("\n") },
      submitLabel: "Save origins",
    });
    submit(origins, SET_ORIGINS, "setAllowedOrigins", (v) => ({ origins: v.origins.split(/\s+/).filter(Boolean) }), load);

    const password = document.createElement("admin-form");
    password.id = "change-password";
    const changed = el("div", { class: "alert ok", role: "status" });
    password.configure({
      fields: [
        { name: "c", label: "Current password", type: "password", required: true, autocomplete: "current-password", trim: false },
        { name: "n", label: "New password (at least 10 characters)", type: "password", required: true, autocomplete: "new-password", trim: false },
      ],
      submitLabel: "Change password",
    });
    // The API names the fields currentPassword / newPassword.
    const setErrors = password.setErrors.bind(password);
    password.setErrors = (errors) => setErrors(errors.map((e) => ({ ...e, field: { currentPassword: "c", newPassword: "n" }[e.field] ?? e.field })));
    submit(password, CHANGE_PASSWORD, "changePassword", (v) => v, async () => {
      password.configure({ fields: password.fields, submitLabel: "Change password" });
      changed.textContent = "Password changed.";
    });

    body.replaceChildren(
      el("div", { class: "grid2" },
        el("section", {}, el("h2", {}, "Tiers"),
          tableOf(["Name", "Rank", "Qualifies from", ""], data.tiers.map((t) => el("tr", {}, el("td", {}, t.name), el("td", {}, String(t.rank)),
            el("td", {}, t.minValue === null ? "By hand" : `${t.minValue.toLocaleString("en")} points`),
            el("td", {}, el("button", { type: "button", class: "link", onclick: () => confirm(`Delete the tier ${t.name}?`) && act(DELETE_TIER, { id: t.id }, "deleteTier") }, "Delete"))))),
          el("div", { class: "panel", style: "margin-top:10px" }, tier)),
        el("section", {}, el("h2", {}, "Point currencies"),
          tableOf(["Name", "definitionId", "Description", "Expiry"], data.pointDefinitions.map((d) => el("tr", { "data-currency": d.name },
            el("td", {}, d.name, d.isDefault ? " (default)" : ""), el("td", {}, String(d.externalId)), el("td", {}, d.description || "—"),
            el("td", { "data-column": "expiry" }, expiryText(d))))),
          el("div", { class: "panel", style: "margin-top:10px" }, definition),
          el("h3", {}, "Expiry"),
          el("div", { class: "panel" }, expiry,
            el("p", { class: "small muted" }, "Reminders (points.expiring_soon) are set on the Webhooks screen.")))),
      el("h2", {}, "API keys"),
      el("div", { id: "key-shown" }, keyShown),
      tableOf(["Name", "Prefix", "Created", "State", ""], data.apiKeys.map((k) => el("tr", { "data-key-name": k.name },
        el("td", {}, k.name), el("td", {}, el("code", {}, k.prefix + "…")), el("td", {}, when(k.createdAt)),
        el("td", {}, k.revokedAt ? `Revoked ${when(k.revokedAt)}` : "Active"),
        el("td", {}, k.revokedAt ? "" : el("button", { type: "button", class: "secondary", "aria-label": `Revoke ${k.name}`, onclick: () => confirm(`Revoke the key ${k.name}? Calls with it will be refused.`) && act(REVOKE_KEY, { id: k.id }, "revokeApiKey") }, "Revoke"))))),
      el("div", { class: "panel", style: "margin-top:10px" }, key),
      el("h2", {}, "Widget origins"),
      el("section", { class: "panel" }, origins),
      el("h2", {}, "Your password"),
      el("section", { class: "panel" }, password, changed),
      el("h2", {}, "Session"),
      el("button", { type: "button", class: "secondary", onclick: () => session.end("You are logged out.") }, "Log out"),
    );
  }
  await load().catch((err) => (problem.textContent = errorText(err)));
}
