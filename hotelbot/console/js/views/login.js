// The login screen: the API's own message on failure ("Credenciais inválidas"), followed by
// what a rejected field needs ("Senha: Deve ter pelo menos 8 caractere(s).").
import { h, replace } from "../dom.js";
import { define, t } from "../i18n.js";
import { login } from "../session.js";

define({
  "pt-BR": {
    "login.title": "Entrar no hotelbot",
    "login.email": "E-mail",
    "login.password": "Senha",
    "login.submit": "Entrar",
    "login.busy": "Entrando…",
  },
  en: {
    "login.title": "Log in to hotelbot",
    "login.email": "Email",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.busy": "Logging in…",
  },
});

/** Draw the form into `root`; call `onLoggedIn()` once the session is loaded. */
export function mount(root, { onLoggedIn }) {
  const email = h("input", { id: "login-email", type: "email", name: "email", autocomplete: "username", required: true, "data-test": "login-email" });
  const password = h("input", { id: "login-password", type: "password", name: "password", autocomplete: "current-password", required: true, "data-test": "login-password" });
  const error = h("p", { class: "form-error", role: "alert", "data-test": "login-error", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-test": "login-submit" }, t("login.submit"));

  const form = h("form", { class: "login-card", on: { submit: onSubmit } },
    h("h1", {}, h("img", { src: "/app/icon.svg", alt: "", width: 32, height: 32 }), t("login.title")),
    h("label", { for: "login-email" }, t("login.email")), email,
    h("label", { for: "login-password" }, t("login.password")), password,
    error, submit);

  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = t("login.busy");
    try {
      await login(email.value.trim(), password.value);
      onLoggedIn();
    } catch (failure) {
      error.textContent = failureText(failure);
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = t("login.submit");
      password.select();
    }
  }

  replace(root, h("main", { class: "login-screen" }, form));
  email.focus();
  return null;
}

/** Return the API's message followed by the field and reason of each detail the API listed. */
function failureText(failure) {
  const labels = { email: t("login.email"), password: t("login.password") };
  const details = failure.details
    .filter((detail) => detail.message)
    .map((detail) => (labels[detail.field] ? `${labels[detail.field]}: ${detail.message}` : detail.message));
  return [failure.message, ...details].join(" ");
}
