// Find a member by external id, email or name.
import { el, errorText, when } from "../format.js";

const SEARCH = `query($search: String, $after: String) {
  members(search: $search, first: 25, after: $after) {
    nodes { id externalUserId email name createdAt tier { name } accounts { balance pointDefinition { name } } }
    pageInfo { hasNextPage endCursor } } }`;

export async function render(main, { session, query }) {
  const search = query.get("q") || "";
  const form = document.createElement("admin-form");
  form.configure({
    fields: [{ name: "q", label: "Search members", placeholder: "External id, email or name", hint: "Part of it is enough; case does not matter." }],
    values: { q: search },
    submitLabel: "Search",
  });
  form.addEventListener("admin-submit", (e) => {
    const q = e.detail.values.q;
    location.hash = q ? `#/members?q=${encodeURIComponent(q)}` : "#/members";
  });
  const table = document.createElement("admin-table");
  table.errorText = errorText;
  main.append(el("h1", {}, "Members"), el("section", { class: "panel", role: "search" }, form), table);
  await table.configure({
    columns: [
      { key: "ext", label: "External id", render: (m) => el("a", { href: `#/members/${m.id}` }, m.externalUserId) },
      { key: "name", label: "Name", render: (m) => m.name || "—" },
      { key: "email", label: "Email", render: (m) => m.email || "—" },
      { key: "tier", label: "Tier", render: (m) => (m.tier ? m.tier.name : "—") },
      { key: "balance", label: "Balances", render: (m) => m.accounts.map((a) => `${a.balance} ${a.pointDefinition.name}`).join(", ") || "—" },
      { key: "created", label: "Member since", render: (m) => when(m.createdAt) },
    ],
    rowHref: (m) => `#/members/${m.id}`,
    empty: search ? `No member matches “${search}”.` : "No members yet.",
    load: (after) => session.request(SEARCH, { search: search || null, after }).then((d) => d.members),
  });
  if (search) form.querySelector("input").select();
}
