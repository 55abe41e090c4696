"""``callscribe web add-user``: the password from standard input, an Argon2 hash stored,
bad input one line and exit 2; ``callscribe web`` with a bad setting is one line too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from callscribe.models import WebUser
from callscribe.models.db import make_engine, session_factory

CLI = str(Path(sys.executable).with_name("callscribe"))


def _run(args: list[str], db: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLSCRIBE_DATABASE_URL": db}
    return subprocess.run(
        [CLI, *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
    )


def test_add_user_stores_a_hash_and_updates_on_a_second_call(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    first = _run(["web", "add-user", "qa.lead", "--role", "admin"], db, "a long passphrase here\n")
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    again = _run(["web", "add-user", "qa.lead"], db, "another long passphrase\n")
    assert again.returncode == 0 and "updated" in again.stdout
    with session_factory(make_engine(db)).begin() as session:
        user = session.scalars(select(WebUser)).one()
        assert user.role == "viewer"
        assert user.password_hash.startswith("$argon2id$")
        assert "passphrase" not in user.password_hash
    assert "passphrase" not in first.stdout + first.stderr


def test_bad_users_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    for args, stdin, wanted in (
        (["web", "add-user", "ann"], "short\n", "at least 12 characters"),
        (["web", "add-user", "ann", "--role", "root"], "a long passphrase here\n", "role 'root'"),
        (["web", "add-user", "<ann>"], "a long passphrase here\n", "user name"),
    ):
        done = _run(args, db, stdin)
        assert done.returncode == 2, done
        assert wanted in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_web_with_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "CALLSCRIBE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
           "CALLSCRIBE_WEB__SECRET_KEY": "short"}  # fmt: skip
    done = subprocess.run([CLI, "web"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "web.secret_key" in done.stderr and "Traceback" not in done.stderr
    env["CALLSCRIBE_WEB__SECRET_KEY"] = "k" * 40
    done = subprocess.run([CLI, "web"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no database at" in done.stderr, done.stderr
