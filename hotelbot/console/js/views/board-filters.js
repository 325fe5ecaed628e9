// The board's filters: the bar of controls, the query they send to GET /conversations,
// and the same selection applied on the client to conversations that arrive by Socket.IO.
import { h } from "../dom.js";
import { startOfToday } from "../format.js";
import { define, t } from "../i18n.js";
import { session } from "../session.js";

export const STATUSES = ["BOT", "OPEN", "IN_PROGRESS", "CLOSED"];
export const PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"];
export const PAGE_SIZE = 50;
const SEARCH_DELAY_MS = 300;
// The API rejects a longer search with 400.
const SEARCH_MAX_LENGTH = 100;

define({
  "pt-BR": {
    "board.filters": "Filtros",
    "board.unit": "Unidade",
    "board.unitDefaultMine": "Padrão: {unit} + sem unidade",
    "board.unitDefaultAll": "Padrão (todas)",
    "board.unitAll": "Todas as unidades",
    "board.unitNone": "Sem unidade",
    "board.priority": "Prioridade",
    "board.priorityAny": "Todas",
    "board.assignee": "Responsável",
    "board.assigneeAny": "Qualquer um",
    "board.assigneeMe": "Comigo",
    "board.search": "Buscar",
    "board.searchPlaceholder": "Nome, telefone ou mensagem",
  },
  en: {
    "board.filters": "Filters",
    "board.unit": "Unit",
    "board.unitDefaultMine": "Default: {unit} + no unit",
    "board.unitDefaultAll": "Default (all)",
    "board.unitAll": "All units",
    "board.unitNone": "No unit",
    "board.priority": "Priority",
    "board.priorityAny": "Any",
    "board.assignee": "Assignee",
    "board.assigneeAny": "Anyone",
    "board.assigneeMe": "Me",
    "board.search": "Search",
    "board.searchPlaceholder": "Name, phone or message",
  },
});

/** Return the filters a new board starts with: the API's defaults for the user. */
export function emptyFilters() {
  return { unit: "", priority: "", assignee: "", search: "" };
}

/** Return the search text as the API compares it: trimmed, with inner runs of spaces collapsed. */
export function searchText(filters) {
  return filters.search.split(/\s+/).filter(Boolean).join(" ");
}

/** Build the query of GET /conversations for one column. api() leaves out the empty values. */
export function columnQuery(filters, status, cursor) {
  return {
    status,
    hotelUnit: filters.unit,
    priority: filters.priority,
    assignedToId: filters.assignee,
    search: searchText(filters),
    closedSince: status === "CLOSED" ? startOfToday(session.tenant?.timeZone).toISOString() : null,
    limit: PAGE_SIZE,
    cursor,
  };
}

function matchesUnit(conversation, unit) {
  if (unit === "all") return true;
  if (unit === "none") return conversation.hotelUnit === null;
  if (unit) return conversation.hotelUnit === unit;

  // The API's default: an attendant with a unit gets that unit and the conversations without one.
  const user = session.user;
  if (user.role !== "ATTENDANT" || !user.hotelUnit) return true;
  return conversation.hotelUnit === null || conversation.hotelUnit === user.hotelUnit;
}

function matchesAssignee(conversation, assignee) {
  if (!assignee) return true;
  const userId = assignee === "me" ? session.user.id : assignee;
  return conversation.assignedToId === userId;
}

/**
 * Return true when the conversation passes the unit, priority and assignee filters as the API
 * applies them. The search is not checked here, because with a search active the board fetches the columns again.
 */
export function matchesFilters(conversation, filters) {
  if (filters.priority && conversation.priority !== filters.priority) return false;
  return matchesUnit(conversation, filters.unit) && matchesAssignee(conversation, filters.assignee);
}

/** Return the column a conversation belongs in, or null for one closed before today (browser's time zone). */
export function columnOf(conversation) {
  if (conversation.status !== "CLOSED") return STATUSES.includes(conversation.status) ? conversation.status : null;
  if (!conversation.closedAt) return null;
  return new Date(conversation.closedAt) >= startOfToday(session.tenant?.timeZone) ? "CLOSED" : null;
}

function labelled(text, control) {
  return h("label", { class: "board-filter" }, h("span", { class: "board-filter-label" }, text), control);
}

function select(testId, value, options, onChange) {
  const element = h("select", { "data-test": testId, on: { change: () => onChange(element.value) } },
    options.map(([optionValue, text]) => h("option", { value: optionValue }, text)));
  element.value = value;
  return element;
}

function unitOptions() {
  const user = session.user;
  const mine = user.role === "ATTENDANT" && user.hotelUnit;
  const defaultText = mine ? t("board.unitDefaultMine", { unit: user.hotelUnit }) : t("board.unitDefaultAll");
  const units = (session.tenant?.hotelUnits || []).map((unit) => [unit.name, unit.name]);
  return [["", defaultText], ["all", t("board.unitAll")], ["none", t("board.unitNone")], ...units];
}

function assigneeOptions() {
  const colleagues = session.team
    .filter((member) => member.id !== session.user.id)
    .map((member) => [member.id, member.name]);
  return [["", t("board.assigneeAny")], ["me", t("board.assigneeMe")], ...colleagues];
}

/**
 * Build the filter bar. `onChange(filters)` receives a new object at once for the selects and
 * ~300 ms after the last keystroke for the search (at once on Enter). Returns {element, cancel},
 * where cancel() drops a pending search.
 */
export function filterBar(filters, onChange) {
  let timer = null;
  let current = { ...filters };
  const update = (field, value) => {
    clearTimeout(timer);
    if (current[field] === value) return;
    current = { ...current, [field]: value };
    onChange(current);
  };

  const search = h("input", {
    type: "search", "data-test": "filter-search", value: filters.search, maxlength: SEARCH_MAX_LENGTH,
    placeholder: t("board.searchPlaceholder"), autocomplete: "off",
    on: { input: () => { clearTimeout(timer); timer = setTimeout(() => update("search", search.value), SEARCH_DELAY_MS); } },
  });
  const priorities = [["", t("board.priorityAny")], ...PRIORITIES.map((value) => [value, t(`priority.${value}`)])];

  const element = h("form", {
    class: "board-filters", role: "search", "aria-label": t("board.filters"),
    on: { submit: (event) => { event.preventDefault(); update("search", search.value); } },
  },
  labelled(t("board.unit"), select("filter-unit", filters.unit, unitOptions(), (value) => update("unit", value))),
  labelled(t("board.priority"), select("filter-priority", filters.priority, priorities, (value) => update("priority", value))),
  labelled(t("board.assignee"), select("filter-assignee", filters.assignee, assigneeOptions(), (value) => update("assignee", value))),
  labelled(t("board.search"), search));

  return { element, cancel: () => clearTimeout(timer) };
}
