// The scrolling history of one conversation: oldest at the top, older pages fetched when the
// top is reached (keeping what the attendant is looking at in place), new messages appended
// and followed while the list is scrolled to the bottom. Each message is stored once by id,
// so an HTTP response and the Socket.IO event for the same message update one row.
import { api } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { define, t } from "../i18n.js";
import { renderMessage } from "./chat-message.js";

define({
  "pt-BR": {
    "chat.history.label": "Mensagens da conversa",
    "chat.history.older": "Carregar mensagens anteriores",
    "chat.history.loading": "Carregando mensagens…",
    "chat.history.start": "Início da conversa",
    "chat.history.empty": "Nenhuma mensagem ainda.",
    "chat.history.new": "Novas mensagens ↓",
  },
  en: {
    "chat.history.label": "Conversation messages",
    "chat.history.older": "Load earlier messages",
    "chat.history.loading": "Loading messages…",
    "chat.history.start": "Start of the conversation",
    "chat.history.empty": "No messages yet.",
    "chat.history.new": "New messages ↓",
  },
});

const PAGE_SIZE = 50;
// A refresh of expired media links reads this many of the newest messages (the API's maximum page).
const NEAR_TOP_PX = 300;
const NEAR_BOTTOM_PX = 48;
const STATUS_RANK = { PENDING: 0, SENT: 1, DELIVERED: 2, READ: 3 };

/**
 * Return the status to show when two copies of an outbound message disagree. Statuses only move
 * forward (PENDING < SENT < DELIVERED < READ) and FAILED wins unless the message was already
 * DELIVERED or READ, the rule the server applies, so a late copy never takes a tick back.
 */
export function laterStatus(current, incoming) {
  if (!incoming || incoming === current) return current || incoming;
  if (incoming === "FAILED") return current === "DELIVERED" || current === "READ" ? current : "FAILED";
  if (current === "FAILED") return incoming === "DELIVERED" || incoming === "READ" ? incoming : "FAILED";
  if (!(current in STATUS_RANK) || !(incoming in STATUS_RANK)) return incoming;
  return STATUS_RANK[incoming] > STATUS_RANK[current] ? incoming : current;
}

function linkExpiry(url) {
  if (!url) return 0;
  const expires = Number(new URL(url, location.origin).searchParams.get("expires"));
  return Number.isFinite(expires) ? expires * 1000 : 0;
}

function samePath(first, second) {
  return Boolean(first && second) && first.split("?")[0] === second.split("?")[0];
}

/** Keep the link already shown while it is valid for five more minutes, so the browser does not fetch the file again. */
function stableMediaUrl(current, incoming) {
  if (samePath(current, incoming) && linkExpiry(current) > Date.now() + 5 * 60000) return current;
  return incoming;
}

function merge(current, incoming) {
  const merged = { ...current, ...incoming };
  merged.status = laterStatus(current.status, incoming.status);
  merged.error = merged.status === incoming.status ? incoming.error ?? null : current.error;
  if ("mediaUrl" in incoming) merged.mediaUrl = stableMediaUrl(current.mediaUrl, incoming.mediaUrl);
  return merged;
}

function sortKey(message) {
  return `${message.createdAt}|${message.receivedAt}|${message.id}`;
}

export class History {
  /** Create the history of `conversationId`. Its `element` is the node to place in the chat. */
  constructor(conversationId) {
    this.conversationId = conversationId;
    this.entries = new Map();
    this.order = [];
    this.nextCursor = null;
    this.loadingOlder = false;
    this.atBottom = true;
    this.scrollFrame = null;
    this.autoScrollTop = null;
    // While the first page loads: the changes that events brought for messages not shown yet, replayed after it.
    this.pendingChanges = null;
    this.destroyed = false;
    // Message id → when its media link was last read again.
    this.mediaRefreshedAt = new Map();
    this.context = {
      findById: (id) => this.entries.get(id)?.message,
      findByWamid: (wamid) => this.findByWamid(wamid),
      showMessage: (id) => this.showMessage(id),
      retryMedia: (message, button) => this.retryMedia(message, button),
      onMediaError: (message) => this.onMediaError(message),
    };

    this.top = h("div", { class: "history-top", "data-test": "history-top" });
    this.list = h("div", {
      class: "messages", "data-test": "messages", role: "log", tabindex: 0, "aria-label": t("chat.history.label"),
      on: { scroll: () => this.onScroll() },
    }, this.top);
    this.newMessages = h("button", {
      type: "button", class: "new-messages", "data-test": "new-messages", hidden: true,
      on: { click: () => this.scrollToBottom() },
    }, t("chat.history.new"));
    this.element = h("div", { class: "history" }, this.list, this.newMessages);
    // Keep the bottom in view when the list shrinks (a taller composer, a smaller window).
    this.resizeObserver = new ResizeObserver(() => this.atBottom && this.scrollToBottom());
    this.resizeObserver.observe(this.list);
  }

  destroy() {
    this.destroyed = true;
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.scrollFrame);
  }

  /** Show the newest page, scrolled to the bottom; on failure show the API's message with a retry button. */
  async loadNewest() {
    this.setTop("loading");
    this.pendingChanges = [];
    try {
      const page = await this.fetchPage({ limit: PAGE_SIZE });
      if (this.destroyed) return;
      // The page may have been read before the changes that events brought meanwhile: apply them again.
      const arrived = [...this.entries.values()].map((entry) => entry.message);
      const changes = this.pendingChanges;
      this.pendingChanges = null;
      this.reset(page);
      for (const message of arrived) this.upsert(message);
      for (const apply of changes) apply();
    } catch (error) {
      this.pendingChanges = null;
      if (!this.destroyed) this.setTop("error", error, () => this.loadNewest());
    }
  }

  /** After a reconnection: merge the newest page, or start over when messages were missed beyond it. */
  async refreshNewest() {
    let page;
    try {
      page = await this.fetchPage({ limit: PAGE_SIZE });
    } catch (error) {
      console.warn("Chat history not refreshed", error);
      return;
    }
    if (this.destroyed) return;

    const overlaps = page.items.some((message) => this.entries.has(message.id));
    if (!overlaps && (page.nextCursor || !this.entries.size)) {
      this.reset(page);
      return;
    }
    for (const message of [...page.items].reverse()) this.upsert(message);
  }

  reset(page) {
    for (const { node } of this.entries.values()) node.remove();
    this.entries.clear();
    this.order = [];
    for (const message of [...page.items].reverse()) this.insert(message);
    this.nextCursor = page.nextCursor;
    this.setTop(this.nextCursor ? "more" : "start");
    this.scrollToBottom();
    this.loadOlderWhileUnscrollable();
  }

  async fetchPage(query) {
    return api("GET", `/conversations/${encodeURIComponent(this.conversationId)}/messages`, { query });
  }

  /** Prepend the next older page, keeping the visible messages where they are on screen. */
  async loadOlder() {
    if (this.loadingOlder || !this.nextCursor || this.destroyed) return;
    this.loadingOlder = true;
    this.setTop("loading");
    this.list.setAttribute("aria-busy", "true");
    try {
      const page = await this.fetchPage({ limit: PAGE_SIZE, cursor: this.nextCursor });
      if (this.destroyed) return;
      const fromBottom = this.list.scrollHeight - this.list.scrollTop;
      for (const message of page.items) if (!this.entries.has(message.id)) this.insert(message);
      this.refreshReactionRows();
      this.list.scrollTop = this.list.scrollHeight - fromBottom;
      this.nextCursor = page.nextCursor;
      this.setTop(this.nextCursor ? "more" : "start");
    } catch (error) {
      if (!this.destroyed) this.setTop("error", error, () => this.loadOlder());
    } finally {
      this.loadingOlder = false;
      this.list.removeAttribute("aria-busy");
    }
    this.loadOlderWhileUnscrollable();
  }

  /** Fetch older pages while the history does not fill the list, because such a list cannot be scrolled to its top. */
  loadOlderWhileUnscrollable() {
    if (this.nextCursor && this.list.scrollHeight <= this.list.clientHeight + NEAR_TOP_PX) this.loadOlder();
  }

  onScroll() {
    const { scrollTop, scrollHeight, clientHeight } = this.list;
    // The event of the console's own scroll to the bottom may come after more messages were added:
    // the list still follows them. Any other position is the attendant's.
    if (scrollTop !== this.autoScrollTop) this.atBottom = scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
    if (this.atBottom) this.newMessages.hidden = true;
    if (scrollTop < NEAR_TOP_PX) this.loadOlder();
  }

  /**
   * Scroll to the newest message before the next frame is drawn, unless the attendant scrolls away first.
   * Reading scrollHeight lays out the whole list, so a burst of messages is scrolled once per frame, not
   * once per message.
   */
  scrollToBottom() {
    this.atBottom = true;
    this.newMessages.hidden = true;
    if (this.scrollFrame !== null) return;
    this.scrollFrame = requestAnimationFrame(() => {
      this.scrollFrame = null;
      if (!this.atBottom) return;
      this.list.scrollTop = this.list.scrollHeight;
      this.autoScrollTop = this.list.scrollTop;
    });
  }

  /**
   * Add `message` or update the copy already shown; return true when it was new.
   * `reveal` scrolls to it even when the attendant had scrolled up (their own replies).
   */
  upsert(message, { reveal = false } = {}) {
    const entry = this.entries.get(message.id);
    if (entry) {
      entry.message = merge(entry.message, message);
      this.rerender(entry);
      return false;
    }

    const followed = this.atBottom;
    const appended = this.insert(message);
    if (this.order.length === 1) this.setTop(this.nextCursor ? "more" : "start");
    if (reveal || (followed && appended)) this.scrollToBottom();
    else if (appended) this.newMessages.hidden = false;
    return true;
  }

  /**
   * Update a loaded message from a `message:updated` event. A message not loaded is left to its page,
   * except while the first page loads: the change is applied once that page is shown.
   */
  update(message) {
    if (this.entries.has(message.id)) this.upsert(message);
    else this.pendingChanges?.push(() => this.update(message));
  }

  /** Apply a `message:status` event `{id, status, error}` to a loaded message, or once the first page is shown. */
  applyStatus(change) {
    const entry = this.entries.get(change.id);
    if (!entry) {
      this.pendingChanges?.push(() => this.applyStatus(change));
      return;
    }
    entry.message = merge(entry.message, { status: change.status, error: change.error });
    this.rerender(entry);
  }

  /** Insert in the API's (createdAt, receivedAt, id) order; return true when the message went to the end. */
  insert(message) {
    const key = sortKey(message);
    let index = this.order.length;
    while (index > 0 && sortKey(this.entries.get(this.order[index - 1]).message) > key) index -= 1;

    const node = renderMessage(message, this.context);
    const next = index < this.order.length ? this.entries.get(this.order[index]).node : null;
    this.list.insertBefore(node, next);
    this.order.splice(index, 0, message.id);
    this.entries.set(message.id, { message, node });
    return next === null;
  }

  rerender(entry) {
    const node = renderMessage(entry.message, this.context);
    keepPlayingMedia(entry.node, node);
    entry.node.replaceWith(node);
    entry.node = node;
  }

  /** Reaction rows name the message they react to: redraw them once older messages are loaded. */
  refreshReactionRows() {
    for (const entry of this.entries.values()) if (entry.message.type === "REACTION") this.rerender(entry);
  }

  findByWamid(wamid) {
    if (!wamid) return undefined;
    for (const { message } of this.entries.values()) if (message.whatsappMsgId === wamid) return message;
    return undefined;
  }

  showMessage(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.node.scrollIntoView({ block: "center", behavior: "smooth" });
    entry.node.classList.add("highlight");
    entry.node.tabIndex = -1;
    entry.node.focus({ preventScroll: true });
    setTimeout(() => entry.node.classList.remove("highlight"), 1600);
  }

  async retryMedia(message, button) {
    button.disabled = true;
    button.textContent = t("chat.media.retrying");
    try {
      const result = await api("POST", `/messages/${encodeURIComponent(message.id)}/media/retry`);
      // The download can finish (message:updated) before this response arrives: keep the newer state.
      if (this.entries.get(message.id)?.message.mediaStatus === message.mediaStatus) this.upsert(result.message);
    } catch (error) {
      toast(error.message, "error");
      button.disabled = false;
      button.textContent = t("chat.media.retry");
    }
  }

  /**
   * A media link is signed for a limited time (one hour by default): when one has expired, read
   * its message again for a fresh link, at most once a minute per message.
   */
  async onMediaError(message) {
    const expired = linkExpiry(message.mediaUrl) <= Date.now();
    const refreshed = this.mediaRefreshedAt.get(message.id) || 0;
    if (!expired || Date.now() - refreshed < 60000) return;
    this.mediaRefreshedAt.set(message.id, Date.now());
    try {
      const { message: fresh } = await api("GET", `/messages/${encodeURIComponent(message.id)}`);
      if (!this.destroyed && this.entries.has(fresh.id)) this.upsert(fresh);
    } catch (error) {
      console.warn("Media link not refreshed", message.id, error);
    }
  }

  /** Draw the row above the messages: a button for older messages, a loading note, the start, or an error. */
  setTop(state, error = null, retry = null) {
    if (state === "loading") return replace(this.top, h("p", { class: "muted", role: "status" }, t("chat.history.loading")));
    if (state === "error") {
      return replace(this.top, h("p", { class: "form-error", role: "alert" }, error.message),
        h("button", { type: "button", class: "secondary small", on: { click: retry } }, t("common.retry")));
    }
    if (state === "more") {
      return replace(this.top, h("button", {
        type: "button", class: "link-button", "data-test": "history-load-older", on: { click: () => this.loadOlder() },
      }, t("chat.history.older")));
    }
    return replace(this.top, h("p", { class: "muted" }, t(this.order.length ? "chat.history.start" : "chat.history.empty")));
  }
}

/** Move a playing audio or video of the old row into the new one, so an update does not stop it. */
function keepPlayingMedia(oldNode, newNode) {
  const playing = [...oldNode.querySelectorAll("audio, video")].find((element) => !element.paused);
  if (!playing) return;
  const replacement = newNode.querySelector(playing.tagName.toLowerCase());
  if (replacement && samePath(replacement.getAttribute("src"), playing.getAttribute("src"))) replacement.replaceWith(playing);
}
