"""Tortoise models and the domain rules on them. Nothing else writes to the database."""
