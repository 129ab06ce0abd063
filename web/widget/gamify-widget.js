// <gamify-rewards endpoint="https://ENGINE/graphql" token="..." lang="vi">: a member's
// points, rewards and redemptions, kept live. See README.md beside this file.
import { GraphQLClient, payloadErrors } from "../client/graphql.js";
import { LiveClient } from "../client/live.js";
import { pickLang, translator } from "../client/i18n.js";
import { messages } from "./messages.js";
import { BALANCE, LOAD, REDEEM, UPDATES } from "./queries.js";
import { styles } from "./styles.js";
import { balanceCard, formats, h, reasonText, redemptionRow, rewardCard } from "./views.js";

const RETRY_MAX = 15000;
const REFRESH_DELAY = 250; // coalesces the reloads a burst of live events asks for

function socketUrl(endpoint) {
  const url = new URL(endpoint, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class GamifyRewards extends HTMLElement {
  static observedAttributes = ["endpoint", "token", "lang"];

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._data = null; // { me, catalog, redemptions: Map }
    this._problem = null; // null | "network" | "expired" | "refused"
    this._link = "connecting";
    this._heard = new Map(); // redemption id -> the last status the member was told of
    this._keys = new Map(); // reward id -> idempotency key of the intent not yet settled
    this._intent = null; // the redeem being confirmed: { item, opener, sending, message }
    this._retries = 0;
  }

  connectedCallback() {
    // A property set before the element was defined shadows the accessor: move it over.
    for (const name of ["endpoint", "token"]) {
      if (!Object.hasOwn(this, name)) continue;
      const value = this[name];
      delete this[name];
      this[name] = value;
    }
    this._build();
    this._start();
  }

  disconnectedCallback() {
    this._stop();
  }

  attributeChangedCallback(name, old, value) {
    if (!this._root || old === value) return;
    if (name === "lang") this._render();
    else if (name === "endpoint") (this._stop(), this._start());
    else if (name === "token") this._useToken(value);
  }

  _start() {
    if (!this.endpoint) return;
    this._http = new GraphQLClient({ endpoint: this.endpoint, token: this.token });
    this._http.addEventListener("token-expired", () => this._expired());
    this._live = new LiveClient({ url: socketUrl(this.endpoint), token: this.token });
    this._live.addEventListener("token-expired", () => this._expired());
    this._live.addEventListener("refused", () => ((this._refused = true), this._load()));
    this._live.addEventListener("status", (event) => {
      const wasDown = this._link === "reconnecting";
      this._link = event.detail;
      // Balances and the catalog carry no event ids: read them again after a gap.
      if (event.detail === "open" && wasDown) this._load();
      else this._render();
    });
    // Balances need no resume point: listen at once (a refused socket tells a fetch
    // refused by CORS, which browsers report as a network failure, from a real one).
    this._live.subscribe(BALANCE, {}, { next: (p) => this._onBalance(p.data.myBalanceChanged) });
    this._load();
  }

  // Redemption updates start from what the first load saw: the newest event of the member's
  // redemptions ("0" when there is none), so nothing between the two is missed.
  _subscribe(redemptions) {
    const ids = redemptions.flatMap((r) => r.events.map((e) => Number(e.id)));
    const after = String(Math.max(0, ...ids));
    this._live.subscribe(UPDATES, { after }, { next: (p) => this._onUpdate(p.data.myRedemptionUpdates) }, { resumeKey: "myRedemptionUpdates" });
    this._subscribed = true;
  }

  _stop() {
    this._live?.close();
    this._subscribed = false;
    clearTimeout(this._retryTimer);
    clearTimeout(this._refreshTimer);
    this._http = this._live = null;
  }

  _useToken(token) {
    if (!this._http) return this._start();
    this._http.token = token;
    this._refused = false;
    this._live.token = token; // reconnects, resuming after the last event seen
    if (this._problem === "expired" || this._problem === "refused") this._problem = null;
    this._expiredToken = null;
    this._load();
    if (this._intent?.resume) this._confirm(); // the redeem the expiry interrupted, same key
  }

  _expired() {
    if (this._expiredToken === this.token) return; // once per token
    this._expiredToken = this.token;
    this._problem = "expired";
    this._render();
    this.dispatchEvent(new CustomEvent("gamify:token-expired", { bubbles: true, composed: true }));
  }

  async _load() {
    if (!this._http) return;
    clearTimeout(this._retryTimer);
    try {
      const data = await this._http.request(LOAD);
      const redemptions = new Map(data.redemptions.nodes.map((r) => [r.id, r]));
      this._data = { me: data.me, catalog: data.catalog.nodes, redemptions };
      // Statuses announced from live updates only; a reload does not steal a pending one.
      for (const r of redemptions.values()) if (!this._heard.has(r.id)) this._heard.set(r.id, r.status);
      if (!this._subscribed) this._subscribe(data.redemptions.nodes);
      this._retries = 0;
      if (this._problem !== "expired") this._problem = null;
    } catch (error) {
      this._failed(error);
    }
    this._render();
  }

  _failed(error) {
    if (error.code === "TOKEN_EXPIRED") return; // _expired() has it
    if (["UNAUTHENTICATED", "FORBIDDEN", "ORIGIN_NOT_ALLOWED"].includes(error.code)) {
      this._problem = "refused";
      return;
    }
    if (error.code === "NETWORK_ERROR" && this._refused) {
      // The socket was answered and refused: a fetch that fails too was refused by CORS.
      this._problem = "refused";
      return;
    }
    // Down, restarting or rate limited: try again later, backing off.
    this._problem = "network";
    const wait = error.retryAfter != null ? error.retryAfter * 1000 : Math.min(RETRY_MAX, 1000 * 2 ** this._retries++);
    this._retryTimer = setTimeout(() => this._load(), wait);
  }

  _refreshSoon() {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = setTimeout(() => this._load(), REFRESH_DELAY);
  }

  _onUpdate(update) {
    if (!update || !this._data) return this._refreshSoon();
    const { id, status } = update.redemption;
    const heard = this._heard.get(id);
    this._heard.set(id, status);
    this._data.redemptions.set(id, update.redemption);
    if (heard && heard !== status)
      this._announce(this._t("statusChanged", { reward: update.redemption.reward.name, status: this._t(status) }));
    this._render();
    this._refreshSoon(); // stock, limits and cooldowns may have moved
  }

  _onBalance(change) {
    // The tier comes with the balances: an upgrade (or an admin's change) shows at once.
    const me = this._data?.me;
    const said = [];
    const account = me?.accounts.find((a) => a.id === change.accountId);
    if (account && account.balance !== change.balance)
      said.push(this._t("balanceChanged", { balance: this._points(change.balance, account) }));
    if (me && (me.tier?.name ?? null) !== (change.tier?.name ?? null)) {
      me.tier = change.tier;
      if (change.tier) said.push(this._t("tierChanged", { tier: change.tier.name }));
    }
    if (said.length) this._announce(said.join(". "));
    if (!account) return this._refreshSoon();
    Object.assign(account, { balance: change.balance, pending: change.pending, expiringSoon: change.expiringSoon });
    this._render();
    this._refreshSoon(); // what the member can afford changed; the next expiry date too
  }

  _openConfirm(item, opener) {
    const reward = item.reward;
    // One key per intent: a double click, a retry after a dropped connection or a new
    // token resend the same key, so the engine redeems once.
    if (!this._keys.has(reward.id)) this._keys.set(reward.id, crypto.randomUUID());
    this._intent = { item, opener, sending: false, message: "" };
    this._dialog.showModal();
    this._fillDialog();
  }

  _fillDialog() {
    const { item, sending, message } = this._intent;
    const t = this._t;
    const reward = item.reward;
    const cost = this._points(reward.pointCost, reward);
    const after = this._points(Math.max(0, this._balanceOf(reward.pointDefinition.id) - reward.pointCost), reward);
    this._dialog.replaceChildren(
      h("h4", { id: "confirm-title", text: t("confirmTitle", { reward: reward.name }) }),
      h("p", { id: "confirm-body", text: t("confirmBody", { cost, after }) }),
      message && h("p", { class: "error", role: "alert", text: message }),
      h(
        "div",
        { class: "buttons" },
        h("button", { part: "cancel-button", type: "button", text: t("cancel"), onclick: () => this._dialog.close() }),
        h("button", {
          class: "primary",
          part: "confirm-button",
          type: "button",
          "aria-disabled": sending ? "true" : null,
          text: sending ? t("sending") : message ? t("retry") : t("confirm"),
          onclick: () => this._confirm(),
        }),
      ),
    );
    this._dialog.querySelector(".primary").focus();
  }

  async _confirm() {
    const intent = this._intent;
    if (!intent || intent.sending) return;
    const reward = intent.item.reward;
    Object.assign(intent, { sending: true, message: "", resume: false });
    this._fillDialog();
    try {
      const data = await this._http.request(REDEEM, { rewardId: reward.id, key: this._keys.get(reward.id) });
      const payload = data.redeemReward;
      const errors = payloadErrors(payload);
      this._keys.delete(reward.id); // settled either way: the next intent is a new one
      if (errors.length) {
        intent.message = this._t("redeemFailed", { message: errors[0].message });
      } else {
        this._data?.redemptions.set(payload.redemption.id, payload.redemption);
        this._announce(this._t("redeemed", { reward: reward.name }));
        this._dialog.close();
        this._load();
        return;
      }
    } catch (error) {
      intent.resume = error.code === "TOKEN_EXPIRED";
      intent.message = error.code === "NETWORK_ERROR" ? this._t("redeemNetwork") : intent.resume ? this._t("expired") : error.message;
    }
    intent.sending = false;
    if (this._intent === intent && this._dialog.open) this._fillDialog();
  }

  _dialogClosed() {
    const intent = this._intent;
    this._intent = null;
    if (!intent) return;
    // Back to where the member was (the button may have been rebuilt meanwhile).
    const target = this._root.querySelector(`[data-key="${intent.opener.dataset.key}"]`);
    (target && !target.disabled ? target : this._root.querySelector("h2")).focus();
  }

  _build() {
    if (this._root) return;
    this._root = h("div", { class: "root", part: "container" });
    this._status = h("div", { class: "sr-only", role: "status", "aria-live": "polite", "aria-atomic": "true" });
    this._dialog = h("dialog", { part: "dialog", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-body" });
    this._dialog.addEventListener("close", () => this._dialogClosed());
    this.shadowRoot.append(h("style", { text: styles }), this._root, this._status, this._dialog);
    this._render();
  }

  get _t() {
    return translator(pickLang(this), messages);
  }

  get _f() {
    return formats(pickLang(this));
  }

  // "120 points", in the currency of `of` (an account or a reward)
  _points(n, of) {
    return this._t("cost", { n: this._f.n(n), currency: of.pointDefinition.name });
  }

  _balanceOf(definitionId) {
    return this._data?.me?.accounts.find((a) => a.pointDefinition.id === definitionId)?.balance ?? 0;
  }

  _announce(text) {
    this._status.textContent = text;
  }

  _render() {
    if (!this._root) return;
    const t = this._t;
    const f = this._f;
    const focused = this.shadowRoot.activeElement?.dataset?.key;
    const me = this._data?.me;
    const problem = this._problem;
    const link = { open: "live", closed: "offline" }[this._link] || "reconnecting";
    const section = (id, title, list) => h("section", { "aria-labelledby": id }, h("h3", { id, text: t(title) }), list);
    const state = (text, kind) => h("p", { class: "state", "data-state": kind, text: t(text) });
    this.setAttribute("aria-busy", String(!this._data && !problem));
    const parts = [
      h(
        "header",
        { part: "header" },
        h("div", {}, h("h2", { tabindex: "-1", text: t("title") }),
          me?.name && h("p", { class: "who", text: [t("hello", { name: me.name }), me.tier && t("tier", { tier: me.tier.name })].filter(Boolean).join(" · ") })),
        this._data && h("span", { class: "link", "data-state": this._link, text: t(link) }),
      ),
      problem && h(
        "div",
        { class: "banner", part: "banner", role: "alert", "data-problem": problem },
        h("span", { text: t({ refused: "refused", expired: "expired" }[problem] || "networkDown") }),
        problem === "network" && h("button", { type: "button", text: t("retry"), onclick: () => this._load() }),
      ),
    ];
    if (!this._data) parts.push(!problem && state("loading", "loading"));
    else {
      const ctx = {
        t, f,
        balanceOf: (id) => this._balanceOf(id),
        onRedeem: (item, opener) => this._openConfirm(item, opener),
      };
      const { catalog, redemptions } = this._data;
      const accounts = me?.accounts ?? [];
      const newest = [...redemptions.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
      parts.push(
        section("h-balances", "balances", accounts.length ? h("div", { class: "balances" }, accounts.map((a) => balanceCard(a, t, f))) : state("noPoints")),
        section("h-catalog", "catalog", catalog.length ? h("ul", { class: "catalog", part: "catalog" }, catalog.map((i) => rewardCard(i, reasonText(i, ctx), ctx))) : state("emptyCatalog", "empty")),
        section("h-redemptions", "redemptions", newest.length ? h("ul", { class: "redemptions", part: "redemptions" }, newest.map((r) => redemptionRow(r, ctx))) : state("noRedemptions")),
      );
    }
    this._root.replaceChildren(...parts.filter(Boolean));
    this._root.lang = pickLang(this);
    if (focused) this._root.querySelector(`[data-key="${focused}"]`)?.focus();
  }
}

// endpoint and token: properties reflected to their attributes (lang is HTMLElement's own).
for (const name of ["endpoint", "token"]) {
  Object.defineProperty(GamifyRewards.prototype, name, {
    get() { return this.getAttribute(name) || ""; },
    set(value) { this.setAttribute(name, value); },
  });
}

if (!customElements.get("gamify-rewards")) customElements.define("gamify-rewards", GamifyRewards);
