// <admin-table>: rows under labelled columns, newest first, with keyboard-openable rows
// and cursor pagination (the API's pageInfo): "Newer" goes back, "Older" goes on.
import { el } from "../format.js";

export class AdminTable extends HTMLElement {
  constructor() {
    super();
    this.columns = [];
    this.rows = [];
    this.cursors = [null]; // the `after` of each page seen so far
    this.page = 0;
    this.hasNext = false;
  }

  // columns: [{key, label, render(row) -> Node|string}]; load(after) -> {nodes, pageInfo}
  configure({ columns, load, rowHref = null, rowKey = (row) => row.id, caption, empty = "Nothing here yet." }) {
    Object.assign(this, { columns, load, rowHref, rowKey, caption, emptyText: empty });
    this.cursors = [null];
    this.page = 0;
    this.body = el("tbody");
    this.status = el("div", { class: "alert error", role: "alert" });
    this.older = el("button", { type: "button", class: "secondary", onclick: () => this.go(this.page + 1) }, "Older →");
    this.newer = el("button", { type: "button", class: "secondary", onclick: () => this.go(this.page - 1) }, "← Newer");
    this.pageLabel = el("span", { class: "muted small" });
    const table = el(
      "table",
      {},
      caption ? el("caption", { class: "muted small", style: "text-align:left;padding:6px 10px" }, caption) : null,
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c.label)))),
      this.body,
    );
    this.replaceChildren(
      el("div", { class: "table-wrap" }, table),
      this.status,
      el("div", { class: "pager" }, this.newer, this.pageLabel, this.older),
    );
    return this.go(0);
  }

  async go(page) {
    if (page < 0 || page >= this.cursors.length) return;
    this.setAttribute("aria-busy", "true");
    this.status.textContent = "";
    try {
      const result = await this.load(this.cursors[page]);
      this.page = page;
      this.hasNext = result.pageInfo.hasNextPage;
      this.cursors[page + 1] = result.pageInfo.endCursor;
      this.cursors.length = page + 2;
      this.setRows(result.nodes);
    } catch (err) {
      this.status.textContent = this.errorText ? this.errorText(err) : String(err.message || err);
    } finally {
      this.setAttribute("aria-busy", "false");
      this.#pager();
    }
  }

  reload() {
    return this.go(this.page);
  }

  #pager() {
    this.newer.disabled = this.page === 0;
    this.older.disabled = !this.hasNext;
    this.pageLabel.textContent = `Page ${this.page + 1}`;
  }

  setRows(rows) {
    this.rows = rows;
    this.body.replaceChildren(...rows.map((row) => this.#row(row)));
    if (!rows.length) {
      this.body.append(el("tr", {}, el("td", { class: "empty", colspan: this.columns.length }, this.emptyText)));
    }
  }

  #row(row, fresh = false) {
    const href = this.rowHref ? this.rowHref(row) : null;
    const tr = el("tr", { "data-key": this.rowKey(row), class: fresh ? "fresh" : null });
    if (href) {
      tr.dataset.href = href;
      tr.tabIndex = 0;
      tr.addEventListener("click", (e) => {
        if (!e.target.closest("a,button,input,select")) location.hash = href;
      });
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.target === tr) location.hash = href;
      });
    }
    for (const column of this.columns) {
      const value = column.render ? column.render(row) : row[column.key];
      tr.append(el("td", { "data-column": column.key }, value ?? "—"));
    }
    return tr;
  }

  // A row seen live: replaced where it is, or (when `prepend`) added at the top.
  upsert(row, { prepend = false } = {}) {
    const key = this.rowKey(row);
    const index = this.rows.findIndex((r) => this.rowKey(r) === key);
    if (index >= 0) {
      this.rows[index] = row;
      const old = this.body.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
      if (old) old.replaceWith(this.#row(row, true));
      return true;
    }
    if (!prepend) return false;
    if (!this.rows.length) this.body.replaceChildren();
    this.rows.unshift(row);
    this.body.prepend(this.#row(row, true));
    return true;
  }
}

customElements.define("admin-table", AdminTable);
