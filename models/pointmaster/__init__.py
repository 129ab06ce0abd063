"""An external point master: point modes, settings, uploads (sync batches), forwarded adjustments and redemptions, cached points logs.

Convention: `tables.py` (where present) holds the Tortoise models, the rows; every other module holds rules on them and is named by what it does or holds."""
