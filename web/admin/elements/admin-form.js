// <admin-form>: a labelled form built from a list of fields. It returns typed values
// (numbers, JSON, UTC times), checks JSON as it is typed, and shows the API's
// `errors { field code message }` next to the field they name (others above the buttons).
import { el, fromLocalInput, toLocalInput } from "../format.js";

let forms = 0;

export class AdminForm extends HTMLElement {
  constructor() {
    super();
    this.uid = ++forms;
    this.fields = [];
    this.inputs = new Map();
  }

  // fields: [{name, label, type, required, hint, options: [{value, label}], wide, placeholder}]
  // type: text | email | password | url | image | number | textarea | json | select | checkbox | datetime
  configure({ fields, values = {}, submitLabel = "Save", extraActions = [] }) {
    this.fields = fields;
    this.inputs.clear();
    const grid = el("div", { class: "form-grid" });
    for (const field of fields) grid.append(this.#row(field, values[field.name]));
    this.formError = el("div", { class: "alert error", role: "alert" });
    this.submitButton = el("button", { type: "submit" }, submitLabel);
    const form = el(
      "form",
      { novalidate: true, onsubmit: (e) => this.#submit(e) },
      grid,
      this.formError,
      el("div", { class: "form-actions" }, this.submitButton, ...extraActions),
    );
    this.replaceChildren(form);
  }

  #row(field, value) {
    const id = `f${this.uid}-${field.name}`;
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const described = [field.hint ? hintId : null, errorId].filter(Boolean).join(" ");
    let input;
    if (field.type === "select") {
      input = el("select", { id, name: field.name });
      for (const option of field.options || []) {
        input.append(el("option", { value: option.value }, option.label));
      }
      input.value = value ?? field.options?.[0]?.value ?? "";
      if (input.selectedIndex < 0) input.selectedIndex = 0; // a value no option has
    } else if (field.type === "textarea" || field.type === "json") {
      input = el("textarea", { id, name: field.name, rows: field.type === "json" ? 5 : 3, spellcheck: "false" });
      input.value = field.type === "json" ? (value == null ? "" : JSON.stringify(value, null, 2)) : value ?? "";
    } else if (field.type === "checkbox") {
      input = el("input", { id, name: field.name, type: "checkbox" });
      input.checked = Boolean(value ?? field.default);
    } else {
      const type = { image: "url", datetime: "datetime-local" }[field.type] || field.type || "text";
      input = el("input", {
        id, name: field.name, type, placeholder: field.placeholder,
        autocomplete: field.autocomplete, min: field.min, step: field.type === "number" ? 1 : null,
      });
      input.value = field.type === "datetime" ? toLocalInput(value) : value ?? "";
    }
    if (field.required) input.setAttribute("aria-required", "true");
    input.setAttribute("aria-describedby", described);
    const error = el("div", { class: "error", id: errorId, "aria-live": "polite" });
    const hint = field.hint ? el("div", { class: "hint", id: hintId }, field.hint) : null;
    const label = el("label", { for: id }, field.label, field.required ? " *" : "");
    const row = el("div", { class: `field${field.wide || field.type === "json" ? " wide" : ""}`, "data-field": field.name });
    if (field.type === "checkbox") {
      row.classList.add("check");
      row.append(...[el("label", { for: id }, input, field.label), hint, error].filter(Boolean));
    } else {
      row.append(...[label, input, hint, error].filter(Boolean));
    }
    if (field.type === "json") input.addEventListener("input", () => this.#checkJson(field));
    if (field.type === "image") {
      const preview = el("div", { class: "preview", "aria-live": "polite" });
      const show = () => {
        const url = input.value.trim();
        preview.replaceChildren(
          /^https?:\/\//.test(url) ? el("img", { src: url, alt: `Preview of ${field.label.toLowerCase()}` }) : "",
        );
      };
      input.addEventListener("change", show);
      show();
      row.append(preview);
    }
    this.inputs.set(field.name, { input, row, error });
    return row;
  }

  #checkJson(field) {
    const { input } = this.inputs.get(field.name);
    const text = input.value.trim();
    if (!text) return this.setFieldError(field.name, ""), true;
    try {
      const parsed = JSON.parse(text);
      if (field.object !== false && (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) {
        this.setFieldError(field.name, "Use a JSON object, e.g. {\"code\": \"VC-1\"}");
        return false;
      }
      this.setFieldError(field.name, "");
      return true;
    } catch (err) {
      this.setFieldError(field.name, `Not valid JSON: ${err.message}`);
      return false;
    }
  }

  values() {
    const values = {};
    for (const field of this.fields) {
      const { input } = this.inputs.get(field.name);
      const raw = field.type === "checkbox" ? input.checked : input.value;
      if (field.type === "checkbox") values[field.name] = raw;
      else if (field.type === "number") values[field.name] = raw.trim() === "" ? null : Number(raw);
      else if (field.type === "json") values[field.name] = raw.trim() === "" ? null : JSON.parse(raw);
      else if (field.type === "datetime") values[field.name] = fromLocalInput(raw);
      else if (field.type === "select" && raw === "" && field.emptyIsNull) values[field.name] = null;
      else values[field.name] = field.trim === false ? raw : raw.trim();
    }
    return values;
  }

  setFieldError(name, message) {
    const entry = this.inputs.get(name);
    if (!entry) return false;
    entry.error.textContent = message;
    entry.row.classList.toggle("invalid", Boolean(message));
    entry.input.setAttribute("aria-invalid", message ? "true" : "false");
    return true;
  }

  // errors: the payload's [{field, code, message}]; returns whether there were any.
  setErrors(errors = []) {
    for (const name of this.inputs.keys()) this.setFieldError(name, "");
    const general = [];
    for (const error of errors) {
      const text = `${error.message}${error.code ? ` (${error.code})` : ""}`;
      if (!(error.field && this.setFieldError(error.field, text))) general.push(text);
    }
    this.formError.textContent = general.join(" ");
    const first = errors.find((e) => e.field && this.inputs.has(e.field));
    if (first) this.inputs.get(first.field).input.focus();
    return errors.length > 0;
  }

  showError(message) {
    this.formError.textContent = message;
  }

  set busy(on) {
    this.submitButton.disabled = on;
    this.setAttribute("aria-busy", on ? "true" : "false");
  }

  #submit(event) {
    event.preventDefault();
    this.formError.textContent = "";
    const missing = [];
    let ok = true;
    for (const field of this.fields) {
      const { input } = this.inputs.get(field.name);
      if (field.type === "json") ok = this.#checkJson(field) && ok;
      else this.setFieldError(field.name, "");
      if (field.required && field.type !== "checkbox" && !input.value.trim()) {
        this.setFieldError(field.name, "This field is required");
        missing.push(field.name);
      }
    }
    if (!ok || missing.length) {
      const first = this.fields.find((f) => this.inputs.get(f.name).row.classList.contains("invalid"));
      if (first) this.inputs.get(first.name).input.focus();
      return;
    }
    this.dispatchEvent(new CustomEvent("admin-submit", { detail: { values: this.values() } }));
  }
}

customElements.define("admin-form", AdminForm);
