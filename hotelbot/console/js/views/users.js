// The users screen, for admins: the tenant's users page by page, create and edit them,
// deactivate, reset a password and unlock after too many failed logins.
import { api } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { on } from "../events.js";
import { shortTime } from "../format.js";
import { define, t } from "../i18n.js";
import { reloadTeam, session } from "../session.js";

define({
  "pt-BR": {
    "users.title": "Usuários",
    "users.create": "Novo usuário",
    "users.createTitle": "Novo usuário",
    "users.editTitle": "Editar {name}",
    "users.name": "Nome",
    "users.email": "E-mail",
    "users.role": "Perfil",
    "users.unit": "Unidade",
    "users.anyUnit": "Todas as unidades",
    "users.language": "Idioma",
    "users.password": "Senha (mínimo 8 caracteres)",
    "users.state": "Situação",
    "users.actions": "Ações",
    "users.active": "Ativo",
    "users.inactive": "Desativado",
    "users.locked": "Bloqueado até {time}",
    "users.lockedHint": "Muitas tentativas de entrar com a senha errada.",
    "users.you": "(você)",
    "users.edit": "Editar",
    "users.resetPassword": "Redefinir senha",
    "users.unlock": "Desbloquear",
    "users.deactivate": "Desativar",
    "users.more": "Carregar mais",
    "users.empty": "Nenhum usuário.",
    "users.created": "Usuário {name} criado.",
    "users.saved": "Alterações de {name} salvas.",
    "users.unchanged": "Nada foi alterado.",
    "users.deactivateTitle": "Desativar {name}?",
    "users.deactivateText": "{name} sai do sistema na hora e não consegue mais entrar. As conversas atribuídas a essa pessoa continuam atribuídas até alguém reatribuir.",
    "users.deactivated": "{name} foi desativado.",
    "users.resetTitle": "Nova senha para {name}",
    "users.resetText": "{name} sai do sistema em todos os aparelhos e entra de novo com esta senha.",
    "users.newPassword": "Nova senha (mínimo 8 caracteres)",
    "users.passwordReset": "Senha de {name} redefinida.",
    "users.unlocked": "{name} pode tentar entrar de novo.",
    "users.loadFailed": "Não foi possível carregar os usuários: {message}",
    "language.pt-BR": "Português (Brasil)",
    "language.en": "English",
  },
  en: {
    "users.title": "Users",
    "users.create": "New user",
    "users.createTitle": "New user",
    "users.editTitle": "Edit {name}",
    "users.name": "Name",
    "users.email": "Email",
    "users.role": "Role",
    "users.unit": "Unit",
    "users.anyUnit": "All units",
    "users.language": "Language",
    "users.password": "Password (at least 8 characters)",
    "users.state": "State",
    "users.actions": "Actions",
    "users.active": "Active",
    "users.inactive": "Deactivated",
    "users.locked": "Locked until {time}",
    "users.lockedHint": "Too many logins with a wrong password.",
    "users.you": "(you)",
    "users.edit": "Edit",
    "users.resetPassword": "Reset password",
    "users.unlock": "Unlock",
    "users.deactivate": "Deactivate",
    "users.more": "Load more",
    "users.empty": "No users.",
    "users.created": "User {name} created.",
    "users.saved": "Changes to {name} saved.",
    "users.unchanged": "Nothing was changed.",
    "users.deactivateTitle": "Deactivate {name}?",
    "users.deactivateText": "{name} is logged out at once and can no longer log in. Conversations assigned to them stay assigned until someone reassigns them.",
    "users.deactivated": "{name} was deactivated.",
    "users.resetTitle": "New password for {name}",
    "users.resetText": "{name} is logged out on every device and logs in again with this password.",
    "users.newPassword": "New password (at least 8 characters)",
    "users.passwordReset": "Password of {name} reset.",
    "users.unlocked": "{name} may try to log in again.",
    "users.loadFailed": "Could not load the users: {message}",
    "language.pt-BR": "Português (Brasil)",
    "language.en": "English",
  },
});

const ROLES = ["ADMIN", "SUPERVISOR", "ATTENDANT"];
const LANGUAGES = ["pt-BR", "en"];
const PAGE_SIZE = 50;
const NAME_MAX = 100;
const EMAIL_MAX = 254;
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 128;

/** Draw the users screen into `root` and return the function that stops its listeners. */
export function mount(root) {
  const users = new Map();
  let nextCursor = null;
  const body = h("tbody");
  const error = h("p", { class: "form-error", role: "alert", "data-test": "users-error", hidden: true });
  const more = h("button", { type: "button", class: "secondary users-more", "data-test": "users-more", hidden: true,
    on: { click: () => loadPage(nextCursor) } }, t("users.more"));
  const dialogs = h("div");

  const actions = {
    edit: (user) => openUserForm(dialogs, user, show),
    resetPassword: (user) => openResetPassword(dialogs, user, show),
    unlock: (user) => unlock(user, show),
    deactivate: (user) => deactivate(dialogs, user, show),
  };

  /** Put `user` in the table. Its row is replaced in place, or added first when `first` is set and it is new. */
  function show(user, { first = false } = {}) {
    const known = users.has(user.id);
    users.set(user.id, user);
    const row = userRow(user, actions);
    const old = body.querySelector(`[data-user-id="${CSS.escape(user.id)}"]`);
    if (old) old.replaceWith(row);
    else if (first && !known) body.prepend(row);
    else body.append(row);
  }

  async function loadPage(cursor = null) {
    more.disabled = true;
    try {
      const page = await api("GET", "/users", { query: { limit: PAGE_SIZE, cursor } });
      if (!cursor) {
        users.clear();
        replace(body);
      }
      for (const user of page.items) show(user);
      nextCursor = page.nextCursor;
      error.hidden = true;
    } catch (failure) {
      error.textContent = t("users.loadFailed", { message: failure.message });
      error.hidden = false;
    } finally {
      more.hidden = !nextCursor;
      more.disabled = false;
    }
  }

  const create = h("button", { type: "button", class: "primary", "data-test": "user-create",
    on: { click: () => openUserForm(dialogs, null, (user) => show(user, { first: true })) } }, t("users.create"));
  replace(root, h("div", { class: "users", "data-test": "users" },
    h("header", { class: "users-header" }, h("h1", {}, t("users.title")), create),
    error,
    h("div", { class: "users-table-wrap" }, h("table", { class: "users-table", "data-test": "users-table" },
      h("thead", {}, h("tr", {}, [
        "users.name", "users.email", "users.role", "users.unit", "users.language", "users.state", "users.actions",
      ].map((key) => h("th", { scope: "col" }, t(key))))),
      body)),
    more, dialogs));

  loadPage();
  const stop = on("resync", () => loadPage());
  return stop;
}

function userRow(user, actions) {
  const self = user.id === session.user.id;
  const button = (test, label, action, extra = {}) => h("button", {
    type: "button", class: test === "user-deactivate" ? "danger" : "secondary", "data-test": test,
    on: { click: () => action(user) }, ...extra,
  }, label);

  const buttons = user.active ? [
    button("user-edit", t("users.edit"), actions.edit),
    button("user-reset-password", t("users.resetPassword"), actions.resetPassword),
    user.lockedUntil ? button("user-unlock", t("users.unlock"), actions.unlock) : null,
    self ? null : button("user-deactivate", t("users.deactivate"), actions.deactivate),
  ] : [];

  return h("tr", { "data-test": "user-row", "data-user-id": user.id, class: user.active ? null : "user-inactive" },
    h("td", { "data-test": "user-name" }, user.name, self ? ` ${t("users.you")}` : null),
    h("td", { class: "user-email", "data-test": "user-email" }, user.email),
    h("td", { "data-test": "user-role", "data-value": user.role }, t(`role.${user.role}`)),
    h("td", { "data-test": "user-unit" }, user.hotelUnit || t("users.anyUnit")),
    h("td", { "data-test": "user-language", "data-value": user.language }, t(`language.${user.language}`)),
    h("td", {}, h("span", {
      class: `badge user-state ${user.active ? "user-state-active" : ""}`, "data-test": "user-state",
      "data-active": String(user.active),
    }, t(user.active ? "users.active" : "users.inactive")), user.active && user.lockedUntil ? h("span", {
      class: "badge user-state user-state-locked", "data-test": "user-locked", title: t("users.lockedHint"),
    }, t("users.locked", { time: shortTime(user.lockedUntil) })) : null),
    h("td", {}, h("div", { class: "user-actions", role: "group", "aria-label": user.name }, buttons)));
}

/** Return a label, the control and its error element, which is registered in `form.errors`. */
function field(form, name, label, control) {
  control.id = `user-field-${name}`;
  control.name = name;
  control.dataset.test = `user-field-${name}`;
  control.setAttribute("aria-describedby", `user-field-${name}-error`);
  const error = h("span", { class: "field-error", id: `user-field-${name}-error`, "data-test": `field-error-${name}` });
  form.errors[name] = error;
  return [h("label", { for: control.id }, label), control, error];
}

function select(values, label, current) {
  return h("select", {}, values.map((value) =>
    h("option", { value, selected: value === current }, label(value))));
}

/**
 * Open a dialog holding a form; `submit(form)` does the work and returns true to close it.
 * The form's `errors` maps field names to their error elements.
 */
function openDialog(container, title, build, submit, saveTest) {
  const save = h("button", { type: "submit", class: "primary", "data-test": saveTest }, t("common.save"));
  const cancel = h("button", { type: "button", class: "secondary", on: { click: () => dialog.close() } },
    t("common.cancel"));
  const holder = { errors: {} };
  const formError = h("p", { class: "form-error", role: "alert", "data-test": "form-error", hidden: true });
  const form = h("form", { class: "user-form", "data-test": "user-form", novalidate: true },
    h("h2", {}, title), build(holder), formError, h("div", { class: "dialog-actions" }, cancel, save));
  form.errors = holder.errors;
  const dialog = h("dialog", { "aria-label": title, on: { close: () => dialog.remove() } }, form);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const element of Object.values(form.errors)) element.textContent = "";
    formError.hidden = true;
    save.disabled = true;
    try {
      if (await submit(form)) dialog.close();
    } catch (failure) {
      showFailure(failure, form.errors, formError);
    } finally {
      save.disabled = false;
    }
  });
  container.append(dialog);
  dialog.showModal();
  return dialog;
}

/**
 * Show the API's messages beside the fields they name. Any other error shows inside the dialog and as a
 * toast with the API's message, because a modal dialog covers the page where toasts appear.
 */
function showFailure(failure, errors, formError) {
  const details = failure.details || [];
  const named = details.filter((detail) => errors[detail.field]);
  for (const detail of named) errors[detail.field].textContent = detail.message;
  if (named.length && named.length === details.length) return;

  const others = details.filter((detail) => !errors[detail.field]).map((detail) => detail.message);
  formError.textContent = [failure.message, ...others].join(" ");
  formError.hidden = false;
  toast(failure.message, "error");
}

function openUserForm(container, user, onSaved) {
  const units = (session.tenant?.hotelUnits || []).map((unit) => unit.name);
  const controls = {
    email: h("input", { type: "email", required: true, maxlength: EMAIL_MAX, autocomplete: "off" }),
    name: h("input", { type: "text", required: true, maxlength: NAME_MAX, value: user?.name ?? "", autocomplete: "off" }),
    role: select(ROLES, (role) => t(`role.${role}`), user?.role ?? "ATTENDANT"),
    hotelUnit: select(["", ...units], (unit) => unit || t("users.anyUnit"), user?.hotelUnit ?? ""),
    language: select(LANGUAGES, (language) => t(`language.${language}`), user?.language ?? "pt-BR"),
    password: h("input", { type: "password", required: true, minlength: PASSWORD_MIN, maxlength: PASSWORD_MAX,
      autocomplete: "new-password" }),
  };
  // An admin cannot change their own role, and the API rejects it too.
  if (user && user.id === session.user.id) controls.role.disabled = true;

  const build = (form) => [
    user ? null : field(form, "email", t("users.email"), controls.email),
    field(form, "name", t("users.name"), controls.name),
    field(form, "role", t("users.role"), controls.role),
    field(form, "hotelUnit", t("users.unit"), controls.hotelUnit),
    field(form, "language", t("users.language"), controls.language),
    user ? null : field(form, "password", t("users.password"), controls.password),
  ];
  const title = user ? t("users.editTitle", { name: user.name }) : t("users.createTitle");
  return openDialog(container, title, build, () => (user ? saveUser(user, controls, onSaved)
    : createUser(controls, onSaved)), "user-save");
}

async function createUser(controls, onSaved) {
  const body = {
    email: controls.email.value.trim(),
    name: controls.name.value.trim(),
    role: controls.role.value,
    hotelUnit: controls.hotelUnit.value || null,
    language: controls.language.value,
    password: controls.password.value,
  };
  const { user } = await api("POST", "/users", { body });
  onSaved(user);
  toast(t("users.created", { name: user.name }));
  await refreshTeam();
  return true;
}

async function saveUser(user, controls, onSaved) {
  const edited = {
    name: controls.name.value.trim(),
    role: controls.role.value,
    hotelUnit: controls.hotelUnit.value || null,
    language: controls.language.value,
  };
  // Only the changed fields are sent, so an admin editing themselves never sends their role.
  const body = Object.fromEntries(Object.entries(edited).filter(([key, value]) => value !== (user[key] ?? null)));
  if (!Object.keys(body).length) {
    toast(t("users.unchanged"));
    return true;
  }

  const { user: saved } = await api("PATCH", `/users/${encodeURIComponent(user.id)}`, { body });
  onSaved(saved);
  toast(t("users.saved", { name: saved.name }));
  await refreshTeam();
  return true;
}

function openResetPassword(container, user, onSaved) {
  const password = h("input", { type: "password", required: true, minlength: PASSWORD_MIN, maxlength: PASSWORD_MAX,
    autocomplete: "new-password" });
  const build = (form) => [
    h("p", {}, t("users.resetText", { name: user.name })),
    field(form, "password", t("users.newPassword"), password),
  ];
  return openDialog(container, t("users.resetTitle", { name: user.name }), build, async () => {
    const { user: saved } = await api("POST", `/users/${encodeURIComponent(user.id)}/reset-password`,
      { body: { password: password.value } });
    onSaved(saved);
    toast(t("users.passwordReset", { name: saved.name }));
    return true;
  }, "reset-password-save");
}

async function unlock(user, onSaved) {
  try {
    const { user: saved } = await api("POST", `/users/${encodeURIComponent(user.id)}/unlock`);
    onSaved(saved);
    toast(t("users.unlocked", { name: saved.name }));
  } catch (failure) {
    toast(failure.message, "error");
  }
}

async function deactivate(container, user, onSaved) {
  const title = t("users.deactivateTitle", { name: user.name });
  if (!(await confirmDialog(container, title, t("users.deactivateText", { name: user.name }), t("users.deactivate")))) {
    return;
  }
  try {
    const { user: saved } = await api("POST", `/users/${encodeURIComponent(user.id)}/deactivate`);
    onSaved(saved);
    toast(t("users.deactivated", { name: saved.name }));
    await refreshTeam();
  } catch (failure) {
    toast(failure.message, "error");
  }
}

/** Ask for a confirmation in a modal dialog; resolve true when the user confirmed. */
function confirmDialog(container, title, text, confirmLabel) {
  return new Promise((resolve) => {
    const yes = h("button", { type: "submit", value: "yes", class: "danger", "data-test": "confirm-yes" }, confirmLabel);
    const no = h("button", { type: "submit", value: "no", class: "secondary", "data-test": "confirm-no" },
      t("common.cancel"));
    const dialog = h("dialog", { class: "confirm-dialog", "data-test": "confirm-dialog", "aria-label": title },
      h("form", { method: "dialog" }, h("h2", {}, title), h("p", {}, text), h("div", { class: "dialog-actions" }, no, yes)));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    container.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

/** Reload the team list that other screens take names from. A failure leaves the saved change in place. */
async function refreshTeam() {
  try {
    await reloadTeam();
  } catch (failure) {
    console.warn("Team list not reloaded", failure);
  }
}
