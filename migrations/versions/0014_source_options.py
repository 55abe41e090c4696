"""per-source options, recorded on runs and jobs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 06:30:00

``sources.options``: what a source overrides of the global settings (language, task,
initial prompt, hotwords, channel labels, model, redaction mode, export formats;
``callscribe source add|set``). ``runs.options`` and ``jobs.options`` keep the options a run
and each of its jobs were planned with, so results say what produced them.
``windows.language_probability``: how sure language detection was (several windows of a
channel, probability-weighted).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.add_column('sources', sa.Column('options', JSONType, nullable=False,
                                       server_default=sa.text("'{}'")))
    op.add_column('runs', sa.Column('options', JSONType, nullable=True))
    op.add_column('jobs', sa.Column('options', JSONType, nullable=True))
    op.add_column('windows', sa.Column('language_probability', sa.Float(), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE windows DROP COLUMN language_probability')
    for table in ('jobs', 'runs', 'sources'):
        op.execute(f'ALTER TABLE {table} DROP COLUMN options')
