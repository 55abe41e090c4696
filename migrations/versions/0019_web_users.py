"""web_users; the reviewer group the review web app reads as

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 09:00:00

The call review web app (``callscribe web``) keeps its logins in ``web_users`` (an Argon2
hash per user, never a password). On PostgreSQL it reads through a login of the new group
``callscribe_reviewer_<db>``: SELECT on everything the transcripts group reads, and on
``web_users``; no write privilege anywhere, so a compromised app cannot change a row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callscribe.models.roles import reviewer_group, transcripts_group

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'web_users',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(64), nullable=False, unique=True),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
    quoted = bind.dialect.identifier_preparer.quote_identifier(name)
    group = reviewer_group(name)
    row = bind.execute(sa.text(
        "SELECT rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication "
        "OR rolbypassrls FROM pg_roles WHERE rolname = :n"), {"n": group}).first()
    if row is None:
        op.execute(f'CREATE ROLE "{group}" NOLOGIN')
    elif row[0]:
        raise RuntimeError(f"role {group} exists and is not a plain NOLOGIN group")
    op.execute(f'GRANT CONNECT ON DATABASE {quoted} TO "{group}"')
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{group}"')
    relations = [r[0] for r in bind.execute(sa.text(
        "SELECT DISTINCT table_name FROM information_schema.role_table_grants "
        "WHERE grantee = :g AND privilege_type = 'SELECT' AND table_schema = 'public' "
        "ORDER BY 1"), {"g": transcripts_group(name)})]
    quoted_relations = ", ".join(f'"{r}"' for r in [*relations, 'web_users'])
    op.execute(f'GRANT SELECT ON {quoted_relations} TO "{group}"')


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
        quoted = bind.dialect.identifier_preparer.quote_identifier(name)
        group = reviewer_group(name)
        op.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{group}"')
        op.execute(f'REVOKE ALL ON SCHEMA public FROM "{group}"')
        op.execute(f'REVOKE ALL ON DATABASE {quoted} FROM "{group}"')
    op.drop_table('web_users')
