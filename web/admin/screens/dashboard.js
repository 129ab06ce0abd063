// Today at a glance: redemptions by status, the live feed, webhook health, pending batches.
import { el, errorText, shortId, statusBadge, when, who } from "../format.js";
import { startCursor, watchRedemptions } from "../redemption-fields.js";

const READ = `{
  redemptionCounts { status count }
  webhookHealth { endpoint { id url enabled } delivered retrying pending dead }
  syncBatches(status: [PENDING, PROCESSING], first: 10) { nodes { id kind status itemCount createdAt } pageInfo { hasNextPage } }
}`;
const FEED_SIZE = 15;

export async function render(main, { session }) {
  const problem = el("div", { class: "alert error", role: "alert" });
  const counts = el("div", { class: "cards", id: "counts" });
  const feed = el("ol", { class: "timeline", id: "feed", "aria-live": "polite" });
  const health = el("div", { id: "health" });
  const batches = el("div", { id: "batches" });
  main.append(
    el("h1", {}, "Dashboard"), problem,
    el("h2", {}, "Redemptions today (UTC), by status"), counts,
    el("div", { class: "grid2" },
      el("section", {}, el("h2", {}, "Live feed"), el("div", { class: "panel" }, feed)),
      el("section", {}, el("h2", {}, "Webhook health, last 24 h"), health, el("h2", {}, "Pending sync batches"), batches)),
  );
  feed.append(el("li", { class: "muted empty-feed" }, "Waiting for redemption changes…"));

  async function load() {
    const data = await session.request(READ);
    counts.replaceChildren(...data.redemptionCounts.map((c) =>
      el("a", { class: "card", href: `#/redemptions?status=${c.status}`, "data-status": c.status, style: "text-decoration:none;color:inherit" },
        el("div", { class: "n" }, String(c.count)), el("div", { class: "l" }, statusBadge(c.status)))));
    health.replaceChildren(data.webhookHealth.length
      ? el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Endpoint", "Delivered", "Retrying", "Dead"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, data.webhookHealth.map((h) => el("tr", {},
          el("td", {}, el("a", { href: `#/webhooks/deliveries?endpoint=${h.endpoint.id}`, class: "mono small" }, h.endpoint.url), h.endpoint.enabled ? "" : [" ", statusBadge("DISABLED")]),
          el("td", {}, String(h.delivered)),
          el("td", {}, String(h.retrying + h.pending)),
          el("td", {}, h.dead ? el("a", { href: `#/webhooks/deliveries?endpoint=${h.endpoint.id}&status=DEAD` }, String(h.dead)) : "0"))))))
      : el("p", { class: "muted" }, "No webhook endpoints."));
    const pending = data.syncBatches.nodes;
    batches.replaceChildren(pending.length
      ? el("ul", {}, pending.map((b) => el("li", {}, statusBadge(b.status), ` ${b.kind.toLowerCase()} · ${b.itemCount} items · ${when(b.createdAt)}`)),
        data.syncBatches.pageInfo.hasNextPage ? el("li", {}, el("a", { href: "#/point-master" }, "more…")) : null)
      : el("p", { class: "muted" }, "None: every upload is applied."));
  }
  const cursor = await startCursor(session).catch(() => null);
  await load().catch((err) => (problem.textContent = errorText(err)));

  let reloading = null;
  const stop = watchRedemptions(session, (u) => {
    feed.querySelector(".empty-feed")?.remove();
    feed.prepend(el("li", { class: "fresh" },
      el("div", {}, el("a", { href: `#/redemptions/${u.redemption.id}`, class: "mono" }, shortId(u.redemption.id)), " ",
        u.redemption.reward.name, " · ", u.redemption.member.externalUserId, " ",
        u.oldStatus ? [statusBadge(u.oldStatus), " → "] : "", statusBadge(u.newStatus)),
      el("div", { class: "when" }, `${when(u.at)} · ${u.event.kind.replaceAll("_", " ").toLowerCase()} · by ${who(u.event.actor)}`)));
    while (feed.children.length > FEED_SIZE) feed.lastElementChild.remove();
    // Counts follow the feed, read at most once a second however busy it is.
    reloading ??= setTimeout(() => {
      reloading = null;
      load().catch((err) => (problem.textContent = errorText(err)));
    }, 1000);
  }, (err) => (problem.textContent = `Live feed stopped: ${errorText(err)}`), cursor);
  return () => {
    stop();
    clearTimeout(reloading);
  };
}
