"""Query and Mutation assembled from resolvers/, and the Schema with its protections."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from core.errors import AuthError, DomainError
from core.settings import Settings, load_settings
from resolvers import adjustments as adjustment_resolvers
from resolvers import admin_accounts as admin_account_resolvers
from resolvers import code_pools as code_pool_resolvers
from resolvers import dashboard as dashboard_resolvers
from resolvers import live as live_resolvers
from resolvers import members as member_resolvers
from resolvers import origins as origin_resolvers
from resolvers import pointmaster as pointmaster_resolvers
from resolvers import pointmaster_settings as pointmaster_settings_resolvers
from resolvers import points as point_resolvers
from resolvers import points_log as points_log_resolvers
from resolvers import programme as programme_resolvers
from resolvers import redemptions as redemption_resolvers
from resolvers import reports as report_resolvers
from resolvers import rewards as reward_resolvers
from resolvers import tenants as tenant_resolvers
from resolvers import tiers as tier_resolvers
from resolvers import webhooks as webhook_resolvers
from schema.adjustments import AdjustPointsPayload, PointAdjustmentConnection
from schema.admin_accounts import ChangePasswordPayload
from schema.code_pools import BurnCodesPayload, CodePoolPayload, CodeUploadPayload
from schema.common import UtcDateTime
from schema.dashboard import RedemptionStatusCount, SyncBatchConnection, WebhookEndpointHealth
from schema.effects import AfterCommitEffects
from schema.error_codes import MaskInternalErrors, ParserCacheWithCodes, RefusalCodes
from schema.error_log import LoggedSchema
from schema.live import BalanceUpdate, RedemptionUpdate
from schema.members import Member, MemberConnection, MemberPayload
from schema.operation_label import OperationLabel
from schema.pointmaster import (
    PointMasterKeyPayload,
    PointMasterSettings,
    PointMasterSettingsPayload,
    PointModeChange,
    PointModePayload,
)
from schema.points import (
    LedgerConnection,
    PointDefinition,
    PointDefinitionPayload,
    PointsPayload,
)
from schema.points_log import PointsLog
from schema.programme import EarningRule, EarningRulePayload, EventSimulation, TrackEventPayload
from schema.query_cost import query_cost_rule
from schema.redemptions import Redemption, RedemptionConnection, RedemptionPayload
from schema.reports import (
    EarningSource,
    Long,
    LongScalar,
    PointsDay,
    PointsLiability,
    RewardRedemptions,
    RuleTotal,
)
from schema.rewards import CatalogConnection, Reward, RewardConnection, RewardPayload
from schema.sync_batches import SyncBatch, SyncBatchPayload
from schema.tenants import (
    AllowedOriginsPayload,
    ApiKey,
    ApiKeyPayload,
    DeletePayload,
    Tier,
    TierPayload,
    TokenPayload,
)
from schema.text_input import StorableTextRule, StorableVariables
from schema.tiers import MemberTierPayload, TierPolicy, TierPolicyPayload
from schema.webhooks import (
    WebhookDeletePayload,
    WebhookDeliveryConnection,
    WebhookDeliveryPayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
    WebhookSettings,
    WebhookSettingsPayload,
)


@strawberry.type
class Query:
    me: Member | None = strawberry.field(
        resolver=member_resolvers.me, description="The member (member token)"
    )
    member: Member | None = strawberry.field(resolver=member_resolvers.member)
    members: MemberConnection = strawberry.field(resolver=member_resolvers.members)
    catalog: CatalogConnection = strawberry.field(resolver=reward_resolvers.catalog)
    rewards: RewardConnection = strawberry.field(resolver=reward_resolvers.rewards)
    reward: Reward | None = strawberry.field(resolver=reward_resolvers.reward)
    ledger: LedgerConnection = strawberry.field(resolver=point_resolvers.ledger)
    redemptions: RedemptionConnection = strawberry.field(resolver=redemption_resolvers.redemptions)
    redemption: Redemption | None = strawberry.field(resolver=redemption_resolvers.redemption)
    tiers: list[Tier] = strawberry.field(resolver=tenant_resolvers.tiers)
    point_definitions: list[PointDefinition] = strawberry.field(
        resolver=tenant_resolvers.point_definitions
    )
    api_keys: list[ApiKey] = strawberry.field(resolver=tenant_resolvers.api_keys)
    webhook_endpoints: list[WebhookEndpoint] = strawberry.field(
        resolver=webhook_resolvers.webhook_endpoints
    )
    webhook_deliveries: WebhookDeliveryConnection = strawberry.field(
        resolver=webhook_resolvers.webhook_deliveries
    )
    webhook_settings: WebhookSettings = strawberry.field(
        resolver=webhook_resolvers.webhook_settings,
        description="The tenant's settings of its webhook events (admin)",
    )
    point_mode_changes: list[PointModeChange] = strawberry.field(
        resolver=pointmaster_resolvers.point_mode_changes_
    )
    point_master_settings: PointMasterSettings = strawberry.field(
        resolver=pointmaster_settings_resolvers.point_master_settings
    )
    points_log: PointsLog = strawberry.field(resolver=points_log_resolvers.points_log)
    point_adjustments: PointAdjustmentConnection = strawberry.field(
        resolver=adjustment_resolvers.point_adjustments
    )
    sync_batch: SyncBatch | None = strawberry.field(resolver=pointmaster_resolvers.sync_batch)
    sync_batches: SyncBatchConnection = strawberry.field(
        resolver=dashboard_resolvers.sync_batches,
        description="The tenant's point-master uploads, newest first (admin)",
    )
    redemption_counts: list[RedemptionStatusCount] = strawberry.field(
        resolver=dashboard_resolvers.redemption_counts,
        description="Redemptions made since `since` (default: today, UTC) by status now (admin)",
    )
    webhook_health: list[WebhookEndpointHealth] = strawberry.field(
        resolver=dashboard_resolvers.webhook_health,
        description="Per endpoint, deliveries since `since` (default: 24 h ago) (admin)",
    )
    allowed_origins: list[str] = strawberry.field(
        resolver=origin_resolvers.allowed_origins,
        description="Browser origins whose pages may use this tenant's member tokens (admin)",
    )
    earning_rules: list[EarningRule] = strawberry.field(resolver=programme_resolvers.earning_rules)
    simulate_event: EventSimulation = strawberry.field(
        resolver=programme_resolvers.simulate_event_,
        description="Dry run of an event against the rules: what each would award, and why not",
    )
    tier_policy: TierPolicy = strawberry.field(
        resolver=tier_resolvers.tier_policy_,
        description="How the tenant's tiers are computed from activity",
    )
    points_liability: list[PointsLiability] = strawberry.field(
        resolver=report_resolvers.points_liability,
        description="Per currency, active and pending points owed at `at` (default: now) (admin)",
    )
    points_by_day: list[PointsDay] = strawberry.field(
        resolver=report_resolvers.points_by_day,
        description="Points earned, spent, expired, refunded per UTC day in [since, until) "
        "(default: the last 30 days) (admin)",
    )
    redemptions_by_reward: list[RewardRedemptions] = strawberry.field(
        resolver=report_resolvers.redemptions_per_reward,
        description="Redemptions made in [since, until) per reward and status now (admin)",
    )
    earning_sources: list[EarningSource] = strawberry.field(
        resolver=report_resolvers.top_earning_sources,
        description="Where points were earned in [since, until), most first (admin)",
    )
    top_rules: list[RuleTotal] = strawberry.field(
        resolver=report_resolvers.top_earning_rules,
        description="Earning rules by points awarded in [since, until), most first (admin)",
    )


@strawberry.type
class Mutation:
    login: TokenPayload = strawberry.mutation(resolver=tenant_resolvers.login)
    create_member_token: TokenPayload = strawberry.mutation(
        resolver=tenant_resolvers.create_member_token
    )
    create_api_key: ApiKeyPayload = strawberry.mutation(resolver=tenant_resolvers.create_key)
    revoke_api_key: ApiKeyPayload = strawberry.mutation(resolver=tenant_resolvers.revoke_key)
    change_password: ChangePasswordPayload = strawberry.mutation(
        resolver=admin_account_resolvers.change_password,
        description="The signed-in admin's own password",
    )
    set_allowed_origins: AllowedOriginsPayload = strawberry.mutation(
        resolver=origin_resolvers.set_allowed_origins,
        description="Replace the tenant's allowed browser origins (scheme://host[:port])",
    )
    save_tier: TierPayload = strawberry.mutation(resolver=tenant_resolvers.save_tier_)
    delete_tier: DeletePayload = strawberry.mutation(resolver=tenant_resolvers.delete_tier_)
    save_point_definition: PointDefinitionPayload = strawberry.mutation(
        resolver=tenant_resolvers.save_definition
    )
    create_reward: RewardPayload = strawberry.mutation(resolver=reward_resolvers.create_reward_)
    update_reward: RewardPayload = strawberry.mutation(resolver=reward_resolvers.update_reward_)
    archive_reward: RewardPayload = strawberry.mutation(resolver=reward_resolvers.archive_reward_)
    delete_reward: DeletePayload = strawberry.mutation(resolver=reward_resolvers.delete_reward_)
    attach_code_pool: CodePoolPayload = strawberry.mutation(
        resolver=code_pool_resolvers.attach_code_pool
    )
    upload_voucher_codes: CodeUploadPayload = strawberry.mutation(
        resolver=code_pool_resolvers.upload_voucher_codes
    )
    generate_voucher_codes: CodeUploadPayload = strawberry.mutation(
        resolver=code_pool_resolvers.generate_voucher_codes
    )
    burn_voucher_codes: BurnCodesPayload = strawberry.mutation(
        resolver=code_pool_resolvers.burn_voucher_codes
    )
    upsert_member: MemberPayload = strawberry.mutation(resolver=member_resolvers.upsert_member_)
    award_points: PointsPayload = strawberry.mutation(resolver=point_resolvers.award_points_)
    redeem_reward: RedemptionPayload = strawberry.mutation(
        resolver=redemption_resolvers.redeem_reward
    )
    complete_redemption: RedemptionPayload = strawberry.mutation(
        resolver=redemption_resolvers.complete_redemption
    )
    confirm_redemption: RedemptionPayload = strawberry.mutation(
        resolver=redemption_resolvers.confirm_redemption
    )
    cancel_redemption: RedemptionPayload = strawberry.mutation(
        resolver=redemption_resolvers.cancel_redemption
    )
    create_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.create_webhook_endpoint
    )
    update_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.update_webhook_endpoint
    )
    delete_webhook_endpoint: WebhookDeletePayload = strawberry.mutation(
        resolver=webhook_resolvers.delete_webhook_endpoint
    )
    rotate_webhook_secret: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.rotate_webhook_secret
    )
    ping_webhook_endpoint: WebhookDeliveryPayload = strawberry.mutation(
        resolver=webhook_resolvers.ping_webhook_endpoint
    )
    replay_delivery: WebhookDeliveryPayload = strawberry.mutation(
        resolver=webhook_resolvers.replay_delivery
    )
    replay_deliveries: WebhookDeliveryPayload = strawberry.mutation(
        resolver=webhook_resolvers.replay_deliveries
    )
    set_webhook_settings: WebhookSettingsPayload = strawberry.mutation(
        resolver=webhook_resolvers.set_webhook_settings,
        description="How many days before points expire `points.expiring_soon` goes out (1-365)",
    )
    set_point_mode: PointModePayload = strawberry.mutation(
        resolver=pointmaster_resolvers.set_point_mode_
    )
    set_point_master_settings: PointMasterSettingsPayload = strawberry.mutation(
        resolver=pointmaster_settings_resolvers.set_point_master_settings
    )
    rotate_point_master_key: PointMasterKeyPayload = strawberry.mutation(
        resolver=pointmaster_settings_resolvers.rotate_point_master_key
    )
    adjust_points: AdjustPointsPayload = strawberry.mutation(
        resolver=adjustment_resolvers.adjust_points_
    )
    upload_point_balances: SyncBatchPayload = strawberry.mutation(
        resolver=pointmaster_resolvers.upload_point_balances
    )
    upload_point_transactions: SyncBatchPayload = strawberry.mutation(
        resolver=pointmaster_resolvers.upload_point_transactions
    )
    track_event: TrackEventPayload = strawberry.mutation(resolver=programme_resolvers.track_event_)
    create_earning_rule: EarningRulePayload = strawberry.mutation(
        resolver=programme_resolvers.create_earning_rule
    )
    update_earning_rule: EarningRulePayload = strawberry.mutation(
        resolver=programme_resolvers.update_earning_rule
    )
    archive_earning_rule: EarningRulePayload = strawberry.mutation(
        resolver=programme_resolvers.archive_earning_rule
    )
    save_tier_policy: TierPolicyPayload = strawberry.mutation(
        resolver=tier_resolvers.save_tier_policy_,
        description="How tiers are computed (thresholds are each Tier's minValue) (admin)",
    )
    set_member_tier: MemberTierPayload = strawberry.mutation(
        resolver=tier_resolvers.set_member_tier_,
        description="Override a member's tier with a reason, or end the override",
    )


@strawberry.type
class Subscription:
    redemption_updates: AsyncGenerator[RedemptionUpdate, None] = strawberry.subscription(
        resolver=live_resolvers.redemption_updates,
        description="Every event of the tenant's redemptions (admin token or API key)",
    )
    my_redemption_updates: AsyncGenerator[RedemptionUpdate, None] = strawberry.subscription(
        resolver=live_resolvers.my_redemption_updates,
        description="The member's own redemptions (member token)",
    )
    my_balance_changed: AsyncGenerator[BalanceUpdate, None] = strawberry.subscription(
        resolver=live_resolvers.my_balance_changed,
        description="The member's balances whenever its points move (member token)",
    )


def _is_user_facing(error: GraphQLError) -> bool:
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | AuthError | DomainError)


def _extensions(settings: Settings) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    # The limiters' rule classes are built once: ValidationCache keys on them, and rules
    # made anew per request would make every request miss the cache (~3.6 ms of CPU each).
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
        StorableTextRule,
        query_cost_rule(settings.max_query_cost),
    ]
    extensions: list[Any] = [
        RefusalCodes,  # before MaskInternalErrors: sees internal errors only masked
        lambda: AddValidationRules(limits),
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: ParserCacheWithCodes(maxsize=1000),
        lambda: ValidationCache(maxsize=1000),
        lambda: MaskInternalErrors(should_mask_error=lambda e: not _is_user_facing(e)),
        StorableVariables,
        OperationLabel,
        AfterCommitEffects,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return extensions


_SCALARS: dict[object, Any] = {datetime: UtcDateTime, Long: LongScalar}


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The Schema; with settings, also its protections (limits, caches, error masking)."""
    return LoggedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=_extensions(settings) if settings else [],
        scalar_overrides=_SCALARS,
    )


schema = build_schema()
"""The bare schema, for `gamify export-schema`."""

__all__ = ["build_schema", "load_settings", "schema"]
