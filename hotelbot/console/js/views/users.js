// Placeholder until the screen is built.
import { h, replace } from "../dom.js";

export function mount(root) {
  replace(root, h("p", { class: "splash" }, "users"));
  return null;
}
