// The GraphQL documents the widget sends with a member token.
const REDEMPTION = `id status quantity pointsSpent createdAt fulfillmentData
  reward { id name imageUrl pointDefinition { id name } }`;

export const LOAD = `query Widget {
  me { id name tier { id name rank }
    accounts { id balance pending expiringSoon nextExpiryAt historyAtMaster pointDefinition { id name } } }
  catalog(first: 100) { nodes { canRedeem reason reward { id name description pointCost stock imageUrl
    publicData cooldownSeconds availableFrom availableUntil pointDefinition { id name } minTier { id name } } } }
  redemptions(first: 30) { nodes { ${REDEMPTION} events { id } } }
}`;

export const REDEEM = `mutation Redeem($rewardId: ID!, $key: String!) {
  redeemReward(rewardId: $rewardId, quantity: 1, idempotencyKey: $key) {
    redemption { ${REDEMPTION} } errors { code message } } }`;

export const UPDATES = `subscription Updates($after: ID) {
  myRedemptionUpdates(after: $after) { eventId newStatus redemption { ${REDEMPTION} } } }`;

export const BALANCE = `subscription Balance {
  myBalanceChanged { accountId balance pending expiringSoon historyAtMaster } }`;
