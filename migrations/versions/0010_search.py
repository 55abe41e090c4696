"""full-text search over segments

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:00:00

PostgreSQL: ``segments.search``, a stored generated ``tsvector`` of the text: English
(stemmed, stop words dropped) for segments in English (``language = 'en'``), the
``simple`` configuration (lower-cased words) for any other language or none; a GIN index
on it. Adding the column rewrites ``segments`` once (it computes every existing row).

SQLite: ``segments_fts``, an FTS5 index of ``segments.text`` (an external-content table:
the text is not stored twice), tokenised by ``unicode61`` with diacritics removed, kept in
step by three triggers on ``segments``. Existing rows are indexed here. A later migration
that rebuilds ``segments`` (batch mode) drops the triggers and must create them again.

Neither is in the ORM (``callscribe.models.search.include_name`` keeps them out of
autogenerate's comparison); ``callscribe.models.search`` queries them.
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

PG_UPGRADE = [
    "ALTER TABLE segments ADD COLUMN search tsvector GENERATED ALWAYS AS (CASE WHEN "
    "language = 'en' THEN to_tsvector('english'::regconfig, text) "
    "ELSE to_tsvector('simple'::regconfig, text) END) STORED",
    "CREATE INDEX ix_segments_search ON segments USING gin (search)",
]
PG_DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_segments_search",
    "ALTER TABLE segments DROP COLUMN IF EXISTS search",
]
SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE segments_fts USING fts5(text, content='segments', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments BEGIN "
    "INSERT INTO segments_fts (rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments BEGIN "
    "INSERT INTO segments_fts (segments_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER segments_fts_update AFTER UPDATE OF id, text ON segments BEGIN "
    "INSERT INTO segments_fts (segments_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO segments_fts (rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO segments_fts (segments_fts) VALUES ('rebuild')",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS segments_fts_update",
    "DROP TRIGGER IF EXISTS segments_fts_delete",
    "DROP TRIGGER IF EXISTS segments_fts_insert",
    "DROP TABLE IF EXISTS segments_fts",
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for statement in SQLITE_UPGRADE if sqlite else PG_UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for statement in SQLITE_DOWNGRADE if sqlite else PG_DOWNGRADE:
        op.execute(statement)
