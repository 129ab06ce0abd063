"""Point accounts and the one ledger: postings (single and bulk), grants, awards, adjustments, history.

Convention: `tables.py` (where present) holds the Tortoise models, the rows; every other module holds rules on them and is named by what it does or holds."""
