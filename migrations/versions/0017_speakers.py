"""segments.speaker_confidence; jobs.speakers (diarization)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 02:00:00

A one-channel call (mono, dual-mono) or a meeting is diarized: each segment names its
speaker and keeps how sure that was (``speaker_confidence``, the share of its words' votes;
null where the channel says who speaks). ``jobs.speakers``: each voice's mean embedding in
that job, by name, so a recording's later jobs are matched to its first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callscribe.models.base import JSONType

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('segments', sa.Column('speaker_confidence', sa.Float(), nullable=True))
    op.add_column('jobs', sa.Column('speakers', JSONType, nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE jobs DROP COLUMN speakers')
    op.execute('ALTER TABLE segments DROP COLUMN speaker_confidence')
