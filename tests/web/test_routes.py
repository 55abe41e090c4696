"""The review web app's routes through FastAPI's TestClient, over a real transcribed
archive (SQLite, read-only): login, CSRF, the login rate limit, pages, byte ranges, the
redacted-audio rule, escaping."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient

from callscribe.web.app import create_app

from .conftest import PASSWORD, XSS_AGENT, XSS_NAME, Archive, login


def test_nothing_is_readable_without_logging_in(client: TestClient, archive: Archive) -> None:
    some = archive.ids["plain.wav"]
    for path in (
        "/calls",
        "/runs",
        "/search?q=bill",
        f"/calls/{some}",
        f"/calls/{some}/audio",
        "/users",
    ):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303, path
        assert reply.headers["location"].startswith("/login?next="), path
        assert b"RIFF" not in reply.content
    for path in ("/api/calls", f"/api/calls/{some}", "/api/search?q=bill", "/api/runs"):
        assert client.get(path).status_code == 401, path


def test_a_wrong_password_stays_out_and_a_right_one_gets_in(client: TestClient) -> None:
    assert login(client, password="not the password").status_code == 401
    assert login(client, name="nobody", password=PASSWORD).status_code == 401
    assert client.get("/calls", follow_redirects=False).status_code == 303
    reply = login(client)
    assert reply.status_code == 303 and reply.headers["location"] == "/calls"
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/calls").status_code == 200


def test_login_needs_the_forms_csrf_token(client: TestClient) -> None:
    client.get("/login")
    reply = client.post(
        "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert reply.status_code == 403
    assert client.get("/calls", follow_redirects=False).status_code == 303


def test_logout_needs_its_token_and_ends_the_session(viewer: TestClient) -> None:
    assert viewer.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert viewer.get("/calls").status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', viewer.get("/calls").text)
    assert token is not None
    assert (
        viewer.post(
            "/logout", data={"csrf_token": token.group(1)}, follow_redirects=False
        ).status_code
        == 303
    )
    assert viewer.get("/calls", follow_redirects=False).status_code == 303


def test_failed_logins_are_rate_limited(archive: Archive) -> None:
    with TestClient(create_app(archive.settings)) as c:
        for _ in range(archive.settings.web.login_failures):
            assert login(c, password="wrong wrong wrong").status_code == 401
        blocked = login(c)  # the right password, too soon
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert c.get("/calls", follow_redirects=False).status_code == 303


def test_the_calls_page_lists_filters_and_rejects_a_bad_filter(
    viewer: TestClient, archive: Archive
) -> None:
    page = viewer.get("/calls").text
    assert page.count('href="/calls/') >= 3
    billing = viewer.get("/api/calls", params={"queue": "billing"}).json()
    assert billing["total"] == 2
    assert {c["key"] for c in billing["calls"]} == {"plain.wav", XSS_NAME}
    assert viewer.get("/api/calls", params={"agent": "dana"}).json()["total"] == 1
    assert viewer.get("/api/calls", params={"since": "2026-11-03"}).json()["total"] >= 1
    bad = viewer.get("/calls", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since must be a date" in bad.text
    assert viewer.get("/api/calls", params={"sentiment": "furious"}).status_code == 400


def test_the_call_page_has_every_word_with_its_times(viewer: TestClient, archive: Archive) -> None:
    rid = archive.ids["plain.wav"]
    call = viewer.get(f"/api/calls/{rid}").json()
    words = [w for t in call["turns"] for w in t["words"]]
    assert len(words) > 20
    assert {t["speaker"] for t in call["turns"]} == {"agent", "customer"}
    html = viewer.get(f"/calls/{rid}").text
    spans = re.findall(r'<span class="w[^"]*" data-start="([\d.]+)" data-end="([\d.]+)">', html)
    assert len(spans) == len(words)
    assert all(float(a) <= float(b) for a, b in spans)
    assert f'src="/calls/{rid}/audio"' in html
    assert call["metrics"]["agent_talk_s"] > 0
    assert viewer.get("/calls/999999").status_code == 404
    assert viewer.get("/api/calls/999999").status_code == 404


def test_audio_is_served_in_byte_ranges(viewer: TestClient, archive: Archive) -> None:
    rid = archive.ids["plain.wav"]
    original = (archive.clear_dir / "plain.wav").read_bytes()
    whole = viewer.get(f"/calls/{rid}/audio")
    assert whole.status_code == 200 and whole.content == original
    assert whole.headers["accept-ranges"] == "bytes"
    part = viewer.get(f"/calls/{rid}/audio", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(original)}"
    assert part.content == original[1000:2000]
    tail = viewer.get(f"/calls/{rid}/audio", headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == original[-500:]
    beyond = viewer.get(f"/calls/{rid}/audio", headers={"Range": f"bytes={len(original)}-"})
    assert beyond.status_code == 416
    assert viewer.get("/calls/999999/audio").status_code == 404


def test_a_redacted_call_serves_only_its_redacted_copy(
    viewer: TestClient, archive: Archive, tmp_path: Path
) -> None:
    rid = archive.ids["card.wav"]
    original = (archive.masked_dir / "card.wav").read_bytes()
    redacted = next((archive.root / "out").rglob("card.wav.redacted.wav")).read_bytes()
    assert redacted != original
    served = viewer.get(f"/calls/{rid}/audio")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).digest() == hashlib.sha256(redacted).digest()
    words = [w["word"] for t in viewer.get(f"/api/calls/{rid}").json()["turns"] for w in t["words"]]
    assert "[CARD]" in {w.strip(".,?!") for w in words}  # the tag keeps the number's stop
    assert 'class="w redacted"' in viewer.get(f"/calls/{rid}").text
    # redaction switched off later: the call's spans still lock the original away
    off = archive.settings.updated(redaction={"mode": "off", "by_source": {}})
    with TestClient(create_app(off)) as c:
        login(c)
        assert c.get(f"/calls/{rid}/audio").content == redacted
    # no redacted copy: no audio at all, never the original
    bare = archive.settings.updated(storage={"output": str(tmp_path / "empty")})
    with TestClient(create_app(bare)) as c:
        login(c)
        reply = c.get(f"/calls/{rid}/audio")
        assert reply.status_code == 404 and "never served" in reply.text
        assert original[:4000] not in reply.content
        assert 'id="no-audio"' in c.get(f"/calls/{rid}").text


def test_user_supplied_strings_render_as_text(viewer: TestClient, archive: Archive) -> None:
    rid = archive.ids[XSS_NAME]
    for html in (viewer.get(f"/calls/{rid}").text, viewer.get("/calls").text):
        assert "<img src=x" not in html and "<script>alert" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;.wav" in html
    page = viewer.get(f"/calls/{rid}").text
    assert "&lt;script&gt;alert(&#34;agent&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    search = viewer.get("/search", params={"q": '<script>alert("q")</script>'}).text
    assert '<script>alert("q")' not in search
    assert viewer.get("/calls").headers["content-security-policy"].startswith("default-src 'self'")
    assert XSS_AGENT  # the metadata value the page escaped


def test_search_finds_a_customer_phrase_and_links_to_its_time(
    viewer: TestClient, archive: Archive
) -> None:
    call = archive.calls["plain.wav"]
    said = next(t for t in call.turns if t.speaker == "customer" and len(t.text.split()) >= 6)
    word = max(re.findall(r"[a-z]{5,}", said.text.lower()), key=len)
    hits = viewer.get("/api/search", params={"q": word, "speaker": "customer"}).json()
    assert hits, word
    hit = next(h for h in hits if h["key"] == "plain.wav")
    assert abs(hit["start_s"] - said.start) < 15
    html = viewer.get("/search", params={"q": word}).text
    assert f'href="/calls/{archive.ids["plain.wav"]}?t=' in html and "<mark>" in html


def test_only_admins_list_users(client: TestClient) -> None:
    login(client)
    assert client.get("/users").status_code == 403
    client.cookies.clear()
    assert login(client, name="boss", password=PASSWORD + "!").status_code == 303
    users = client.get("/users")
    assert users.status_code == 200 and "viewer" in users.text and "argon2" not in users.text


def test_runs_show_progress_and_cost(viewer: TestClient) -> None:
    runs = viewer.get("/api/runs").json()
    assert len(runs) == 2
    assert all(r["done"] >= 1 and r["failed"] == 0 and r["pending"] == 0 for r in runs)
    assert all(r["audio_hours"] > 0 for r in runs)
    assert "<progress" in viewer.get("/runs").text


def test_no_write_route(viewer: TestClient, archive: Archive) -> None:
    rid = archive.ids["plain.wav"]
    for path in ("/calls", f"/calls/{rid}", f"/calls/{rid}/audio", "/search", "/api/calls"):
        assert viewer.post(path).status_code == 405, path
        assert viewer.delete(path).status_code == 405, path


def test_a_new_password_ends_the_sessions_made_with_the_old_one(archive: Archive) -> None:
    from callscribe.models.db import make_engine, session_factory
    from callscribe.web.users import add_user

    factory = session_factory(make_engine(archive.database_url))
    add_user(factory, "temp", "first password 123", "viewer")
    with TestClient(create_app(archive.settings)) as c:
        assert login(c, name="temp", password="first password 123").status_code == 303
        assert c.get("/calls", follow_redirects=False).status_code == 200
        add_user(factory, "temp", "second password 456", "viewer")
        assert c.get("/calls", follow_redirects=False).status_code == 303


def test_out_of_range_ids_and_pages_are_refused_not_crashed(viewer: TestClient) -> None:
    assert viewer.get("/calls/99999999999999999999").status_code == 422
    assert viewer.get("/api/calls", params={"page": "99999999999999999999"}).status_code == 400
    assert viewer.get("/search", params={"page": "x"}).status_code == 400
