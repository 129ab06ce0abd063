"""Tiers computed from activity: a tenant's tier policy, evaluation (upgrade at once,
downgrade at the member's review date after an optional grace period), manual
overrides, and the history of tier changes.

Convention: `tables.py` holds the Tortoise models; other modules hold rules on them."""
