// The chat of one conversation, which the board mounts beside or over its columns. It shows the
// header with the hand-over actions, the history and the reply box. While it is open the server's
// events keep it current, and after a reconnection it fetches both again.
import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { on } from "../events.js";
import { guestName } from "../format.js";
import { define, t } from "../i18n.js";
import * as socket from "../socket.js";
import { createComposer } from "./chat-composer.js";
import { createHeader } from "./chat-header.js";
import { History } from "./chat-history.js";

define({
  "pt-BR": {
    "chat.label": "Conversa com {guest}",
    "chat.labelLoading": "Conversa",
    "chat.notFound": "Conversa não encontrada. Ela pode ter sido apagada, ou o link é de outro hotel.",
  },
  en: {
    "chat.label": "Conversation with {guest}",
    "chat.labelLoading": "Conversation",
    "chat.notFound": "Conversation not found. It may have been deleted, or the link belongs to another hotel.",
  },
});

/**
 * Mount the chat of `conversationId` into `container`, replacing its content. The back button
 * and the Escape key call `onClose()`. Returns the function that unmounts the chat.
 */
export function mountChat(container, conversationId, { onClose = () => {} } = {}) {
  const chat = new Chat(conversationId, onClose);
  replace(container, chat.element);
  chat.start();
  return () => chat.destroy();
}

class Chat {
  constructor(conversationId, onClose) {
    this.id = conversationId;
    this.path = `/conversations/${encodeURIComponent(conversationId)}`;
    this.onClose = onClose;
    this.conversation = null;
    this.destroyed = false;
    this.reading = null;
    this.readAgain = false;
    // Counts the server events that updated the conversation, so an HTTP response that overlapped one is dropped.
    this.eventCount = 0;
    this.stops = [];
    this.onVisibilityChange = () => this.conversation?.unreadCount && this.markRead();

    this.header = createHeader({ conversationId, onClose, track: (request) => this.track(request) });
    this.history = new History(conversationId);
    this.composer = createComposer({
      conversationId,
      onSent: (message) => this.history.upsert(message, { reveal: true }),
      onWindowClosed: () => this.loadConversation(),
    });
    this.element = h("section", {
      class: "chat", "data-test": "chat", dataset: { conversationId }, "aria-label": t("chat.labelLoading"),
      on: { keydown: (event) => this.onKeyDown(event) },
    });
  }

  start() {
    this.listen();
    this.keepToastsBelowHeader();
    socket.join(this.id);
    this.open();
  }

  /**
   * Move the toasts below the chat's header while the chat is open, so a toast never covers the AI lock
   * state, the status or the escalation reason. The header's height changes with its actions and the width.
   */
  keepToastsBelowHeader() {
    const root = document.documentElement;
    const place = () => {
      const bottom = this.header.element.isConnected ? this.header.element.getBoundingClientRect().bottom : 0;
      if (bottom > 0) root.style.setProperty("--toasts-top", `${Math.round(bottom) + 8}px`);
      else root.style.removeProperty("--toasts-top");
    };
    const observer = new ResizeObserver(place);
    observer.observe(this.header.element);
    this.stops.push(() => {
      observer.disconnect();
      root.style.removeProperty("--toasts-top");
    });
  }

  async open() {
    replace(this.element, this.header.element, this.history.element, this.composer.element);
    this.history.loadNewest();
    if (!(await this.loadConversation())) return;
    this.composer.focus();
    if (this.conversation.unreadCount) this.markRead();
  }

  destroy() {
    this.destroyed = true;
    for (const stop of this.stops) stop();
    document.removeEventListener("visibilitychange", this.onVisibilityChange);
    socket.leave(this.id);
    this.history.destroy();
    this.composer.destroy();
  }

  listen() {
    const ours = (conversationId) => conversationId === this.id;
    this.stops.push(
      on("server:message:new", ({ message, conversation }) => {
        if (!ours(message.conversationId)) return;
        const added = this.history.upsert(message);
        if (conversation) this.applyEvent(conversation);
        if (added && message.direction === "INBOUND") this.markRead();
      }),
      on("server:message:updated", ({ message }) => ours(message.conversationId) && this.history.update(message)),
      on("server:message:status", (change) => ours(change.conversationId) && this.history.applyStatus(change)),
      on("server:conversation:updated", ({ conversation }) => ours(conversation.id) && this.applyEvent(conversation)),
      on("server:conversation:assigned", ({ conversation }) => ours(conversation.id) && this.applyEvent(conversation)),
      on("resync", () => {
        this.loadConversation();
        this.history.refreshNewest();
      }),
    );
    document.addEventListener("visibilitychange", this.onVisibilityChange);
  }

  /** Fetch the conversation; return true on success. A first load that fails replaces the chat with the error. */
  async loadConversation() {
    try {
      await this.track(() => api("GET", this.path));
      return !this.destroyed;
    } catch (error) {
      if (this.destroyed) return false;
      if (!this.conversation) this.showFailure(error);
      else console.warn("Conversation not refreshed", error);
      return false;
    }
  }

  applyEvent(conversation) {
    this.eventCount += 1;
    this.setConversation(conversation);
  }

  /**
   * Send `request()`, an API call that returns {conversation}, and show that conversation unless a server
   * event updated it meanwhile: the response may predate that event's change. The server emits an event
   * after every change it commits, so the last event to arrive shows the latest state. Returns the API's result.
   */
  async track(request) {
    const seen = this.eventCount;
    const result = await request();
    if (!this.destroyed && (this.eventCount === seen || !this.conversation)) this.setConversation(result.conversation);
    return result;
  }

  setConversation(conversation) {
    this.conversation = conversation;
    this.element.setAttribute("aria-label", t("chat.label", { guest: guestName(conversation.contact) }));
    this.header.update(conversation);
    this.composer.update(conversation);
  }

  showFailure(error) {
    const notFound = error.status === 404;
    replace(this.element, h("div", { class: "chat-failure", role: "alert" },
      h("button", { type: "button", class: "chat-back", "data-test": "chat-back", on: { click: this.onClose } }, "← ", t("common.close")),
      h("p", { "data-test": "chat-error" }, notFound ? t("chat.notFound") : error.message),
      notFound ? null : h("button", { type: "button", class: "secondary", on: { click: () => this.open() } }, t("common.retry"))));
  }

  /**
   * Set the unread count to zero, only while the page is visible: a hidden tab marks the
   * conversation read when it is shown again. A request already running is followed by one more.
   */
  async markRead() {
    if (document.visibilityState !== "visible" || this.destroyed) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.track(() => api("POST", `${this.path}/read`));
    try {
      await this.reading;
    } catch (error) {
      console.warn("Conversation not marked read", error);
    } finally {
      this.reading = null;
    }
    if (this.readAgain) {
      this.readAgain = false;
      this.markRead();
    }
  }

  onKeyDown(event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (event.target.closest("dialog, input, textarea, select")) return;
    event.preventDefault();
    this.onClose();
  }
}
