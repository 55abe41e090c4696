"""recordings.status export_failed; runs.error

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:30:00

A recording whose jobs are all done but whose exports could not be written (a full or
read-only disk, the object store away) is ``export_failed`` with the reason until a retry
writes them; ``runs.error`` says why a run (an ``ingest`` whose broker went away) stopped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

BEFORE = "status IN ('pending', 'probed', 'queued', 'running', 'done', 'failed')"
AFTER = "status IN ('pending', 'probed', 'queued', 'running', 'done', 'failed', 'export_failed')"


def _replace_check(before: str, after: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_recordings_recording_status'), 'recordings', type_='check')
        op.create_check_constraint(op.f('ck_recordings_recording_status'), 'recordings',
                                   after)
        return
    # SQLite cannot alter a CHECK constraint, and rebuilding the table would drop the old
    # one, which deletes every job, segment and word through ON DELETE CASCADE. A change
    # to a CHECK constraint does not touch what is stored, so the schema text is edited
    # in place (https://sqlite.org/lang_altertable.html, "making other kinds of changes").
    schema = bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'recordings'")).scalar()
    if f"CHECK ({before})" not in str(schema):
        raise RuntimeError("recordings: the status check constraint is not the expected one")
    version = int(bind.execute(sa.text("PRAGMA schema_version")).scalar() or 0)
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' "
                         "AND name = 'recordings'"),
                 {"sql": str(schema).replace(f"CHECK ({before})", f"CHECK ({after})")})
    bind.execute(sa.text(f"PRAGMA schema_version = {version + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    _replace_check(BEFORE, AFTER)
    op.add_column('runs', sa.Column('error', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE runs DROP COLUMN error')
    op.execute("UPDATE recordings SET status = 'running' WHERE status = 'export_failed'")
    _replace_check(AFTER, BEFORE)
