"""a unique export name per recording

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN and a unique index: SQLite's batch mode would rebuild the table,
    # which the dashboard views that read it forbid
    op.add_column('recordings', sa.Column('export_name', sa.Text(), nullable=True))
    op.create_index('ix_recordings_export_name', 'recordings', ['export_name'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_recordings_export_name', table_name='recordings')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('UPDATE recordings SET export_name = NULL')  # SQLite ≥ 3.35 drops columns
    op.drop_column('recordings', 'export_name')
