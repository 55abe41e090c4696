"""A small archive for the review web app, transcribed for real (tiny.en): a folder
source with redaction off (two calls; one with an XSS-shaped file name and metadata) and
one with redaction on whose call reads a card number (its redacted copy exported)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callscribe.demo.calls import RealCall, make_real_call
from callscribe.models import Recording
from callscribe.models.db import make_engine, session_factory
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.web.app import create_app
from callscribe.web.users import add_user
from callscribe.workers.transcription.engine import unload_engines

XSS_NAME = "<img src=x onerror=alert(1)>.wav"
XSS_AGENT = '<script>alert("agent")</script>'
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Archive:
    root: Path
    database_url: str
    settings: Settings
    clear_dir: Path
    masked_dir: Path
    calls: dict[str, RealCall]
    """By recording key."""
    ids: dict[str, int]
    """Recording id by key."""


def settings_for(root: Path, database_url: str, tiny_en: Path, **extra: Any) -> Settings:
    clear = (root / "clear").resolve().as_uri()
    return Settings(
        database_url=database_url,
        model={"name": str(tiny_en), "device": "cpu", "compute_type": "int8"},
        decode={"language": "en"},
        storage={"output": str(root / "out")},
        exports={"redacted_audio": True},
        redaction={"mode": "mask", "by_source": {clear: "off"}},
        web={"secret_key": "k" * 40, "login_failures": 5, "page_size": 50},
        **extra,
    )


def build_archive(root: Path, database_url: str, tiny_en: Path) -> Archive:
    clear, masked = root / "clear", root / "masked"
    clear.mkdir(parents=True)
    masked.mkdir()
    calls = {
        "plain.wav": make_real_call(clear / "plain.wav", seed=11, hold=False, fmt="wav"),
        XSS_NAME: make_real_call(clear / XSS_NAME, seed=12, hold=False, fmt="wav"),
        "card.wav": make_real_call(
            masked / "card.wav", seed=13, hold=False, card_number=True, fmt="wav"
        ),
    }
    with open(clear / "callscribe-metadata.csv", "w", newline="") as handle:
        rows = csv.writer(handle)
        rows.writerow(["key", "call_id", "agent", "queue", "started_at", "note"])
        rows.writerow(["plain.wav", "CX-1", "dana", "billing", "2026-11-02T09:30:00Z", "ok"])
        rows.writerow(
            [XSS_NAME, "CX-2", XSS_AGENT, "billing", "2026-11-03T10:00:00Z", "<b>bold</b>"]
        )
    settings = settings_for(root, database_url, tiny_en)
    for folder in (clear, masked):
        assert not transcribe_source(settings, str(folder)).failed
    unload_engines()
    factory = session_factory(make_engine(database_url))
    with factory.begin() as session:
        ids = {r.key: r.id for r in session.scalars(select(Recording))}
    add_user(factory, "viewer", PASSWORD, "viewer")
    add_user(factory, "boss", PASSWORD + "!", "admin")
    return Archive(root, database_url, settings, clear, masked, calls, ids)


@pytest.fixture(scope="session")
def archive(
    tmp_path_factory: pytest.TempPathFactory, tiny_en: Path, sentence_model: Path
) -> Archive:
    root = tmp_path_factory.mktemp("web")
    return build_archive(root, f"sqlite:///{root / 'callscribe.db'}", tiny_en)


@pytest.fixture
def client(archive: Archive) -> Iterator[TestClient]:
    with TestClient(create_app(archive.settings), base_url="http://testserver") as c:
        yield c


def login(c: TestClient, name: str = "viewer", password: str = PASSWORD) -> Any:
    """Log in through the form (with its CSRF token); the response of the POST."""
    form = c.get("/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    return c.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token, "next": "/calls"},
        follow_redirects=False,
    )


@pytest.fixture
def viewer(client: TestClient) -> TestClient:
    assert login(client).status_code == 303
    return client


def copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


__all__ = ["Archive", "Callable", "copy_tree", "login"]
