"""per-database reading roles: dashboards without transcripts, timeouts, no TEMP

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00

PostgreSQL only (SQLite has no roles). The cluster-wide group ``callscribe_dashboard`` of
0004 read every database migrated in the cluster, transcripts included. Here it loses its
privileges in this database (it is left in place: other databases of the cluster may still
grant to it, and its logins are moved one by one by ``callscribe db dashboard-user``), and
two groups named after this database take over: ``callscribe_dashboard_<db>`` reads the
views and cost tables, ``callscribe_transcripts_<db>`` those and ``segments``, ``windows``,
``words``. PUBLIC loses CONNECT and TEMPORARY on the database, so a login of another
database's group cannot even connect here; the role running the migration keeps both.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callscribe.models.roles import LEGACY_GROUP, dashboard_group, set_timeouts, transcripts_group

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

#: What the dashboard group may SELECT (frozen: later migrations grant what they add).
DASHBOARD_RELATIONS = [
    'sources', 'runs', 'recordings', 'jobs', 'cost_hourly', 'reference_prices', 'v_backlog',
    'v_throughput_hourly', 'v_cost_per_audio_hour', 'v_failures_by_reason',
    'v_worker_utilization', 'v_runs',
]
#: What only the transcripts group may SELECT, besides DASHBOARD_RELATIONS.
TRANSCRIPT_RELATIONS = ['segments', 'windows', 'words']
#: What 0004 granted the cluster-wide group; restored on downgrade.
LEGACY_RELATIONS = [
    'sources', 'runs', 'recordings', 'jobs', 'windows', 'segments', 'cost_hourly',
    'reference_prices', 'v_backlog', 'v_throughput_hourly', 'v_cost_per_audio_hour',
    'v_failures_by_reason', 'v_worker_utilization', 'v_runs',
]


def _database() -> tuple[str, str]:
    """This database's name, and the name quoted for SQL."""
    bind = op.get_bind()
    name = str(bind.execute(sa.text("SELECT current_database()")).scalar_one())
    return name, bind.dialect.identifier_preparer.quote_identifier(name)


def _role_exists(name: str) -> bool:
    found = op.get_bind().execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"),
                                  {"n": name})
    return found.first() is not None


def _create_group(name: str) -> None:
    """A NOLOGIN group; an existing role of that name must be a plain group too (one left
    by a dropped database of the same name is reused)."""
    row = op.get_bind().execute(sa.text(
        "SELECT rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication "
        "OR rolbypassrls FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    if row is None:
        op.execute(f'CREATE ROLE "{name}" NOLOGIN')
    elif row[0]:
        raise RuntimeError(f"role {name} exists and is not a plain NOLOGIN group")


def _grant(group: str, database: str, relations: list[str]) -> None:
    op.execute(f'GRANT CONNECT ON DATABASE {database} TO "{group}"')
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{group}"')
    op.execute(f'GRANT SELECT ON {", ".join(relations)} TO "{group}"')


def _revoke(group: str, database: str) -> None:
    op.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{group}"')
    op.execute(f'REVOKE ALL ON SCHEMA public FROM "{group}"')
    op.execute(f'REVOKE ALL ON DATABASE {database} FROM "{group}"')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    name, database = _database()
    dashboard, transcripts = dashboard_group(name), transcripts_group(name)
    for group, relations in ((dashboard, DASHBOARD_RELATIONS),
                             (transcripts, DASHBOARD_RELATIONS + TRANSCRIPT_RELATIONS)):
        _create_group(group)
        _grant(group, database, relations)
        set_timeouts(op.get_bind(), group)  # documentation only: logins do not inherit them
    if _role_exists(LEGACY_GROUP):
        _revoke(LEGACY_GROUP, database)
    # the application's role keeps what PUBLIC loses (owners and superusers have it anyway)
    op.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE {database} TO CURRENT_USER')
    op.execute(f'REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC')


def _members(groups: tuple[str, ...]) -> list[str]:
    rows = op.get_bind().execute(sa.text(
        "SELECT DISTINCT m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
        "JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = ANY(:groups) ORDER BY 1"),
        {"groups": list(groups)})
    return [row[0] for row in rows]


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    name, database = _database()
    groups = (dashboard_group(name), transcripts_group(name))
    op.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE {database} TO PUBLIC')
    if not _role_exists(LEGACY_GROUP):
        op.execute(f'CREATE ROLE "{LEGACY_GROUP}" NOLOGIN')
    _grant(LEGACY_GROUP, database, LEGACY_RELATIONS)
    for login in _members(groups):  # this database's logins, as 0004 made them
        op.execute(f'GRANT "{LEGACY_GROUP}" TO "{login}"')
    for group in groups:
        if _role_exists(group):
            _revoke(group, database)
            op.execute(f'DROP ROLE "{group}"')
