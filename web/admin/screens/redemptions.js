// The Transactions tab: every redemption, filtered, newest first, changing live.
import { el, errorText } from "../format.js";
import { COLUMNS, ROW, STATUSES, startCursor, watchRedemptions } from "../redemption-fields.js";

const LIST = `query($filter: RedemptionFilter, $after: String) {
  redemptions(filter: $filter, first: 25, after: $after) {
    nodes { ${ROW} } pageInfo { hasNextPage endCursor } } }`;
const REWARDS = `{ rewards(includeArchived: true, first: 100) { nodes { id name } } }`;
const MEMBER = `query($ext: String) { member(externalUserId: $ext) { id externalUserId } }`;

export async function render(main, { session, query }) {
  const problem = el("div", { class: "alert error", role: "alert" });
  const filters = document.createElement("admin-form");
  const rewards = await session.request(REWARDS).then((d) => d.rewards.nodes).catch(() => []);
  filters.configure({
    fields: [
      { name: "status", label: "Status", type: "select", options: [{ value: "", label: "Any status" }, ...STATUSES.map((s) => ({ value: s, label: s.replaceAll("_", " ") }))] },
      { name: "rewardId", label: "Reward", type: "select", options: [{ value: "", label: "Any reward" }, ...rewards.map((r) => ({ value: r.id, label: r.name }))] },
      { name: "member", label: "Member (external id)", placeholder: "e.g. shop-42" },
      { name: "createdAfter", label: "Created from (UTC)", type: "datetime" },
      { name: "createdBefore", label: "Created before (UTC)", type: "datetime" },
    ],
    values: { status: query.get("status") || "", rewardId: query.get("reward") || "", member: query.get("member") || "" },
    submitLabel: "Filter",
  });
  filters.classList.add("filters");
  const table = document.createElement("admin-table");
  table.errorText = errorText;
  main.append(
    el("h1", {}, "Redemptions"),
    el("section", { class: "panel", "aria-label": "Filters" }, filters),
    problem,
    table,
  );

  let active = { filter: {}, member: null };
  const matches = (r) => {
    const f = active.filter;
    if (f.status && !f.status.includes(r.status)) return false;
    if (f.rewardId && r.reward.id !== f.rewardId) return false;
    if (f.memberId && r.member.id !== f.memberId) return false;
    if (f.createdAfter && r.createdAt < f.createdAfter) return false;
    if (f.createdBefore && r.createdAt >= f.createdBefore) return false;
    return true;
  };

  async function apply(values) {
    const filter = {};
    if (values.status) filter.status = [values.status];
    if (values.rewardId) filter.rewardId = values.rewardId;
    if (values.createdAfter) filter.createdAfter = values.createdAfter;
    if (values.createdBefore) filter.createdBefore = values.createdBefore;
    if (values.member) {
      const found = await session.request(MEMBER, { ext: values.member });
      if (!found.member) {
        filters.setErrors([{ field: "member", message: "No member has this external id", code: "NOT_FOUND" }]);
        return;
      }
      filter.memberId = found.member.id;
    }
    filters.setErrors([]);
    active = { filter };
    await table.configure({
      columns: COLUMNS,
      rowHref: (r) => `#/redemptions/${r.id}`,
      caption: "Newest first. New redemptions and status changes appear here as they happen.",
      empty: "No redemption matches these filters.",
      load: (after) => session.request(LIST, { filter, after }).then((d) => d.redemptions),
    });
  }

  filters.addEventListener("admin-submit", (e) => apply(e.detail.values).catch((err) => filters.showError(errorText(err))));
  const cursor = await startCursor(session).catch(() => null);
  await apply(filters.values()).catch((err) => (problem.textContent = errorText(err)));

  const stop = watchRedemptions(
    session,
    (update) => {
      problem.textContent = "";
      const row = update.redemption;
      // New ones go on top of the first page only (older pages stay as they were read);
      // a replayed change of an older redemption off this page is not one of them.
      const top = table.rows[0];
      const isNew = table.page === 0 && matches(row) && (!top || row.createdAt >= top.createdAt);
      table.upsert(row, { prepend: isNew });
    },
    (err) => (problem.textContent = `Live updates stopped: ${errorText(err)}`),
    cursor,
  );
  return () => stop();
}
