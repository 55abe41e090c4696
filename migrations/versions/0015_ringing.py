"""call_metrics.ringing_s: ringing before the answer, its own figure

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:00:00

Tones before anybody's first word (ringback, a dial tone) were counted as hold or
non-talk; ``ringing_s`` says how long the line rang. ``v_call_metrics`` (``m.*``) is made
again so that it has the new column, with its grants.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callscribe.models.roles import dashboard_group, transcripts_group

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

VIEW = """CREATE VIEW v_call_metrics AS
SELECT m.*, src.uri AS source_uri, r.key, r.queue, r.agent, r.direction,
       COALESCE(r.started_at, r.finished_at) AS call_time
FROM call_metrics m
JOIN recordings r ON r.id = m.recording_id
JOIN sources src ON src.id = r.source_id"""


def _create_view() -> None:
    op.execute(VIEW)
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
        for group in (dashboard_group(name), transcripts_group(name)):
            op.execute(f'GRANT SELECT ON v_call_metrics TO "{group}"')


def upgrade() -> None:
    op.execute('DROP VIEW v_call_metrics')
    op.add_column('call_metrics', sa.Column('ringing_s', sa.Float(), nullable=True))
    _create_view()


def downgrade() -> None:
    op.execute('DROP VIEW v_call_metrics')
    with op.batch_alter_table('call_metrics') as batch:
        batch.drop_column('ringing_s')
    _create_view()
