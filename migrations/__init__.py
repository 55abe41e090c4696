"""Alembic migrations of the callscribe schema, installed as ``callscribe.migrations``
(found with ``importlib.resources``)."""
