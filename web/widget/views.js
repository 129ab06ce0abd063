// DOM builders for the widget's parts. Text is always set as text, never parsed as HTML.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

export function formats(lang) {
  const locale = lang === "vi" ? "vi-VN" : "en-US";
  const number = new Intl.NumberFormat(locale);
  const date = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  return { n: (v) => number.format(v), date: (v) => date.format(new Date(v)) };
}

export function balanceCard(account, t, f) {
  const notes = [];
  if (account.pending) notes.push(t("pending", { n: f.n(account.pending) }));
  if (account.expiringSoon && account.nextExpiryAt)
    notes.push(t("expiring", { n: f.n(account.expiringSoon), date: f.date(account.nextExpiryAt) }));
  return h(
    "div",
    { class: "balance", part: "balance", "data-definition": account.pointDefinition.id },
    h("div", { class: "name", text: account.pointDefinition.name }),
    h("div", { class: "amount", part: "balance-amount", text: f.n(account.balance) }),
    notes.map((text) => h("p", { class: "note", text })),
  );
}

// Why the member cannot redeem `item` now, in words; null when they can.
export function reasonText(item, { t, f, balanceOf }) {
  const reward = item.reward;
  switch (item.reason) {
    case null:
    case undefined:
      return null;
    case "INSUFFICIENT_POINTS":
      return t("INSUFFICIENT_POINTS", { n: f.n(Math.max(1, reward.pointCost - balanceOf(reward.pointDefinition.id))) });
    case "TIER_REQUIRED":
      return t("TIER_REQUIRED", { tier: reward.minTier?.name ?? "" });
    case "COOLDOWN":
      return item.availableAt ? t("COOLDOWN", { date: f.date(item.availableAt) }) : t("COOLDOWN_LATER");
    case "NOT_AVAILABLE":
      return item.availableAt ? t("AVAILABLE_FROM", { date: f.date(item.availableAt) }) : t("NOT_AVAILABLE");
    default:
      return t(item.reason);
  }
}

function picture(reward, part) {
  const image = h("div", { class: "image", part, "aria-hidden": "true" });
  const initial = (reward.name[0] || "?").toUpperCase();
  if (reward.imageUrl) {
    const img = h("img", { src: reward.imageUrl, alt: "", loading: "lazy" });
    img.addEventListener("error", () => img.replaceWith(initial));
    image.append(img);
  } else image.append(initial);
  return image;
}

export function rewardCard(item, why, { t, f, onRedeem }) {
  const reward = item.reward;
  const cost = t("cost", { n: f.n(reward.pointCost), currency: reward.pointDefinition.name });
  const reasonId = `reason-${reward.id}`;
  return h(
    "li",
    { class: "card", part: "reward", "data-reward": reward.id, "data-reason": item.reason || "OK" },
    picture(reward, "reward-image"),
    h(
      "div",
      { class: "body" },
      h("h4", { part: "reward-name", text: reward.name }),
      h(
        "div",
        { class: "meta" },
        h("span", { class: "cost", part: "reward-cost", text: cost }),
        reward.stock != null && reward.stock > 0 && h("span", { class: "stock", text: t("stockLeft", { n: f.n(reward.stock) }) }),
      ),
      reward.description && h("p", { class: "desc", text: reward.description }),
      h("p", { class: "reason", part: "reason", id: reasonId, "data-ok": !why, text: why || t("canRedeem") }),
      h(
        "div",
        { class: "actions" },
        h("button", {
          class: "primary",
          part: "redeem-button",
          type: "button",
          "data-key": `redeem-${reward.id}`,
          "aria-label": t("redeemLabel", { reward: reward.name, cost }),
          "aria-describedby": reasonId,
          disabled: !item.canRedeem,
          text: t("redeem"),
          onclick: (event) => onRedeem(item, event.currentTarget),
        }),
      ),
    ),
  );
}

// What the fulfilment gave: the code first (one click selects it), then any other detail.
function fulfilment(data, t) {
  if (!data || typeof data !== "object") return null;
  const { code, ...rest } = data;
  return h(
    "div",
    { class: "voucher", part: "voucher" },
    code != null && [h("span", { text: `${t("code")}:` }), h("code", { part: "voucher-code", text: String(code) })],
    Object.entries(rest).map(([k, v]) => h("span", { text: `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}` })),
  );
}

export function redemptionRow(redemption, { t, f }) {
  const fulfilled = redemption.status === "FULFILLED";
  return h(
    "li",
    { class: "redemption", part: "redemption", "data-redemption": redemption.id, "data-status": redemption.status },
    h(
      "div",
      {},
      h("strong", { text: redemption.reward.name }),
      h("div", { class: "when", text: `${f.date(redemption.createdAt)} · ${t("spent", { n: f.n(redemption.pointsSpent) })}` }),
    ),
    h("span", { class: "status", part: "status", "data-status": redemption.status, text: t(redemption.status) }),
    fulfilled && fulfilment(redemption.fulfillmentData, t),
  );
}
