// Building DOM nodes without innerHTML: every text a guest or an API sends is set as text.

// Unicode's explicit direction embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069). One of
// them in a guest's name reverses the text after it ("\u202eAna: 150" reads "051 :anA"), and in a file
// name it disguises the extension ("fatura\u202efdp.exe" reads "faturaexe.pdf").
const DIRECTION_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;
// Attributes whose text the user reads or saves, cleaned like text children.
const TEXT_ATTRIBUTES = new Set(["title", "alt", "aria-label", "download", "placeholder"]);

/** Return `text` without direction embeddings, overrides and isolates, so it cannot reorder what surrounds it. */
export function plainText(text) {
  return String(text).replace(DIRECTION_CONTROLS, "");
}

/**
 * Create an element. `attrs` keys: `class`, `dataset` (object), `on` (event → handler),
 * any other key is set as an attribute (false/null/undefined skip it, true sets it empty).
 * Children may be nodes, strings, numbers, arrays or null. String children and the readable
 * attributes (title, alt, aria-label, download, placeholder) go through `plainText`.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "on") for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    else if (key === "value") element.value = value;
    else if (key === "checked" || key === "disabled" || key === "selected") element[key] = Boolean(value);
    else if (TEXT_ATTRIBUTES.has(key)) element.setAttribute(key, value === true ? "" : plainText(value));
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : plainText(child));
  }
}

/** Replace every child of `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Show a short message in the corner; `kind` is "info", "error" or "alert". */
export function toast(text, kind = "info", timeout = 6000) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, "data-test": `toast-${kind}` }, text);
  box.append(item);
  setTimeout(() => item.remove(), timeout);
  return item;
}
