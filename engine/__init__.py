"""The processes: ASGI app, CLI, embedded SQLite + Redis start-up."""
