// Calls to hotelbot's HTTP API with the access token, one silent refresh on expiry,
// and errors carrying the API's own message.
import { emit } from "./events.js";
import { currentLanguage, t } from "./i18n.js";

let accessToken = null;
let refreshing = null;

/** An error response of the API: `message` is the API's text, shown to the user as it is. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || t("common.error"));
    this.status = status;
    this.code = body?.code || (status === 0 ? "NETWORK" : "UNKNOWN");
    this.details = body?.details || [];
    this.body = body || {};
  }
}

export function setAccessToken(token) {
  accessToken = token;
}

export function getAccessToken() {
  return accessToken;
}

/**
 * Exchange the refresh cookie for a new access token; return true on success.
 * Tabs take turns through a Web Lock, so two tabs never present the same refresh token
 * (the server would see a reuse and end the session).
 */
export function refreshSession() {
  if (!refreshing) {
    const run = async () => {
      const response = await send("POST", "/auth/refresh", undefined, false);
      if (!response.ok) return false;
      accessToken = (await response.json()).accessToken;
      return true;
    };
    const locked = navigator.locks ? navigator.locks.request("hotelbot-refresh", run) : run();
    refreshing = locked.catch(() => false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Send a request; `body` goes as JSON, or as multipart when it is a FormData (the browser sets its boundary). */
async function send(method, path, body, withToken = true) {
  const headers = { "Accept-Language": currentLanguage(), Accept: "application/json" };
  if (withToken && accessToken) headers.Authorization = `Bearer ${accessToken}`;
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method,
    headers,
    body: body === undefined || form ? body : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Call the API and return its parsed JSON. Throws ApiError (status 0 when the server cannot be reached).
 * An expired access token is refreshed once; when that fails too, "session:lost" is emitted.
 */
export async function api(method, path, { body, query } = {}) {
  const url = withQuery(path, query);
  let response;
  try {
    response = await send(method, url, body);
    if (response.status === 401 && accessToken && (await refreshSession())) {
      response = await send(method, url, body);
    }
  } catch (error) {
    throw new ApiError(0, { error: t("common.offlineError"), code: "NETWORK" });
  }

  const data = await response.json().catch(() => null);
  if (response.ok) return data;

  if (response.status === 401 && path !== "/auth/login") emit("session:lost", data);
  throw new ApiError(response.status, data);
}
