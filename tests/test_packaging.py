"""One namespace (issue 11): the wheel installs one top-level package, ``callscribe``, with
models, scheduler, workers and migrations inside it, and nothing importable as ``models``;
the migrations are found from the installed package and upgrade a database."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("callscribe-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = next(n for n in names if n.endswith("top_level.txt"))
        assert archive.read(top_level).decode().split() == ["callscribe"]
    assert all(n.startswith(("callscribe/", "callscribe-")) for n in names), names
    for part in (
        "models/tables.py",
        "scheduler/plan.py",
        "workers/job.py",
        "migrations/env.py",
        "migrations/alembic.ini",
        "migrations/versions/0011_redactions.py",
    ):
        assert f"callscribe/{part}" in names, part
    assert not any(n.startswith("callscribe/testing/") or "support/" in n for n in names)
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        f"import importlib.util, callscribe.models, callscribe.workers.job\n"
        f"assert callscribe.models.__file__.startswith({str(target)!r})\n"
        f"assert importlib.util.find_spec('models') is None\n"
        f"from callscribe.models.db import upgrade\n"
        f"upgrade('sqlite:///' + {str(tmp_path / 'db.sqlite')!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "db.sqlite").stat().st_size > 0
