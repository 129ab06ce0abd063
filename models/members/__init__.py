"""A tenant's members and tiers, as the tenant's backend and admins save them.

Convention: `tables.py` (where present) holds the Tortoise models, the rows; every other module holds rules on them and is named by what it does or holds."""
