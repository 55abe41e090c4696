"""The read-only dashboard role, the views, the Grafana dashboards' SQL and
``callscribe report`` — against a migrated PostgreSQL database with data in it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from psycopg2 import errors

from callscribe.errors import ConfigurationError
from callscribe.models.db import make_engine, upgrade
from callscribe.models.roles import (
    LEGACY_GROUP,
    Timeouts,
    dashboard_group,
    make_dashboard_login,
    transcripts_group,
)
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from tests.support.audio import Turn, corrupt_text_as_wav, make_call
from tests.support.services import drop_reading_groups

ROOT = Path(__file__).resolve().parent.parent
#: What the dashboard group reads (docs/schema.md, "The read-only roles").
DOCUMENTED = {
    "sources",
    "runs",
    "recordings",
    "jobs",
    "cost_hourly",
    "reference_prices",
    "v_backlog",
    "v_throughput_hourly",
    "v_cost_per_audio_hour",
    "v_failures_by_reason",
    "v_worker_utilization",
    "v_runs",
    "v_cost_by_queue",
    "v_call_metrics",
    "v_call_insights",
}
#: What only the transcripts group reads besides DOCUMENTED.
TRANSCRIPTS = {"segments", "windows", "words", "call_insights", "call_questions", "topics"}
NOT_FOR_DASHBOARDS = [
    "SELECT text FROM segments",
    "SELECT * FROM windows",
    "SELECT word FROM words",
    "CREATE TEMP TABLE sneaky_temp (id int)",
    "SELECT problem FROM call_insights",
    "SELECT text FROM call_questions",
    "SELECT question FROM topics",
]


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _connect(url: str, role: str, autocommit: bool = True) -> Any:
    conn = psycopg2.connect(url.replace("postgres@", f"{role}@", 1))
    conn.autocommit = autocommit
    return conn


@pytest.fixture
def migrated_pg(pg_url: str) -> Iterator[str]:
    """A migrated, empty PostgreSQL database (its groups are dropped afterwards)."""
    upgrade(pg_url)
    yield pg_url
    drop_reading_groups(pg_url)


@pytest.fixture
def loaded_pg(pg_url: str, make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[str]:
    """A migrated PostgreSQL database after a real run (done and failed recordings)."""
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Thank you for calling."), Turn(1, "Hello there.")])
    make_call(folder / "b.wav", [Turn(0, "Please hold.")], channels=1)
    corrupt_text_as_wav(folder / "bad.wav")
    (folder / "callscribe-metadata.csv").write_text("key,queue,agent\na.wav,billing,dana\n")
    transcribe_source(make_settings(pg_url), str(folder))
    yield pg_url
    drop_reading_groups(pg_url)


@pytest.fixture
def logins(pg_admin: Any) -> Iterator[Callable[..., str]]:
    """Makes logins with ``make_dashboard_login`` (any password: the test server trusts
    local connections) and drops them afterwards."""
    made: list[str] = []

    def login(url: str, transcripts: bool = False, timeouts: Timeouts = Timeouts()) -> str:
        name = f"dash_{uuid.uuid4().hex[:8]}"
        engine = make_engine(url)
        with engine.begin() as conn:
            assert (
                make_dashboard_login(
                    conn, name, "unused", transcripts=transcripts, timeouts=timeouts
                )
                == "created"
            )
        engine.dispose()
        made.append(name)
        return name

    yield login
    with pg_admin.cursor() as cur:
        for name in made:
            cur.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def dashboard_user(loaded_pg: str, logins: Callable[..., str]) -> Iterator[Any]:
    """A login in the database's read-only dashboard group, connected to it."""
    conn = _connect(loaded_pg, logins(loaded_pg))
    yield conn
    conn.close()


def test_dashboard_role_reads_documented_and_nothing_else(dashboard_user: Any) -> None:
    with dashboard_user.cursor() as cur:
        for relation in sorted(DOCUMENTED):
            cur.execute(f"SELECT count(*) FROM {relation}")
            assert cur.fetchone() is not None
        cur.execute("SELECT count(*) FROM recordings WHERE status = 'done'")
        assert cur.fetchone()[0] == 2
    forbidden = [
        "INSERT INTO sources (uri, kind, created_at) VALUES ('x', 'local', now())",
        "UPDATE recordings SET status = 'done'",
        "DELETE FROM segments",
        "SELECT * FROM alembic_version",
        "SELECT * FROM job_cost_hours",
        "CREATE TABLE sneaky (id int)",
        "TRUNCATE jobs",
        *NOT_FOR_DASHBOARDS,
    ]
    for statement in forbidden:
        with dashboard_user.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
            cur.execute(statement)


def test_transcripts_login_reads_transcripts_and_writes_nothing(
    loaded_pg: str, logins: Callable[..., str]
) -> None:
    """Issue 10, item 13: only the transcripts group reads segments, windows and words."""
    with closing(_connect(loaded_pg, logins(loaded_pg, transcripts=True))) as conn:
        with conn.cursor() as cur:
            for relation in sorted(DOCUMENTED | TRANSCRIPTS):
                cur.execute(f"SELECT count(*) FROM {relation}")
            cur.execute("SELECT text FROM segments")
            assert cur.fetchall(), "the run's transcripts"
        for statement in (
            "DELETE FROM segments",
            "UPDATE words SET word = 'x'",
            "SELECT * FROM job_cost_hours",
            "CREATE TEMP TABLE t (id int)",
        ):
            with conn.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
                cur.execute(statement)


@pytest.fixture
def second_pg(pg_admin: Any) -> Iterator[str]:
    """Another migrated database in the same cluster."""
    from tests.support.services import make_pg_database

    url, drop = make_pg_database(pg_admin)
    upgrade(url)
    yield url
    drop_reading_groups(url)
    drop()


def test_logins_are_scoped_to_their_database(
    migrated_pg: str, second_pg: str, logins: Callable[..., str], pg_admin: Any
) -> None:
    """Issue 10, item 13: a login made through one database cannot connect to another one
    migrated in the same cluster, nor read anything there if it could connect; neither can
    a login of 0004's cluster-wide group; nor can a login of one database be taken over
    through another."""
    assert dashboard_group(_database(migrated_pg)) != dashboard_group(_database(second_pg))
    here = [logins(migrated_pg), logins(migrated_pg, transcripts=True)]
    legacy = f"dash_{uuid.uuid4().hex[:8]}"
    with pg_admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{legacy}" LOGIN IN ROLE {LEGACY_GROUP}')
    try:
        for role in here:
            with closing(_connect(migrated_pg, role)):
                pass
            with pytest.raises(psycopg2.OperationalError, match="permission denied"):
                _connect(second_pg, role)
        with closing(psycopg2.connect(second_pg)) as admin, admin.cursor() as cur:
            admin.autocommit = True
            cur.execute(f'GRANT CONNECT ON DATABASE "{_database(second_pg)}" TO PUBLIC')
        for role in [*here, legacy]:
            with closing(_connect(second_pg, role)) as conn:
                for relation in sorted(DOCUMENTED | TRANSCRIPTS):
                    with conn.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
                        cur.execute(f"SELECT count(*) FROM {relation}")
        engine = make_engine(second_pg)
        with engine.begin() as conn, pytest.raises(ConfigurationError, match="not a plain"):
            make_dashboard_login(conn, here[0], "taken over")
        engine.dispose()
    finally:
        with pg_admin.cursor() as cur:
            cur.execute(f'DROP ROLE "{legacy}"')


def test_dashboard_logins_time_out(migrated_pg: str, logins: Callable[..., str]) -> None:
    """Issue 10, item 13: a dashboard login's statements, idle transactions and idle
    sessions end (group settings are not inherited: each login gets its own)."""
    with closing(_connect(migrated_pg, logins(migrated_pg))) as conn, conn.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "30s"  # the default
    short = Timeouts(statement_ms=300, idle_in_transaction_ms=1000, idle_session_ms=1000)
    role = logins(migrated_pg, timeouts=short)
    with closing(_connect(migrated_pg, role)) as conn, conn.cursor() as cur:
        started = time.monotonic()
        with pytest.raises(errors.QueryCanceled):
            cur.execute("SELECT pg_sleep(3)")
        assert time.monotonic() - started < 2
    with closing(_connect(migrated_pg, role, autocommit=False)) as conn:
        conn.cursor().execute("SELECT count(*) FROM v_runs")  # opens a transaction
        time.sleep(1.5)
        with pytest.raises(psycopg2.OperationalError):
            conn.cursor().execute("SELECT count(*) FROM v_runs")
    with closing(_connect(migrated_pg, role)) as conn:
        time.sleep(1.5)
        with pytest.raises(psycopg2.OperationalError):
            conn.cursor().execute("SELECT 1")


def test_a_login_of_the_cluster_wide_group_is_moved_into_this_database(
    migrated_pg: str, pg_admin: Any
) -> None:
    """A login 0004's code made (``grafana`` in docker compose) is powerless after 0008
    until it is named again; then it reads this database's dashboards, and only them."""
    name = f"dash_{uuid.uuid4().hex[:8]}"
    with pg_admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE {LEGACY_GROUP}')
    try:
        with pytest.raises(psycopg2.OperationalError, match="permission denied"):
            _connect(migrated_pg, name)
        engine = make_engine(migrated_pg)
        with engine.begin() as conn:
            assert make_dashboard_login(conn, name, "unused") == "updated"
        engine.dispose()
        with closing(_connect(migrated_pg, name)) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT pg_has_role(%s, 'MEMBER'), pg_has_role(%s, 'MEMBER')",
                (dashboard_group(_database(migrated_pg)), LEGACY_GROUP),
            )
            assert cur.fetchone() == (True, False)
            cur.execute("SELECT count(*) FROM v_runs")
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("SELECT text FROM segments")
    finally:
        with pg_admin.cursor() as cur:
            cur.execute(f'DROP ROLE "{name}"')


def _grafana_sql() -> list[tuple[str, str]]:
    data = json.loads((ROOT / "infra/grafana/dashboards/callscribe.json").read_text())
    return [(p["title"], t["rawSql"]) for p in data["panels"] for t in p["targets"]]


def _expand_macros(sql: str) -> str:
    return re.sub(
        r"\$__timeFilter\((\w+)\)",
        r"\1 BETWEEN now() - interval '30 days' AND now() + interval '1 day'",
        sql,
    )


def test_every_grafana_query_runs_as_the_dashboard_role(dashboard_user: Any) -> None:
    results = {}
    with dashboard_user.cursor() as cur:
        for title, sql in _grafana_sql():
            cur.execute(_expand_macros(sql))
            results[title] = cur.fetchall()
    assert results["Throughput (audio hours per hour)"], "the run shows up in throughput"
    assert results["Failures by reason"][0][0].startswith("unreadable audio")
    assert results["Backlog by source"][0][1] == 0  # nothing queued after the run
    assert {row[0] for row in results["Cost by queue"]} == {"billing", "(none)"}
    assert ("dana", "billing") in {row[:2] for row in results["Cost by agent"]}
    by_queue = {row[0]: row for row in results["Talk ratio and overtalk by queue"]}
    assert by_queue and set(by_queue) <= {"billing", "(none)"}
    assert all(row[1] >= 1 for row in by_queue.values())  # calls per queue
    assert ("dana", "billing") in {row[:2] for row in results["Call metrics by agent"]}


def test_dashboards_only_use_documented_relations() -> None:
    for title, sql in _grafana_sql():
        used = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql, re.I))
        assert used and used <= DOCUMENTED, title
    source = yaml.safe_load(
        (ROOT / "infra/grafana/provisioning/datasources/callscribe.yml").read_text()
    )
    ds = source["datasources"][0]
    assert "postgres" not in ds["user"].split(":")[0].lstrip("${")  # never the superuser
    assert ds["secureJsonData"]["password"].startswith("${")


def test_report_table_and_plot_agree(loaded_pg: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(CALLSCRIBE_DATABASE_URL=loaded_pg, COLUMNS="200")
    png = tmp_path / "report.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "callscribe",
            "report",
            "--by",
            "hour",
            "--plot",
            str(png),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    assert png.stat().st_size > 10_000
    from PIL import Image

    figures = json.loads(Image.open(png).info["Description"])
    assert figures["buckets"] == [row["bucket"] for row in table["rows"]]
    assert figures["audio_hours"] == pytest.approx(
        [r["audio_hours"] for r in table["rows"]], abs=1e-6
    )
    assert figures["reference_usd_per_audio_hour"] == 0.36
    assert table["total"]["recordings_done"] == 2 and table["total"]["recordings_failed"] == 1
    plain = subprocess.run(
        [sys.executable, "-m", "callscribe", "report", "--by", "source"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert plain.returncode == 0 and "reference" in plain.stdout


def _dashboard_user_cli(
    name: str, url: str, password: str, *options: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(CALLSCRIBE_DASHBOARD_PASSWORD=password, COLUMNS="200")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "callscribe",
            "db",
            "dashboard-user",
            name,
            "--database-url",
            url,
            *options,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dashboard_user_never_shows_the_password_nor_takes_over_a_role(
    pg_admin: Any, migrated_pg: str
) -> None:
    """Issue 10, item 14: the password reaches the server only as a SCRAM verifier (so it
    is in no SQL text, no log line, no error message), and an existing role that is not a
    plain dashboard login (the application's own, one that owns objects) is refused."""
    from callscribe.models.roles import scram_verifier

    pg_url = migrated_pg
    secret = f"S3cret-{uuid.uuid4().hex}"
    name = f"dash_{uuid.uuid4().hex[:8]}"
    owner = f"owner_{uuid.uuid4().hex[:8]}"
    with pg_admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{owner}" LOGIN')
        cur.execute(f'CREATE TABLE "{owner}_t" (x int)')
        cur.execute(f'ALTER TABLE "{owner}_t" OWNER TO "{owner}"')
    try:
        made = _dashboard_user_cli(name, pg_url, secret)
        assert made.returncode == 0 and "created" in made.stdout, made.stderr
        again = _dashboard_user_cli(name, pg_url, secret + "2")
        assert again.returncode == 0 and "updated" in again.stdout, again.stderr
        with pg_admin.cursor() as cur:
            cur.execute(
                "SELECT rolpassword, pg_has_role(oid, %s, 'MEMBER')"
                " FROM pg_authid WHERE rolname = %s",
                (dashboard_group(_database(pg_url)), name),
            )
            stored, member = cur.fetchone()
        assert member and stored.startswith("SCRAM-SHA-256$4096:")
        import base64

        salt = base64.b64decode(stored.split("$")[1].split(":")[1])  # SCRAM-SHA-256$4096:salt$…
        assert stored == scram_verifier(secret + "2", salt)
        for taken in ("postgres", owner):
            refused = _dashboard_user_cli(taken, pg_url, secret)
            assert refused.returncode == 2 and "not a plain dashboard login" in refused.stderr
        failed = _dashboard_user_cli("pg_reserved", pg_url, secret)  # server-side refusal
        assert failed.returncode == 2
        for result in (made, again, refused, failed):
            assert secret not in result.stdout + result.stderr
            assert "Traceback" not in result.stderr
    finally:
        with pg_admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{name}"')
            cur.execute(f'DROP TABLE IF EXISTS "{owner}_t"')
            cur.execute(f'DROP ROLE IF EXISTS "{owner}"')


def test_dashboard_user_transcripts_makes_a_login_of_the_transcripts_group(
    pg_admin: Any, migrated_pg: str
) -> None:
    """``--transcripts`` puts the login in the transcripts group (not the dashboard one);
    a dashboard login is not turned into a transcripts login by naming it again."""
    reader = f"dash_{uuid.uuid4().hex[:8]}"
    viewer = f"dash_{uuid.uuid4().hex[:8]}"
    database = _database(migrated_pg)
    try:
        made = _dashboard_user_cli(reader, migrated_pg, "pw", "--transcripts")
        assert made.returncode == 0 and "transcripts" in made.stdout, made.stderr
        assert _dashboard_user_cli(viewer, migrated_pg, "pw").returncode == 0
        refused = _dashboard_user_cli(viewer, migrated_pg, "pw", "--transcripts")
        assert refused.returncode == 2 and "not a plain dashboard login" in refused.stderr
        with pg_admin.cursor() as cur:
            cur.execute(
                "SELECT pg_has_role(%s, %s, 'MEMBER'), pg_has_role(%s, %s, 'MEMBER')",
                (reader, transcripts_group(database), reader, dashboard_group(database)),
            )
            assert cur.fetchone() == (True, False)
        with closing(_connect(migrated_pg, reader)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM segments")
    finally:
        with pg_admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{reader}"')
            cur.execute(f'DROP ROLE IF EXISTS "{viewer}"')


def test_dashboard_user_needs_the_migrated_groups(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.begin() as conn, pytest.raises(ConfigurationError, match="db upgrade"):
        make_dashboard_login(conn, f"dash_{uuid.uuid4().hex[:8]}", "unused")
    engine.dispose()
