// <admin-code-pool reward-id="…">: a reward's voucher codes. Its counts, the low-stock
// threshold, an upload (pasted lines or a CSV file), generated codes, and an export.
// Set `session` (the console's Session) before it is connected. After each change it
// dispatches `admin-code-pool-changed` with the pool's counts.
import { el, errorText, payloadText } from "../format.js";

const POOL = "pool { size free used burnt expired lowStockThreshold }";
const READ = `query($id: ID!) { reward(id: $id) { id codePool { size free used burnt expired lowStockThreshold } } }`;
const ATTACH = `mutation($r: ID!, $t: Int) { attachCodePool(rewardId: $r, lowStockThreshold: $t) { ${POOL} errors { field code message } } }`;
const UPLOAD = `mutation($r: ID!, $codes: [VoucherCodeInput!]!) { uploadVoucherCodes(rewardId: $r, codes: $codes) {
  ${POOL} added duplicates invalid errors { field code message } } }`;
const GENERATE = `mutation($r: ID!, $input: GenerateCodesInput!) { generateVoucherCodes(rewardId: $r, input: $input) {
  ${POOL} added errors { field code message } } }`;
const COUNTS = [
  ["size", "Codes in the pool"],
  ["free", "Free (redeemable)"],
  ["used", "Used"],
  ["burnt", "Burnt"],
  ["expired", "Expired unused"],
];

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// Pasted lines: "CODE" or "CODE,2027-01-31T00:00:00Z" (a header line "code,…" is skipped).
export function pastedCodes(text) {
  const codes = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || /^code\s*(,|$)/i.test(line.trim())) continue;
    const [code, expiresAt] = line.split(",");
    codes.push(expiresAt && expiresAt.trim() ? { code, expiresAt: expiresAt.trim() } : { code });
  }
  return codes;
}

export class AdminCodePool extends HTMLElement {
  static get observedAttributes() {
    return ["reward-id"];
  }

  get rewardId() {
    return this.getAttribute("reward-id");
  }

  set rewardId(value) {
    this.setAttribute("reward-id", value);
  }

  connectedCallback() {
    if (!this.built) this.#build();
    this.load();
  }

  attributeChangedCallback() {
    if (this.built && this.isConnected) this.load();
  }

  #build() {
    this.built = true;
    this.counts = el("div", { class: "cards", id: "pool-counts" });
    this.result = el("div", { class: "alert ok", role: "status", id: "pool-result" });
    this.problem = el("div", { class: "alert error", role: "alert", id: "pool-problem" });
    this.threshold = el("input", { id: "pool-threshold", type: "number", min: 1, placeholder: "none" });
    this.pasted = el("textarea", { id: "pool-paste", rows: 4, spellcheck: "false", placeholder: "One code a line, optionally with its expiry:\nSUMMER-7Q2K\nSUMMER-9XW4,2027-01-31T00:00:00Z" });
    this.file = el("input", { id: "pool-file", type: "file", accept: ".csv,text/csv,text/plain" });
    this.count = el("input", { id: "pool-count", type: "number", min: 1, max: 100000, value: 100 });
    this.pattern = el("input", { id: "pool-pattern", placeholder: "SUMMER-########" });
    this.charset = el("input", { id: "pool-charset", placeholder: "default: A-Z, 2-9 without I, O" });
    this.exportLink = el("a", { href: "#", id: "pool-export", onclick: (e) => this.#export(e) }, "Export codes (CSV)");
    const field = (label, input, hint) =>
      el("div", { class: "field" }, el("label", { for: input.id }, label), input, hint ? el("div", { class: "hint" }, hint) : null);
    this.replaceChildren(
      el("h2", {}, "Voucher codes"),
      el("p", { class: "muted small" }, "With codes, each redemption draws its own unique code and is fulfilled at once. When the free codes run out, the reward is out of stock."),
      this.counts, el("p", { class: "pool-export" }, this.exportLink), this.problem, this.result,
      el("div", { class: "grid2" },
        el("section", { "aria-labelledby": "pool-upload-h" },
          el("h3", { id: "pool-upload-h" }, "Upload codes"),
          field("Paste codes", this.pasted),
          el("div", { class: "form-actions" }, el("button", { type: "button", id: "pool-upload", onclick: () => this.#upload() }, "Add pasted codes")),
          field("Or a CSV file", this.file, "Columns code[,expires_at]; up to 100,000 codes a file. Duplicates are skipped."),
          el("div", { class: "form-actions" }, el("button", { type: "button", class: "secondary", id: "pool-upload-file", onclick: () => this.#uploadFile() }, "Upload file"))),
        el("section", { "aria-labelledby": "pool-generate-h" },
          el("h3", { id: "pool-generate-h" }, "Generate codes"),
          field("How many", this.count),
          field("Pattern", this.pattern, "Each # becomes a random character. Empty: 12 random characters."),
          field("Characters", this.charset),
          el("div", { class: "form-actions" }, el("button", { type: "button", id: "pool-generate", onclick: () => this.#generate() }, "Generate")),
          el("h3", {}, "Low stock alert"),
          field("Send reward.low_stock below", this.threshold, "Free codes; empty: no alert."),
          el("div", { class: "form-actions" }, el("button", { type: "button", class: "secondary", id: "pool-threshold-save", onclick: () => this.#saveThreshold() }, "Save threshold")))),
    );
  }

  async load() {
    if (!this.session || !this.rewardId) return;
    try {
      const data = await this.session.request(READ, { id: this.rewardId });
      this.#show(data.reward && data.reward.codePool);
    } catch (err) {
      this.problem.textContent = errorText(err);
    }
  }

  #show(pool) {
    this.pool = pool;
    this.dataset.state = pool ? "pool" : "none";
    if (!pool) {
      this.counts.replaceChildren(el("p", { class: "muted" }, "No codes yet: upload or generate some to hand them out."));
      this.exportLink.hidden = true;
      return;
    }
    this.exportLink.hidden = false;
    this.counts.replaceChildren(...COUNTS.map(([key, label]) =>
      el("div", { class: "card", "data-count": key }, el("div", { class: "n" }, pool[key].toLocaleString("en")), el("div", { class: "l" }, label))));
    this.threshold.value = pool.lowStockThreshold ?? "";
    this.dispatchEvent(new CustomEvent("admin-code-pool-changed", { detail: pool, bubbles: true }));
  }

  async #run(query, variables, describe) {
    this.problem.textContent = "";
    this.result.textContent = "";
    this.setAttribute("aria-busy", "true");
    try {
      const data = await this.session.request(query, variables);
      const payload = Object.values(data)[0];
      if (payload.errors.length) {
        this.problem.textContent = payloadText(payload.errors);
        return false;
      }
      this.#show(payload.pool);
      this.result.textContent = describe(payload);
      return true;
    } catch (err) {
      this.problem.textContent = errorText(err);
      return false;
    } finally {
      this.removeAttribute("aria-busy");
    }
  }

  #uploaded(payload) {
    const parts = [`Added ${plural(payload.added, "code")}.`];
    if (payload.duplicates) parts.push(`${plural(payload.duplicates, "duplicate")} skipped.`);
    if (payload.invalid) parts.push(`${plural(payload.invalid, "invalid line")} skipped (empty, spaces, too long or expired).`);
    return parts.join(" ");
  }

  async #upload() {
    const codes = pastedCodes(this.pasted.value);
    if (!codes.length) {
      this.problem.textContent = "Paste at least one code.";
      return;
    }
    if (await this.#run(UPLOAD, { r: this.rewardId, codes }, (p) => this.#uploaded(p))) this.pasted.value = "";
  }

  async #uploadFile() {
    const file = this.file.files[0];
    this.problem.textContent = "";
    this.result.textContent = "";
    if (!file) {
      this.problem.textContent = "Choose a CSV file first.";
      return;
    }
    this.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(`/api/v1/rewards/${this.rewardId}/codes`, {
        method: "POST",
        headers: { Authorization: `Bearer ${this.session.token}`, "Content-Type": "text/csv" },
        body: file,
      });
      const body = await response.json();
      if (!response.ok) {
        this.problem.textContent = `${body.error.message} (${body.error.code})`;
        return;
      }
      this.file.value = "";
      await this.load();
      this.result.textContent = this.#uploaded(body);
    } catch (err) {
      this.problem.textContent = errorText(err);
    } finally {
      this.removeAttribute("aria-busy");
    }
  }

  async #generate() {
    const input = { count: Number(this.count.value) };
    if (this.pattern.value.trim()) input.pattern = this.pattern.value.trim();
    if (this.charset.value.trim()) input.charset = this.charset.value.trim();
    await this.#run(GENERATE, { r: this.rewardId, input }, (p) => `Generated ${plural(p.added, "code")}.`);
  }

  async #saveThreshold() {
    const value = this.threshold.value.trim();
    await this.#run(ATTACH, { r: this.rewardId, t: value ? Number(value) : null }, (p) =>
      p.pool.lowStockThreshold ? `reward.low_stock will be sent below ${p.pool.lowStockThreshold} free codes.` : "No low stock alert.");
  }

  // A plain link cannot send the admin token: fetch the CSV, then hand it over as a file.
  async #export(event) {
    event.preventDefault();
    this.problem.textContent = "";
    try {
      const response = await fetch(`/api/v1/rewards/${this.rewardId}/codes`, {
        headers: { Authorization: `Bearer ${this.session.token}` },
      });
      if (!response.ok) {
        const body = await response.json();
        this.problem.textContent = `${body.error.message} (${body.error.code})`;
        return;
      }
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: `codes-${this.rewardId}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      this.problem.textContent = errorText(err);
    }
  }
}

customElements.define("admin-code-pool", AdminCodePool);
