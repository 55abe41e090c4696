"""word timings (words table) and the decoding temperature of each window

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'words',
        sa.Column('id', BigId, nullable=False),
        sa.Column('segment_id', BigId, nullable=False),
        sa.Column('recording_id', BigId, nullable=False),
        sa.Column('channel', sa.Integer(), nullable=False),
        sa.Column('start_s', sa.Float(), nullable=False),
        sa.Column('end_s', sa.Float(), nullable=False),
        sa.Column('word', sa.Text(), nullable=False),
        sa.Column('probability', sa.Float(), nullable=True),
        sa.CheckConstraint('end_s >= start_s', name=op.f('ck_words_span')),
        sa.ForeignKeyConstraint(['segment_id'], ['segments.id'],
                                name=op.f('fk_words_segment_id_segments'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'],
                                name=op.f('fk_words_recording_id_recordings'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_words')),
    )
    op.create_index('ix_words_recording_id_start_s', 'words', ['recording_id', 'start_s'])
    op.create_index('ix_words_segment_id', 'words', ['segment_id'])
    with op.batch_alter_table('windows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('temperature', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('windows', schema=None) as batch_op:
        batch_op.drop_column('temperature')
    op.drop_index('ix_words_segment_id', table_name='words')
    op.drop_index('ix_words_recording_id_start_s', table_name='words')
    op.drop_table('words')
