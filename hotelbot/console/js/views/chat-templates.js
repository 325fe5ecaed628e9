// The dialog that sends an approved WhatsApp template: the only message that reaches a guest
// outside the 24-hour window. It lists GET /templates, has one field per placeholder ({{1}},
// {{2}}, …) of the template's body, shows the text the guest will read, and posts it.
import { api } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { define, t } from "../i18n.js";

define({
  "pt-BR": {
    "chat.templates.title": "Enviar modelo",
    "chat.templates.intro": "Modelos aprovados pelo WhatsApp podem ser enviados mesmo fora da janela de 24 horas.",
    "chat.templates.template": "Modelo",
    "chat.templates.preview": "O hóspede vai ler",
    "chat.templates.param": "Valor de {placeholder}",
    "chat.templates.none": "Nenhum modelo aprovado para este número. Os modelos são criados e aprovados no WhatsApp Manager.",
    "chat.templates.missing": "Preencha todos os valores do modelo.",
    "chat.templates.send": "Enviar modelo",
    "chat.templates.sending": "Enviando…",
    "chat.templates.sent": "Modelo enviado.",
  },
  en: {
    "chat.templates.title": "Send a template",
    "chat.templates.intro": "Templates approved by WhatsApp can be sent even outside the 24-hour window.",
    "chat.templates.template": "Template",
    "chat.templates.preview": "The guest will read",
    "chat.templates.param": "Value of {placeholder}",
    "chat.templates.none": "No approved template for this number. Templates are created and approved in WhatsApp Manager.",
    "chat.templates.missing": "Fill in every value of the template.",
    "chat.templates.send": "Send template",
    "chat.templates.sending": "Sending…",
    "chat.templates.sent": "Template sent.",
  },
});

const PLACEHOLDER = /\{\{\s*(\d+)\s*\}\}/g;
// The API's limit for one template parameter, in characters.
const PARAM_MAX_LENGTH = 1024;

/** Return the text of the template's BODY component, or "". */
export function bodyText(template) {
  const body = (template.components || []).find((component) => String(component.type).toUpperCase() === "BODY");
  return body?.text || "";
}

/** Return the distinct placeholder numbers of the body in ascending order: parameter i fills the i-th of them. */
export function placeholders(template) {
  const numbers = new Set([...bodyText(template).matchAll(PLACEHOLDER)].map((match) => Number(match[1])));
  return [...numbers].sort((first, second) => first - second);
}

/**
 * Open the dialog for `conversationId`; `onSent(message)` receives the message the API returned.
 * Returns a function that closes the dialog.
 */
export function openTemplateDialog({ conversationId, onSent, returnFocus }) {
  const status = h("div", { class: "template-status", role: "status" }, t("common.loading"));
  const select = h("select", { id: "template-select", "data-test": "template-select", disabled: true });
  const preview = h("p", { class: "template-preview", "data-test": "template-preview" });
  const params = h("div", { class: "template-params" });
  const error = h("p", { class: "form-error", role: "alert", "data-test": "template-error", hidden: true });
  const send = h("button", { type: "submit", class: "primary", "data-test": "template-send", disabled: true }, t("chat.templates.send"));
  const cancel = h("button", { type: "button", class: "secondary", on: { click: () => dialog.close() } }, t("common.cancel"));
  const form = h("form", { class: "template-form", novalidate: true },
    h("h2", { id: "template-dialog-title" }, t("chat.templates.title")),
    h("p", { class: "muted" }, t("chat.templates.intro")),
    status,
    h("label", { for: "template-select" }, t("chat.templates.template")), select,
    params,
    h("p", { class: "detail-label" }, t("chat.templates.preview")), preview,
    error,
    h("div", { class: "dialog-buttons" }, cancel, send));
  const dialog = h("dialog", { class: "template-dialog", "data-test": "template-dialog", "aria-labelledby": "template-dialog-title" }, form);

  let templates = [];
  let sending = false;

  const selected = () => templates[Number(select.value)];
  const inputs = () => [...params.querySelectorAll("input")];

  function showTemplate() {
    const template = selected();
    const numbers = template ? placeholders(template) : [];
    replace(params, numbers.map((number, index) => {
      const id = `template-param-${index}`;
      return h("div", { class: "template-param" },
        h("label", { for: id }, t("chat.templates.param", { placeholder: `{{${number}}}` })),
        h("input", { id, type: "text", maxlength: PARAM_MAX_LENGTH, required: true, "data-test": "template-param", dataset: { index } }));
    }));
    showPreview();
    send.disabled = !template;
  }

  function showPreview() {
    const template = selected();
    if (!template) return replace(preview);
    const numbers = placeholders(template);
    const values = inputs().map((input) => input.value.trim());
    const parts = [];
    let last = 0;
    const text = bodyText(template);
    for (const match of text.matchAll(PLACEHOLDER)) {
      parts.push(text.slice(last, match.index));
      const value = values[numbers.indexOf(Number(match[1]))];
      parts.push(value ? h("mark", {}, value) : h("mark", { class: "empty" }, match[0]));
      last = match.index + match[0].length;
    }
    parts.push(text.slice(last));
    return replace(preview, parts);
  }

  async function load() {
    try {
      templates = (await api("GET", "/templates")).items || [];
    } catch (failure) {
      replace(status, h("span", { class: "form-error" }, failure.message));
      return;
    }
    if (!templates.length) {
      replace(status, t("chat.templates.none"));
      return;
    }
    status.hidden = true;
    replace(select, templates.map((template, index) => h("option", { value: index }, `${template.name} · ${template.language}`)));
    select.disabled = false;
    showTemplate();
    select.focus();
  }

  async function submit(event) {
    event.preventDefault();
    const template = selected();
    if (!template || sending) return;
    const empty = inputs().find((input) => !input.value.trim());
    if (empty) {
      error.textContent = t("chat.templates.missing");
      error.hidden = false;
      return empty.focus();
    }

    sending = true;
    send.disabled = true;
    send.textContent = t("chat.templates.sending");
    error.hidden = true;
    try {
      const body = { conversationId, templateName: template.name, language: template.language, params: inputs().map((input) => input.value.trim()) };
      const result = await api("POST", "/messages/send-template", { body });
      onSent(result.message);
      toast(t("chat.templates.sent"));
      dialog.close();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      sending = false;
      send.disabled = false;
      send.textContent = t("chat.templates.send");
    }
  }

  select.addEventListener("change", showTemplate);
  params.addEventListener("input", showPreview);
  form.addEventListener("submit", submit);
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (returnFocus?.isConnected) returnFocus.focus();
  });

  document.body.append(dialog);
  dialog.showModal();
  load();
  return () => dialog.open && dialog.close();
}
