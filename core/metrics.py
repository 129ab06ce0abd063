"""Prometheus metrics of the engine and its worker (served at /metrics).

Counters live in the process that counts them: `gamify serve` runs its worker in the app's
process, so one registry holds both. With several processes (`gamify serve --workers N`),
PROMETHEUS_MULTIPROC_DIR makes prometheus-client share values through files; the gauges
say how to combine them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUEST_SECONDS = Histogram(
    "gamify_request_duration_seconds",
    "HTTP request latency by route, and by GraphQL root field on /graphql",
    ["route", "operation"],
)
REDEMPTIONS = Counter(
    "gamify_redemptions",
    "redeemReward outcomes: REDEEMED, REPLAYED (same idempotency key) or the refusal code",
    ["outcome"],
)
WEBHOOK_DELIVERIES = Counter(
    "gamify_webhook_deliveries",
    "Webhook delivery attempts by outcome: DELIVERED, PENDING (a retry is due), DEAD, skipped",
    ["outcome"],
)
QUEUE_DEPTH = Gauge(
    "gamify_queue_jobs",
    "Jobs waiting in the arq queue, read from Redis at scrape time",
    multiprocess_mode="mostrecent",
)
LIVE_SUBSCRIPTIONS = Gauge(
    "gamify_live_subscriptions",
    "Operations running over GraphQL WebSockets: the subscriptions open now",
    multiprocess_mode="livesum",
)


def count_redemption(outcome: str) -> None:
    REDEMPTIONS.labels(outcome).inc()


def count_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()
