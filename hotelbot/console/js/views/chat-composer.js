// The reply box: Enter sends, Shift+Enter starts a new line, and a file can be attached (the text
// then goes as its caption). It shows when WhatsApp's 24-hour customer service window closes and,
// once it has closed, disables itself, explains why and offers an approved template, the only kind
// of message that still reaches the guest.
import { api } from "../api.js";
import { h, toast } from "../dom.js";
import { fileSize, fullTime, shortTime } from "../format.js";
import { define, t } from "../i18n.js";
import { colleagueName, session } from "../session.js";
import { openTemplateDialog } from "./chat-templates.js";

define({
  "pt-BR": {
    "chat.composer.label": "Resposta ao hóspede",
    "chat.composer.placeholder": "Escreva uma resposta",
    "chat.composer.placeholderTakeOver": "Escreva uma resposta — ao enviar, você assume a conversa e a IA é pausada",
    "chat.composer.placeholderOther": "Escreva uma resposta (conversa com {name})",
    "chat.composer.placeholderClosed": "Fora da janela de 24 horas: use um modelo",
    "chat.composer.send": "Enviar",
    "chat.composer.sending": "Enviando…",
    "chat.composer.hint": "Enter envia · Shift+Enter quebra a linha",
    "chat.composer.count": "{used}/{max}",
    "chat.window.closesIn": "Janela fecha em {time}",
    "chat.window.lessThanMinute": "menos de 1 min",
    "chat.window.closedAt": "A janela de 24 horas para responder fechou em {when}. Agora só um modelo aprovado pelo WhatsApp alcança o hóspede.",
    "chat.window.never": "O hóspede ainda não escreveu nesta conversa. Só um modelo aprovado pelo WhatsApp alcança o hóspede.",
    "chat.window.queued": "Sem resposta do WhatsApp agora: a mensagem será enviada assim que a conexão voltar.",
    "chat.template.open": "Enviar modelo",
    "chat.attach.button": "Anexar arquivo",
    "chat.attach.remove": "Tirar o anexo {name}",
    "chat.attach.placeholder": "Legenda (opcional)",
  },
  en: {
    "chat.composer.label": "Reply to the guest",
    "chat.composer.placeholder": "Write a reply",
    "chat.composer.placeholderTakeOver": "Write a reply — sending it takes over the conversation and pauses the AI",
    "chat.composer.placeholderOther": "Write a reply (conversation held by {name})",
    "chat.composer.placeholderClosed": "Outside the 24-hour window: use a template",
    "chat.composer.send": "Send",
    "chat.composer.sending": "Sending…",
    "chat.composer.hint": "Enter sends · Shift+Enter adds a line",
    "chat.composer.count": "{used}/{max}",
    "chat.window.closesIn": "Window closes in {time}",
    "chat.window.lessThanMinute": "less than 1 min",
    "chat.window.closedAt": "The 24-hour window to reply closed at {when}. Only a template approved by WhatsApp reaches the guest now.",
    "chat.window.never": "The guest has not written in this conversation yet. Only a template approved by WhatsApp reaches the guest.",
    "chat.window.queued": "WhatsApp is not answering right now: the message will be sent as soon as the connection is back.",
    "chat.template.open": "Send template",
    "chat.attach.button": "Attach a file",
    "chat.attach.remove": "Remove the attachment {name}",
    "chat.attach.placeholder": "Caption (optional)",
  },
});

// WhatsApp's limit for a text message, in characters. The API counts Unicode code points (an emoji
// is one), while the textarea's maxlength would count UTF-16 units, so the limit is checked here.
const TEXT_MAX_LENGTH = 4096;
const COUNTER_FROM = TEXT_MAX_LENGTH - 500;
const TEXTAREA_MAX_HEIGHT_PX = 180;
// The types WhatsApp accepts from a business (the server checks them again, with their size limits).
const ATTACHABLE = [
  "image/jpeg", "image/png", "video/mp4", "video/3gpp", "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg",
  "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/** Return whether the window is open now. The server computed `canReply` when it sent the conversation, so the expiry is checked again. */
export function windowOpen(conversation, now = Date.now()) {
  if (!conversation?.canReply || !conversation.windowExpiresAt) return false;
  return new Date(conversation.windowExpiresAt).getTime() > now;
}

/** Format the time left until `iso`: "3 h 10 min", "25 min" or "less than 1 min". */
export function timeLeft(iso, now = Date.now()) {
  const minutes = Math.floor((new Date(iso).getTime() - now) / 60000);
  if (minutes < 1) return t("chat.window.lessThanMinute");
  if (minutes < 60) return t("time.minutes", { n: minutes });
  return t("time.hours", { h: Math.floor(minutes / 60), m: minutes % 60 });
}

/**
 * Create a clientMessageId. crypto.randomUUID exists only in secure contexts (HTTPS and localhost),
 * so a plain-HTTP page builds a version 4 UUID from getRandomValues.
 */
function newClientMessageId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Build the reply box of one conversation. `onSent(message)` receives each message the API returned,
 * and `onWindowClosed()` is called when the API rejects a send with WINDOW_CLOSED.
 * Returns {element, update, focus, destroy}.
 */
export function createComposer({ conversationId, onSent, onWindowClosed }) {
  let conversation = null;
  let sending = false;
  // A text whose send request got no response, with its clientMessageId. Sending the same text again
  // reuses the id, so the server returns the first message instead of posting the text twice.
  let unanswered = null;
  let closeTemplates = null;
  // The file chosen to send, or null.
  let attachment = null;

  const input = h("textarea", {
    id: `composer-${conversationId}`, rows: 2, "data-test": "composer-input",
    "aria-describedby": `composer-hint-${conversationId}`,
  });
  const send = h("button", { type: "submit", class: "primary", "data-test": "composer-send" }, t("chat.composer.send"));
  const error = h("p", { class: "form-error", role: "alert", "data-test": "composer-error", hidden: true });
  const closed = h("p", { class: "window-closed", "data-test": "composer-window-closed", hidden: true });
  const windowState = h("span", { class: "window-state", "data-test": "composer-window" });
  const counter = h("span", { class: "counter", hidden: true });
  const templateButton = h("button", { type: "button", class: "link-button", "data-test": "action-template" }, t("chat.template.open"));
  const fileInput = h("input", {
    type: "file", accept: ATTACHABLE.join(","), class: "visually-hidden", tabindex: "-1", "aria-hidden": "true",
    "data-test": "composer-file",
  });
  const attachButton = h("button", {
    type: "button", class: "secondary attach-button", "data-test": "composer-attach",
    title: t("chat.attach.button"), "aria-label": t("chat.attach.button"),
  }, "📎");
  const chip = h("div", { class: "attachment", "data-test": "composer-attachment", hidden: true });
  const form = h("form", { class: "composer", "data-test": "composer", novalidate: true },
    closed,
    h("label", { for: input.id, class: "visually-hidden" }, t("chat.composer.label")),
    chip,
    h("div", { class: "composer-row" }, attachButton, fileInput, input, send),
    error,
    h("div", { class: "composer-meta" },
      h("span", { id: `composer-hint-${conversationId}`, class: "hint" }, t("chat.composer.hint")),
      counter, windowState, templateButton));

  function render() {
    const open = windowOpen(conversation);
    input.disabled = !conversation || !open;
    attachButton.disabled = !conversation || !open || sending;
    send.disabled = !canSend();
    send.textContent = t(sending ? "chat.composer.sending" : "chat.composer.send");
    input.placeholder = attachment && open ? t("chat.attach.placeholder") : placeholder(conversation, open);
    renderAttachment();

    closed.hidden = !conversation || open;
    closed.textContent = conversation?.windowExpiresAt
      ? t("chat.window.closedAt", { when: shortTime(conversation.windowExpiresAt) })
      : t("chat.window.never");
    if (conversation?.windowExpiresAt) closed.title = fullTime(conversation.windowExpiresAt);
    windowState.hidden = !open;
    windowState.textContent = open ? t("chat.window.closesIn", { time: timeLeft(conversation.windowExpiresAt) }) : "";
    windowState.classList.toggle("closing", open && new Date(conversation.windowExpiresAt).getTime() - Date.now() < 3600000);
    templateButton.className = open ? "link-button" : "primary";
    templateButton.disabled = !conversation;
    renderCounter();
  }

  function canSend() {
    const text = input.value;
    return windowOpen(conversation) && !sending && Boolean(attachment || text.trim()) && [...text].length <= TEXT_MAX_LENGTH;
  }

  function renderAttachment() {
    chip.hidden = !attachment;
    if (!attachment) return chip.replaceChildren();
    chip.replaceChildren(
      h("span", { class: "attachment-name", "data-test": "composer-attachment-name" }, attachment.name),
      h("span", { class: "muted" }, fileSize(attachment.size)),
      h("button", {
        type: "button", class: "link-button", "data-test": "composer-attachment-remove", disabled: sending,
        "aria-label": t("chat.attach.remove", { name: attachment.name }), on: { click: () => attach(null) },
      }, "✕"),
    );
  }

  function attach(file) {
    attachment = file;
    fileInput.value = "";
    showError(null);
    render();
    input.focus();
  }

  function renderCounter() {
    const used = [...input.value].length;
    counter.hidden = used < COUNTER_FROM;
    counter.classList.toggle("over", used > TEXT_MAX_LENGTH);
    counter.textContent = t("chat.composer.count", { used, max: TEXT_MAX_LENGTH });
  }

  function showError(message) {
    error.textContent = message || "";
    error.hidden = !message;
  }

  /** Send the attached file with the text as its caption; both stay in the box until the server has the file. */
  async function submitFile() {
    const file = attachment;
    const caption = input.value.trim();
    const key = `${file.name}/${file.size}/${file.lastModified}/${caption}`;
    const clientMessageId = unanswered?.key === key ? unanswered.clientMessageId : newClientMessageId();
    const body = new FormData();
    body.set("conversationId", conversationId);
    body.set("file", file, file.name);
    if (caption) body.set("caption", caption);
    body.set("clientMessageId", clientMessageId);

    sending = true;
    unanswered = null;
    showError(null);
    render();

    try {
      const result = await api("POST", "/messages/send-media", { body });
      if (result.message.status === "PENDING") toast(t("chat.window.queued"));
      if (attachment === file) {
        attachment = null;
        if (input.value.trim() === caption) input.value = "";
      }
      onSent(result.message);
    } catch (failure) {
      if (failure.status === 0) unanswered = { key, clientMessageId };
      showError([failure.message, ...failure.details.map((detail) => detail.message)].join(" "));
      if (failure.code === "WINDOW_CLOSED") onWindowClosed();
    } finally {
      sending = false;
      render();
      autosize();
      input.focus();
    }
  }

  /** Send the text; the box is emptied at once so the attendant can write on, and refilled on failure. */
  async function submit() {
    const content = input.value;
    if (!canSend()) return;
    if (attachment) return submitFile();
    const clientMessageId = unanswered?.content === content ? unanswered.clientMessageId : newClientMessageId();
    sending = true;
    unanswered = null;
    input.value = "";
    showError(null);
    render();
    autosize();
    try {
      const result = await api("POST", "/messages/send-text", { body: { conversationId, content, clientMessageId } });
      if (result.message.status === "PENDING") toast(t("chat.window.queued"));
      onSent(result.message);
    } catch (failure) {
      // Without a response (status 0) the server may have stored the message.
      if (failure.status === 0) unanswered = { content, clientMessageId };
      input.value = input.value.trim() ? `${content}\n${input.value}` : content;
      showError(failure.message);
      if (failure.code === "WINDOW_CLOSED") onWindowClosed();
    } finally {
      sending = false;
      render();
      autosize();
      const focus = document.activeElement;
      if (!focus || focus === document.body || form.contains(focus)) input.focus();
    }
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, TEXTAREA_MAX_HEIGHT_PX)}px`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    submit();
  });
  input.addEventListener("input", () => {
    send.disabled = !canSend();
    renderCounter();
    autosize();
  });
  attachButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    if (fileInput.files.length) attach(fileInput.files[0]);
  });
  templateButton.addEventListener("click", () => {
    closeTemplates = openTemplateDialog({ conversationId, onSent, returnFocus: templateButton });
  });

  // The window can close while the chat is open: check every 30 s.
  const timer = setInterval(render, 30000);
  render();

  return {
    element: form,
    update(next) {
      conversation = next;
      render();
    },
    focus() {
      (input.disabled ? templateButton : input).focus();
    },
    destroy() {
      clearInterval(timer);
      closeTemplates?.();
    },
  };
}

function placeholder(conversation, open) {
  if (!conversation) return "";
  if (!open) return t("chat.composer.placeholderClosed");
  const holder = conversation.status === "IN_PROGRESS" ? conversation.assignedToId : null;
  if (!holder) return t("chat.composer.placeholderTakeOver");
  if (holder !== session.user.id) return t("chat.composer.placeholderOther", { name: colleagueName(holder) || t("chat.assignee.unknown") });
  return t("chat.composer.placeholder");
}
