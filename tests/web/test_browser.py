"""The review web app in a real browser: Debian's Chromium driven by Playwright, against
``callscribe web`` served as a user runs it (its own process, settings from the
environment). Log in (a wrong password stays out), open a call, click a word and the
audio jumps there, search a customer phrase and open the hit at its time, a redacted call
plays only its redacted copy, hostile names render as text. Takes the docs' screenshot."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import PASSWORD, XSS_NAME, Archive

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: ``REVIEW_SCREENSHOT=docs/review-call.png`` retakes the docs' picture.
SCREENSHOT_ENV = "REVIEW_SCREENSHOT"


@pytest.fixture(scope="module")
def server(archive: Archive) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = archive.settings
    env = {
        **os.environ,
        "CALLSCRIBE_DATABASE_URL": s.database_url,
        "CALLSCRIBE_STORAGE__OUTPUT": s.storage.output,
        "CALLSCRIBE_EXPORTS__REDACTED_AUDIO": "true",
        "CALLSCRIBE_REDACTION__BY_SOURCE": json.dumps(s.redaction.by_source),
        "CALLSCRIBE_WEB__SECRET_KEY": "s" * 48,
    }
    cli = Path(sys.executable).with_name("callscribe")
    proc = subprocess.Popen(
        [str(cli), "web", "--port", str(port)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(
                        f"callscribe web exited: {proc.stdout.read() if proc.stdout else ''}"
                    )
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--mute-audio", "--autoplay-policy=no-user-gesture-required"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    yield tab
    context.close()


def log_in(page: Any, password: str = PASSWORD) -> None:
    page.goto("/calls")
    assert "/login" in page.url
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_a_wrong_password_stays_out(page: Any) -> None:
    log_in(page, password="not the password at all")
    assert "/login" in page.url
    assert "Wrong user name or password" in page.inner_text("main")
    page.goto("/runs")
    assert "/login" in page.url


def _wait_for_audio(page: Any) -> None:
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=15000)


def test_clicking_a_word_plays_from_it(page: Any, archive: Archive, tmp_path: Path) -> None:
    log_in(page)
    assert page.url.endswith("/calls")
    page.goto(f"/calls/{archive.ids['plain.wav']}")
    _wait_for_audio(page)
    words = page.locator("#transcript .w")
    assert words.count() > 20
    for index in (words.count() // 3, (2 * words.count()) // 3):
        word = words.nth(index)
        start = float(word.get_attribute("data-start"))
        word.click()
        now = page.evaluate("document.getElementById('player').currentTime")
        assert abs(now - start) < 0.3, (index, start, now)
        assert "playing" in (word.get_attribute("class") or "")
    page.evaluate("document.getElementById('player').pause()")
    shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "call.png")
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 20_000


def test_a_search_hit_opens_the_call_at_its_time(page: Any, archive: Archive) -> None:
    log_in(page)
    call = archive.calls["plain.wav"]
    said = next(t for t in call.turns if t.speaker == "customer" and len(t.text.split()) >= 6)
    word = max(re.findall(r"[a-z]{5,}", said.text.lower()), key=len)
    page.goto("/search")
    page.fill("input[name=q]", word)
    page.select_option("select[name=speaker]", "customer")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    link = page.locator(".hit a").first
    target = link.get_attribute("href")
    assert target and "?t=" in target
    t = float(target.split("?t=")[1])
    link.click()
    page.wait_for_load_state()
    _wait_for_audio(page)
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {t}) < 0.3")
    assert abs(t - said.start) < 15


def test_a_redacted_call_plays_only_its_redacted_copy(page: Any, archive: Archive) -> None:
    log_in(page)
    rid = archive.ids["card.wav"]
    page.goto(f"/calls/{rid}")
    _wait_for_audio(page)
    digest = page.evaluate(
        """async (src) => {
            const body = await (await fetch(src)).arrayBuffer();
            const hash = await crypto.subtle.digest('SHA-256', body);
            const hex = (b) => b.toString(16).padStart(2, '0');
            return Array.from(new Uint8Array(hash)).map(hex).join('');
        }""",
        page.get_attribute("#player", "src"),
    )
    redacted = next((archive.root / "out").rglob("card.wav.redacted.wav")).read_bytes()
    original = (archive.masked_dir / "card.wav").read_bytes()
    assert digest == hashlib.sha256(redacted).hexdigest()
    assert digest != hashlib.sha256(original).hexdigest()
    assert page.locator(".w.redacted").count() >= 1


def test_hostile_names_render_as_text(page: Any, archive: Archive) -> None:
    log_in(page)
    page.goto("/calls")
    assert page.locator(f"a:text-is('{XSS_NAME}')").count() == 1
    page.goto(f"/calls/{archive.ids[XSS_NAME]}")
    assert page.inner_text("h1") == XSS_NAME
    assert '<script>alert("agent")</script>' in page.inner_text("aside")
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert page.dialogs == []
