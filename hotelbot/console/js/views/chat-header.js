// The chat's header: the guest, the conversation's status, unit, priority and assignee, whether
// the AI is replying, and the hand-over actions that the conversation's state and the user's role allow.
// A refused action (409 and others) shows the API's own message in a toast.
import { api } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { fullTime, guestName } from "../format.js";
import { define, t } from "../i18n.js";
import { colleagueName, session } from "../session.js";

define({
  "pt-BR": {
    "chat.back": "Fechar a conversa e voltar ao quadro",
    "chat.back.narrow": "Voltar",
    "chat.back.wide": "Fechar",
    "chat.ia.on": "IA respondendo",
    "chat.ia.off": "IA pausada — atendimento humano",
    "chat.ia.pausedBy": "Pausada por {who} em {when}",
    "chat.ia.byN8n": "IA (pediu um atendente)",
    "chat.unit": "Unidade",
    "chat.priority": "Prioridade",
    "chat.assignee": "Atendente",
    "chat.assignee.none": "Sem atendente",
    "chat.assignee.me": "{name} (você)",
    "chat.assignee.unknown": "Usuário inativo",
    "chat.reason": "Motivo",
    "chat.actions": "Ações da conversa",
    "chat.action.assume": "Assumir",
    "chat.action.assign": "Atribuir a",
    "chat.action.assignPlaceholder": "Escolha…",
    "chat.action.release": "Devolver à IA",
    "chat.action.close": "Encerrar",
    "chat.action.done.assume": "Você assumiu a conversa.",
    "chat.action.done.assign": "Conversa atribuída a {name}.",
    "chat.action.done.release": "Conversa devolvida à IA.",
    "chat.action.done.close": "Conversa encerrada.",
    "chat.close.title": "Encerrar a conversa?",
    "chat.close.text": "A conversa com {guest} vai para Encerradas. Se o hóspede escrever de novo, a IA volta a responder.",
    "chat.close.confirm": "Encerrar conversa",
  },
  en: {
    "chat.back": "Close the conversation and go back to the board",
    "chat.back.narrow": "Back",
    "chat.back.wide": "Close",
    "chat.ia.on": "AI answering",
    "chat.ia.off": "AI paused — a person is answering",
    "chat.ia.pausedBy": "Paused by {who} at {when}",
    "chat.ia.byN8n": "the AI (asked for a person)",
    "chat.unit": "Unit",
    "chat.priority": "Priority",
    "chat.assignee": "Attendant",
    "chat.assignee.none": "Unassigned",
    "chat.assignee.me": "{name} (you)",
    "chat.assignee.unknown": "Inactive user",
    "chat.reason": "Reason",
    "chat.actions": "Conversation actions",
    "chat.action.assume": "Take over",
    "chat.action.assign": "Assign to",
    "chat.action.assignPlaceholder": "Choose…",
    "chat.action.release": "Hand back to the AI",
    "chat.action.close": "Close",
    "chat.action.done.assume": "You took over the conversation.",
    "chat.action.done.assign": "Conversation assigned to {name}.",
    "chat.action.done.release": "Conversation handed back to the AI.",
    "chat.action.done.close": "Conversation closed.",
    "chat.close.title": "Close the conversation?",
    "chat.close.text": "The conversation with {guest} moves to Closed. If the guest writes again, the AI answers again.",
    "chat.close.confirm": "Close conversation",
  },
});

const SUPERVISING_ROLES = ["ADMIN", "SUPERVISOR"];
const PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"];

/**
 * Return which actions `user` may take on `conversation`, per the conversation state table.
 * Taking a CLOSED conversation needs the 24-hour window open. An attendant can neither take one
 * that another attendant is assigned to nor assign to others. Release and close do nothing on BOT and CLOSED.
 */
export function allowedActions(conversation, user) {
  const supervising = SUPERVISING_ROLES.includes(user.role);
  const { status, assignedToId } = conversation;
  const takeable = status !== "CLOSED" || conversation.canReply;
  const mine = status === "IN_PROGRESS" && assignedToId === user.id;
  const heldByOther = status === "IN_PROGRESS" && Boolean(assignedToId) && assignedToId !== user.id;
  return {
    assume: takeable && !mine && (supervising || !heldByOther),
    assign: supervising && takeable,
    release: status === "OPEN" || status === "IN_PROGRESS",
    close: status !== "CLOSED",
    edit: supervising,
  };
}

/** Format a WhatsApp id for display: "+55 11 90000-0001" for a Brazilian one, "+<digits>" for any other. */
export function formatPhone(phone) {
  if (!phone) return "";
  const digits = phone.replace(/\D/g, "");
  const brazilian = /^55(\d{2})(\d{4,5})(\d{4})$/.exec(digits);
  return brazilian ? `+55 ${brazilian[1]} ${brazilian[2]}-${brazilian[3]}` : `+${digits}`;
}

function assigneeName(id) {
  if (!id) return t("chat.assignee.none");
  const name = colleagueName(id) || t("chat.assignee.unknown");
  return id === session.user.id ? t("chat.assignee.me", { name }) : name;
}

function lockTitle(conversation) {
  if (!conversation.iaLocked) return "";
  const pausedBy = conversation.iaLockedBy === "N8N" ? t("chat.ia.byN8n") : colleagueName(conversation.iaLockedBy) || t("chat.sender.attendant");
  return t("chat.ia.pausedBy", { who: pausedBy, when: fullTime(conversation.iaLockedAt) });
}

/**
 * Build the header of one conversation. Each action's request goes through `track(request)`, which
 * sends it and shows the conversation it returns, and `update(conversation)` redraws the header.
 * Returns {element, update}.
 */
export function createHeader({ conversationId, onClose, track }) {
  const content = h("div", { class: "chat-header-content" });
  const path = `/conversations/${encodeURIComponent(conversationId)}`;
  let conversation = null;
  let busy = false;

  const confirmation = closeDialog(() => act("close", () => api("POST", `${path}/close`)));
  // The dialog stays outside the redrawn part: moving an open modal dialog would close it.
  const element = h("header", { class: "chat-header" }, content, confirmation.dialog);

  async function act(name, request, params = {}) {
    busy = true;
    render();
    try {
      await track(request);
      if (name) toast(t(`chat.action.done.${name}`, params));
    } catch (error) {
      toast(error.message, "error");
    } finally {
      busy = false;
      render();
    }
  }

  const actions = {
    assume: () => act("assume", () => api("POST", `${path}/assign`, { body: { assignedToId: session.user.id } })),
    assign: (id) => act("assign", () => api("POST", `${path}/assign`, { body: { assignedToId: id } }), { name: colleagueName(id) }),
    release: () => act("release", () => api("POST", `${path}/release`)),
    close: () => confirmation.open(guestName(conversation.contact)),
    change: (fields) => act(null, () => api("PATCH", path, { body: fields })),
  };

  function render() {
    const focused = content.contains(document.activeElement) ? document.activeElement.dataset.test : null;
    replace(content, topRow(conversation, onClose), conversation ? [details(conversation), toolbar(conversation, busy, actions)] : null);
    if (focused) content.querySelector(`[data-test="${focused}"]:not(:disabled)`)?.focus();
  }

  render();
  return {
    element,
    update(next) {
      const unchanged = conversation && shownFields(conversation) === shownFields(next);
      conversation = next;
      // Every new message carries the conversation: redraw only when the header shows a change,
      // so an open select is not rebuilt under the user's pointer.
      if (!unchanged) render();
    },
  };
}

function shownFields(conversation) {
  const { contact, status, iaLocked, iaLockedBy, iaLockedAt, assignedToId, priority, hotelUnit, canReply, openEscalation } = conversation;
  return JSON.stringify([contact, status, iaLocked, iaLockedBy, iaLockedAt, assignedToId, priority, hotelUnit, canReply, openEscalation?.reason]);
}

function topRow(conversation, onClose) {
  const back = h("button", { type: "button", class: "chat-back", "data-test": "chat-back", "aria-label": t("chat.back"), on: { click: onClose } },
    h("span", { "aria-hidden": "true" }, "←"), h("span", { class: "back-narrow" }, t("chat.back.narrow")),
    h("span", { class: "back-wide" }, t("chat.back.wide")));
  if (!conversation) return h("div", { class: "chat-title-row" }, back, h("p", { class: "muted" }, t("common.loading")));

  const contact = conversation.contact || {};
  const locked = Boolean(conversation.iaLocked);
  return h("div", { class: "chat-title-row" }, back,
    h("div", { class: "chat-title" },
      h("h2", { "data-test": "chat-guest", tabindex: -1 }, guestName(contact)),
      contact.phone ? h("span", { class: "chat-phone", "data-test": "chat-phone" }, formatPhone(contact.phone)) : null),
    h("div", { class: "chat-chips" },
      h("span", { class: "chip chip-status", "data-test": "chat-status", dataset: { status: conversation.status } }, t(`status.${conversation.status}`)),
      h("span", {
        class: `chip chip-ia ${locked ? "chip-ia-paused" : "chip-ia-on"}`, "data-test": "chat-ia-lock",
        dataset: { locked: String(locked) }, title: lockTitle(conversation) || false, role: "status",
      }, t(locked ? "chat.ia.off" : "chat.ia.on"))));
}

function details(conversation) {
  const item = (label, value, test, dataset = {}) => h("span", { class: "detail" },
    h("span", { class: "detail-label" }, `${label}: `), h("span", { "data-test": test, dataset }, value));
  const escalation = conversation.openEscalation;
  return h("div", { class: "chat-details" },
    item(t("chat.unit"), conversation.hotelUnit || t("common.noUnit"), "chat-unit"),
    item(t("chat.priority"), t(`priority.${conversation.priority}`), "chat-priority", { priority: conversation.priority }),
    item(t("chat.assignee"), assigneeName(conversation.assignedToId), "chat-assignee", { assigneeId: conversation.assignedToId || "" }),
    escalation ? item(t("chat.reason"), escalation.reason, "chat-reason") : null);
}

function toolbar(conversation, busy, actions) {
  const allowed = allowedActions(conversation, session.user);
  const button = (name, label, kind, onClick) => h("button", {
    type: "button", class: kind, "data-test": `action-${name}`, disabled: busy, on: { click: onClick },
  }, label);

  return h("div", { class: "chat-actions", role: "toolbar", "aria-label": t("chat.actions") },
    allowed.assume ? button("assume", t("chat.action.assume"), "primary", actions.assume) : null,
    allowed.assign ? assignSelect(conversation, busy, actions.assign) : null,
    allowed.edit ? prioritySelect(conversation, busy, actions.change) : null,
    allowed.edit ? unitSelect(conversation, busy, actions.change) : null,
    allowed.release ? button("release", t("chat.action.release"), "secondary", actions.release) : null,
    allowed.close ? button("close", t("chat.action.close"), "danger", actions.close) : null);
}

function field(label, select) {
  return h("label", { class: "action-field" }, h("span", {}, label), select);
}

function assignSelect(conversation, busy, assign) {
  const current = conversation.status === "IN_PROGRESS" ? conversation.assignedToId || "" : "";
  const options = [h("option", { value: "", disabled: true, selected: !current }, t("chat.action.assignPlaceholder"))];
  for (const member of session.team) {
    const label = `${member.id === session.user.id ? t("chat.assignee.me", { name: member.name }) : member.name}${member.hotelUnit ? ` · ${member.hotelUnit}` : ""}`;
    options.push(h("option", { value: member.id, selected: member.id === current }, label));
  }
  const select = h("select", { "data-test": "action-assign", disabled: busy }, options);
  select.addEventListener("change", () => select.value && select.value !== current && assign(select.value));
  return field(t("chat.action.assign"), select);
}

function prioritySelect(conversation, busy, change) {
  const select = h("select", { "data-test": "action-priority", disabled: busy },
    PRIORITIES.map((priority) => h("option", { value: priority, selected: priority === conversation.priority }, t(`priority.${priority}`))));
  select.addEventListener("change", () => change({ priority: select.value }));
  return field(t("chat.priority"), select);
}

function unitSelect(conversation, busy, change) {
  const units = session.tenant?.hotelUnits || [];
  const select = h("select", { "data-test": "action-unit", disabled: busy },
    h("option", { value: "", selected: !conversation.hotelUnit }, t("common.noUnit")),
    units.map((unit) => h("option", { value: unit.name, selected: unit.name === conversation.hotelUnit }, unit.name)));
  select.addEventListener("change", () => change({ hotelUnit: select.value || null }));
  return field(t("chat.unit"), select);
}

/** Build the confirmation shown before closing: a dialog element, because confirm() blocks every script of the page while open. */
function closeDialog(onConfirm) {
  const text = h("p", {});
  const dialog = h("dialog", { class: "confirm-dialog", "data-test": "close-dialog", "aria-labelledby": "chat-close-title" },
    h("h2", { id: "chat-close-title" }, t("chat.close.title")), text,
    h("div", { class: "dialog-buttons" },
      h("button", { type: "button", class: "secondary", "data-test": "close-cancel", on: { click: () => dialog.close() } }, t("common.cancel")),
      h("button", { type: "button", class: "danger", "data-test": "close-confirm", on: { click: () => { dialog.close(); onConfirm(); } } },
        t("chat.close.confirm"))));
  return {
    dialog,
    open(guest) {
      text.textContent = t("chat.close.text", { guest });
      dialog.showModal();
    },
  };
}
