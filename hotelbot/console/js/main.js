// Starts the console: resumes the session or shows the login, draws the top bar and routes
// between screens by the address's hash (#/board, #/board/<id>, #/dashboard, #/users).
import { h, replace } from "./dom.js";
import { emit, on } from "./events.js";
import { t } from "./i18n.js";
import { markEscalationsSeen, permissionButton, startNotifications } from "./notify.js";
import { logout, reloadSession, resume, session } from "./session.js";
import * as socket from "./socket.js";
import * as board from "./views/board.js";
import * as dashboard from "./views/dashboard.js";
import * as loginView from "./views/login.js";
import * as users from "./views/users.js";

const app = document.getElementById("app");
const screens = { board, dashboard, users };
let unmount = null;
let connectionState = "connecting";
let stopNotifications = null;

/** Parse "#/board/123" into {screen: "board", id: "123"}. */
export function currentRoute() {
  const [screen, id] = location.hash.replace(/^#\/?/, "").split("/");
  return { screen: screens[screen] ? screen : "board", id: id ? decodeURIComponent(id) : null };
}

/** Go to a screen; `id` opens a conversation on the board. */
export function navigate(screen, id = null) {
  location.hash = id ? `#/${screen}/${encodeURIComponent(id)}` : `#/${screen}`;
}

function topBar(active) {
  const link = (screen, label, extra = null) => h("a", {
    href: `#/${screen}`, class: active === screen ? "nav-link active" : "nav-link",
    "aria-current": active === screen ? "page" : false, "data-test": `nav-${screen}`,
  }, label, extra);

  const badge = h("span", { class: "badge badge-alert", "data-test": "escalation-badge", hidden: true });
  const state = h("span", { class: "connection", "data-test": "connection", "data-state": connectionState },
    t(`connection.${connectionState}`));
  const user = session.user;

  return h("header", { class: "top-bar" },
    h("span", { class: "brand" }, h("img", { src: "/app/icon.svg", alt: "", width: 24, height: 24 }),
      session.tenant?.name || t("app.title")),
    h("nav", { class: "nav", "aria-label": "Menu" },
      link("board", t("nav.board"), badge),
      link("dashboard", t("nav.dashboard")),
      user.role === "ADMIN" ? link("users", t("nav.users")) : null),
    h("span", { class: "spacer" }),
    state,
    permissionButton(),
    h("span", { class: "who", "data-test": "current-user" }, user.name,
      h("small", {}, ` · ${t(`role.${user.role}`)}${user.hotelUnit ? ` · ${user.hotelUnit}` : ""}`)),
    h("button", { type: "button", class: "link-button", "data-test": "logout", on: { click: signOut } }, t("nav.logout")));
}

function render() {
  unmount?.();
  unmount = null;
  if (!session.user) return;

  const route = currentRoute();
  if (route.screen === "users" && session.user.role !== "ADMIN") return navigate("board");
  if (route.screen === "board") markEscalationsSeen();

  const main = h("main", { class: `screen screen-${route.screen}`, id: "main" });
  replace(app, h("a", { href: "#main", class: "skip-link" }, "↓"), topBar(route.screen), main);
  unmount = screens[route.screen].mount(main, route) || null;
}

function showLogin() {
  unmount?.();
  unmount = loginView.mount(app, { onLoggedIn: start });
}

function start() {
  socket.connect();
  stopNotifications ??= startNotifications((id) => navigate("board", id));
  render();
}

async function signOut() {
  socket.disconnect();
  await logout().catch(() => {});
  location.hash = "";
  showLogin();
}

on("connection", (state) => {
  connectionState = state;
  const badge = app.querySelector("[data-test=connection]");
  if (!badge) return;
  badge.dataset.state = state;
  badge.textContent = t(`connection.${state}`);
});

on("escalations:unseen", (count) => {
  const badge = app.querySelector("[data-test=escalation-badge]");
  if (badge) {
    badge.hidden = count === 0;
    badge.textContent = String(count);
  }
  document.title = count ? `(${count}) ${t("app.title")}` : t("app.title");
});

on("session:lost", () => {
  if (!session.user) return;
  socket.disconnect();
  session.user = null;
  showLogin();
});

// The server ended the socket after an admin changed this user's role or unit: draw again with the new ones.
on("session:changed", async () => {
  if (!session.user) return;
  try {
    await reloadSession();
  } catch (error) {
    console.warn("Session not reloaded", error);
    return;
  }
  render();
});

window.addEventListener("hashchange", () => {
  const route = currentRoute();
  // Opening or closing a chat stays on the board: the board handles it without a redraw.
  if (route.screen === "board" && app.querySelector(".screen-board")) {
    markEscalationsSeen();
    emit("route:board", route);
  } else {
    render();
  }
});

(async () => {
  replace(app, h("p", { class: "splash" }, t("common.loading")));
  if (await resume()) start();
  else showLogin();
})();
