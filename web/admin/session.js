// The signed-in admin: its token, the GraphQL client and the live (WebSocket) client.
import { GraphQLClient } from "/client/graphql.js";
import { LiveClient } from "/client/live.js";

// The admin JWT lives in sessionStorage, not a cookie: a cookie would be sent by the
// browser on any site's forged request (CSRF), while this token is only ever sent by our
// own code in the Authorization header. sessionStorage (not localStorage) keeps it to this
// tab and drops it when the tab closes, yet survives a reload so staff do not log in again
// after refreshing a screen. The token is short-lived (GAMIFY_ADMIN_TOKEN_TTL).
const KEY = "gamify-admin-token";
const endpoint = new URL("/graphql", location.href).href;
const wsUrl = endpoint.replace(/^http/, "ws");

export class Session extends EventTarget {
  constructor() {
    super();
    this.token = sessionStorage.getItem(KEY);
    this.client = new GraphQLClient({ endpoint, token: this.token });
    this.live = null;
  }

  get signedIn() {
    return Boolean(this.token);
  }

  async request(query, variables = {}, options = {}) {
    const token = this.token;
    try {
      return await this.client.request(query, variables, options);
    } catch (err) {
      // Only the token in use expiring ends the session: an answer to a request sent with
      // an older one (arriving after a new login) must not log staff out again.
      if (err.code === "TOKEN_EXPIRED" && token && token === this.token) this.expire();
      throw err;
    }
  }

  async login(email, password) {
    const data = await this.client.request(
      `mutation($e: String!, $p: String!) {
        login(email: $e, password: $p) { token expiresAt errors { field code message } } }`,
      { e: email, p: password },
    );
    const payload = data.login;
    if (payload.token) this.start(payload.token);
    return payload;
  }

  start(token) {
    this.token = token;
    sessionStorage.setItem(KEY, token);
    this.client.token = token;
    if (this.live) this.live.token = token;
    this.dispatchEvent(new Event("signed-in"));
  }

  // The WebSocket is opened on first use and shared by every live part of the console.
  // Signed out, a screen still finishing its drawing gets nothing to subscribe to.
  liveClient() {
    if (!this.token) return { subscribe: () => () => {} };
    if (!this.live) {
      const live = new LiveClient({ url: wsUrl, token: this.token });
      const current = () => this.live === live;
      live.addEventListener("token-expired", () => current() && this.expire());
      // Refused without expiry (4403): the credential is no longer good; log in again.
      live.addEventListener("refused", () => current() && this.end("The live connection was refused. Log in again."));
      live.addEventListener("status", (e) =>
        current() && this.dispatchEvent(new CustomEvent("live-status", { detail: e.detail })),
      );
      this.live = live;
    }
    return this.live;
  }

  end(reason = "") {
    this.token = null;
    sessionStorage.removeItem(KEY);
    this.client.token = null;
    if (this.live) {
      this.live.close();
      this.live = null;
    }
    this.dispatchEvent(new CustomEvent("signed-out", { detail: reason }));
  }

  expire() {
    if (this.token) this.end("Your session expired. Log in again.");
  }
}
