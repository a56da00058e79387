"""Storage: the engine, the schema (SQLAlchemy Core), migrations and the embedded PostgreSQL."""
