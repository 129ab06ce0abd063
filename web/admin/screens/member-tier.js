// The member card's tier panel: the computed tier (activity, review date, grace, override),
// an override with a reason, the history of tier changes, and the tenant's tier policy.
import { el, errorText, statusBadge, when, who } from "../format.js";

const READ = `query($id: ID!) {
  member(id: $id) { tier { id name }
    tierStatus { reviewAt inGrace overridden overrideReason overrideUntil activity }
    tierHistory(first: 20) { id fromTierName toTierName reason note activity actor at } }
  tiers { id name rank minValue }
  tierPolicy { enabled basis windowMonths reviewMonths graceDays } }`;
const SET = `mutation($input: SetMemberTierInput!) { setMemberTier(input: $input) {
  tierChange { id } errors { field code message } } }`;
const SAVE_POLICY = `mutation($input: TierPolicyInput!) { saveTierPolicy(input: $input) {
  tierPolicy { enabled } errors { field code message } } }`;

// `onTier(tier)`: told the member's tier after each read (the card's header shows it too).
export async function tierPanel(session, id, onTier = () => {}) {
  const panel = el("section", { class: "panel", id: "tier-panel" });
  const draw = async () => {
    const data = await session.request(READ, { id });
    const { member, tiers, tierPolicy: policy } = data;
    const s = member.tierStatus;
    onTier(member.tier);
    const ladder = tiers.filter((t) => t.minValue !== null).sort((a, b) => a.minValue - b.minValue);
    const next = s.activity === null ? null : ladder.find((t) => t.minValue > s.activity);
    const status = el("dl", { class: "props", id: "tier-status" },
      el("dt", {}, "Tier"), el("dd", {}, member.tier ? member.tier.name : "—", s.overridden ? [" ", statusBadge("OVERRIDDEN")] : ""),
      el("dt", {}, "Activity"), el("dd", {}, s.activity === null
        ? "Tiers are set by hand (no tier policy enabled)."
        : `${s.activity.toLocaleString("en")} points in the last ${policy.windowMonths} months${next ? ` · ${(next.minValue - s.activity).toLocaleString("en")} more for ${next.name}` : ""}`),
      el("dt", {}, "Next review"), el("dd", {}, s.reviewAt ? `${when(s.reviewAt)}${s.inGrace ? " (end of the grace period)" : ""}` : "—"),
      s.overridden ? [el("dt", {}, "Override"), el("dd", {}, `${s.overrideReason} · until ${s.overrideUntil ? when(s.overrideUntil) : "cleared"} `,
        el("button", { type: "button", class: "secondary", id: "clear-override", onclick: async () => {
          try {
            await session.request(SET, { input: { memberId: id, clearOverride: true } });
            await draw();
          } catch (err) {
            status.append(el("p", { class: "alert error", role: "alert" }, errorText(err)));
          }
        } }, "End the override"))] : [],
    );

    const form = document.createElement("admin-form");
    form.configure({
      fields: [
        { name: "tierId", label: "Tier", type: "select", emptyIsNull: true, options: [{ value: "", label: "No tier" }, ...tiers.map((t) => ({ value: t.id, label: t.name }))] },
        { name: "reason", label: "Reason (kept in the history)", required: true },
        { name: "until", label: "Until (UTC, empty: until cleared)", type: "datetime" },
      ],
      values: { tierId: member.tier ? member.tier.id : "" },
      submitLabel: "Set tier by hand",
    });
    form.addEventListener("admin-submit", async (e) => {
      form.busy = true;
      try {
        const payload = (await session.request(SET, { input: { memberId: id, ...e.detail.values } })).setMemberTier;
        if (!form.setErrors(payload.errors)) await draw();
      } catch (err) {
        form.showError(errorText(err));
      } finally {
        form.busy = false;
      }
    });

    const history = member.tierHistory.length
      ? el("div", { class: "table-wrap" }, el("table", { class: "tier-history", id: "tier-history" },
        el("thead", {}, el("tr", {}, ["When", "Change", "From", "To", "Activity", "Why", "By"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, member.tierHistory.map((c) => el("tr", {},
          el("td", {}, when(c.at)), el("td", {}, statusBadge(c.reason)), el("td", {}, c.fromTierName || "—"),
          el("td", {}, c.toTierName || "—"), el("td", {}, c.activity === null ? "—" : c.activity.toLocaleString("en")),
          el("td", {}, c.note || "—"), el("td", {}, who(c.actor)))))))
      : el("p", { class: "muted" }, "No tier changes yet.");

    const policyForm = document.createElement("admin-form");
    policyForm.configure({
      fields: [
        { name: "enabled", label: "Compute tiers from activity", type: "checkbox" },
        { name: "basis", label: "What counts", type: "select", options: [{ value: "POINTS_EARNED", label: "Points earned" }, { value: "PURCHASE_POINTS", label: "Points from purchases" }] },
        { name: "windowMonths", label: "Rolling window (months)", type: "number", required: true },
        { name: "reviewMonths", label: "Tier kept before review (months)", type: "number", required: true },
        { name: "graceDays", label: "Grace period after a failed review (days)", type: "number", required: true },
      ],
      values: policy,
      submitLabel: "Save tier policy",
    });
    const saved = el("div", { class: "alert ok", role: "status" });
    policyForm.addEventListener("admin-submit", async (e) => {
      policyForm.busy = true;
      saved.textContent = "";
      try {
        const payload = (await session.request(SAVE_POLICY, { input: e.detail.values })).saveTierPolicy;
        if (!policyForm.setErrors(payload.errors)) saved.textContent = "Saved: it applies to every member.";
      } catch (err) {
        policyForm.showError(errorText(err));
      } finally {
        policyForm.busy = false;
      }
    });
    const thresholds = ladder.length
      ? `Thresholds: ${ladder.map((t) => `${t.name} from ${t.minValue.toLocaleString("en")}`).join(", ")}.`
      : "No tier has a threshold yet.";

    panel.replaceChildren(
      status,
      el("h3", {}, "Tier history"), history,
      el("details", { id: "tier-override" }, el("summary", {}, "Set the tier by hand"), form),
      el("details", { id: "tier-policy" }, el("summary", {}, `Tier policy (all members) · ${policy.enabled ? "computed" : "off"}`),
        el("p", { class: "small muted" }, thresholds), policyForm, saved),
    );
  };
  await draw();
  return panel;
}
