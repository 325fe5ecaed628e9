// The console's texts in Brazilian Portuguese (default) and English.
// Each view module defines its own texts with `define`, so the catalog stays beside its screen.

const catalogs = { "pt-BR": {}, en: {} };
let language = document.documentElement.lang === "en" ? "en" : "pt-BR";

/** Add texts: `{ "pt-BR": {key: text}, en: {key: text} }`. A key missing in English falls back to Portuguese. */
export function define(texts) {
  for (const [lang, entries] of Object.entries(texts)) Object.assign(catalogs[lang], entries);
}

/** Return the text for `key` with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = catalogs[language][key] ?? catalogs["pt-BR"][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

export function currentLanguage() {
  return language;
}

/** Switch language ("pt-BR" or "en"); the caller re-renders. */
export function setLanguage(value) {
  language = value === "en" ? "en" : "pt-BR";
  document.documentElement.lang = language;
}

define({
  "pt-BR": {
    "app.title": "hotelbot",
    "nav.board": "Conversas",
    "nav.dashboard": "Painel",
    "nav.users": "Usuários",
    "nav.logout": "Sair",
    "nav.notifications": "Ativar notificações",
    "connection.online": "Conectado",
    "connection.connecting": "Conectando…",
    "connection.offline": "Sem conexão — tentando reconectar",
    "status.BOT": "IA",
    "status.OPEN": "Aguardando atendente",
    "status.IN_PROGRESS": "Em atendimento",
    "status.CLOSED": "Encerrada",
    "priority.LOW": "Baixa",
    "priority.MEDIUM": "Média",
    "priority.HIGH": "Alta",
    "priority.URGENT": "Urgente",
    "role.ADMIN": "Administrador",
    "role.SUPERVISOR": "Supervisor",
    "role.ATTENDANT": "Atendente",
    "common.loading": "Carregando…",
    "common.retry": "Tentar de novo",
    "common.cancel": "Cancelar",
    "common.save": "Salvar",
    "common.close": "Fechar",
    "common.none": "Nenhum",
    "common.noUnit": "Sem unidade",
    "common.error": "Algo deu errado. Tente de novo.",
    "common.offlineError": "Não foi possível falar com o servidor. Verifique a conexão.",
    "time.justNow": "agora",
    "time.minutes": "{n} min",
    "time.hours": "{h} h {m} min",
    "time.days": "{n} d",
  },
  en: {
    "nav.board": "Conversations",
    "nav.dashboard": "Dashboard",
    "nav.users": "Users",
    "nav.logout": "Log out",
    "nav.notifications": "Turn on notifications",
    "connection.online": "Connected",
    "connection.connecting": "Connecting…",
    "connection.offline": "Offline — trying to reconnect",
    "status.BOT": "AI",
    "status.OPEN": "Waiting for a person",
    "status.IN_PROGRESS": "In progress",
    "status.CLOSED": "Closed",
    "priority.LOW": "Low",
    "priority.MEDIUM": "Medium",
    "priority.HIGH": "High",
    "priority.URGENT": "Urgent",
    "role.ADMIN": "Admin",
    "role.SUPERVISOR": "Supervisor",
    "role.ATTENDANT": "Attendant",
    "common.loading": "Loading…",
    "common.retry": "Try again",
    "common.cancel": "Cancel",
    "common.save": "Save",
    "common.close": "Close",
    "common.none": "None",
    "common.noUnit": "No unit",
    "common.error": "Something went wrong. Please try again.",
    "common.offlineError": "Could not reach the server. Check the connection.",
    "time.justNow": "now",
    "time.minutes": "{n} min",
    "time.hours": "{h} h {m} min",
    "time.days": "{n} d",
  },
});
