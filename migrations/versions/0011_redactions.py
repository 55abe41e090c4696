"""redactions, and the current transcript as a view

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:00:00

``redactions``: one row per redacted entity (recording, job, channel, kind, start, end; no
original text), replaced with its job's results. ``v_transcript_segments``: the segments of
each recording's current transcript with its key and source, for the transcripts group
(and for dashboards that search). On PostgreSQL the dashboard group may count redactions;
the transcripts group reads both.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callscribe.models.roles import dashboard_group, transcripts_group

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
VIEW = """CREATE VIEW v_transcript_segments AS
SELECT s.id AS segment_id, r.id AS recording_id, src.uri AS source_uri, r.key,
       r.finished_at, s.channel, s.speaker, s.start_s, s.end_s, s.text, s.language
FROM segments s
JOIN jobs j ON j.id = s.job_id
JOIN recordings r ON r.id = s.recording_id AND j.version = r.transcript_version
JOIN sources src ON src.id = r.source_id"""


def upgrade() -> None:
    op.create_table(
        'redactions',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('recording_id', BigId, sa.ForeignKey('recordings.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('job_id', BigId, sa.ForeignKey('jobs.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('channel', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('start_s', sa.Float(), nullable=False),
        sa.Column('end_s', sa.Float(), nullable=False),
        sa.CheckConstraint('end_s >= start_s', name='span'),
    )
    op.create_index('ix_redactions_recording_id', 'redactions', ['recording_id'])
    op.create_index('ix_redactions_job_id', 'redactions', ['job_id'])
    op.execute(VIEW)
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
        op.execute(f'GRANT SELECT ON redactions TO "{dashboard_group(name)}"')
        op.execute(f'GRANT SELECT ON redactions, v_transcript_segments '
                   f'TO "{transcripts_group(name)}"')


def downgrade() -> None:
    op.execute('DROP VIEW v_transcript_segments')
    op.drop_index('ix_redactions_job_id', table_name='redactions')
    op.drop_index('ix_redactions_recording_id', table_name='redactions')
    op.drop_table('redactions')
