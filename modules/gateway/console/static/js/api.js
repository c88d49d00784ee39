// The console's only way to the server: the public HTTP API, as any client uses it.
//
// Tokens live in sessionStorage (this tab only; gone when it closes), never in
// cookies or localStorage. A 401 triggers one refresh (rotating the refresh
// token) and a retry; the access token is also refreshed shortly before it expires.
// Concurrent callers share a single in-flight refresh, since a rotated refresh
// token may be used only once.

const STORAGE_KEY = "cloudtaskhub.console.session";
const listeners = new Set();
let session = readSession();
let refreshing = null;
let refreshTimer = null;

export class ApiError extends Error {
  constructor(status, problem) {
    super(describeProblem(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

// problem+json (RFC 9457) as a sentence a person can read, field errors included.
export function describeProblem(status, problem) {
  if (!problem || typeof problem !== "object") return `The server answered ${status}.`;
  const head = problem.detail && problem.detail !== problem.title
    ? `${problem.title || "Error"}: ${problem.detail}`
    : problem.title || problem.detail || `The server answered ${status}.`;
  const fields = Array.isArray(problem.errors)
    ? problem.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).filter(Boolean)
    : [];
  return fields.length ? `${head} (${fields.join("; ")})` : head;
}

function readSession() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
  } catch {
    return null;
  }
}

function store(tokens) {
  session = tokens
    ? {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: Date.now() + tokens.expires_in * 1000,
      }
    : null;
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
  scheduleRefresh();
  for (const listener of listeners) listener(session !== null);
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  // Refresh at 80 % of the lifetime (at least 5 s from now).
  const delay = Math.max(5000, (session.expires_at - Date.now()) * 0.8);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), delay);
}

export function onSessionChange(listener) {
  listeners.add(listener);
}

export function isSignedIn() {
  return session !== null;
}

export function accessToken() {
  return session ? session.access_token : null;
}

// The access token's claims, for display and for showing admin-only views; the
// server checks every request itself, so nothing here grants anything.
export function claims() {
  if (!session) return {};
  try {
    const payload = session.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

export function isAdmin() {
  const roles = claims().roles;
  return Array.isArray(roles) && roles.includes("admin");
}

async function send(method, path, { body, headers = {}, token } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { title: "Network error", detail: "the server could not be reached" });
  }
  const type = response.headers.get("content-type") || "";
  const data = response.status === 204 || !type.includes("json") ? null : await response.json().catch(() => null);
  return { status: response.status, ok: response.ok, data, headers: response.headers };
}

export async function refresh() {
  if (!session) throw new ApiError(401, { title: "Not signed in" });
  if (!refreshing) {
    const refreshToken = session.refresh_token;
    refreshing = send("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } })
      .then((answer) => {
        if (!answer.ok) {
          store(null);
          throw new ApiError(answer.status, answer.data);
        }
        store(answer.data);
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

// Call the API as the signed-in user. Resolves to the JSON body (null for 204);
// rejects with ApiError carrying the problem details.
export async function api(method, path, options = {}) {
  const answer = await apiResponse(method, path, options);
  return answer.data;
}

export async function apiResponse(method, path, options = {}) {
  if (refreshing) await refreshing.catch(() => {});
  let answer = await send(method, path, { ...options, token: accessToken() });
  if (answer.status === 401 && session) {
    await refresh();
    answer = await send(method, path, { ...options, token: accessToken() });
  }
  if (!answer.ok) throw new ApiError(answer.status, answer.data);
  return answer;
}

export async function login(email, password) {
  const answer = await send("POST", "/api/v1/auth/login", { body: { email, password } });
  if (!answer.ok) throw new ApiError(answer.status, answer.data);
  store(answer.data);
}

export async function register(email, password, displayName) {
  const answer = await send("POST", "/api/v1/auth/register", {
    body: { email, password, display_name: displayName },
  });
  if (!answer.ok) throw new ApiError(answer.status, answer.data);
  await login(email, password);
}

export async function logout() {
  const current = session;
  store(null);
  if (current) {
    // Revoke the refresh token's family; the short-lived access token simply expires.
    await send("POST", "/api/v1/auth/logout", { body: { refresh_token: current.refresh_token } }).catch(() => {});
  }
}

scheduleRefresh();
