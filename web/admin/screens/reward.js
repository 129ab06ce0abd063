// Create or edit a reward: every field, checked by the API, errors next to the field.
import "../elements/code-pool.js";
import { el, errorText, when } from "../format.js";

const FIELDS = `id name description type value pointCost stock cooldownSeconds perMemberLimit
  availableFrom availableUntil fulfillmentData publicData imageUrl enabled archivedAt createdAt updatedAt
  pointDefinition { id } minTier { id }`;
const READ = `query($id: ID!) { reward(id: $id) { ${FIELDS} } }`;
const CHOICES = `{ tiers { id name rank } pointDefinitions { id name isDefault } }`;
const CREATE = `mutation($input: RewardInput!) { createReward(input: $input) {
  reward { id } errors { field code message } } }`;
const UPDATE = `mutation($id: ID!, $input: RewardInput!) { updateReward(id: $id, input: $input) {
  reward { id } errors { field code message } } }`;
const ARCHIVE = `mutation($id: ID!) { archiveReward(id: $id) { reward { id archivedAt } errors { field code message } } }`;
const TYPES = ["VOUCHER", "DISCOUNT_CODE", "GIFT", "CREDIT", "PHYSICAL", "CUSTOM"];

export async function render(main, { session, params }) {
  const [id] = params;
  const isNew = id === "new";
  const [choices, existing] = await Promise.all([
    session.request(CHOICES),
    isNew ? Promise.resolve(null) : session.request(READ, { id }).then((d) => d.reward),
  ]);
  main.append(el("p", {}, el("a", { href: "#/rewards" }, "← Rewards")));
  if (!isNew && !existing) {
    main.append(el("h1", {}, "Reward not found"), el("p", {}, "No reward with this id."));
    return;
  }
  const notice = el("div", { class: "alert ok", role: "status" });
  main.append(el("h1", {}, isNew ? "New reward" : `Reward: ${existing.name}`), notice);
  if (existing && existing.archivedAt) {
    main.append(el("p", { class: "alert error" }, `Archived on ${when(existing.archivedAt)}: members no longer see it. Saving edits keeps it archived.`));
  }
  const values = existing
    ? { ...existing, pointDefinitionId: existing.pointDefinition.id, minTierId: existing.minTier ? existing.minTier.id : "" }
    : { type: "VOUCHER", enabled: true };
  const form = document.createElement("admin-form");
  form.configure({
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "type", label: "Type", type: "select", options: TYPES.map((t) => ({ value: t, label: t.replaceAll("_", " ") })) },
      { name: "value", label: "Value", hint: "Shown to members, e.g. 50000 or 10%" },
      { name: "pointCost", label: "Point cost", type: "number", required: true, min: 0 },
      { name: "pointDefinitionId", label: "Point currency", type: "select", options: choices.pointDefinitions.map((d) => ({ value: d.id, label: d.name + (d.isDefault ? " (default)" : "") })) },
      { name: "stock", label: "Stock", type: "number", min: 0, hint: "Empty: unlimited" },
      { name: "minTierId", label: "Minimum tier", type: "select", emptyIsNull: true, options: [{ value: "", label: "Any tier" }, ...choices.tiers.map((t) => ({ value: t.id, label: `${t.name} (rank ${t.rank})` }))] },
      { name: "cooldownSeconds", label: "Cooldown (seconds)", type: "number", min: 0, hint: "Empty: none" },
      { name: "perMemberLimit", label: "Limit per member", type: "number", min: 1, hint: "Empty: no limit" },
      { name: "availableFrom", label: "Available from (UTC)", type: "datetime" },
      { name: "availableUntil", label: "Available until (UTC)", type: "datetime" },
      { name: "enabled", label: "Enabled (members can redeem it)", type: "checkbox" },
      { name: "description", label: "Description", type: "textarea", wide: true },
      { name: "imageUrl", label: "Image URL", type: "image", wide: true, placeholder: "https://…" },
      { name: "fulfillmentData", label: "Fulfilment data (JSON, for your fulfilment backend; members never see it)", type: "json" },
      { name: "publicData", label: "Public data (JSON, members see it: terms, instructions)", type: "json" },
    ],
    values,
    submitLabel: isNew ? "Create reward" : "Save changes",
    extraActions: isNew || existing.archivedAt ? [] : [el("button", { type: "button", class: "secondary", id: "archive", onclick: archive }, "Archive")],
  });
  main.append(el("section", { class: "panel" }, form));
  if (!isNew) {
    const pool = document.createElement("admin-code-pool");
    pool.session = session;
    pool.rewardId = id;
    main.append(el("section", { class: "panel", id: "code-pool" }, pool));
  }

  form.addEventListener("admin-submit", async (e) => {
    const input = { ...e.detail.values };
    if (!input.imageUrl) input.imageUrl = null;
    form.busy = true;
    notice.textContent = "";
    try {
      const data = isNew ? await session.request(CREATE, { input }) : await session.request(UPDATE, { id, input });
      const payload = isNew ? data.createReward : data.updateReward;
      if (form.setErrors(payload.errors)) return;
      if (isNew) location.hash = `#/rewards/${payload.reward.id}?created=1`;
      else notice.textContent = "Saved.";
    } catch (err) {
      form.showError(errorText(err));
    } finally {
      form.busy = false;
    }
  });

  async function archive() {
    if (!confirm(`Archive “${existing.name}”? Members will no longer see it.`)) return;
    try {
      const payload = (await session.request(ARCHIVE, { id })).archiveReward;
      if (!form.setErrors(payload.errors)) location.hash = "#/rewards";
    } catch (err) {
      form.showError(errorText(err));
    }
  }
  if (location.hash.includes("created=1")) notice.textContent = "Reward created.";
}
