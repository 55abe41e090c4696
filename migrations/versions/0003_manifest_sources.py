"""manifest sources

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:55:00
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

KINDS_BEFORE = "kind IN ('local', 's3')"
KINDS_AFTER = "kind IN ('local', 's3', 'manifest')"


def _replace_check(condition: str) -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sources_source_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_sources_source_kind'), condition)


def upgrade() -> None:
    _replace_check(KINDS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM sources WHERE kind = 'manifest'")
    _replace_check(KINDS_BEFORE)
