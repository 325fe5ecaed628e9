// The signed-in user: login, resuming after a reload through the refresh cookie, logout.
import { api, refreshSession, setAccessToken } from "./api.js";
import { setLanguage } from "./i18n.js";

export const session = { user: null, tenant: null, team: [] };

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

/** Reload the list of colleagues (after an admin changed a user). */
export async function reloadTeam() {
  session.team = (await api("GET", "/team")).items;
  return session.team;
}

/** Return the colleague's name for `userId`, or null. */
export function colleagueName(userId) {
  return session.team.find((member) => member.id === userId)?.name ?? null;
}

export async function logout() {
  try {
    await api("POST", "/auth/logout");
  } finally {
    setAccessToken(null);
    session.user = null;
  }
}
