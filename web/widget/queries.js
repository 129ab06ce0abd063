// The GraphQL documents the widget sends with a member token.
const REDEMPTION = `id status pointsSpent createdAt fulfillmentData reward { id name }`;

export const LOAD = `query Widget {
  me { name tier { name }
    accounts { id balance pending expiringSoon nextExpiryAt pointDefinition { id name } } }
  catalog(first: 100) { nodes { canRedeem reason availableAt reward { id name description pointCost stock
    imageUrl pointDefinition { id name } minTier { name } } } }
  redemptions(first: 30) { nodes { ${REDEMPTION} events { id } } }
}`;

export const REDEEM = `mutation Redeem($rewardId: ID!, $key: String!) {
  redeemReward(rewardId: $rewardId, quantity: 1, idempotencyKey: $key) {
    redemption { ${REDEMPTION} } errors { code message } } }`;

export const UPDATES = `subscription Updates($after: ID) {
  myRedemptionUpdates(after: $after) { eventId newStatus redemption { ${REDEMPTION} } } }`;

export const BALANCE = `subscription Balance {
  myBalanceChanged { accountId balance pending expiringSoon tier { name } } }`;
