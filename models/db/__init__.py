"""What every domain's rules use to talk to the database: guarded counter updates, bulk statements, keyset pagination, field limits, idempotency keys.

Convention: `tables.py` (where present) holds the Tortoise models, the rows; every other module holds rules on them and is named by what it does or holds."""
