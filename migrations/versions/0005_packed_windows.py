"""packed windows: a window is up to 30 s of speech pieces, silences between left out

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
OLD_SPAN = "end_s > start_s AND end_s - start_s <= 30.001"
NEW_SPAN = "end_s > start_s"
SPEECH = "speech_s > 0 AND speech_s <= 30.001 AND speech_s <= end_s - start_s + 0.001"


def upgrade() -> None:
    with op.batch_alter_table('windows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('speech_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('pieces', JSONType, nullable=True))
    # every existing window is one contiguous piece
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("UPDATE windows SET speech_s = end_s - start_s, "
                   "pieces = jsonb_build_array(jsonb_build_array(start_s, end_s))")
    else:
        op.execute("UPDATE windows SET speech_s = end_s - start_s, "
                   "pieces = json_array(json_array(start_s, end_s))")
    with op.batch_alter_table('windows', schema=None) as batch_op:
        batch_op.alter_column('speech_s', existing_type=sa.Float(), nullable=False)
        batch_op.alter_column('pieces', existing_type=JSONType, nullable=False)
        batch_op.drop_constraint(op.f('ck_windows_span'), type_='check')
        batch_op.create_check_constraint(op.f('ck_windows_span'), NEW_SPAN)
        batch_op.create_check_constraint(op.f('ck_windows_speech'), SPEECH)


def downgrade() -> None:
    # packed windows cannot be expressed as one span: their jobs must run again
    packed = "SELECT job_id FROM windows WHERE end_s - start_s > 30.001"
    op.execute("UPDATE recordings SET status = 'queued' WHERE id IN (SELECT recording_id FROM "
               f"jobs WHERE id IN ({packed}))")
    op.execute("UPDATE jobs SET status = 'queued', worker = NULL, lease_expires_at = NULL "
               f"WHERE id IN ({packed})")
    op.execute("DELETE FROM windows WHERE end_s - start_s > 30.001")
    with op.batch_alter_table('windows', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_windows_speech'), type_='check')
        batch_op.drop_constraint(op.f('ck_windows_span'), type_='check')
        batch_op.create_check_constraint(op.f('ck_windows_span'), OLD_SPAN)
        batch_op.drop_column('pieces')
        batch_op.drop_column('speech_s')
