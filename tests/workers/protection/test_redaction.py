"""PII redaction (``workers.protection.redaction``) and redacted audio
(``workers.protection.redacted_audio``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from callscribe.workers.protection.redacted_audio import (
    decode_pcm16,
    silence_spans,
    write_redacted_audio,
)
from callscribe.workers.protection.redaction import (
    Entity,
    Patterns,
    Redacted,
    redact_segments,
    redact_text,
)
from callscribe.workers.records import Word

VISA, MASTERCARD, AMEX = "4111111111111111", "5555555555554444", "378282246310005"
SPOKEN = dict(
    zip(
        "0123456789",
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
        strict=True,
    )
)


def words(text: str, step: float = 0.5) -> list[Word]:
    """Whisper-like words: a leading space, punctuation attached, 0.5 s each."""
    pieces = text.split()
    return [
        Word(i * step, i * step + step * 0.8, f" {p}", 0.9 - i / 1000) for i, p in enumerate(pieces)
    ]


def redact_words(given: list[Word], patterns: Patterns | None = None) -> Redacted:
    """One segment's words, redacted."""
    return redact_segments([given], patterns)[0]


def spoken(digits: str) -> str:
    return " ".join(SPOKEN[d] for d in digits)


def kinds(text: str, patterns: dict[str, str] | None = None) -> list[str]:
    return [r.kind for r in redact_words(words(text), patterns).entities]


WRITTEN_CASES = [
    (
        f"my card is {VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]}.",
        "my card is [CARD].",
        ["CARD"],
    ),
    (
        f"it's {VISA[:4]}-{VISA[4:8]}-{VISA[8:12]}-{VISA[12:]}, thanks",
        "it's [CARD], thanks",
        ["CARD"],
    ),
    (f"number {MASTERCARD} please", "number [CARD] please", ["CARD"]),
    (f"amex {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]} ok", "amex [CARD] ok", ["CARD"]),
    (
        f"card {MASTERCARD[:4]}, {MASTERCARD[4:8]}, {MASTERCARD[8:12]}, {MASTERCARD[12:]}.",
        "card [CARD].",
        ["CARD"],
    ),
    ("SSN 123-45-6789.", "SSN [SSN].", ["SSN"]),
    ("social is 123 45 6789 yes", "social is [SSN] yes", ["SSN"]),
    ("call (555) 123-4567 now", "call [PHONE] now", ["PHONE"]),
    ("it's 555-123-4567.", "it's [PHONE].", ["PHONE"]),
    ("dial +1 555 123 4567, okay", "dial [PHONE], okay", ["PHONE"]),
    ("dial 1-800-555-0199 today", "dial [PHONE] today", ["PHONE"]),
    ("London +44 20 7946 0958", "London [PHONE]", ["PHONE"]),
    ("Paris 06 12 34 56 78", "Paris [PHONE]", ["PHONE"]),
    ("local 555-0199 only", "local [PHONE] only", ["PHONE"]),
    ("mail pat@example.com.", "mail [EMAIL].", ["EMAIL"]),
    ("write pat@example. com down", "write [EMAIL]. com down", ["EMAIL"]),
    ("mail (Pat.Smith+calls@mail.example.co.uk) please", "mail [EMAIL] please", ["EMAIL"]),
    (
        f"phone 555 123 4567 {VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]} bye",
        "phone [PHONE] [CARD] bye",
        ["PHONE", "CARD"],
    ),
]

SPOKEN_CASES = [
    (f"it is {spoken(VISA)}", "it is [CARD]", ["CARD"]),
    ("four one one one, one one one one, one one one one, one one one one.", "[CARD].", ["CARD"]),
    (
        "five five five five, five five five five, five five five five, double four double four",
        "[CARD]",
        ["CARD"],
    ),
    ("Four-one-one-one one-one-one-one 1111 1111", "[CARD]", ["CARD"]),
    ("one two three, four five, six seven eight nine", "[SSN]", ["SSN"]),
    ("five five five, one two three, four five six seven.", "[PHONE].", ["PHONE"]),
    ("plus one five five five one two three four five six seven", "[PHONE]", ["PHONE"]),
    ("triple five oh one nine nine", "[PHONE]", ["PHONE"]),
    ("Oh, five five five one two three four five six seven", "Oh, [PHONE]", ["PHONE"]),
    ("it's pat at example dot com thanks", "it's [EMAIL] thanks", ["EMAIL"]),
    ("p a t at example dot co dot uk.", "[EMAIL].", ["EMAIL"]),
    ("pat dot smith at example dot org, right", "[EMAIL], right", ["EMAIL"]),
    ("pat underscore smith at mail dot example dot com", "[EMAIL]", ["EMAIL"]),
]

NOT_PII = [
    "that's forty nine ninety nine",
    "the total is $49.99 today",
    "it costs 49.99 a month",
    "a $1,299 laptop",
    "on 12/25/2024 at 10:30",
    "on 2024-12-25",
    "from 1999-2000",
    "order 123456 shipped",
    "order number 12345678",
    "zip 90210 please",
    "one or two days",
    "I have four kids and two dogs",
    "at 10 30 tomorrow",
    "nine eleven",
    "twenty twenty four",
    "Oh, okay",
    "oh no",
    "look at google dot com",
    "visit example dot com",
    "I'm at work. Dot com",
    "it's available at amazon dot com",
    "the year 2024 and 2025",
    "1234 5678 9012 3456",  # 16 digits, not Luhn: no card, too long for a phone
    "tracking 9400111899223334445566",  # 22 digits, no card or phone inside
    "double check it",
    "room 101, floor 3",
]


@pytest.mark.parametrize(("text", "expected", "found"), WRITTEN_CASES + SPOKEN_CASES)
def test_redacts(text: str, expected: str, found: list[str]) -> None:
    result = redact_words(words(text))
    assert result.text == expected
    assert [r.kind for r in result.entities] == found
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", NOT_PII)
def test_leaves_what_is_not_pii(text: str) -> None:
    assert redact_text(text) == text
    assert redact_words(words(text)).entities == ()


def test_tag_spans_the_words() -> None:
    text = f"so it's {VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]}, right"
    given = words(text)
    result = redact_words(given)
    (redaction,) = result.entities
    assert redaction == Entity(
        kind="CARD",
        start=given[2].start,
        end=given[5].end,
        word_index_first=2,
        word_index_last=5,
    )
    tag = result.words[2]
    assert (tag.word, tag.start, tag.end) == (" [CARD],", given[2].start, given[5].end)
    assert tag.probability == min(w.probability for w in given[2:6])
    assert [w.word for w in result.words] == [" so", " it's", " [CARD],", " right"]
    assert result.words[0] == given[0]


def test_a_tag_over_words_of_unknown_probability_has_none() -> None:
    given = [Word(float(i), i + 0.5, f" {p}") for i, p in enumerate(["ssn", "123-45-6789"])]
    result = redact_words(given)
    assert [w.word for w in result.words] == [" ssn", " [SSN]"]
    assert result.entities[0].start == 1.0 and result.words[1].probability is None


def test_custom_patterns() -> None:
    patterns = {"ACCOUNT": r"AC[- ]?\d{6}"}
    assert redact_text("account AC-123456 please", patterns) == "account [ACCOUNT] please"
    assert redact_text("it's A C one two three four five six", patterns) == "it's [ACCOUNT]"
    assert redact_text("AC 123456.", patterns) == "[ACCOUNT]."
    assert redact_text("account AC-12345 please", patterns) == "account AC-12345 please"
    assert kinds("ref AC-123456 and card " + VISA, patterns) == ["ACCOUNT", "CARD"]


def test_an_entity_across_segments() -> None:
    first = words(f"the card is {VISA[:4]} {VISA[4:8]}")
    second = [
        Word(w.start + 10, w.end + 10, w.word, w.probability)
        for w in words(f"{VISA[8:12]} {VISA[12:]} and that's it")
    ]
    one, two = redact_segments([first, second])
    assert (one.text, two.text) == ("the card is [CARD]", "[CARD] and that's it")
    assert [r.kind for r in one.entities + two.entities] == ["CARD", "CARD"]
    assert two.entities[0].word_index_first == 0 and two.entities[0].end == second[1].end
    assert [r.text for r in redact_segments([[], first, []])] == ["", "the card is [PHONE]", ""]
    # half a card alone is no card, but 8 digits in groups are redacted all the same
    assert [r.kind for r in redact_words(first).entities] == ["PHONE"]


def test_text_and_words_agree() -> None:
    for text, _, _ in WRITTEN_CASES + SPOKEN_CASES:
        assert redact_words(words(text)).text == redact_text(text)
    assert redact_text("  padded  4111 1111 1111 1111  ") == "  padded  [CARD]  "
    assert redact_text("") == "" and redact_words([]) == Redacted((), ())


def test_nothing_of_the_original_survives() -> None:
    secrets = [VISA, MASTERCARD, AMEX, "123456789", "5551234567", "pat@example.com"]
    text = (
        f"card {spoken(VISA)}. card {MASTERCARD}. amex {AMEX[:4]}-{AMEX[4:10]}-"
        f"{AMEX[10:]}. ssn 123-45-6789. phone 555 123 4567. email pat@example.com. "
        f"or pat at example dot com."
    )
    given = words(text, step=0.25)
    outputs = [redact_words(given), redact_segments([given[:12], given[12:]]), redact_text(text)]
    shown = repr(outputs).replace(" ", "")
    for secret in secrets:
        assert secret not in shown
    for group in ["4111", "5555", "3782", "6789", "4567", "pat"]:
        assert group not in shown
    assert all(r.kind in ("CARD", "SSN", "PHONE", "EMAIL") for r in outputs[0].entities)
    assert len(outputs[0].entities) == 7


# --- redacted audio ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stereo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of stereo at 8 kHz: a 440 Hz tone left, 660 Hz right (μ-law, as calls are)."""
    path = tmp_path_factory.mktemp("audio") / "call.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=8000:duration=4",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:sample_rate=8000:duration=4",
            "-filter_complex",
            "[0:a][1:a]amerge=inputs=2",
            "-c:a",
            "pcm_mulaw",
            str(path),
        ],
        check=True,
    )
    return path


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def test_silence_spans() -> None:
    samples = np.ones(1000, dtype=np.float32)
    out = silence_spans(samples, 100, [(1.0, 2.0), (9.9, 20.0), (-5.0, 0.02)], pad_s=0.05)
    assert samples.sum() == 1000  # a copy
    assert out[95:205].sum() == 0 and out[94] == 1 and out[205] == 1
    assert out[985:].sum() == 0 and out[:7].sum() == 0 and out[7] == 1
    assert np.array_equal(silence_spans(samples, 100, []), samples)


def test_write_redacted_audio(stereo: Path, tmp_path: Path) -> None:
    plain, rate = decode_pcm16(stereo)
    assert plain.shape == (32000, 2) and rate == 8000
    out = tmp_path / "redacted.wav"
    write_redacted_audio(stereo, out, {0: [(1.0, 1.5)], 1: [(2.0, 2.25), (3.5, 3.6)]}, pad_s=0.0)
    redacted, out_rate = decode_pcm16(out)
    assert out_rate == 8000 and redacted.shape == plain.shape
    silent = np.zeros(plain.shape, dtype=bool)
    silent[8000:12000, 0] = silent[16000:18000, 1] = silent[28000:28800, 1] = True
    assert rms(redacted[8000:12000, 0]) == 0 and rms(redacted[16000:18000, 1]) == 0
    assert rms(redacted[28000:28800, 1]) == 0
    assert np.array_equal(redacted[~silent], plain[~silent])  # bit-exact elsewhere
    assert rms(plain[8000:12000, 0]) > 1000 and rms(redacted[16000:18000, 0]) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["redacted.wav"]


def test_write_redacted_audio_rejects_bad_input(stereo: Path, tmp_path: Path) -> None:
    from callscribe.errors import BadAudioError

    with pytest.raises(ValueError, match="channel 2"):
        write_redacted_audio(stereo, tmp_path / "x.wav", {2: [(0.0, 1.0)]})
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    with pytest.raises(BadAudioError):
        write_redacted_audio(junk, tmp_path / "y.wav", {})
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()


def test_digits_the_model_glued_with_dashes_are_one_number() -> None:
    """tiny.en writes a phone number read digit by digit as " 5", "-5", "-5", … words."""
    words = [
        " My",
        " phone",
        " number",
        " is",
        " 5",
        "-5",
        "-5",
        "-5",
        "-9",
        "-2",
        "-9",
        "-5",
        "-6",
        "-1.",
    ]
    result = redact_words([Word(i, i + 0.5, w) for i, w in enumerate(words)])
    assert result.text.strip() == "My phone number is [PHONE]."
    assert [(r.kind, r.start, r.end) for r in result.entities] == [("PHONE", 4, 13.5)]


def test_a_card_number_heard_short_after_card_is_still_a_card() -> None:
    """tiny.en heard a spoken 16-digit test card as twelve digits: after "card" that is a
    card; twelve digits elsewhere, or eleven after "card", are not."""
    heard = "Yes, the card number is 4-1-1-1-1-1-1-1-1-1-1-1."
    assert redact_text(heard) == "Yes, the card number is [CARD]."
    assert redact_text("my card number is 4-1-1-1-1-1-1-1-1-1-1.") != ("my card number is [CARD].")
    assert "[CARD]" not in redact_text("the order is 4-1-1-1-1-1-1-1-1-1-1-1 today")


def test_a_digit_heard_as_a_word_completes_a_card_number() -> None:
    """ "four one one one …" heard as "for 111, 1111, …": with "for" as 4 the digits pass
    Luhn, so the whole is a card, "for" included; "for" before other numbers stays."""
    words = [
        " Yes,",
        " the",
        " card",
        " number",
        " is",
        " for",
        " 111,",
        " 1111,",
        " 1111,",
        " 1111.",
    ]
    result = redact_words([Word(i, i + 0.5, w) for i, w in enumerate(words)])
    assert result.text.strip() == "Yes, the card number is [CARD]."
    assert [(r.kind, r.start) for r in result.entities] == [("CARD", 5)]
    assert redact_text("I paid for 2 items") == "I paid for 2 items"
