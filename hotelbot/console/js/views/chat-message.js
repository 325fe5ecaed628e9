// One message of the chat as DOM: its body by type (text, media, location, contacts, replies,
// reactions, templates, system notices), the quoted message it replies to, the guest's reactions,
// and for outbound messages the sender, the delivery ticks and Meta's reason when it failed.
import { h } from "../dom.js";
import { fullTime, shortTime } from "../format.js";
import { define, t } from "../i18n.js";
import { colleagueName } from "../session.js";

define({
  "pt-BR": {
    "chat.sender.ai": "IA",
    "chat.sender.system": "Sistema",
    "chat.sender.attendant": "Atendente",
    "chat.forwarded": "Encaminhada",
    "chat.reply.unknown": "Mensagem anterior não carregada",
    "chat.reply.jump": "Ir para a mensagem respondida",
    "chat.tick.PENDING": "Enviando",
    "chat.tick.SENT": "Enviada",
    "chat.tick.DELIVERED": "Entregue",
    "chat.tick.READ": "Lida",
    "chat.tick.FAILED": "Não enviada",
    "chat.error.unknown": "O WhatsApp não entregou a mensagem.",
    "chat.media.pending": "Baixando mídia…",
    "chat.media.failed": "Não foi possível baixar a mídia.",
    "chat.media.deleted": "A mídia foi apagada pelo prazo de guarda.",
    "chat.media.retry": "Baixar de novo",
    "chat.media.retrying": "Pedindo de novo…",
    "chat.media.unavailable": "Mídia indisponível",
    "chat.image.alt": "Foto enviada na conversa",
    "chat.sticker.alt": "Figurinha",
    "chat.audio.voice": "Mensagem de voz",
    "chat.audio.file": "Áudio",
    "chat.video.label": "Vídeo",
    "chat.document.default": "documento",
    "chat.location.title": "Localização",
    "chat.location.open": "Abrir no mapa",
    "chat.contacts.title": "Contato compartilhado",
    "chat.interactive.reply": "Resposta escolhida",
    "chat.interactive.form": "Formulário respondido",
    "chat.interactive.options": "Opções enviadas",
    "chat.button.reply": "Botão tocado",
    "chat.template.label": "Modelo {name}",
    "chat.reaction.added": "reagiu com {emoji} a",
    "chat.reaction.removed": "removeu a reação de",
    "chat.reaction.target": "uma mensagem",
    "chat.reactions.label": "Reações do hóspede",
  },
  en: {
    "chat.sender.ai": "AI",
    "chat.sender.system": "System",
    "chat.sender.attendant": "Attendant",
    "chat.forwarded": "Forwarded",
    "chat.reply.unknown": "Earlier message not loaded",
    "chat.reply.jump": "Go to the message this replies to",
    "chat.tick.PENDING": "Sending",
    "chat.tick.SENT": "Sent",
    "chat.tick.DELIVERED": "Delivered",
    "chat.tick.READ": "Read",
    "chat.tick.FAILED": "Not sent",
    "chat.error.unknown": "WhatsApp did not deliver the message.",
    "chat.media.pending": "Downloading media…",
    "chat.media.failed": "The media could not be downloaded.",
    "chat.media.deleted": "The media was deleted after its retention period.",
    "chat.media.retry": "Download again",
    "chat.media.retrying": "Requesting again…",
    "chat.media.unavailable": "Media unavailable",
    "chat.image.alt": "Photo sent in the conversation",
    "chat.sticker.alt": "Sticker",
    "chat.audio.voice": "Voice message",
    "chat.audio.file": "Audio",
    "chat.video.label": "Video",
    "chat.document.default": "document",
    "chat.location.title": "Location",
    "chat.location.open": "Open in a map",
    "chat.contacts.title": "Shared contact",
    "chat.interactive.reply": "Chosen reply",
    "chat.interactive.form": "Form answered",
    "chat.interactive.options": "Options sent",
    "chat.button.reply": "Button tapped",
    "chat.template.label": "Template {name}",
    "chat.reaction.added": "reacted with {emoji} to",
    "chat.reaction.removed": "removed the reaction to",
    "chat.reaction.target": "a message",
    "chat.reactions.label": "Guest's reactions",
  },
});

const MEDIA_TYPES = new Set(["IMAGE", "STICKER", "AUDIO", "VIDEO", "DOCUMENT"]);
const SVG_NS = "http://www.w3.org/2000/svg";
const LINK = /https?:\/\/[^\s<>"']+/g;

// Stroke paths of the small icons, drawn on a 20 x 14 grid.
const ICONS = {
  PENDING: ["M10 1.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11", "M10 4v3.2l2.2 1.4"],
  SENT: ["M4 7.5l3 3 7-7"],
  DELIVERED: ["M1 7.5l3 3 7-7", "M8.5 10.5l7-7", "M6.6 8.6l1.9 1.9"],
  READ: ["M1 7.5l3 3 7-7", "M8.5 10.5l7-7", "M6.6 8.6l1.9 1.9"],
  FAILED: ["M10 1.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11", "M10 4v3.6", "M10 9.6v.4"],
  DOCUMENT: ["M5 1h6.5l3.5 3.5V13H5z", "M11.5 1v3.5H15", "M7 7.5h6", "M7 10h6"],
};

/** Create an inline SVG icon from `ICONS`, hidden from screen readers because its parent carries the label. */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 20 14");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/**
 * Build the node of `message`. `context` provides `findById(id)` and `findByWamid(wamid)` (a loaded
 * message or undefined), `showMessage(id)` to scroll to one, `retryMedia(message, button)` and
 * `onMediaError(message)`.
 */
export function renderMessage(message, context) {
  const attrs = {
    class: `message ${messageClass(message)}`,
    "data-test": "message",
    dataset: { messageId: message.id, direction: message.direction, type: message.type },
  };
  if (message.type === "SYSTEM") return h("article", attrs, h("div", { class: "system-note" }, message.content || ""), meta(message));
  if (message.type === "REACTION") return h("article", attrs, reactionRow(message, context));

  const bubble = h("div", { class: "bubble" },
    senderLabel(message),
    message.metadata?.forwarded ? h("p", { class: "forwarded" }, t("chat.forwarded")) : null,
    replyQuote(message.replyTo, context),
    body(message, context),
    meta(message),
    failure(message));
  return h("article", attrs, bubble, reactionChips(message.reactions));
}

function messageClass(message) {
  if (message.type === "SYSTEM") return "message-system";
  if (message.type === "REACTION") return "message-reaction";
  return message.direction === "OUTBOUND" ? "message-out" : "message-in";
}

/** Return the author label of an outbound message: the attendant's name, the AI or the system. */
function senderLabel(message) {
  if (message.direction !== "OUTBOUND") return null;
  const sender = message.sender || {};
  let name = t("chat.sender.system");
  if (sender.type === "N8N") name = t("chat.sender.ai");
  if (sender.type === "ATTENDANT") name = sender.name || colleagueName(sender.userId) || t("chat.sender.attendant");
  return h("p", { class: `sender sender-${(sender.type || "SYSTEM").toLowerCase()}`, "data-test": "message-sender" }, name);
}

function replyQuote(replyTo, context) {
  if (!replyTo) return null;
  const target = replyTo.id ? context.findById(replyTo.id) : context.findByWamid(replyTo.whatsappMsgId);
  const preview = replyTo.preview || (target && previewOf(target)) || t("chat.reply.unknown");
  const quote = h("blockquote", { class: "reply-to", "data-test": "message-reply-to" }, preview);
  if (!target) return quote;

  quote.tabIndex = 0;
  quote.setAttribute("role", "button");
  quote.title = t("chat.reply.jump");
  const jump = () => context.showMessage(target.id);
  quote.addEventListener("click", jump);
  quote.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      jump();
    }
  });
  return quote;
}

/** Return a short text for `message`, used in quotes and reaction rows. */
export function previewOf(message) {
  const text = message.content || message.metadata?.summary || "";
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

function body(message, context) {
  if (MEDIA_TYPES.has(message.type)) return [media(message, context), caption(message)];
  switch (message.type) {
    case "LOCATION": return location(message.metadata || {}, message.content);
    case "CONTACTS": return contacts(message.metadata?.contacts || [], message.content);
    case "INTERACTIVE": return interactive(message);
    case "BUTTON": return labelled(t("chat.button.reply"), message.metadata?.text || message.content);
    case "TEMPLATE": return labelled(t("chat.template.label", { name: message.metadata?.templateName || "" }), message.content);
    case "UNSUPPORTED": return h("p", { class: "message-text unsupported", "data-test": "message-text" }, message.content || "");
    default: return text(message.content);
  }
}

/** Render the message's text with http(s) links made clickable. Every part is set as text, never as HTML. */
function text(content, extraClass = "") {
  if (!content) return null;
  const parts = [];
  let last = 0;
  for (const match of content.matchAll(LINK)) {
    parts.push(content.slice(last, match.index));
    parts.push(h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(content.slice(last));
  return h("p", { class: `message-text ${extraClass}`.trim(), "data-test": "message-text" }, parts);
}

function caption(message) {
  return text(message.content, "caption");
}

function labelled(label, content) {
  return [h("p", { class: "message-label" }, label), text(content)];
}

function media(message, context) {
  const status = message.mediaStatus;
  if (status === "PENDING") {
    return h("p", { class: "media-state media-pending", "data-test": "message-media-pending", role: "status" },
      h("span", { class: "spinner", "aria-hidden": "true" }), t("chat.media.pending"));
  }
  if (status === "FAILED" || status === "DELETED") return mediaUnavailable(message, context);
  if (!message.mediaUrl) return h("p", { class: "media-state" }, message.metadata?.summary || t("chat.media.unavailable"));

  const onError = () => context.onMediaError(message);
  switch (message.type) {
    case "IMAGE":
    case "STICKER":
      return image(message, onError);
    case "AUDIO":
      return h("figure", { class: "media-audio" },
        h("figcaption", {}, t(message.metadata?.voice ? "chat.audio.voice" : "chat.audio.file")),
        h("audio", { controls: true, preload: "metadata", src: message.mediaUrl, "data-test": "message-audio", on: { error: onError } }));
    case "VIDEO":
      return h("video", {
        controls: true, preload: "metadata", src: message.mediaUrl, class: "media-video",
        "aria-label": t("chat.video.label"), "data-test": "message-video", on: { error: onError },
      });
    default:
      return documentLink(message);
  }
}

function image(message, onError) {
  const sticker = message.type === "STICKER";
  const img = h("img", {
    src: message.mediaUrl, class: sticker ? "media-sticker" : "media-image", "data-test": "message-image",
    alt: message.content || t(sticker ? "chat.sticker.alt" : "chat.image.alt"), on: { error: onError },
  });
  // The link opens the full-size picture in a new tab; the signed URL works without the token.
  return h("a", { href: message.mediaUrl, target: "_blank", rel: "noopener", class: "media-link" }, img);
}

function documentLink(message) {
  const name = message.metadata?.filename || t("chat.document.default");
  const kind = (message.metadata?.mime_type || "").split("/").pop().split(";")[0].toUpperCase();
  return h("a", { href: message.mediaUrl, download: name, class: "media-document", "data-test": "message-document" },
    icon("DOCUMENT"), h("span", { class: "file-name" }, name), kind ? h("small", {}, kind) : null);
}

function mediaUnavailable(message, context) {
  const deleted = message.mediaStatus === "DELETED";
  const box = h("div", { class: "media-state media-failed", "data-test": "message-media-failed", dataset: { mediaStatus: message.mediaStatus } },
    h("span", {}, t(deleted ? "chat.media.deleted" : "chat.media.failed")));
  // Only a guest's file can be fetched from Meta again, and only while Meta keeps it (7 days).
  if (message.direction === "INBOUND") {
    const button = h("button", { type: "button", class: "secondary small", "data-test": "message-media-retry" }, t("chat.media.retry"));
    button.addEventListener("click", () => context.retryMedia(message, button));
    box.append(button);
  }
  return box;
}

function location(place, content) {
  const { latitude, longitude } = place;
  const hasPoint = typeof latitude === "number" && typeof longitude === "number";
  const link = safeUrl(place.url) || (hasPoint ? `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}` : null);
  return h("div", { class: "message-location", "data-test": "message-location" },
    h("p", { class: "message-label" }, t("chat.location.title")),
    place.name ? h("strong", {}, place.name) : null,
    place.address ? h("p", {}, place.address) : null,
    hasPoint ? h("p", { class: "coordinates" }, `${latitude.toFixed(5)}, ${longitude.toFixed(5)}`) : null,
    !place.name && !place.address && !hasPoint ? h("p", {}, content || "") : null,
    link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, t("chat.location.open")) : null);
}

function safeUrl(value) {
  return typeof value === "string" && /^https?:\/\//i.test(value) ? value : null;
}

function contacts(cards, content) {
  if (!cards.length) return text(content);
  return h("div", { class: "message-contacts", "data-test": "message-contacts" },
    h("p", { class: "message-label" }, t("chat.contacts.title")),
    cards.map((card) => h("div", { class: "contact-card" },
      h("strong", {}, card.name || "—"),
      (card.phones || []).map((phone) => h("p", {}, phone.phone || phone.wa_id || "")))));
}

function interactive(message) {
  const data = message.metadata || {};
  if (message.direction === "INBOUND") {
    if (data.interactiveType === "nfm_reply") return labelled(t("chat.interactive.form"), message.content);
    return [
      h("p", { class: "message-label" }, t("chat.interactive.reply")),
      text(data.title || message.content),
      data.description ? h("p", { class: "description" }, data.description) : null,
    ];
  }

  const options = (data.buttons || []).map((button) => button.title);
  for (const section of data.sections || []) for (const row of section.rows || []) options.push(row.title);
  return [
    text(message.content),
    options.length ? h("ul", { class: "options", "aria-label": t("chat.interactive.options") },
      options.map((title) => h("li", {}, title))) : null,
  ];
}

function reactionRow(message, context) {
  const emoji = message.metadata?.emoji ?? message.content ?? "";
  const target = context.findByWamid(message.metadata?.targetWhatsappMsgId);
  const action = emoji ? t("chat.reaction.added", { emoji }) : t("chat.reaction.removed");
  const targetText = target ? `“${previewOf(target)}”` : t("chat.reaction.target");
  return h("p", { class: "reaction-note" }, `${action} ${targetText}`,
    h("time", { datetime: message.createdAt, title: fullTime(message.createdAt) }, ` · ${shortTime(message.createdAt)}`));
}

function reactionChips(reactions) {
  if (!reactions?.length) return null;
  const counts = new Map();
  for (const reaction of reactions) counts.set(reaction.emoji, (counts.get(reaction.emoji) || 0) + 1);
  return h("div", { class: "reactions", "data-test": "message-reactions", "aria-label": t("chat.reactions.label") },
    [...counts].map(([emoji, count]) => h("span", { class: "reaction-chip" }, count > 1 ? `${emoji} ${count}` : emoji)));
}

function meta(message) {
  return h("footer", { class: "message-meta" },
    h("time", { datetime: message.createdAt, title: fullTime(message.createdAt) }, shortTime(message.createdAt)),
    message.direction === "OUTBOUND" && message.type !== "SYSTEM" ? ticks(message.status) : null);
}

function ticks(status) {
  const known = ICONS[status] && status !== "DOCUMENT" ? status : "PENDING";
  return h("span", {
    class: `ticks ticks-${known.toLowerCase()}`, "data-test": "message-ticks", dataset: { status: status || "PENDING" },
    role: "img", "aria-label": t(`chat.tick.${known}`), title: t(`chat.tick.${known}`),
  }, icon(known));
}

function failure(message) {
  if (message.status !== "FAILED") return null;
  const error = message.error || {};
  const reason = error.message || error.title || error.details || t("chat.error.unknown");
  const code = error.code ? ` (${error.code})` : "";
  return h("p", { class: "message-error", "data-test": "message-error", role: "note", title: `${error.title || ""}${code}`.trim() || false }, reason);
}
