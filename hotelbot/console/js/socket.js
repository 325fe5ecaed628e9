// The Socket.IO connection. Server events go to the event hub as "server:<event>" and the
// connection state as "connection" ("connecting", "online", "offline"). After every
// reconnection the open conversations are joined again and "resync" is emitted, so each
// screen fetches what it missed.
import { io } from "../vendor/socket.io.esm.min.js";
import { getAccessToken, refreshSession } from "./api.js";
import { emit } from "./events.js";

const SERVER_EVENTS = [
  "message:new", "message:updated", "message:status",
  "conversation:updated", "conversation:assigned", "escalation:new",
];

let socket = null;
let everConnected = false;
const joined = new Set();

export function connect() {
  if (socket) return;
  emit("connection", "connecting");
  socket = io({
    path: "/socket.io",
    transports: ["websocket", "polling"],
    auth: (callback) => callback({ token: getAccessToken() }),
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
  });

  socket.on("connect", onConnect);
  socket.on("disconnect", onDisconnect);
  socket.on("connect_error", onConnectError);
  for (const name of SERVER_EVENTS) socket.on(name, (payload) => emit(`server:${name}`, payload));
}

async function onConnect() {
  emit("connection", "online");
  for (const conversationId of joined) await request("join:conversation", conversationId);
  if (everConnected) emit("resync");
  everConnected = true;
}

async function onDisconnect(reason) {
  emit("connection", "offline");
  // The server closed the socket itself (the user was deactivated, or their role or unit changed), and the
  // client does not reconnect after that on its own. A refresh fails when the session has ended.
  if (reason !== "io server disconnect") return;
  if (await refreshSession()) {
    socket?.connect();
    emit("session:changed");
  } else {
    emit("session:lost", { error: reason });
  }
}

async function onConnectError(error) {
  emit("connection", "offline");
  // A refused handshake (expired token) is not retried by the client: refresh, then try again.
  if (socket.active) return;
  if (await refreshSession()) setTimeout(() => socket?.connect(), 500);
  else emit("session:lost", { error: error.message });
}

function request(event, conversationId) {
  return new Promise((resolve) => {
    socket.timeout(5000).emit(event, { conversationId }, (error, ack) => resolve(error ? { ok: false } : ack));
  });
}

/** Receive this conversation's events until `leave`; kept across reconnections. */
export function join(conversationId) {
  joined.add(conversationId);
  return socket?.connected ? request("join:conversation", conversationId) : Promise.resolve({ ok: false });
}

export function leave(conversationId) {
  joined.delete(conversationId);
  if (socket?.connected) socket.emit("leave:conversation", { conversationId });
}

export function disconnect() {
  socket?.disconnect();
  socket = null;
  everConnected = false;
  joined.clear();
}
