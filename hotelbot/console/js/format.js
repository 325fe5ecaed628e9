// Formatting of times, durations and people for display.
import { plainText } from "./dom.js";
import { currentLanguage, t } from "./i18n.js";

/** "14:05" for today, "03/12 14:05" for another day, in the browser's time zone. */
export function shortTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const now = new Date();
  const time = date.toLocaleTimeString(currentLanguage(), { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === now.toDateString()) return time;
  const day = date.toLocaleDateString(currentLanguage(), { day: "2-digit", month: "2-digit" });
  return `${day} ${time}`;
}

/** Format a full date and time, for tooltips. */
export function fullTime(iso) {
  return iso ? new Date(iso).toLocaleString(currentLanguage()) : "";
}

/** Return how long ago `iso` was, as "5 min", "2 h 10 min" or "3 d". */
export function elapsed(iso, now = Date.now()) {
  if (!iso) return "";
  const minutes = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 60000));
  if (minutes < 1) return t("time.justNow");
  if (minutes < 60) return t("time.minutes", { n: minutes });
  if (minutes < 24 * 60) return t("time.hours", { h: Math.floor(minutes / 60), m: minutes % 60 });
  return t("time.days", { n: Math.floor(minutes / 1440) });
}

/** Format a file's size in bytes as "820 kB" or "1,5 MB" in the user's language. */
export function fileSize(bytes) {
  const [value, unit] = bytes < 1000 * 1000 ? [bytes / 1000, "kilobyte"] : [bytes / 1000 / 1000, "megabyte"];
  return new Intl.NumberFormat(currentLanguage(), { style: "unit", unit, maximumFractionDigits: 1 }).format(value);
}

/**
 * Return the last midnight in `timeZone` (the hotel's IANA zone), as a Date; in the browser's zone without one.
 * The wall-clock time since midnight is taken from the current instant, so on a day whose clock changed
 * (daylight saving, which Brazil no longer has) the result is off by that change.
 */
export function startOfToday(timeZone, now = new Date()) {
  if (!timeZone) {
    const today = new Date(now);
    today.setHours(0, 0, 0, 0);
    return today;
  }
  const clock = new Intl.DateTimeFormat("en-GB", {
    timeZone, hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(now);
  const part = (type) => Number(clock.find((item) => item.type === type).value);
  const sinceMidnight = ((part("hour") * 60 + part("minute")) * 60 + part("second")) * 1000 + now.getMilliseconds();
  return new Date(now.getTime() - sinceMidnight);
}

/**
 * Return the guest's name, else their phone with a plus, else their WhatsApp username id. Direction
 * controls are removed, because toasts and notifications place the name inside longer texts.
 */
export function guestName(contact) {
  if (!contact) return "";
  return plainText(contact.name || (contact.phone ? `+${contact.phone}` : contact.userId || ""));
}
