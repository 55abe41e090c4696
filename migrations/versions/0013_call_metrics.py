"""call metrics, job activity, jobs.device_seconds

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 06:00:00

``call_metrics``: one row per finalized recording (talk, silence, hold, overtalk,
interruptions, pace, response gaps; ``workers.analytics.call_metrics``), replaced on re-runs, and
``v_call_metrics`` for dashboards (with the recording's source, key, queue and agent).
``jobs.activity``: each job's talk and sound spans per channel, from which the metrics are
computed when the recording is finalized. ``jobs.compute_seconds`` is renamed
``device_seconds``: the quantity the cost ledger calls ``device_seconds``/``device_hours``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from callscribe.models.roles import dashboard_group, transcripts_group

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSONType = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
FLOATS = ('duration_s', 'talk_s', 'non_talk_s', 'longest_silence_s')
OPTIONAL_FLOATS = ('words_per_minute', 'agent_talk_s', 'customer_talk_s', 'talk_ratio',
                   'hold_s', 'overtalk_s', 'agent_wpm', 'customer_wpm',
                   'customer_first_wait_s', 'agent_response_gap_s')
OPTIONAL_INTS = ('overtalk_count', 'agent_interruptions', 'customer_interruptions')
VIEW = """CREATE VIEW v_call_metrics AS
SELECT m.*, src.uri AS source_uri, r.key, r.queue, r.agent, r.direction,
       COALESCE(r.started_at, r.finished_at) AS call_time
FROM call_metrics m
JOIN recordings r ON r.id = m.recording_id
JOIN sources src ON src.id = r.source_id"""


def upgrade() -> None:
    op.execute('ALTER TABLE jobs RENAME COLUMN compute_seconds TO device_seconds')
    op.add_column('jobs', sa.Column('activity', JSONType, nullable=True))
    op.create_table(
        'call_metrics',
        sa.Column('recording_id', BigId, sa.ForeignKey('recordings.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('transcript_version', sa.Integer(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('channels', sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in FLOATS),
        *(sa.Column(name, sa.Float(), nullable=True) for name in OPTIONAL_FLOATS),
        *(sa.Column(name, sa.Integer(), nullable=True) for name in OPTIONAL_INTS),
    )
    op.execute(VIEW)
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
        for group in (dashboard_group(name), transcripts_group(name)):
            op.execute(f'GRANT SELECT ON call_metrics, v_call_metrics TO "{group}"')


def downgrade() -> None:
    op.execute('DROP VIEW v_call_metrics')
    op.drop_table('call_metrics')
    op.execute('ALTER TABLE jobs DROP COLUMN activity')
    op.execute('ALTER TABLE jobs RENAME COLUMN device_seconds TO compute_seconds')
