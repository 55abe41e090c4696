"""The web app's small parts on their own: byte ranges, where a login
may send you, snippets, merged turns, new users' rules."""

from __future__ import annotations

import pytest

from callscribe.errors import ConfigurationError
from callscribe.web.audio import OnceEach, byte_range
from callscribe.web.context import BadRequest, day, safe_next, whole
from callscribe.web.data import Turn, merge_turns, snippet_pieces
from callscribe.web.users import check_new_user


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file
        ("items=0-5", None),
        ("bytes=5-2", None),  # not valid: ignored
    ],
)
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == expected


def test_a_missing_file_is_logged_once_per_reason_and_recording() -> None:
    once = OnceEach(size=2)
    assert once.first(1, "gone") and not once.first(1, "gone")
    assert once.first(1, "denied") and once.first(2, "gone")  # another reason, another call
    assert once.first(1, "gone")  # forgotten: only the last two pairs are kept


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-1200", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(ValueError):
        byte_range(header, 1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/calls/3?t=1", "/calls/3?t=1"),
        ("//evil.example/x", "/calls"),
        ("https://evil.example/", "/calls"),
        ("/\\evil.example", "/calls"),
        ("/\t/evil.example", "/calls"),
        ("/\n/evil.example", "/calls"),
        ("/calls?q=a b", "/calls"),
        ("javascript:alert(1)", "/calls"),
        (None, "/calls"),
    ],
)
def test_a_login_only_sends_you_within_the_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_bad_parameters_name_themselves() -> None:
    with pytest.raises(BadRequest, match="since must be a date"):
        day("since", "07/12/2026")
    with pytest.raises(BadRequest, match="page must be a whole number"):
        whole("page", "two")
    with pytest.raises(BadRequest, match="page must be between 1 and"):
        whole("page", "0")
    until = day("until", "2026-12-07", end=True)
    assert until is not None and until.hour == 23


def test_snippets_split_at_their_marks() -> None:
    assert snippet_pieces("a «refund» for [CARD] «now»") == [
        ("a ", False), ("refund", True), (" for [CARD] ", False), ("now", True),
    ]  # fmt: skip


def _turn(speaker: str, start: float, end: float, channel: int = 0) -> Turn:
    return Turn(
        speaker=speaker, channel=channel, start=start, end=end, words=[(start, end, "x", False)]
    )


def test_one_speakers_segments_close_together_are_one_turn() -> None:
    turns = [_turn("agent", 0, 2), _turn("agent", 2.5, 4), _turn("customer", 4.2, 6, 1),
             _turn("agent", 6.1, 7), _turn("agent", 10, 11)]  # fmt: skip
    merged = merge_turns(turns)
    assert [(t.speaker, t.start, t.end, len(t.words)) for t in merged] == [
        ("agent", 0, 4, 2), ("customer", 4.2, 6, 1), ("agent", 6.1, 7, 1), ("agent", 10, 11, 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("a b", "long enough password", "viewer", "user name"),
        ("ann", "short", "viewer", "at least 12"),
        ("ann", "long enough password", "root", "role"),
    ],
)
def test_new_users_rules(name: str, password: str, role: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        check_new_user(name, password, role)
