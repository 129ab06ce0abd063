// A secret shown once, with a copy button.
import { el } from "./format.js";

export function secretBox(title, secret, note = "Copy it now: it is not shown again.") {
  const code = el("code", { class: "mono", "data-secret": "" }, secret);
  const done = el("span", { class: "small muted", role: "status" });
  const copy = el("button", {
    type: "button", class: "secondary",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        done.textContent = "Copied.";
      } catch {
        // No clipboard permission (e.g. not a secure context): select it for Ctrl+C instead.
        getSelection().selectAllChildren(code);
        done.textContent = "Selected: press Ctrl+C to copy.";
      }
    },
  }, "Copy");
  return el("div", { class: "alert ok secret-shown", role: "status" },
    el("strong", {}, title), " ", note, el("div", { class: "secret" }, code, copy, done));
}
