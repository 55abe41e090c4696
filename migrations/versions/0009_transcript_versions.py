"""a changed recording keeps its transcript until the new one is complete

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:00:00

``jobs.version`` says which version of the object a job transcribes;
``recordings.transcript_version`` which version's results are the recording's transcript
(set when a version is done). While a changed object is transcribed again, the previous
version's jobs stay (moved to negative ``seq`` numbers), with their segments and words.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs: SQLite's batch mode would rebuild tables the views read
    op.add_column('jobs', sa.Column('version', sa.Integer(), nullable=False,
                                    server_default='1'))
    op.add_column('recordings', sa.Column('transcript_version', sa.Integer(), nullable=True))
    op.execute('UPDATE jobs SET version = (SELECT r.version FROM recordings r '
               'WHERE r.id = jobs.recording_id)')
    op.execute("UPDATE recordings SET transcript_version = version WHERE status = 'done'")


def downgrade() -> None:
    # the superseded versions' jobs (negative seq) cannot be told apart without the column
    op.execute('DELETE FROM jobs WHERE seq < 0')
    if op.get_bind().dialect.name == 'sqlite':  # SQLite ≥ 3.35 drops plain columns
        op.execute('UPDATE recordings SET transcript_version = NULL')
    op.drop_column('recordings', 'transcript_version')
    op.drop_column('jobs', 'version')
