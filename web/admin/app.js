// The console: log in, then a hash router over the screens in screens/.
import "./elements/admin-form.js";
import "./elements/admin-table.js";
import { el, errorText } from "./format.js";
import { Session } from "./session.js";

const ROUTES = [
  [/^dashboard$/, "dashboard"],
  [/^redemptions$/, "redemptions"],
  [/^redemptions\/([\w-]+)$/, "redemption"],
  [/^rewards$/, "rewards"],
  [/^rewards\/(new|[\w-]+)$/, "reward"],
  [/^members$/, "members"],
  [/^members\/([\w-]+)$/, "member"],
  [/^webhooks$/, "webhooks"],
  [/^webhooks\/deliveries$/, "deliveries"],
  [/^point-master$/, "point-master"],
  [/^reports$/, "reports"],
  [/^settings$/, "settings"],
];

const session = new Session();
const app = document.getElementById("app");
const main = document.getElementById("main");
const sidebar = document.getElementById("sidebar");
const logout = document.getElementById("logout");
const liveStatus = document.getElementById("live-status");
let cleanup = null;
let rendering = 0;

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { path: path || "dashboard", query: new URLSearchParams(query) };
}

async function show() {
  const ticket = ++rendering;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  if (!session.signedIn) return showLogin();
  app.dataset.state = "console";
  sidebar.hidden = false;
  logout.hidden = false;
  const { path, query } = parseHash();
  const match = ROUTES.map(([re, name]) => [path.match(re), name]).find(([m]) => m);
  const section = path.split("/")[0];
  for (const link of sidebar.querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!match) {
    main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "There is no such screen. "), el("a", { href: "#/dashboard" }, "Go to the dashboard"));
    return;
  }
  const [found, name] = match;
  // aria-busy while a screen loads; data-route names the screen once it is drawn.
  main.setAttribute("aria-busy", "true");
  delete main.dataset.route;
  main.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    const screen = await import(`./screens/${name}.js`);
    if (ticket !== rendering) return;
    // The screen draws into a view of its own, put on the page once drawn: a screen left
    // (or a session ended) while it still loads never draws over what came next.
    const view = el("div", { class: "view" });
    const ctx = { session, query, params: found.slice(1) };
    const stop = (await screen.render(view, ctx)) || null;
    if (ticket !== rendering) {
      if (stop) stop();
      return;
    }
    cleanup = stop;
    main.replaceChildren(view);
    const heading = main.querySelector("h1");
    document.title = `${heading ? heading.textContent + " · " : ""}GamifyEngine admin`;
  } catch (err) {
    if (ticket !== rendering) return;
    main.replaceChildren(el("h1", {}, "Something went wrong"), el("p", { class: "alert error", role: "alert" }, errorText(err)));
  }
  main.setAttribute("aria-busy", "false");
  main.dataset.route = location.hash.replace(/^#\/?/, "");
}

function showLogin(notice = "") {
  app.dataset.state = "login";
  sidebar.hidden = true;
  logout.hidden = true;
  liveStatus.hidden = true;
  document.title = "Log in · GamifyEngine admin";
  const form = document.createElement("admin-form");
  form.configure({
    fields: [
      { name: "email", label: "Email", type: "email", required: true, autocomplete: "username" },
      { name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password", trim: false },
    ],
    submitLabel: "Log in",
  });
  form.addEventListener("admin-submit", async (e) => {
    form.busy = true;
    try {
      const payload = await session.login(e.detail.values.email, e.detail.values.password);
      if (payload.errors.length) form.setErrors(payload.errors);
    } catch (err) {
      form.showError(errorText(err));
    } finally {
      form.busy = false;
    }
  });
  main.replaceChildren(
    el("section", { class: "login panel", "aria-labelledby": "login-title" },
      el("h1", { id: "login-title" }, "Log in"),
      notice ? el("p", { class: `alert ${notice.startsWith("You are logged out") ? "ok" : "error"}`, role: "alert" }, notice) : null,
      form),
  );
  form.querySelector("input").focus();
}

session.addEventListener("signed-in", () => {
  if (!location.hash || location.hash === "#/login") location.hash = "#/dashboard";
  else show();
});
session.addEventListener("signed-out", (e) => {
  rendering++; // a screen still loading must not draw over the login form
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  showLogin(e.detail);
});
session.addEventListener("live-status", (e) => {
  liveStatus.hidden = false;
  liveStatus.dataset.status = e.detail;
  liveStatus.textContent = { open: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", closed: "Offline" }[e.detail] || e.detail;
});
logout.addEventListener("click", () => session.end("You are logged out."));
window.addEventListener("hashchange", () => {
  show();
  main.focus({ preventScroll: true });
});
show();
