// One card of the board: a link to #/board/<id> showing who, where, how urgent, the last
// message, unread count, waiting time, escalation reason, AI lock and assignee.
import { h } from "../dom.js";
import { elapsed, fullTime, guestName, shortTime } from "../format.js";
import { define, t } from "../i18n.js";
import { colleagueName } from "../session.js";

define({
  "pt-BR": {
    "board.unread": "{n} não lida(s)",
    "board.noMessages": "Sem mensagens",
    "board.fromHotel": "Hotel: ",
    "board.waitingOpen": "Aguardando atendente desde {time}",
    "board.waitingGuest": "Última mensagem do hóspede em {time}",
    "board.closedAt": "Encerrada {time}",
    "board.iaLocked": "IA pausada",
    "board.iaLockedTitle": "A IA não responde esta conversa enquanto uma pessoa atende",
    "board.assignedTo": "Responsável: {name}",
    "board.unknownColleague": "outro usuário",
    "board.reason": "Motivo: {reason}",
    "board.type.IMAGE": "Foto",
    "board.type.AUDIO": "Áudio",
    "board.type.VIDEO": "Vídeo",
    "board.type.DOCUMENT": "Documento",
    "board.type.STICKER": "Figurinha",
    "board.type.LOCATION": "Localização",
    "board.type.CONTACTS": "Contato",
    "board.type.REACTION": "Reação",
    "board.type.TEMPLATE": "Modelo de mensagem",
    "board.type.other": "Mensagem",
  },
  en: {
    "board.unread": "{n} unread",
    "board.noMessages": "No messages",
    "board.fromHotel": "Hotel: ",
    "board.waitingOpen": "Waiting for a person since {time}",
    "board.waitingGuest": "Guest's last message at {time}",
    "board.closedAt": "Closed {time}",
    "board.iaLocked": "AI paused",
    "board.iaLockedTitle": "The AI does not answer this conversation while a person handles it",
    "board.assignedTo": "Assignee: {name}",
    "board.unknownColleague": "another user",
    "board.reason": "Reason: {reason}",
    "board.type.IMAGE": "Photo",
    "board.type.AUDIO": "Audio",
    "board.type.VIDEO": "Video",
    "board.type.DOCUMENT": "Document",
    "board.type.STICKER": "Sticker",
    "board.type.LOCATION": "Location",
    "board.type.CONTACTS": "Contact",
    "board.type.REACTION": "Reaction",
    "board.type.TEMPLATE": "Message template",
    "board.type.other": "Message",
  },
});

const TYPE_LABELS = new Set(["IMAGE", "AUDIO", "VIDEO", "DOCUMENT", "STICKER", "LOCATION", "CONTACTS", "REACTION", "TEMPLATE"]);

/** Order of the board: newest lastMessageAt first, then the higher id, as GET /conversations sorts. */
export function compareConversations(a, b) {
  const keyA = [a.lastMessageAt || "", a.id];
  const keyB = [b.lastMessageAt || "", b.id];
  for (let index = 0; index < 2; index += 1) {
    if (keyA[index] !== keyB[index]) return keyA[index] < keyB[index] ? 1 : -1;
  }
  return 0;
}

/** Return the time the waiting clock counts from: the open escalation for OPEN, else the guest's last message. */
function waitingSince(conversation) {
  if (conversation.status === "OPEN" && conversation.openEscalation) return conversation.openEscalation.createdAt;
  return conversation.lastInboundAt;
}

function preview(lastMessage) {
  if (!lastMessage) return t("board.noMessages");
  const prefix = lastMessage.direction === "OUTBOUND" ? t("board.fromHotel") : "";
  const content = (lastMessage.content || "").trim();
  if (content) return prefix + content;
  return prefix + t(TYPE_LABELS.has(lastMessage.type) ? `board.type.${lastMessage.type}` : "board.type.other");
}

function waitingLabel(conversation) {
  if (conversation.status === "CLOSED") {
    return h("span", { class: "card-waiting", "data-test": "card-waiting", title: fullTime(conversation.closedAt) },
      t("board.closedAt", { time: shortTime(conversation.closedAt) }));
  }

  const since = waitingSince(conversation);
  const titleKey = conversation.status === "OPEN" ? "board.waitingOpen" : "board.waitingGuest";
  return h("span", {
    class: "card-waiting", "data-test": "card-waiting", dataset: { since: since || "" },
    title: since ? t(titleKey, { time: fullTime(since) }) : false,
  }, since ? elapsed(since) : "");
}

function initials(name) {
  const words = name.split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((word) => [...word][0].toUpperCase()).join("");
}

function assignee(conversation) {
  if (!conversation.assignedToId) return null;
  const name = colleagueName(conversation.assignedToId) || t("board.unknownColleague");
  // The initials are drawn by CSS from data-initials, so the element's text is the name alone.
  return h("span", {
    class: "card-assignee", "data-test": "card-assignee", "data-initials": initials(name),
    title: t("board.assignedTo", { name }),
  }, name);
}

function tags(conversation) {
  return h("div", { class: "card-tags" },
    h("span", { class: "card-priority", "data-test": "card-priority", "data-priority": conversation.priority },
      t(`priority.${conversation.priority}`)),
    h("span", { class: "card-unit", "data-test": "card-unit" }, conversation.hotelUnit || t("common.noUnit")),
    conversation.iaLocked
      ? h("span", { class: "card-ia-locked", "data-test": "card-ia-locked", title: t("board.iaLockedTitle") },
        t("board.iaLocked"))
      : null);
}

/** Build the card of a conversation; `isOpen` marks the one whose chat is open. */
export function buildCard(conversation, isOpen) {
  const unread = conversation.unreadCount || 0;
  const reason = conversation.openEscalation?.reason;

  return h("a", {
    class: "card", href: `#/board/${encodeURIComponent(conversation.id)}`,
    "data-test": "card", "data-conversation-id": conversation.id,
    "data-priority": conversation.priority, "aria-current": isOpen ? "true" : false,
  },
  h("div", { class: "card-head" },
    h("span", { class: "card-guest", "data-test": "card-guest" }, guestName(conversation.contact)),
    unread > 0
      ? h("span", { class: "badge card-unread", "data-test": "card-unread", title: t("board.unread", { n: unread }) }, unread)
      : null),
  tags(conversation),
  h("p", { class: "card-last-message", "data-test": "card-last-message" }, preview(conversation.lastMessage)),
  reason ? h("p", { class: "card-reason", "data-test": "card-reason", title: t("board.reason", { reason }) }, reason) : null,
  h("div", { class: "card-foot" }, waitingLabel(conversation), assignee(conversation)));
}

/** Rewrite every waiting time under `root` from its data-since, so the clocks move without a redraw. */
export function refreshWaitingTimes(root) {
  const now = Date.now();
  for (const label of root.querySelectorAll("[data-test=card-waiting][data-since]")) {
    if (label.dataset.since) label.textContent = elapsed(label.dataset.since, now);
  }
}
