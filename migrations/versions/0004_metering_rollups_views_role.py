"""metering, hourly cost rollups, dashboard views and the read-only role

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
DASHBOARD_ROLE = 'callscribe_dashboard'
#: What the read-only role may SELECT: the tables and views documented in docs/schema.md.
DOCUMENTED_RELATIONS = [
    'sources', 'runs', 'recordings', 'jobs', 'windows', 'segments', 'cost_hourly',
    'reference_prices', 'v_backlog', 'v_throughput_hourly', 'v_cost_per_audio_hour',
    'v_failures_by_reason', 'v_worker_utilization', 'v_runs',
]
# Views in portable SQL (PostgreSQL, and SQLite >= 3.30 for FILTER); frozen here so later
# migrations that change them do not rewrite history.
VIEWS = {
    "v_backlog": """
SELECT s.id AS source_id, s.uri AS source,
       count(j.id) FILTER (WHERE j.status = 'queued') AS jobs_queued,
       count(j.id) FILTER (WHERE j.status = 'running') AS jobs_running,
       coalesce(sum(j.end_s - j.start_s) FILTER (WHERE j.status = 'queued'), 0) / 3600.0
           AS audio_hours_queued,
       coalesce(sum(j.end_s - j.start_s) FILTER (WHERE j.status = 'running'), 0) / 3600.0
           AS audio_hours_running,
       min(j.queued_at) FILTER (WHERE j.status = 'queued') AS oldest_queued_at
FROM sources s
LEFT JOIN recordings r ON r.source_id = s.id
LEFT JOIN jobs j ON j.recording_id = r.id
GROUP BY s.id, s.uri""",
    "v_throughput_hourly": """
SELECT hour,
       sum(audio_hours) AS audio_hours, sum(speech_hours) AS speech_hours,
       sum(device_hours) AS device_hours, sum(cost_usd) AS cost_usd,
       CASE WHEN sum(audio_hours) > 0 THEN sum(cost_usd) / sum(audio_hours) END
           AS cost_per_audio_hour,
       CASE WHEN sum(device_hours) > 0 THEN sum(audio_hours) / sum(device_hours) END
           AS realtime_factor,
       sum(jobs_done) AS jobs_done, sum(recordings_done) AS recordings_done,
       sum(recordings_failed) AS recordings_failed
FROM cost_hourly
GROUP BY hour""",
    "v_cost_per_audio_hour": """
SELECT t.hour, t.audio_hours, t.cost_usd, t.cost_per_audio_hour,
       p.usd_per_audio_hour AS reference_usd_per_audio_hour,
       t.audio_hours * p.usd_per_audio_hour AS reference_cost_usd,
       t.audio_hours * p.usd_per_audio_hour - t.cost_usd AS savings_usd
FROM v_throughput_hourly t
CROSS JOIN reference_prices p
WHERE p.name = 'cloud_api'""",
    "v_failures_by_reason": """
SELECT r.source_id, s.uri AS source, r.error AS reason, count(*) AS recordings,
       max(r.finished_at) AS last_failed_at
FROM recordings r
JOIN sources s ON s.id = r.source_id
WHERE r.status = 'failed'
GROUP BY r.source_id, s.uri, r.error""",
    "v_worker_utilization": """
SELECT hour, worker, device_kind, device_name,
       sum(device_seconds) / 3600.0 AS busy_hours,
       sum(device_seconds) / 3600.0 AS utilization,
       sum(job_share) AS jobs_done,
       sum(audio_seconds) / 3600.0 AS audio_hours
FROM job_cost_hours
GROUP BY hour, worker, device_kind, device_name""",
    "v_runs": """
SELECT ru.id AS run_id, ru.kind, ru.source_id, s.uri AS source, ru.started_at,
       ru.finished_at, ru.discovered, ru.new, ru.changed, ru.jobs_enqueued,
       (SELECT count(*) FROM recordings r WHERE r.run_id = ru.id AND r.status = 'done')
           AS recordings_done,
       (SELECT count(*) FROM recordings r WHERE r.run_id = ru.id AND r.status = 'failed')
           AS recordings_failed,
       (SELECT coalesce(sum(j.audio_seconds), 0) / 3600.0 FROM jobs j
        WHERE j.run_id = ru.id AND j.status = 'done') AS audio_hours,
       (SELECT coalesce(sum(j.cost_usd), 0) FROM jobs j WHERE j.run_id = ru.id) AS cost_usd
FROM runs ru
JOIN sources s ON s.id = ru.source_id""",
}
JOB_COLUMNS = [
    ('audio_seconds', sa.Float()), ('device_kind', sa.String(16)),
    ('device_name', sa.String(128)), ('worker_host', sa.String(255)),
    ('model', sa.String(255)), ('compute_type', sa.String(32)), ('batch_size', sa.Integer()),
    ('price_per_device_hour', sa.Float()), ('cost_usd', sa.Float()),
]


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        for name, kind in JOB_COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
    op.create_table(
        'cost_hourly',
        sa.Column('id', BigId, nullable=False),
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source_id', BigId, nullable=False),
        sa.Column('model', sa.String(255), nullable=False),
        sa.Column('device_kind', sa.String(16), nullable=False),
        sa.Column('device_name', sa.String(128), nullable=False),
        sa.Column('audio_hours', sa.Float(), nullable=False),
        sa.Column('speech_hours', sa.Float(), nullable=False),
        sa.Column('device_hours', sa.Float(), nullable=False),
        sa.Column('cost_usd', sa.Float(), nullable=False),
        sa.Column('cost_per_audio_hour', sa.Float(), nullable=True),
        sa.Column('realtime_factor', sa.Float(), nullable=True),
        sa.Column('jobs_done', sa.Integer(), nullable=False),
        sa.Column('recordings_done', sa.Integer(), nullable=False),
        sa.Column('recordings_failed', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['source_id'], ['sources.id'],
                                name=op.f('fk_cost_hourly_source_id_sources'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_hourly')),
        sa.UniqueConstraint('hour', 'source_id', 'model', 'device_kind', 'device_name',
                            name=op.f('uq_cost_hourly_hour_source_id_model_device_kind_device_name')),
    )
    op.create_index('ix_cost_hourly_hour', 'cost_hourly', ['hour'], unique=False)
    op.create_table(
        'job_cost_hours',
        sa.Column('job_id', BigId, nullable=False),
        sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source_id', BigId, nullable=False),
        sa.Column('model', sa.String(255), nullable=False),
        sa.Column('device_kind', sa.String(16), nullable=False),
        sa.Column('device_name', sa.String(128), nullable=False),
        sa.Column('worker', sa.String(255), nullable=False),
        sa.Column('audio_seconds', sa.Float(), nullable=False),
        sa.Column('speech_seconds', sa.Float(), nullable=False),
        sa.Column('device_seconds', sa.Float(), nullable=False),
        sa.Column('cost_usd', sa.Float(), nullable=False),
        sa.Column('job_share', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_cost_hours_job_id_jobs'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['source_id'], ['sources.id'],
                                name=op.f('fk_job_cost_hours_source_id_sources'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('job_id', 'hour', name=op.f('pk_job_cost_hours')),
    )
    op.create_table(
        'reference_prices',
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('usd_per_audio_hour', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_reference_prices')),
    )
    op.execute("INSERT INTO reference_prices (name, usd_per_audio_hour, updated_at) "
               "VALUES ('cloud_api', 0.36, CURRENT_TIMESTAMP)")
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")
    if op.get_bind().dialect.name == 'postgresql':
        _grant_dashboard_role()


def _grant_dashboard_role() -> None:
    op.execute(f"""
DO $$
BEGIN
    CREATE ROLE {DASHBOARD_ROLE} NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$""")
    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO "
               f"{DASHBOARD_ROLE}', current_database()); END $$")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {DASHBOARD_ROLE}")
    op.execute(f"GRANT SELECT ON {', '.join(DOCUMENTED_RELATIONS)} TO {DASHBOARD_ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"REVOKE ALL ON {', '.join(DOCUMENTED_RELATIONS)} FROM {DASHBOARD_ROLE}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {DASHBOARD_ROLE}")
        op.execute(f"DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM "
                   f"{DASHBOARD_ROLE}', current_database()); END $$")
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {name}")
    op.drop_table('reference_prices')
    op.drop_table('job_cost_hours')
    op.drop_index('ix_cost_hourly_hour', table_name='cost_hourly')
    op.drop_table('cost_hourly')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        for name, _kind in reversed(JOB_COLUMNS):
            batch_op.drop_column(name)
