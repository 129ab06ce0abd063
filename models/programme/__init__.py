"""The loyalty programme a tenant configures: member events and the earning rules that
turn them into points (caps, windows, returns), and their dry run.

Convention: `tables.py` holds the Tortoise models, the rows; every other module holds rules
on them and is named by what it holds: `conditions` (the condition language), `earning`
(what one rule makes of one event), `caps` (the guarded cap counters), `rules` (rule CRUD),
`events` (tracking an event: awards, returns, forwards), `simulation` (the dry run)."""
