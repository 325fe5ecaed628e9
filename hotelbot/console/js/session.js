// The signed-in user: login, resuming after a reload through the refresh cookie, logout.
import { api, refreshSession, setAccessToken } from "./api.js";
import { emit } from "./events.js";
import { setLanguage } from "./i18n.js";

export const session = { user: null, tenant: null, team: [] };

// The tabs of one browser share the refresh cookie and so the session. A logout in one tab ends it in the
// others too, because the server keeps their sockets open and they would go on showing guests' messages.
const tabs = "BroadcastChannel" in window ? new BroadcastChannel("hotelbot-session") : null;
tabs?.addEventListener("message", (event) => {
  if (event.data !== "logout" || !session.user) return;
  setAccessToken(null);
  emit("session:lost", null);
});

/** Log in; return the session, or throw ApiError with the API's message. */
export async function login(email, password) {
  const result = await api("POST", "/auth/login", { body: { email, password } });
  setAccessToken(result.accessToken);
  return load();
}

/** Resume a session after a reload; return it, or null when the user must log in. */
export async function resume() {
  if (!(await refreshSession())) return null;
  try {
    return await load();
  } catch {
    return null;
  }
}

async function load() {
  const me = await api("GET", "/auth/me");
  session.user = me.user;
  session.tenant = me.tenant;
  setLanguage(me.user.language);
  session.team = (await api("GET", "/team")).items;
  return session;
}

/** Load the user, the tenant and the team again (after an admin changed this user's role or unit); return the session. */
export async function reloadSession() {
  return load();
}

/** Reload the list of colleagues (after an admin changed a user). */
export async function reloadTeam() {
  session.team = (await api("GET", "/team")).items;
  return session.team;
}

/** Return the colleague's name for `userId`, or null. */
export function colleagueName(userId) {
  return session.team.find((member) => member.id === userId)?.name ?? null;
}

/** End the session on the server and in every other tab of this browser. */
export async function logout() {
  try {
    await api("POST", "/auth/logout");
  } finally {
    setAccessToken(null);
    session.user = null;
    tabs?.postMessage("logout");
  }
}
