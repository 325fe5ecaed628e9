// The "Conversas" screen: a Kanban of four columns (IA, waiting for a person, in progress,
// closed today) kept current by Socket.IO events, with the chat of the selected card beside it
// (or over it below 1200 px).
import { api } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { on } from "../events.js";
import { define, t } from "../i18n.js";
import { navigate } from "../main.js";
import { session } from "../session.js";
import { buildCard, compareConversations, refreshWaitingTimes } from "./board-cards.js";
import { STATUSES, columnOf, columnQuery, emptyFilters, filterBar, matchesFilters, searchText } from "./board-filters.js";

const TICK_MS = 30000;
const REFETCH_DELAY_MS = 300;
const NARROW = window.matchMedia("(max-width: 1199px)");
const CONVERSATION_EVENTS = ["server:message:new", "server:conversation:updated", "server:conversation:assigned"];
// The line under a column's cards: shown when the column is empty or failed to load.
const NOTE_KEYS = { loading: "common.loading", ready: "board.empty", failed: "board.loadFailed" };

define({
  "pt-BR": {
    "board.title": "Conversas",
    "board.closedToday": "Encerradas hoje",
    "board.empty": "Nenhuma conversa aqui.",
    "board.loadFailed": "Não foi possível carregar esta coluna.",
    "board.loadMore": "Carregar mais",
    "board.countMore": "{n}+",
    "board.countTitle": "{n} conversa(s) carregada(s); há mais para carregar",
    "board.chat": "Conversa aberta",
    "board.chatUnavailable": "A tela da conversa ainda não está disponível.",
  },
  en: {
    "board.title": "Conversations",
    "board.closedToday": "Closed today",
    "board.empty": "No conversations here.",
    "board.loadFailed": "This column could not be loaded.",
    "board.loadMore": "Load more",
    "board.countMore": "{n}+",
    "board.countTitle": "{n} conversation(s) loaded; more to load",
    "board.chat": "Open conversation",
    "board.chatUnavailable": "The conversation screen is not available yet.",
  },
});

// The filters survive a visit to another screen, but not a change of user.
let remembered = { userId: null, filters: emptyFilters() };
let chatModule = null;

/** Draw the board into `root` and open the chat of `route.id`, if any; return the unmount function. */
export function mount(root, route) {
  const board = new Board(root);
  board.openChat(route.id);
  return () => board.unmount();
}

function loadMountChat() {
  // chat.js is loaded on first use, so a board without a chat screen still works.
  chatModule ??= import("./chat.js")
    .then((module) => module.mountChat || showChatPlaceholder)
    .catch((error) => {
      console.error("The chat module failed to load", error);
      return showChatPlaceholder;
    });
  return chatModule;
}

function showChatPlaceholder(container, conversationId, { onClose }) {
  replace(container, h("div", { class: "chat-placeholder", "data-test": "chat-placeholder" },
    h("p", {}, t("board.chatUnavailable")),
    h("button", { type: "button", class: "secondary", on: { click: onClose } }, t("common.close"))));
  return null;
}

function columnTitle(status) {
  return status === "CLOSED" ? t("board.closedToday") : t(`status.${status}`);
}

class Board {
  constructor(root) {
    if (remembered.userId !== session.user.id) remembered = { userId: session.user.id, filters: emptyFilters() };
    this.filters = remembered.filters;
    this.columns = new Map(STATUSES.map((status) => [status, this.buildColumn(status)]));
    this.generation = 0;
    this.reportedGeneration = null;
    this.replayQueue = null;
    this.refetchTimer = null;
    this.openId = null;
    this.chatPanel = null;
    this.unmountChat = null;
    this.unmounted = false;

    this.bar = filterBar(this.filters, (filters) => this.changeFilters(filters));
    this.columnsSection = h("section", { class: "board-columns", "aria-label": t("board.title") },
      this.bar.element,
      h("div", { class: "board-grid" }, [...this.columns.values()].map((column) => column.element)));
    this.layout = h("div", { class: "board-layout", "data-test": "board" }, this.columnsSection);
    replace(root, this.layout);

    this.stopListening = [
      ...CONVERSATION_EVENTS.map((name) => on(name, ({ conversation }) => this.upsert(conversation))),
      on("resync", () => this.loadAll()),
      on("route:board", (route) => this.openChat(route.id)),
    ];
    this.onWidthChange = () => this.updateCovered();
    NARROW.addEventListener("change", this.onWidthChange);
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.loadAll();
  }

  unmount() {
    this.unmounted = true;
    for (const stop of this.stopListening) stop();
    NARROW.removeEventListener("change", this.onWidthChange);
    clearInterval(this.ticker);
    clearTimeout(this.refetchTimer);
    this.bar.cancel();
    this.unmountChat?.();
  }

  // -- columns -----------------------------------------------------------

  buildColumn(status) {
    const headingId = `column-title-${status}`;
    const count = h("span", { class: "badge column-count", "data-test": "column-count", dataset: { count: "0" } }, "0");
    const list = h("ul", { class: "card-list" });
    const note = h("p", { class: "column-note" }, t("common.loading"));
    const retry = h("button", { type: "button", class: "link-button", hidden: true, on: { click: () => this.loadColumn(status, false) } },
      t("common.retry"));
    const more = h("button", {
      type: "button", class: "secondary load-more", "data-test": "load-more", hidden: true,
      on: { click: () => this.loadColumn(status, true) },
    }, t("board.loadMore"));
    const element = h("section", {
      class: "board-column", "data-test": `column-${status}`, "data-status": status, "aria-labelledby": headingId,
    },
    h("h2", { class: "column-head" }, h("span", { id: headingId, title: columnTitle(status) }, columnTitle(status)), count),
    h("div", { class: "column-body" }, list, note, retry, more));

    return { status, element, count, list, note, retry, more, items: [], nextCursor: null, lastLoaded: null, state: "loading" };
  }

  /** Fetch the first page of every column again: after a filter change, a reconnection, or an event during a search. */
  loadAll() {
    this.generation += 1;
    const generation = this.generation;
    this.replayQueue = searchText(this.filters) ? null : [];

    const loads = STATUSES.map((status) => this.loadColumn(status, false));
    Promise.all(loads).then(() => {
      if (generation !== this.generation) return;
      const queue = this.replayQueue || [];
      this.replayQueue = null;
      for (const conversation of queue) this.upsert(conversation);
    });
  }

  /**
   * Fetch a page of one column: the first one (replacing what is shown) or, with `append`, the next.
   * An API error shows its message in a toast and keeps the cards already shown.
   */
  async loadColumn(status, append) {
    const column = this.columns.get(status);
    const generation = this.generation;
    if (append && !column.nextCursor) return;
    column.state = "loading";
    this.renderColumns(column);

    let page;
    try {
      page = await api("GET", "/conversations", { query: columnQuery(this.filters, status, append ? column.nextCursor : null) });
    } catch (error) {
      if (generation !== this.generation || this.unmounted) return;
      column.state = "failed";
      this.renderColumns(column);
      this.reportError(error, append ? null : generation);
      return;
    }
    if (generation !== this.generation || this.unmounted) return;

    // The API filters the closed column by closedSince; this keeps it right across midnight too.
    const kept = page.items.filter((conversation) => columnOf(conversation) === status);
    column.items = append ? [...column.items, ...kept.filter((item) => !this.has(column, item.id))] : kept;
    column.nextCursor = page.nextCursor;
    column.lastLoaded = page.items.at(-1) || (append ? column.lastLoaded : null);
    column.state = "ready";
    this.renderColumns(column);
  }

  /** Show the API's message (and its details) in a toast, once per refetch of the columns. */
  reportError(error, generation) {
    if (generation !== null && this.reportedGeneration === generation) return;
    this.reportedGeneration = generation;
    const details = (error.details || []).map((detail) => detail.message).filter(Boolean);
    toast([error.message, ...details].join(" "), "error");
  }

  has(column, conversationId) {
    return column.items.some((item) => item.id === conversationId);
  }

  renderColumn(column) {
    const { items, state } = column;
    replace(column.list, items.map((conversation) => h("li", {}, buildCard(conversation, conversation.id === this.openId))));

    column.count.textContent = column.nextCursor ? t("board.countMore", { n: items.length }) : String(items.length);
    column.count.dataset.count = String(items.length);
    column.count.title = column.nextCursor ? t("board.countTitle", { n: items.length }) : "";
    column.element.setAttribute("aria-busy", String(state === "loading"));

    column.note.textContent = t(NOTE_KEYS[state]);
    column.note.hidden = items.length > 0 && state !== "failed";
    column.retry.hidden = state !== "failed";
    column.more.hidden = !column.nextCursor || state === "failed";
    column.more.disabled = state === "loading";
  }

  /** Redraw the columns, then give the focus back to the card that had it, wherever that card is now. */
  renderColumns(...columns) {
    const focused = document.activeElement?.closest?.("[data-test=card]")?.dataset.conversationId;
    for (const column of columns) this.renderColumn(column);
    if (focused) this.findCard(focused)?.focus();
  }

  findCard(conversationId) {
    return [...this.columnsSection.querySelectorAll("[data-test=card]")]
      .find((card) => card.dataset.conversationId === conversationId) || null;
  }

  // -- real time ---------------------------------------------------------

  /**
   * Apply a conversation from a Socket.IO event: move it to the column of its status, keep the
   * order, and drop it when it no longer passes the filters. With a search active only the API
   * can tell what matches, so the board fetches the columns again instead.
   */
  upsert(conversation) {
    if (!conversation || this.unmounted) return;
    if (searchText(this.filters)) {
      clearTimeout(this.refetchTimer);
      this.refetchTimer = setTimeout(() => this.loadAll(), REFETCH_DELAY_MS);
      return;
    }
    this.replayQueue?.push(conversation);

    const target = matchesFilters(conversation, this.filters) ? columnOf(conversation) : null;
    const changed = [];
    for (const column of this.columns.values()) {
      const before = column.items.length;
      column.items = column.items.filter((item) => item.id !== conversation.id);
      if (column.items.length !== before) changed.push(column);
    }

    const column = target && this.columns.get(target);
    if (column && this.belongsToLoadedPages(column, conversation)) {
      column.items = [...column.items, conversation].sort(compareConversations);
      if (!changed.includes(column)) changed.push(column);
    }
    this.renderColumns(...changed);
  }

  /** Return true unless the conversation sorts after the last loaded item of a column that has more pages. */
  belongsToLoadedPages(column, conversation) {
    if (!column.nextCursor || !column.lastLoaded) return true;
    return compareConversations(conversation, column.lastLoaded) <= 0;
  }

  changeFilters(filters) {
    this.filters = filters;
    remembered.filters = filters;

    // The cards on screen were chosen by the old filters: never leave them beside an error.
    for (const column of this.columns.values()) {
      column.items = [];
      column.nextCursor = null;
      column.lastLoaded = null;
    }
    this.loadAll();
  }

  /** Update the waiting clocks (every 30 s) and, after midnight, drop yesterday's cards from "closed today". */
  tick() {
    refreshWaitingTimes(this.columnsSection);
    const closed = this.columns.get("CLOSED");
    const today = closed.items.filter((conversation) => columnOf(conversation) === "CLOSED");
    if (today.length === closed.items.length) return;
    closed.items = today;
    this.renderColumns(closed);
  }

  // -- chat panel --------------------------------------------------------

  /** Show the chat of `conversationId` (null closes it) without redrawing the columns. */
  async openChat(conversationId) {
    if (conversationId === this.openId) return;
    const previous = this.openId;
    this.closeChat();
    this.openId = conversationId;
    this.markOpenCard();
    if (!conversationId) {
      this.findCard(previous)?.focus();
      return;
    }

    this.chatPanel = h("section", { class: "chat-panel", "aria-label": t("board.chat") });
    this.layout.append(this.chatPanel);
    this.layout.classList.add("with-chat");
    this.updateCovered();
    this.findCard(conversationId)?.scrollIntoView({ block: "nearest" });

    const mountChat = await loadMountChat();
    if (this.unmounted || this.openId !== conversationId) return;
    this.unmountChat = mountChat(this.chatPanel, conversationId, { onClose: () => navigate("board") }) || null;
  }

  closeChat() {
    this.unmountChat?.();
    this.unmountChat = null;
    this.chatPanel?.remove();
    this.chatPanel = null;
    this.layout.classList.remove("with-chat");
    this.updateCovered();
  }

  markOpenCard() {
    for (const card of this.columnsSection.querySelectorAll("[data-test=card]")) {
      if (card.dataset.conversationId === this.openId) card.setAttribute("aria-current", "true");
      else card.removeAttribute("aria-current");
    }
  }

  /** Below 1200 px the chat covers the columns: take them out of the tab order and the accessibility tree. */
  updateCovered() {
    this.columnsSection.inert = Boolean(this.chatPanel) && NARROW.matches;
  }
}
