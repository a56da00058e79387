"""Alembic environment: runs on the connection handed in by loyalty_service.db.migrate."""

from __future__ import annotations

from alembic import context

from loyalty_service.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `loyalty-service migrate`")
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
