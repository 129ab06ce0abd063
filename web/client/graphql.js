// A small GraphQL-over-HTTP client: one POST per operation, errors as GraphQLError.
// Used by the rewards widget and the admin console. No dependencies.

export class GraphQLError extends Error {
  constructor(message, { code = "ERROR", errors = null, retryAfter = null } = {}) {
    super(message);
    this.name = "GraphQLError";
    this.code = code; // extensions.code, "NETWORK_ERROR" or "HTTP_<status>"
    this.errors = errors; // the raw `errors` array, when the answer had one
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

function retryAfterSeconds(response) {
  const seconds = Number(response.headers.get("Retry-After") ?? NaN); // the engine sends seconds
  return Number.isFinite(seconds) ? Math.max(0, seconds) : null;
}

export class GraphQLClient extends EventTarget {
  constructor({ endpoint, token = null, fetch = globalThis.fetch }) {
    super();
    this.endpoint = endpoint;
    this.token = token;
    // Called unbound: window.fetch refuses to run with another `this`.
    this._fetch = (...args) => fetch(...args);
  }

  async request(query, variables = {}, { signal } = {}) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await this._fetch(this.endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables }),
        signal,
      });
    } catch (cause) {
      if (cause?.name === "AbortError") throw cause;
      throw new GraphQLError("The server cannot be reached", { code: "NETWORK_ERROR" });
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON: a proxy's error page, or a server that is starting.
    }
    const errors = Array.isArray(body?.errors) && body.errors.length ? body.errors : null;
    if (errors) {
      const code = errors[0].extensions?.code ?? (response.ok ? "ERROR" : `HTTP_${response.status}`);
      const error = new GraphQLError(errors[0].message || code, {
        code,
        errors,
        retryAfter: retryAfterSeconds(response),
      });
      if (code === "TOKEN_EXPIRED") this.dispatchEvent(new Event("token-expired"));
      throw error;
    }
    if (!response.ok || !body || typeof body !== "object" || !("data" in body)) {
      const code = body === null && response.ok ? "NETWORK_ERROR" : `HTTP_${response.status}`;
      throw new GraphQLError(`The server answered ${response.status}`, {
        code,
        retryAfter: retryAfterSeconds(response),
      });
    }
    return body.data;
  }
}

// The `errors` list of a mutation payload (or []), for forms to show next to their fields.
export function payloadErrors(payload) {
  return Array.isArray(payload?.errors) ? payload.errors : [];
}
