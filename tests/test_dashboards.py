"""The read-only dashboard role, the views, the Grafana dashboards' SQL and
``callscribe report`` — against a migrated PostgreSQL database with data in it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from psycopg2 import errors

from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.testing.audio import Turn, corrupt_text_as_wav, make_call

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = {"sources", "runs", "recordings", "jobs", "windows", "segments", "cost_hourly",
              "reference_prices", "v_backlog", "v_throughput_hourly", "v_cost_per_audio_hour",
              "v_failures_by_reason", "v_worker_utilization", "v_runs"}


@pytest.fixture
def loaded_pg(pg_url: str, make_settings: Callable[..., Settings], tmp_path: Path) -> str:
    """A migrated PostgreSQL database after a real run (done and failed recordings)."""
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Thank you for calling."), Turn(1, "Hello there.")])
    make_call(folder / "b.wav", [Turn(0, "Please hold.")], channels=1)
    corrupt_text_as_wav(folder / "bad.wav")
    transcribe_source(make_settings(pg_url), str(folder))
    return pg_url


@pytest.fixture
def dashboard_user(pg_admin: Any, loaded_pg: str) -> Iterator[Any]:
    """A login role in the read-only group, connected to the loaded database."""
    name = f"dash_{uuid.uuid4().hex[:8]}"
    with pg_admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE callscribe_dashboard')
    conn = psycopg2.connect(loaded_pg.replace("postgres@", f"{name}@", 1))
    conn.autocommit = True
    yield conn
    conn.close()
    with pg_admin.cursor() as cur:
        cur.execute(f'DROP ROLE "{name}"')


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
    ]
    for statement in forbidden:
        with dashboard_user.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
            cur.execute(statement)


def _grafana_sql() -> list[tuple[str, str]]:
    data = json.loads((ROOT / "infra/grafana/dashboards/callscribe.json").read_text())
    return [(p["title"], t["rawSql"]) for p in data["panels"] for t in p["targets"]]


def _expand_macros(sql: str) -> str:
    return re.sub(r"\$__timeFilter\((\w+)\)",
                  r"\1 BETWEEN now() - interval '30 days' AND now() + interval '1 day'", sql)


def test_every_grafana_query_runs_as_the_dashboard_role(dashboard_user: Any) -> None:
    results = {}
    with dashboard_user.cursor() as cur:
        for title, sql in _grafana_sql():
            cur.execute(_expand_macros(sql))
            results[title] = cur.fetchall()
    assert results["Throughput (audio hours per hour)"], "the run shows up in throughput"
    assert results["Failures by reason"][0][0].startswith("unreadable audio")
    assert results["Backlog by source"][0][1] == 0  # nothing queued after the run


def test_dashboards_only_use_documented_relations() -> None:
    for title, sql in _grafana_sql():
        used = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql, re.I))
        assert used and used <= DOCUMENTED, title
    source = yaml.safe_load(
        (ROOT / "infra/grafana/provisioning/datasources/callscribe.yml").read_text())
    ds = source["datasources"][0]
    assert "postgres" not in ds["user"].split(":")[0].lstrip("${")  # never the superuser
    assert ds["secureJsonData"]["password"].startswith("${")


def test_report_table_and_plot_agree(loaded_pg: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(CALLSCRIBE_DATABASE_URL=loaded_pg, COLUMNS="200")
    png = tmp_path / "report.png"
    done = subprocess.run([sys.executable, "-m", "callscribe", "report", "--by", "hour",
                           "--plot", str(png), "--json"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    assert png.stat().st_size > 10_000
    from PIL import Image

    figures = json.loads(Image.open(png).info["Description"])
    assert figures["buckets"] == [row["bucket"] for row in table["rows"]]
    assert figures["audio_hours"] == pytest.approx([r["audio_hours"] for r in table["rows"]],
                                                abs=1e-6)
    assert figures["reference_usd_per_audio_hour"] == 0.36
    assert table["total"]["recordings_done"] == 2 and table["total"]["recordings_failed"] == 1
    plain = subprocess.run([sys.executable, "-m", "callscribe", "report", "--by", "source"],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert plain.returncode == 0 and "reference" in plain.stdout


def _dashboard_user_cli(name: str, url: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")}
    env.update(CALLSCRIBE_DASHBOARD_PASSWORD=password, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "callscribe", "db", "dashboard-user", name,
                           "--database-url", url], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_dashboard_user_never_shows_the_password_nor_takes_over_a_role(
        pg_admin: Any, pg_url: str) -> None:
    """Issue 10, item 14: the password reaches the server only as a SCRAM verifier (so it
    is in no SQL text, no log line, no error message), and an existing role that is not a
    plain dashboard login (the application's own, one that owns objects) is refused."""
    from models.db import upgrade
    from models.roles import scram_verifier

    upgrade(pg_url)
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
            cur.execute("SELECT rolpassword, pg_has_role(oid, 'callscribe_dashboard', 'MEMBER')"
                        " FROM pg_authid WHERE rolname = %s", (name,))
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
