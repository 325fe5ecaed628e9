// Escalations for the attendant's units: a sound, a browser notification, a toast and a badge.
// The server sends `escalation:new` only to the sockets of the escalation's unit (and to those
// who work for every unit), so every event that arrives here is for this attendant.
import { h, plainText, toast } from "./dom.js";
import { emit, on } from "./events.js";
import { guestName } from "./format.js";
import { define, t } from "./i18n.js";

define({
  "pt-BR": {
    "notify.title": "Novo atendimento: {guest}",
    "notify.body": "{unit} · {reason}",
    "notify.toast": "Atendimento pedido por {guest}: {reason}",
  },
  en: {
    "notify.title": "Needs a person: {guest}",
    "notify.body": "{unit} · {reason}",
    "notify.toast": "{guest} needs a person: {reason}",
  },
});

let unseen = 0;
let audio = null;

/** Start listening; `openConversation(id)` is called when a notification is clicked. */
export function startNotifications(openConversation) {
  return on("server:escalation:new", ({ escalation, conversation }) => {
    const guest = guestName(conversation.contact);
    const unit = escalation.hotelUnit || t("common.noUnit");
    const reason = plainText(escalation.reason || "");
    unseen += 1;
    emit("escalations:unseen", unseen);
    beep();
    toast(t("notify.toast", { guest, reason }), "alert", 10000);
    showSystemNotification(t("notify.title", { guest }), t("notify.body", { unit, reason }),
      () => openConversation(conversation.id));
  });
}

/** Clear the badge once the attendant looks at the board. */
export function markEscalationsSeen() {
  unseen = 0;
  emit("escalations:unseen", 0);
}

/** Return a button that requests the notification permission (browsers prompt only after a click). */
export function permissionButton() {
  if (!("Notification" in window) || Notification.permission !== "default") return null;
  const button = h("button", {
    class: "link-button", type: "button", "data-test": "enable-notifications",
    on: { click: async () => { await Notification.requestPermission(); button.remove(); unlockAudio(); } },
  }, t("nav.notifications"));
  return button;
}

function showSystemNotification(title, body, onClick) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const notification = new Notification(title, { body, icon: "/app/icon.svg", tag: title });
  notification.onclick = () => { window.focus(); onClick(); notification.close(); };
}

function unlockAudio() {
  audio ??= new AudioContext();
  if (audio.state === "suspended") audio.resume();
}

// Two short tones made with Web Audio: no sound file to fetch.
function beep() {
  try {
    unlockAudio();
    for (const [offset, frequency] of [[0, 880], [0.18, 1175]]) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.15, audio.currentTime + offset);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + offset + 0.16);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(audio.currentTime + offset);
      oscillator.stop(audio.currentTime + offset + 0.17);
    }
    document.body.dataset.lastSound = String(Date.now());
  } catch (error) {
    console.warn("Sound not played", error);
  }
}
