// The JSON API, with the caller's token, and conditional GETs: each view's ETag is sent back
// as If-None-Match, so an unchanged view costs a bodiless 304.

const BASE = "/api/v2";
const CACHE_LIMIT = 60;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(token, { onUnauthorized } = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized || (() => {});
    this.cache = new Map(); // path -> {etag, data}
    this.inFlight = new Map(); // path -> the pending get of it
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async request(method, path, { body, headers } = {}) {
    let response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers: this.headers(headers),
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, "unreachable", "Cannot reach the jobplatform server.");
    }
    if (response.status === 401) {
      this.onUnauthorized();
      throw new ApiError(401, "unauthorized", "Your token was not accepted.");
    }
    return response;
  }

  async fail(response) {
    let message = `The server answered ${response.status}.`;
    let code = "error";
    try {
      const body = await response.json();
      if (body && body.error) {
        message = body.error.message || message;
        code = body.error.code || code;
      }
    } catch (err) {
      // not JSON: a proxy's error page, say; the status says enough
    }
    throw new ApiError(response.status, code, message);
  }

  /** GET a view: {data, changed}; `changed` is false when the server said 304. A second
   * ask for a path while it is on its way shares the first one's answer. */
  get(path) {
    let pending = this.inFlight.get(path);
    if (!pending) {
      pending = this.fetchView(path).finally(() => this.inFlight.delete(path));
      this.inFlight.set(path, pending);
    }
    return pending;
  }

  async fetchView(path) {
    const cached = this.cache.get(path);
    const headers = cached ? { "If-None-Match": cached.etag } : {};
    const response = await this.request("GET", path, { headers });
    if (response.status === 304 && cached) {
      this.cache.delete(path);
      this.cache.set(path, cached); // most recently used last
      return { data: cached.data, changed: false };
    }
    if (!response.ok) await this.fail(response);
    const data = await response.json();
    const etag = response.headers.get("ETag");
    if (etag) {
      this.cache.set(path, { etag, data });
      if (this.cache.size > CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value);
    }
    return { data, changed: true };
  }

  async post(path, body) {
    const response = await this.request("POST", path, {
      body: body === undefined ? {} : body,
      headers: { "Content-Type": "application/json" },
    });
    if (!response.ok) await this.fail(response);
    return response.json();
  }

  /** A file the API serves, as a Blob and the name it suggests. */
  async download(path) {
    const response = await this.request("GET", path);
    if (!response.ok) await this.fail(response);
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename="?([^";]+)"?/.exec(disposition);
    return { blob: await response.blob(), name: match ? match[1] : "download" };
  }
}
