// The dashboard: the tenant's figures now (GET /conversations/stats) and over a period of days
// (GET /conversations/stats/range), for every unit or one. Bars are plain elements sized from JS.
import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { on } from "../events.js";
import { fullTime } from "../format.js";
import { currentLanguage, define, t } from "../i18n.js";
import { session } from "../session.js";

define({
  "pt-BR": {
    "dash.title": "Painel",
    "dash.unit": "Unidade",
    "dash.allUnits": "Todas as unidades",
    "dash.refresh": "Atualizar",
    "dash.now": "Agora",
    "dash.today": "Hoje, {date}",
    "dash.updatedAt": "Atualizado às {time}",
    "dash.total": "Conversas",
    "dash.conversationsActiveToday": "Conversas ativas hoje",
    "dash.escalationsHandledToday": "Atendimentos resolvidos hoje",
    "dash.medianFirstResponseSeconds": "Tempo mediano até a 1ª resposta",
    "dash.aiFinishedShare": "Resolvidas só pela IA",
    "dash.byStatus": "Por situação",
    "dash.byPriority": "Por prioridade",
    "dash.byHotelUnit": "Por unidade",
    "dash.openEscalationsByPriority": "Atendimentos pendentes por prioridade",
    "dash.period": "Período",
    "dash.from": "De",
    "dash.to": "Até",
    "dash.show": "Mostrar",
    "dash.conversationsActive": "Conversas ativas",
    "dash.escalationsHandled": "Atendimentos resolvidos",
    "dash.escalationsByPriority": "Atendimentos pedidos por prioridade",
    "dash.noData": "—",
    "dash.noResponses": "nenhuma resposta no período",
    "dash.noActive": "nenhuma conversa ativa",
    "dash.seconds": "{s} s",
    "dash.minutes": "{m} min {s} s",
    "dash.hours": "{h} h {m} min",
    "dash.loadFailed": "Não foi possível carregar os números: {message}",
  },
  en: {
    "dash.title": "Dashboard",
    "dash.unit": "Unit",
    "dash.allUnits": "All units",
    "dash.refresh": "Refresh",
    "dash.now": "Now",
    "dash.today": "Today, {date}",
    "dash.updatedAt": "Updated at {time}",
    "dash.total": "Conversations",
    "dash.conversationsActiveToday": "Conversations active today",
    "dash.escalationsHandledToday": "Hand-overs resolved today",
    "dash.medianFirstResponseSeconds": "Median time to first response",
    "dash.aiFinishedShare": "Finished by the AI alone",
    "dash.byStatus": "By status",
    "dash.byPriority": "By priority",
    "dash.byHotelUnit": "By unit",
    "dash.openEscalationsByPriority": "Open hand-overs by priority",
    "dash.period": "Period",
    "dash.from": "From",
    "dash.to": "To",
    "dash.show": "Show",
    "dash.conversationsActive": "Active conversations",
    "dash.escalationsHandled": "Hand-overs resolved",
    "dash.escalationsByPriority": "Hand-overs requested by priority",
    "dash.noData": "—",
    "dash.noResponses": "no response in the period",
    "dash.noActive": "no active conversation",
    "dash.seconds": "{s} s",
    "dash.minutes": "{m} min {s} s",
    "dash.hours": "{h} h {m} min",
    "dash.loadFailed": "Could not load the figures: {message}",
  },
});

// Server events arrive in bursts, so the figures are fetched again at most this often.
const REFRESH_INTERVAL_MS = 10000;
const PERIOD_DAYS = 7;
const STATUSES = ["BOT", "OPEN", "IN_PROGRESS", "CLOSED"];
const PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"];
const REFRESH_EVENTS = ["server:conversation:updated", "server:message:new", "server:escalation:new"];

// The unit and period chosen last, kept while the console stays open and reset for another user.
let chosenUnit = null;
let chosenPeriod = null;
let chosenBy = null;

/** Draw the dashboard into `root` and return the function that stops its listeners and timer. */
export function mount(root) {
  if (chosenBy !== session.user.id) {
    chosenBy = session.user.id;
    chosenUnit = session.user.role === "ATTENDANT" && session.user.hotelUnit ? session.user.hotelUnit : "all";
    chosenPeriod = defaultPeriod(session.tenant?.timeZone);
  }
  const view = buildView();
  replace(root, view.element);

  const throttle = throttled(() => view.load(), REFRESH_INTERVAL_MS);
  const stops = REFRESH_EVENTS.map((name) => on(name, throttle.request));
  stops.push(on("resync", () => view.load()));
  view.load();

  return () => {
    throttle.cancel();
    for (const stop of stops) stop();
  };
}

/**
 * Return `{request, cancel}`: `request()` calls `fn` at once when it last ran `interval` ms ago,
 * otherwise once when that time is up, however many requests came in between.
 */
function throttled(fn, interval) {
  let last = Date.now();
  let timer = null;
  const run = () => {
    timer = null;
    last = Date.now();
    fn();
  };
  return {
    request() {
      if (timer) return;
      timer = setTimeout(run, Math.max(0, last + interval - Date.now()));
    },
    cancel() {
      clearTimeout(timer);
      timer = null;
    },
  };
}

function buildView() {
  const now = h("section", { class: "dash-section", "aria-labelledby": "dash-now" });
  const period = h("section", { class: "dash-section", "aria-labelledby": "dash-period" });
  const error = h("p", { class: "form-error dash-error", role: "alert", "data-test": "dash-error", hidden: true });
  const status = h("span", { class: "dash-updated", "aria-live": "polite", "data-test": "stat-generatedAt" });
  const periodForm = buildPeriodForm(() => loadPeriod());
  let sequence = 0;

  const unitSelect = h("select", { id: "dash-unit", "data-test": "dash-unit", on: { change: () => {
    chosenUnit = unitSelect.value;
    load();
  } } }, unitOptions());
  unitSelect.value = chosenUnit;

  // Responses to an older request are dropped, because the unit or the period may have changed meanwhile.
  async function load() {
    const ticket = ++sequence;
    try {
      const stats = await api("GET", "/conversations/stats", { query: { hotelUnit: chosenUnit } });
      if (ticket !== sequence) return;
      error.hidden = true;
      replace(now, ...drawNow(stats));
      status.textContent = t("dash.updatedAt", { time: clock(stats.generatedAt) });
      status.title = fullTime(stats.generatedAt);
      status.dataset.value = stats.generatedAt;
    } catch (failure) {
      if (ticket !== sequence) return;
      showError(failure);
    }
    await loadPeriod();
  }

  async function loadPeriod() {
    const ticket = sequence;
    periodForm.clearErrors();
    try {
      const query = { hotelUnit: chosenUnit, from: chosenPeriod.from, to: chosenPeriod.to };
      const figures = await api("GET", "/conversations/stats/range", { query });
      if (ticket !== sequence) return;
      replace(period, ...drawPeriod(figures, periodForm.element));
    } catch (failure) {
      if (ticket !== sequence) return;
      if (!periodForm.showErrors(failure)) showError(failure);
    }
  }

  function showError(failure) {
    error.textContent = t("dash.loadFailed", { message: failure.message });
    error.hidden = false;
  }

  replace(period, h("h2", { id: "dash-period" }, t("dash.period")), periodForm.element);
  const header = h("header", { class: "dash-header" },
    h("h1", {}, t("dash.title")),
    h("label", { for: "dash-unit" }, t("dash.unit")), unitSelect,
    h("button", { type: "button", class: "secondary", "data-test": "dash-refresh", on: { click: () => load() } },
      t("dash.refresh")),
    status);
  const element = h("div", { class: "dashboard", "data-test": "dashboard" }, header, error, now, period);
  return { element, load };
}

function unitOptions() {
  const units = session.tenant?.hotelUnits || [];
  return [
    h("option", { value: "all" }, t("dash.allUnits")),
    ...units.map((unit) => h("option", { value: unit.name }, unit.name)),
    h("option", { value: "none" }, t("common.noUnit")),
  ];
}

function drawNow(stats) {
  const figures = h("div", { class: "dash-figures" },
    figure("total", t("dash.total"), number(stats.total), stats.total),
    figure("conversationsActiveToday", t("dash.conversationsActiveToday"),
      number(stats.conversationsActiveToday), stats.conversationsActiveToday),
    figure("escalationsHandledToday", t("dash.escalationsHandledToday"),
      number(stats.escalationsHandledToday), stats.escalationsHandledToday),
    figure("medianFirstResponseSeconds", t("dash.medianFirstResponseSeconds"),
      duration(stats.medianFirstResponseSeconds), stats.medianFirstResponseSeconds,
      stats.medianFirstResponseSeconds === null ? t("dash.noResponses") : null),
    figure("aiFinishedShare", t("dash.aiFinishedShare"), percent(stats.aiFinishedShare), stats.aiFinishedShare,
      stats.aiFinishedShare === null ? t("dash.noActive") : null));

  const bars = h("div", { class: "dash-bars" },
    barGroup("byStatus", t("dash.byStatus"), STATUSES.map((key) => [key, t(`status.${key}`), stats.byStatus[key]])),
    barGroup("byPriority", t("dash.byPriority"),
      PRIORITIES.map((key) => [key, t(`priority.${key}`), stats.byPriority[key]])),
    barGroup("openEscalationsByPriority", t("dash.openEscalationsByPriority"),
      PRIORITIES.map((key) => [key, t(`priority.${key}`), stats.openEscalationsByPriority[key]])),
    barGroup("byHotelUnit", t("dash.byHotelUnit"), Object.entries(stats.byHotelUnit).map(([key, count]) =>
      [key, key === "none" ? t("common.noUnit") : key, count])));

  const today = h("p", { class: "dash-today" },
    h("span", { "data-test": "stat-date", "data-value": stats.date }, t("dash.today", { date: day(stats.date) })),
    " ", h("span", { "data-test": "stat-timeZone", "data-value": stats.timeZone }, `(${stats.timeZone})`));
  return [h("h2", { id: "dash-now" }, t("dash.now")), today, figures, bars];
}

function drawPeriod(figures, form) {
  const cards = h("div", { class: "dash-figures" },
    figure("conversationsActive", t("dash.conversationsActive"),
      number(figures.conversationsActive), figures.conversationsActive, null, "range"),
    figure("escalationsHandled", t("dash.escalationsHandled"),
      number(figures.escalationsHandled), figures.escalationsHandled, null, "range"),
    figure("medianFirstResponseSeconds", t("dash.medianFirstResponseSeconds"),
      duration(figures.medianFirstResponseSeconds), figures.medianFirstResponseSeconds,
      figures.medianFirstResponseSeconds === null ? t("dash.noResponses") : null, "range"),
    figure("aiFinishedShare", t("dash.aiFinishedShare"), percent(figures.aiFinishedShare), figures.aiFinishedShare,
      figures.aiFinishedShare === null ? t("dash.noActive") : null, "range"));
  const bars = h("div", { class: "dash-bars" },
    barGroup("escalationsByPriority", t("dash.escalationsByPriority"),
      PRIORITIES.map((key) => [key, t(`priority.${key}`), figures.escalationsByPriority[key]]), "range"));
  return [h("h2", { id: "dash-period" }, t("dash.period")), form, cards, bars];
}

/** Build one figure card. `prefix` is "stat" for today's figures and "range" for the period's. */
function figure(field, label, text, raw, hint = null, prefix = "stat") {
  return h("div", { class: "dash-card" },
    h("span", { class: "dash-card-label" }, label),
    h("strong", { class: "dash-card-value", "data-test": `${prefix}-${field}`, "data-value": raw ?? "" }, text),
    hint ? h("small", { class: "dash-card-hint" }, hint) : null);
}

/** Build a titled list of bar rows, each `[key, label, count]`, scaled to the largest count. */
function barGroup(field, title, rows, prefix = "stat") {
  const largest = Math.max(1, ...rows.map(([, , count]) => count));
  const items = rows.map(([key, label, count]) => {
    const fill = h("span", { class: `dash-bar-fill dash-bar-${key}` });
    fill.style.width = `${(count / largest) * 100}%`;
    return h("li", { class: "dash-bar", "data-key": key, "data-value": count },
      h("span", { class: "dash-bar-label" }, label),
      h("span", { class: "dash-bar-track", "aria-hidden": "true" }, fill),
      h("span", { class: "dash-bar-count" }, number(count)));
  });
  return h("div", { class: "dash-bar-group", "data-test": `${prefix}-${field}` },
    h("h3", {}, title), h("ul", {}, items));
}

/** Build the from/to form, which calls `onApply()` on submit. API errors naming a field show beside it. */
function buildPeriodForm(onApply) {
  const input = (name) => h("input", {
    id: `dash-${name}`, type: "date", name, required: true, value: chosenPeriod[name], "data-test": `range-${name}`,
    "aria-describedby": `dash-${name}-error`,
  });
  const fields = { from: input("from"), to: input("to") };
  const errors = {
    from: h("span", { class: "field-error", id: "dash-from-error", "data-test": "field-error-from" }),
    to: h("span", { class: "field-error", id: "dash-to-error", "data-test": "field-error-to" }),
  };
  const element = h("form", { class: "dash-period-form", on: { submit: (event) => {
    event.preventDefault();
    chosenPeriod = { from: fields.from.value, to: fields.to.value };
    onApply();
  } } },
  h("span", { class: "dash-field" }, h("label", { for: "dash-from" }, t("dash.from")), fields.from, errors.from),
  h("span", { class: "dash-field" }, h("label", { for: "dash-to" }, t("dash.to")), fields.to, errors.to),
  h("button", { type: "submit", class: "secondary", "data-test": "range-show" }, t("dash.show")));

  return {
    element,
    clearErrors() {
      for (const span of Object.values(errors)) span.textContent = "";
    },
    /** Show the API's messages beside the fields they name. Return false when none named a field here. */
    showErrors(failure) {
      const named = (failure.details || []).filter((detail) => errors[detail.field]);
      for (const detail of named) errors[detail.field].textContent = detail.message;
      return named.length > 0;
    },
  };
}

/** Return the last PERIOD_DAYS days up to today in the tenant's time zone, as YYYY-MM-DD strings. */
function defaultPeriod(timeZone) {
  let today;
  try {
    today = new Intl.DateTimeFormat("en-CA", { timeZone: timeZone || undefined }).format(new Date());
  } catch {
    today = new Intl.DateTimeFormat("en-CA").format(new Date());
  }
  const first = new Date(`${today}T00:00:00Z`);
  first.setUTCDate(first.getUTCDate() - (PERIOD_DAYS - 1));
  return { from: first.toISOString().slice(0, 10), to: today };
}

function number(value) {
  return new Intl.NumberFormat(currentLanguage()).format(value ?? 0);
}

function percent(share) {
  if (share === null || share === undefined) return t("dash.noData");
  return new Intl.NumberFormat(currentLanguage(), { style: "percent", maximumFractionDigits: 1 }).format(share);
}

/** Format seconds as "45 s", "2 min 05 s" or "1 h 10 min". */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return t("dash.noData");
  const whole = Math.round(seconds);
  if (whole < 60) return t("dash.seconds", { s: whole });
  if (whole < 3600) return t("dash.minutes", { m: Math.floor(whole / 60), s: String(whole % 60).padStart(2, "0") });
  return t("dash.hours", { h: Math.floor(whole / 3600), m: Math.floor((whole % 3600) / 60) });
}

function day(iso) {
  const [year, month, date] = iso.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date)).toLocaleDateString(currentLanguage(), { timeZone: "UTC" });
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString(currentLanguage(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
