"""Alembic migrations of the store: they own the schema (``orchestrator db upgrade``)."""
