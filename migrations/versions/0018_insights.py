"""call_insights, call_questions, topics; the dashboards' v_call_insights

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:00:00

What customers ask and how they feel (``workers.insights``): one row of figures per call
(customer sentiment at the start, the end, at worst and on average; signals; the problem
statement, the agent's answer, a two-sentence summary; the call's topic vector), one row
per customer question, and the topics ``callscribe insights`` finds across the archive.
The text columns are the stored, redacted text. Dashboards read ``v_call_insights``, which
has no text; the transcripts group reads the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from callscribe.models.roles import dashboard_group, transcripts_group

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSONType = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
VIEW = """CREATE VIEW v_call_insights AS
SELECT i.recording_id, i.transcript_version, i.computed_at, i.customer_sentiment,
       i.sentiment_start, i.sentiment_end, i.sentiment_min, i.signals, i.topic_id,
       t.label AS topic, src.uri AS source_uri, r.key, r.queue, r.agent, r.direction,
       COALESCE(r.started_at, r.finished_at) AS call_time
FROM call_insights i
JOIN recordings r ON r.id = i.recording_id
JOIN sources src ON src.id = r.source_id
LEFT JOIN topics t ON t.id = i.topic_id"""


def upgrade() -> None:
    op.create_table(
        'topics',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('label', sa.Text(), nullable=False),
        sa.Column('keywords', JSONType, nullable=False),
        sa.Column('question', sa.Text(), nullable=True),
        sa.Column('question_recording_id', BigId,
                  sa.ForeignKey('recordings.id', ondelete='SET NULL'), nullable=True),
        sa.Column('question_start_s', sa.Float(), nullable=True),
        sa.Column('centroid', sa.LargeBinary(), nullable=False),
        sa.Column('calls', sa.Integer(), nullable=False),
    )
    op.create_table(
        'call_insights',
        sa.Column('recording_id', BigId, sa.ForeignKey('recordings.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('transcript_version', sa.Integer(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in (
            'customer_sentiment', 'sentiment_start', 'sentiment_end', 'sentiment_min')),
        sa.Column('signals', JSONType, nullable=False),
        sa.Column('problem', sa.Text(), nullable=True),
        sa.Column('problem_start_s', sa.Float(), nullable=True),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('embedding', sa.LargeBinary(), nullable=True),
        sa.Column('topic_id', BigId, sa.ForeignKey('topics.id', ondelete='SET NULL'),
                  nullable=True),
        sa.Column('topic_similarity', sa.Float(), nullable=True),
        sa.Column('models', sa.String(32), nullable=False),
    )
    op.create_index('ix_call_insights_topic', 'call_insights', ['topic_id'])
    op.create_table(
        'call_questions',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('recording_id', BigId, sa.ForeignKey('recordings.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('start_s', sa.Float(), nullable=False),
        sa.Column('end_s', sa.Float(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('sentiment', sa.Float(), nullable=True),
        sa.Column('embedding', sa.LargeBinary(), nullable=True),
    )
    op.create_index('ix_call_questions_recording', 'call_questions', ['recording_id'])
    op.execute(VIEW)
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
        op.execute(f'GRANT SELECT ON v_call_insights TO "{dashboard_group(name)}"')
        op.execute(
            'GRANT SELECT ON call_insights, call_questions, topics, v_call_insights '
            f'TO "{transcripts_group(name)}"'
        )


def downgrade() -> None:
    op.execute('DROP VIEW v_call_insights')
    op.drop_table('call_questions')
    op.drop_table('call_insights')
    op.drop_table('topics')
