// A small publish/subscribe hub that views use to hear about server events and session changes.

const listeners = new Map();

/** Call `handler(payload)` on each `name` event; return a function that stops listening. */
export function on(name, handler) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(handler);
  return () => listeners.get(name).delete(handler);
}

export function emit(name, payload) {
  for (const handler of [...(listeners.get(name) || [])]) {
    try {
      handler(payload);
    } catch (error) {
      console.error(`Handler of ${name} failed`, error);
    }
  }
}
