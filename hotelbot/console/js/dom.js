// Building DOM nodes without innerHTML: every text a guest or an API sends is set as text.

/**
 * Create an element. `attrs` keys: `class`, `dataset` (object), `on` (event → handler),
 * any other key is set as an attribute (false/null/undefined skip it, true sets it empty).
 * Children may be nodes, strings, numbers, arrays or null.
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
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
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
