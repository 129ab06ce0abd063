"""Tenants, their admins, API keys and allowed origins; on-boarding and sign-in.

Convention: `tables.py` (where present) holds the Tortoise models, the rows; every other module holds rules on them and is named by what it does or holds."""
