"""call metadata on recordings, and cost by queue and agent

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 06:00:00

``recordings`` gets the call's metadata from the source's metadata file or manifest
(docs/metadata.md): ``call_id``, ``agent``, ``queue``, ``direction`` (inbound | outbound),
``started_at`` and ``call_meta`` (every other column, JSON), with indexes on queue, agent
and started_at. Plain ADD COLUMNs and indexes: SQLite's batch mode would rebuild the
table, which the views that read it forbid.

``v_cost_by_queue``: the cost ledger (``job_cost_hours``, by the UTC day its device time
fell in) summed by the jobs' recordings' queue and agent, for the dashboard and transcripts
groups (the view reads the ledger with its owner's rights; the groups still cannot).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from callscribe.models.roles import dashboard_group, transcripts_group

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), 'postgresql')
COLUMNS = [
    ('call_id', sa.Text()), ('agent', sa.Text()), ('queue', sa.Text()),
    ('direction', sa.Text()), ('started_at', sa.DateTime(timezone=True)),
    ('call_meta', JSONType),
]
INDEXES = [('ix_recordings_queue', 'queue'), ('ix_recordings_agent', 'agent'),
           ('ix_recordings_started_at', 'started_at')]
#: The UTC day of a ledger hour: a timestamptz at midnight UTC on PostgreSQL, the same
#: instant as SQLite stores timestamps (UTC text) there. Frozen here.
DAY = {
    'postgresql': "date_trunc('day', c.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    'sqlite': "strftime('%Y-%m-%d 00:00:00.000000', c.hour)",
}
VIEW = """CREATE VIEW v_cost_by_queue AS
SELECT {day} AS day, r.queue, r.agent,
       sum(c.audio_seconds) / 3600.0 AS audio_hours,
       sum(c.speech_seconds) / 3600.0 AS speech_hours,
       sum(c.device_seconds) / 3600.0 AS device_hours,
       sum(c.cost_usd) AS cost_usd,
       CASE WHEN sum(c.audio_seconds) > 0
            THEN sum(c.cost_usd) / (sum(c.audio_seconds) / 3600.0) END AS cost_per_audio_hour,
       sum(c.job_share) AS jobs_done,
       count(DISTINCT r.id) AS recordings
FROM job_cost_hours c
JOIN jobs j ON j.id = c.job_id
JOIN recordings r ON r.id = j.recording_id
GROUP BY {day}, r.queue, r.agent"""


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column('recordings', sa.Column(name, kind, nullable=True))
    for index, column in INDEXES:
        op.create_index(index, 'recordings', [column])
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.execute(VIEW.format(day=DAY.get(dialect, DAY['postgresql'])))
    if dialect == 'postgresql':
        name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
        op.execute(f'GRANT SELECT ON v_cost_by_queue TO "{dashboard_group(name)}"')
        op.execute(f'GRANT SELECT ON v_cost_by_queue TO "{transcripts_group(name)}"')


def downgrade() -> None:
    op.execute('DROP VIEW v_cost_by_queue')
    for index, _column in reversed(INDEXES):
        op.drop_index(index, table_name='recordings')
    for name, _kind in reversed(COLUMNS):
        op.drop_column('recordings', name)
