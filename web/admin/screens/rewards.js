// The reward catalog as staff see it: every reward, archived ones on request.
import { el, errorText, statusBadge, when } from "../format.js";

const LIST = `query($all: Boolean!, $after: String) {
  rewards(includeArchived: $all, first: 25, after: $after) {
    nodes { id name type value pointCost stock enabled archivedAt imageUrl createdAt
      pointDefinition { name } minTier { name } }
    pageInfo { hasNextPage endCursor } } }`;

export async function render(main, { session, query }) {
  const showArchived = query.get("archived") === "1";
  const toggle = el("input", { type: "checkbox", id: "show-archived" });
  toggle.checked = showArchived;
  toggle.addEventListener("change", () => (location.hash = toggle.checked ? "#/rewards?archived=1" : "#/rewards"));
  const table = document.createElement("admin-table");
  table.errorText = errorText;
  main.append(
    el("h1", {}, "Rewards"),
    el("div", { class: "toolbar" },
      el("a", { class: "button", href: "#/rewards/new" }, "New reward"),
      el("span", { class: "spacer" }),
      el("label", { for: "show-archived", style: "display:flex;gap:6px;align-items:center;font-weight:400" }, toggle, "Show archived")),
    table,
  );
  await table.configure({
    columns: [
      { key: "image", label: "", render: (r) => (r.imageUrl ? el("img", { src: r.imageUrl, alt: "", width: 40, height: 40, style: "object-fit:cover;border-radius:4px" }) : "") },
      { key: "name", label: "Name", render: (r) => el("a", { href: `#/rewards/${r.id}` }, r.name) },
      { key: "type", label: "Type", render: (r) => `${r.type}${r.value ? " · " + r.value : ""}` },
      { key: "cost", label: "Cost", render: (r) => `${r.pointCost} ${r.pointDefinition.name}` },
      { key: "stock", label: "Stock", render: (r) => (r.stock === null ? "unlimited" : String(r.stock)) },
      { key: "tier", label: "Tier", render: (r) => (r.minTier ? r.minTier.name : "any") },
      { key: "state", label: "State", render: (r) => statusBadge(r.archivedAt ? "ARCHIVED" : r.enabled ? "ENABLED" : "DISABLED") },
      { key: "created", label: "Created", render: (r) => when(r.createdAt) },
    ],
    rowHref: (r) => `#/rewards/${r.id}`,
    empty: showArchived ? "No rewards yet." : "No active rewards. Create one, or show archived ones.",
    load: (after) => session.request(LIST, { all: showArchived, after }).then((d) => d.rewards),
  });
}
