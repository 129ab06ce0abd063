// Reports: what the programme owes (liability per currency), points earned and spent per
// day, redemptions per reward, where points come from (sources, earning rules); each also
// as a CSV download.
// Charts are plain SVG drawn here.
import { el, errorText, statusBadge } from "../format.js";

const READ = `query($since: DateTime, $until: DateTime, $at: DateTime) {
  pointsLiability(at: $at) { pointDefinition { id name } active pending total }
  pointsByDay(since: $since, until: $until) { day earned spent expired refunded other }
  redemptionsByReward(since: $since, until: $until) { rewardId rewardName status redemptions quantity points }
  earningSources(since: $since, until: $until) { source points postings }
  topRules(since: $since, until: $until) { ruleName awards points takenBack } }`;
const SVG = "http://www.w3.org/2000/svg";
const COLORS = { earned: "#2f7d4f", spent: "#c0504d", active: "#3b6fb6", pending: "#9db8e0" };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) if (child != null) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const number = (n) => Number(n).toLocaleString("en");

// A round step for the axis: 1, 2 or 5 times a power of ten.
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value);
}

function legend(items) {
  return el("div", { class: "legend small" }, items.map(([label, color]) =>
    el("span", {}, el("i", { style: `background:${color}` }), label)));
}

// Earned and spent per day: a pair of bars a day, the value in each bar's title.
export function dailyChart(days) {
  if (!days.length) return el("p", { class: "muted" }, "No points moved in this period.");
  const W = 760, H = 240, left = 56, bottom = 28, top = 10;
  const top_ = niceMax(Math.max(...days.map((d) => Math.max(d.earned, d.spent))));
  const slot = (W - left - 8) / days.length;
  const bar = Math.max(1, Math.min(18, slot / 2 - 1));
  const y = (v) => top + (H - top - bottom) * (1 - v / top_);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * top_);
  const labelEvery = Math.ceil(days.length / 10);
  return el("figure", { class: "chart" }, svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Points earned and spent per day", id: "daily-chart" },
    ticks.map((t) => [
      svg("line", { x1: left, x2: W - 4, y1: y(t), y2: y(t), class: "grid" }),
      svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", class: "axis" }, number(t)),
    ]),
    days.map((d, i) => {
      const x = left + i * slot + slot / 2;
      return [
        svg("rect", { x: x - bar, y: y(d.earned), width: bar, height: y(0) - y(d.earned), fill: COLORS.earned, "data-day": d.day, "data-kind": "earned" },
          svg("title", {}, `${d.day}: ${number(d.earned)} earned`)),
        svg("rect", { x, y: y(d.spent), width: bar, height: y(0) - y(d.spent), fill: COLORS.spent, "data-day": d.day, "data-kind": "spent" },
          svg("title", {}, `${d.day}: ${number(d.spent)} spent`)),
        i % labelEvery === 0 ? svg("text", { x, y: H - 8, "text-anchor": "middle", class: "axis" }, d.day.slice(5)) : null,
      ];
    }),
  ), legend([["Earned", COLORS.earned], ["Spent on rewards", COLORS.spent]]));
}

// Liability per currency: one horizontal bar each, active then pending stacked.
export function liabilityChart(rows) {
  if (!rows.length) return el("p", { class: "muted" }, "No point currency yet.");
  const W = 760, row = 34, left = 130, H = rows.length * row + 24;
  const top_ = niceMax(Math.max(...rows.map((r) => r.total)));
  const x = (v) => left + (W - left - 90) * (v / top_);
  return el("figure", { class: "chart" }, svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Points owed per currency", id: "liability-chart" },
    rows.map((r, i) => {
      const yy = 8 + i * row;
      return [
        svg("text", { x: left - 8, y: yy + 17, "text-anchor": "end", class: "label" }, r.pointDefinition.name),
        svg("rect", { x: left, y: yy, width: x(r.active) - left, height: 24, fill: COLORS.active }, svg("title", {}, `${number(r.active)} active`)),
        svg("rect", { x: x(r.active), y: yy, width: x(r.total) - x(r.active), height: 24, fill: COLORS.pending }, svg("title", {}, `${number(r.pending)} pending`)),
        svg("text", { x: x(r.total) + 6, y: yy + 17, class: "value" }, number(r.total)),
      ];
    }),
  ), legend([["Active", COLORS.active], ["Pending", COLORS.pending]]));
}

function table(headers, rows) {
  if (!rows.length) return el("p", { class: "muted" }, "Nothing in this period.");
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))))));
}

const day = (iso) => iso.slice(0, 10);

export async function render(main, { session, query }) {
  const problem = el("div", { class: "alert error", role: "alert" });
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86400000);
  const since = el("input", { type: "date", id: "since", value: query.get("since") || day(monthAgo.toISOString()) });
  const until = el("input", { type: "date", id: "until", value: query.get("until") || day(today.toISOString()) });
  const body = el("div", { id: "report-body" });
  const download = async (name) => {
    problem.textContent = "";
    try {
      const range = new URLSearchParams({ since: `${since.value}T00:00:00Z`, until: `${nextDay(until.value)}T00:00:00Z` });
      const response = await fetch(`/api/v1/reports/${name}.csv?${range}`, { headers: { Authorization: `Bearer ${session.token}` } });
      if (!response.ok) {
        const error = await response.json().catch(() => ({ error: { message: response.statusText } }));
        throw Object.assign(new Error(error.error.message), { code: error.error.code });
      }
      const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `${name}-${until.value}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (err) {
      problem.textContent = errorText(err);
    }
  };
  const csv = (name, label) => el("button", { type: "button", class: "secondary", "data-csv": name, onclick: () => download(name) }, label);
  main.append(
    el("h1", {}, "Reports"), problem,
    el("div", { class: "toolbar" },
      el("label", {}, "From ", since), el("label", {}, "To (inclusive) ", until),
      el("button", { type: "button", id: "apply", onclick: () => load() }, "Show"),
      el("span", { class: "muted small" }, "Days are UTC.")),
    body,
  );

  async function load() {
    problem.textContent = "";
    body.setAttribute("aria-busy", "true");
    try {
      const end = `${nextDay(until.value)}T00:00:00Z`;
      const data = await session.request(READ, { since: `${since.value}T00:00:00Z`, until: end, at: end });
      body.replaceChildren(
        el("div", { class: "toolbar" }, el("h2", {}, `Points owed at the end of ${until.value}`), csv("liability", "Download CSV")),
        el("section", { class: "panel", id: "liability" }, liabilityChart(data.pointsLiability),
          table(["Currency", "Active", "Pending", "Total"], data.pointsLiability.map((r) => [r.pointDefinition.name, number(r.active), number(r.pending), number(r.total)]))),
        el("div", { class: "toolbar" }, el("h2", {}, "Points per day"), csv("points-by-day", "Download CSV"), csv("ledger", "Download every posting")),
        el("section", { class: "panel", id: "daily" }, dailyChart(data.pointsByDay),
          el("p", { class: "small muted" }, totals(data.pointsByDay))),
        el("div", { class: "grid2" },
          el("section", { id: "by-reward" }, el("div", { class: "toolbar" }, el("h2", {}, "Redemptions per reward"), csv("redemptions-by-reward", "CSV")),
            table(["Reward", "Status", "Redemptions", "Points"], data.redemptionsByReward.map((r) => [r.rewardName, statusBadge(r.status), number(r.redemptions), number(r.points)]))),
          el("section", { id: "sources" }, el("div", { class: "toolbar" }, el("h2", {}, "Top earning sources"), csv("earning-sources", "CSV")),
            table(["Source", "Points", "Postings"], data.earningSources.map((s) => [statusBadge(s.source), number(s.points), number(s.postings)])))),
        el("section", { id: "rules" }, el("div", { class: "toolbar" }, el("h2", {}, "Top earning rules"), csv("top-rules", "CSV")),
          table(["Rule", "Awards", "Points", "Taken back by returns"], data.topRules.map((r) => [r.ruleName, number(r.awards), number(r.points), number(r.takenBack)]))),
      );
    } catch (err) {
      problem.textContent = errorText(err);
    } finally {
      body.removeAttribute("aria-busy");
    }
  }
  await load();
}

function nextDay(date) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

function totals(days) {
  const sum = (k) => number(days.reduce((s, d) => s + d[k], 0));
  return `In the period: ${sum("earned")} earned, ${sum("spent")} spent, ${sum("expired")} expired, ${sum("refunded")} refunded.`;
}
