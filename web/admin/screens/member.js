// The member card: accounts, ledger, redemptions, and in follower modes the master's points
// log and the adjustments sent to it; staff adjust points here with a reason.
import { el, errorText, json, statusBadge, when, shortId, who } from "../format.js";
import { COLUMNS, ROW } from "../redemption-fields.js";
import { tierPanel } from "./member-tier.js";

const READ = `query($id: ID!) { member(id: $id) {
  id externalUserId email name address createdAt tier { name }
  accounts { id balance pending expiringSoon nextExpiryAt historyAtMaster
    pointDefinition { id name effectivePointMode } } } }`;
const LEDGER = `query($id: ID!, $after: String) { ledger(memberId: $id, first: 20, after: $after) {
  nodes { id amount balanceBefore balanceAfter source description actor createdAt redemptionId accountId }
  pageInfo { hasNextPage endCursor } } }`;
const REDEMPTIONS = `query($id: ID!, $after: String) { redemptions(filter: {memberId: $id}, first: 10, after: $after) {
  nodes { ${ROW} } pageInfo { hasNextPage endCursor } } }`;
const POINTS_LOG = `query($id: ID!) { pointsLog(memberId: $id) {
  contactId entries { transactionDate amount description } fetchedAt fromCache stale error { code message } } }`;
const ADJUSTMENTS = `query($id: ID!, $after: String) { pointAdjustments(memberId: $id, first: 20, after: $after) {
  nodes { id amount source description reason status actor createdAt deliveryId redemptionId pointDefinitionId }
  pageInfo { hasNextPage endCursor } } }`;
const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
  applied entry { amount balanceAfter } adjustment { id status } errors { field code message } } }`;

export async function render(main, { session, params }) {
  const [id] = params;
  const problem = el("div", { class: "alert error", role: "alert" });
  main.append(el("p", {}, el("a", { href: "#/members" }, "← Members")), problem);
  const member = (await session.request(READ, { id })).member;
  if (!member) {
    main.append(el("h1", {}, "Member not found"), el("p", {}, "No member with this id."));
    return;
  }
  const accounts = el("div", { class: "cards" });
  const fillAccounts = (list) => accounts.replaceChildren(...(list.length ? list.map((a) => el("div", { class: "card", "data-account": a.pointDefinition.name },
    el("div", { class: "n" }, String(a.balance)),
    el("div", { class: "l" }, `${a.pointDefinition.name} · ${a.pointDefinition.effectivePointMode.replaceAll("_", " ")}`),
    el("div", { class: "small" }, a.historyAtMaster ? "History at the point master" : `Pending ${a.pending} · expiring soon ${a.expiringSoon}`),
    a.nextExpiryAt ? el("div", { class: "small muted" }, `Next expiry ${when(a.nextExpiryAt)}`) : null,
  )) : [el("p", { class: "muted" }, "No point account yet.")]));
  fillAccounts(member.accounts);

  main.append(
    el("h1", {}, `Member ${member.externalUserId}`),
    el("section", { class: "panel" }, el("dl", { class: "props" },
      el("dt", {}, "Name"), el("dd", {}, member.name || "—"),
      el("dt", {}, "Email"), el("dd", {}, member.email || "—"),
      el("dt", {}, "Tier"), el("dd", { id: "member-tier" }, member.tier ? member.tier.name : "—"),
      el("dt", {}, "Member since"), el("dd", {}, when(member.createdAt)),
      el("dt", {}, "ID"), el("dd", { class: "mono" }, member.id),
      member.address ? [el("dt", {}, "Address"), el("dd", {}, json(member.address))] : [],
    )),
    el("h2", {}, "Accounts"), accounts,
    el("h2", {}, "Tier"), await tierPanel(session, id, (tier) => {
      const shown = main.querySelector("#member-tier");
      if (shown) shown.textContent = tier ? tier.name : "—";
    }),
  );

  // Adjust points
  const definitions = (await session.request("{ pointDefinitions { id name isDefault effectivePointMode } }")).pointDefinitions;
  // Where a master owns any currency, its points log and the adjustments sent are shown
  // (also for a member without an account yet: the master may know them already).
  const follower = definitions.some((d) => d.effectivePointMode !== "MASTER");
  const adjust = document.createElement("admin-form");
  adjust.configure({
    fields: [
      { name: "pointDefinitionId", label: "Currency", type: "select", options: definitions.map((d) => ({ value: d.id, label: `${d.name} (${d.effectivePointMode.replaceAll("_", " ")})` })) },
      { name: "amount", label: "Points to add (negative removes)", type: "number", required: true },
      { name: "description", label: "Description (the member may see it)" },
      { name: "reason", label: "Reason (for staff)", required: true },
    ],
    submitLabel: "Adjust points",
  });
  const adjusted = el("div", { class: "alert ok", role: "status" });
  adjust.addEventListener("admin-submit", async (e) => {
    const v = e.detail.values;
    adjust.busy = true;
    adjusted.textContent = "";
    try {
      const input = { memberId: id, ...v, idempotencyKey: crypto.randomUUID() };
      const payload = (await session.request(ADJUST, { input })).adjustPoints;
      if (adjust.setErrors(payload.errors)) return;
      adjusted.textContent = payload.applied
        ? `Applied: ${payload.entry.amount > 0 ? "+" : ""}${payload.entry.amount}, balance now ${payload.entry.balanceAfter}.`
        : `Sent to the point master (${payload.adjustment.status.replaceAll("_", " ")}).`;
      for (const name of ["amount", "description", "reason"]) adjust.inputs.get(name).input.value = "";
      fillAccounts((await session.request(READ, { id })).member.accounts);
      await Promise.all([ledger.reload(), adjustments && adjustments.reload()]);
    } catch (err) {
      adjust.showError(errorText(err));
    } finally {
      adjust.busy = false;
    }
  });
  main.append(el("h2", {}, "Adjust points"), el("section", { class: "panel" }, adjust, adjusted));

  // Ledger (refused with HISTORY_AT_MASTER in FOLLOWER_BALANCE: the table says so in words)
  const byAccount = Object.fromEntries(member.accounts.map((a) => [a.id, a.pointDefinition.name]));
  const ledger = document.createElement("admin-table");
  ledger.id = "ledger";
  ledger.errorText = (err) => (err.code === "HISTORY_AT_MASTER" ? "The history of this member's points is at the point master: see the points log below." : errorText(err));
  main.append(el("h2", {}, "Ledger"), ledger);
  const ledgerLoad = ledger.configure({
    columns: [
      { key: "when", label: "When", render: (x) => when(x.createdAt) },
      { key: "source", label: "Source", render: (x) => statusBadge(x.source) },
      { key: "amount", label: "Amount", render: (x) => (x.amount > 0 ? `+${x.amount}` : String(x.amount)) },
      { key: "balance", label: "Balance", render: (x) => `${x.balanceBefore} → ${x.balanceAfter}` },
      { key: "currency", label: "Currency", render: (x) => byAccount[x.accountId] || "—" },
      { key: "description", label: "Description", render: (x) => x.description || "—" },
      { key: "redemption", label: "Redemption", render: (x) => (x.redemptionId ? el("a", { href: `#/redemptions/${x.redemptionId}`, class: "mono" }, shortId(x.redemptionId)) : "—") },
      { key: "actor", label: "By", render: (x) => who(x.actor) },
    ],
    empty: "No ledger entries.",
    load: (after) => session.request(LEDGER, { id, after }).then((d) => d.ledger),
  });

  const redemptions = document.createElement("admin-table");
  redemptions.errorText = errorText;
  main.append(el("h2", {}, "Redemptions"), redemptions);
  const redemptionsLoad = redemptions.configure({
    columns: COLUMNS.filter((c) => c.key !== "member"),
    rowHref: (r) => `#/redemptions/${r.id}`,
    empty: "No redemptions.",
    load: (after) => session.request(REDEMPTIONS, { id, after }).then((d) => d.redemptions),
  });

  let adjustments = null;
  if (follower) {
    const log = el("div", { class: "panel", id: "points-log", "aria-live": "polite" }, el("p", { class: "muted" }, "Reading the point master…"));
    const refresh = el("button", { type: "button", class: "secondary", onclick: () => readLog() }, "Refresh");
    main.append(el("div", { class: "toolbar" }, el("h2", {}, "Points log at the master"), refresh), log);
    const readLog = async () => {
      try {
        const p = (await session.request(POINTS_LOG, { id })).pointsLog;
        const state = p.error
          ? el("p", { class: "alert error" }, `${p.error.message} (${p.error.code})${p.stale ? ": showing the last good copy." : ""}`)
          : el("p", { class: "muted small" }, `Fetched ${when(p.fetchedAt)}${p.fromCache ? " (from the cache)" : ""}.`);
        const rows = p.entries === null
          ? el("p", { class: "muted" }, "No copy of the points log yet.")
          : p.entries.length === 0
            ? el("p", { class: "muted" }, "The master has no history for this member.")
            : el("table", {}, el("thead", {}, el("tr", {}, ["Date", "Amount", "Description"].map((h) => el("th", { scope: "col" }, h)))),
              el("tbody", {}, p.entries.map((x) => el("tr", {}, el("td", {}, when(x.transactionDate)), el("td", {}, String(x.amount)), el("td", {}, x.description || "—")))));
        log.replaceChildren(state, p.stale && !p.error ? el("p", { class: "alert error" }, "This copy is stale.") : "", rows);
      } catch (err) {
        log.replaceChildren(el("p", { class: "alert error" }, errorText(err)));
      }
    };
    readLog();
    adjustments = document.createElement("admin-table");
    adjustments.id = "adjustments";
    adjustments.errorText = errorText;
    main.append(el("h2", {}, "Adjustments sent to the master"), adjustments);
    await adjustments.configure({
      columns: [
        { key: "when", label: "When", render: (x) => when(x.createdAt) },
        { key: "amount", label: "Amount", render: (x) => (x.amount > 0 ? `+${x.amount}` : String(x.amount)) },
        { key: "status", label: "Status", render: (x) => statusBadge(x.status) },
        { key: "source", label: "Source", render: (x) => x.source },
        { key: "description", label: "Description", render: (x) => x.description || x.reason || "—" },
        { key: "by", label: "By", render: (x) => who(x.actor) },
      ],
      empty: "No adjustments sent.",
      load: (after) => session.request(ADJUSTMENTS, { id, after }).then((d) => d.pointAdjustments),
    });
  }
  await Promise.all([ledgerLoad, redemptionsLoad]);
  // An adjustment's status moves as the worker delivers it and the master reflects it.
  const refresh = adjustments ? setInterval(() => adjustments.reload(), 5000) : null;
  return () => clearInterval(refresh);
}
