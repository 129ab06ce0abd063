// What the console reads of a redemption, and its live feed (`redemptionUpdates`).
import { el, statusBadge, when, shortId } from "./format.js";

export const ROW = `id status quantity pointsSpent createdAt updatedAt
  reward { id name } member { id externalUserId email name } events { id }`;

export const STATUSES = ["REDEEMED", "POSTPONED", "RECOVERABLE_FAILURE", "FULFILLED", "FAILED"];
export const OPEN = ["REDEEMED", "POSTPONED", "RECOVERABLE_FAILURE"];

const UPDATES = `subscription($after: ID) { redemptionUpdates(after: $after) {
  eventId oldStatus newStatus at event { id kind message actor } redemption { ${ROW} } } }`;

const RECENT = `{ redemptions(first: 20) { nodes { events { id } } } }`;

// The newest event among the newest redemptions: a screen that has just read its data
// subscribes after it, so a change made between that read and the subscription reaching
// the server is replayed rather than missed ("0" when the tenant has none: all of them).
export async function startCursor(session) {
  const data = await session.request(RECENT);
  const ids = data.redemptions.nodes.flatMap((r) => r.events.map((e) => Number(e.id)));
  return String(ids.length ? Math.max(...ids) : 0);
}

// Calls onUpdate(update) for every event of the tenant's redemptions after `after`; the
// client resumes after the last eventId it saw when the connection comes back (no gap,
// no duplicate).
export function watchRedemptions(session, onUpdate, onError, after = null) {
  return session.liveClient().subscribe(
    UPDATES,
    after === null ? {} : { after },
    {
      next: (result) => {
        const data = result && result.data ? result.data : result;
        if (data && data.redemptionUpdates) onUpdate(data.redemptionUpdates);
      },
      // The client hands over the subscription's GraphQL errors as a list.
      error: (errors) => onError && onError(Array.isArray(errors)
        ? { message: errors.map((e) => e.message).join("; "), code: errors[0]?.extensions?.code }
        : errors),
    },
    { resumeKey: "redemptionUpdates" },
  );
}

export const COLUMNS = [
  { key: "id", label: "ID", render: (r) => el("a", { href: `#/redemptions/${r.id}`, class: "mono", title: r.id }, shortId(r.id)) },
  { key: "reward", label: "Reward", render: (r) => r.reward.name },
  { key: "status", label: "Status", render: (r) => statusBadge(r.status) },
  { key: "member", label: "Member", render: (r) => el("a", { href: `#/members/${r.member.id}` }, r.member.externalUserId) },
  { key: "events", label: "Events", render: (r) => String(r.events.length) },
  { key: "points", label: "Points", render: (r) => String(r.pointsSpent) },
  { key: "created", label: "Created", render: (r) => when(r.createdAt) },
];
