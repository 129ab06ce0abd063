"""`TORTOISE_ORM` for Tortoise's own CLI (`tortoise makemigrations`, `tortoise history`)."""

from core.settings import load_settings, tortoise_config

_settings = load_settings()
TORTOISE_ORM = tortoise_config(_settings.effective_database_url, _settings.db_pool_size)
