// <gamify-rewards endpoint="https://ENGINE/graphql" token="..."> — a member's points,
// the reward catalog, redeeming and their redemptions, kept live over a WebSocket.
// Attributes (and the same properties): endpoint, token, lang ("en" | "vi"; default: the
// page's language). Fires `gamify:token-expired` (bubbles, composed): set a new `token`.
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
    this._problem = null; // null | "network" | "expired" | "refused" | "error"
    this._problemText = "";
    this._link = "connecting";
    this._heard = new Map(); // redemption id -> the last status the member was told of
    this._keys = new Map(); // reward id -> idempotency key of the intent not yet settled
    this._intent = null; // the redeem being confirmed: { item, opener, sending, message }
    this._retries = 0;
  }

  get endpoint() {
    return this.getAttribute("endpoint") || "";
  }
  set endpoint(value) {
    this.setAttribute("endpoint", value);
  }
  get token() {
    return this.getAttribute("token") || "";
  }
  set token(value) {
    this.setAttribute("token", value);
  }

  connectedCallback() {
    for (const name of ["endpoint", "token"]) {
      // A property set before the element was defined shadows the accessor: move it over.
      if (Object.hasOwn(this, name)) {
        const value = this[name];
        delete this[name];
        this[name] = value;
      }
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

  // --- connections -----------------------------------------------------------------

  _start() {
    if (!this.endpoint) return;
    this._http = new GraphQLClient({ endpoint: this.endpoint, token: this.token });
    this._http.addEventListener("token-expired", () => this._expired());
    this._live = new LiveClient({ url: socketUrl(this.endpoint), token: this.token });
    this._live.addEventListener("token-expired", () => this._expired());
    this._live.addEventListener("refused", () => ((this._refused = true), this._load())); // HTTP tells why
    this._live.addEventListener("status", (event) => {
      const wasDown = this._link === "reconnecting";
      this._link = event.detail;
      // Balances and the catalog carry no event ids: read them again after a gap.
      if (event.detail === "open" && wasDown) this._load();
      else this._render();
    });
    // Balances need no resume point: listen at once (a refused socket also tells a
    // refused fetch, which the browser reports as a network failure, from a real one).
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
      this._problemText = error.message;
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
      this._announce(this._t("statusChanged", { reward: update.redemption.reward.name, status: this._t(update.redemption.status) }));
    this._render();
    this._refreshSoon(); // stock, limits and cooldowns may have moved
  }

  _onBalance(change) {
    const account = this._data?.me?.accounts.find((a) => a.id === change.accountId);
    if (!account) return this._refreshSoon();
    if (account.balance !== change.balance)
      this._announce(this._t("balanceChanged", { balance: this._t("cost", { n: this._f.n(change.balance), currency: account.pointDefinition.name }) }));
    Object.assign(account, { balance: change.balance, pending: change.pending, expiringSoon: change.expiringSoon });
    this._render();
    this._refreshSoon(); // what the member can afford changed; the next expiry date too
  }

  // --- redeeming -------------------------------------------------------------------

  _openConfirm(item, opener) {
    const reward = item.reward;
    // One key per intent: a double click, a retry after a dropped connection or a new
    // token resend the same key, so the engine redeems once.
    if (!this._keys.has(reward.id)) this._keys.set(reward.id, crypto.randomUUID());
    this._intent = { item, opener, sending: false, message: "" };
    this._fillDialog();
    this._dialog.showModal();
    this._dialog.querySelector(".primary").focus();
  }

  _fillDialog() {
    const { item, sending, message } = this._intent;
    const t = this._t;
    const reward = item.reward;
    const currency = reward.pointDefinition.name;
    const balance = this._balanceOf(reward.pointDefinition.id);
    const cost = t("cost", { n: this._f.n(reward.pointCost), currency });
    const after = t("cost", { n: this._f.n(Math.max(0, balance - reward.pointCost)), currency });
    this._dialog.replaceChildren(
      h("h4", { id: "confirm-title", text: t("confirmTitle", { reward: reward.name }) }),
      h("p", { id: "confirm-body", text: t("confirmBody", { cost, after }) }),
      message && h("p", { class: "error", role: "alert", text: message }),
      h(
        "div",
        { class: "buttons" },
        h("button", { class: "secondary", part: "cancel-button", type: "button", text: t("cancel"), onclick: () => this._dialog.close() }),
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
  }

  async _confirm() {
    const intent = this._intent;
    if (!intent || intent.sending) return;
    const reward = intent.item.reward;
    Object.assign(intent, { sending: true, message: "", resume: false });
    this._fillDialog();
    this._dialog.querySelector(".primary").focus();
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
    if (this._intent === intent && this._dialog.open) {
      this._fillDialog();
      this._dialog.querySelector(".primary").focus();
    }
  }

  _dialogClosed() {
    const intent = this._intent;
    this._intent = null;
    if (!intent) return;
    // Back to where the member was (the button may have been rebuilt meanwhile).
    const key = intent.opener?.dataset.key;
    const target = (intent.opener?.isConnected && intent.opener) || (key && this._root.querySelector(`[data-key="${key}"]`));
    (target && !target.disabled ? target : this._root.querySelector("h2")).focus();
  }

  // --- rendering -------------------------------------------------------------------

  _build() {
    if (this._root) return;
    this._root = h("div", { class: "root", part: "container" });
    this._live_region = h("div", { class: "sr-only", role: "status", "aria-live": "polite", "aria-atomic": "true" });
    this._dialog = h("dialog", { part: "dialog", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-body" });
    this._dialog.addEventListener("close", () => this._dialogClosed());
    this.shadowRoot.append(h("style", { text: styles }), this._root, this._live_region, this._dialog);
    this._render();
  }

  get _t() {
    return translator(pickLang(this), messages);
  }

  get _f() {
    return formats(pickLang(this));
  }

  _balanceOf(definitionId) {
    return this._data?.me?.accounts.find((a) => a.pointDefinition.id === definitionId)?.balance ?? 0;
  }

  _lastRedeemedAt(rewardId) {
    let last = null;
    for (const r of this._data?.redemptions.values() ?? []) if (r.reward.id === rewardId && (!last || r.createdAt > last)) last = r.createdAt;
    return last;
  }

  _announce(text) {
    this._live_region.textContent = text;
  }

  _copy(text, button) {
    navigator.clipboard?.writeText(text).then(
      () => (button.textContent = this._t("copied")),
      () => {}, // not allowed here: the code stays on screen to copy by hand
    );
  }

  _render() {
    if (!this._root) return;
    const t = this._t;
    const f = this._f;
    const focused = this.shadowRoot.activeElement?.dataset?.key;
    const me = this._data?.me;
    const link = { open: "live", reconnecting: "reconnecting", connecting: "reconnecting", closed: "offline" }[this._link];
    this.setAttribute("aria-busy", String(!this._data && !this._problem));
    const header = h(
      "header",
      { part: "header" },
      h("div", {}, h("h2", { tabindex: "-1", text: t("title") }), me?.name && h("p", { class: "who", text: [t("hello", { name: me.name }), me.tier && t("tier", { tier: me.tier.name })].filter(Boolean).join(" · ") })),
      this._data && h("span", { class: "link", "data-state": this._link, text: t(link) }),
    );
    const problem = this._problem && h(
      "div",
      { class: "banner", part: "banner", role: "alert", "data-kind": this._problem === "network" ? "warning" : "error", "data-problem": this._problem },
      h("span", { text: this._problem === "refused" ? t("refused") : this._problem === "expired" ? t("expired") : t("networkDown") }),
      this._problem === "network" && h("button", { class: "secondary", type: "button", text: t("retry"), onclick: () => this._load() }),
    );
    let body;
    if (!this._data) {
      body = this._problem ? [] : [h("p", { class: "state", "data-state": "loading", text: t("loading") })];
    } else {
      const ctx = { t, f, balanceOf: (id) => this._balanceOf(id), lastRedeemedAt: (id) => this._lastRedeemedAt(id), onRedeem: (item, opener) => this._openConfirm(item, opener), onCopy: (text, b) => this._copy(text, b) };
      const accounts = me?.accounts ?? [];
      const redemptions = [...this._data.redemptions.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
      body = [
        h("section", { "aria-labelledby": "h-balances" }, h("h3", { id: "h-balances", text: t("balances") }),
          accounts.length ? h("div", { class: "balances" }, accounts.map((a) => balanceCard(a, t, f))) : h("p", { class: "state", text: t("noPoints") })),
        h("section", { "aria-labelledby": "h-catalog" }, h("h3", { id: "h-catalog", text: t("catalog") }),
          this._data.catalog.length
            ? h("ul", { class: "catalog", part: "catalog" }, this._data.catalog.map((item) => rewardCard(item, reasonText(item, ctx), ctx)))
            : h("p", { class: "state", "data-state": "empty", text: t("emptyCatalog") })),
        h("section", { "aria-labelledby": "h-redemptions" }, h("h3", { id: "h-redemptions", text: t("redemptions") }),
          redemptions.length
            ? h("ul", { class: "redemptions", part: "redemptions" }, redemptions.map((r) => redemptionRow(r, ctx)))
            : h("p", { class: "state", text: t("noRedemptions") })),
      ];
    }
    this._root.replaceChildren(header, problem || "", ...body);
    this._root.lang = pickLang(this);
    if (focused) this._root.querySelector(`[data-key="${focused}"]`)?.focus();
  }
}

if (!customElements.get("gamify-rewards")) customElements.define("gamify-rewards", GamifyRewards);
