"""Numbers in a transcript: runs of written digits ("4111", "555-123-4567", " 5", "-5") and
spoken digit words ("four one one one", "double four", "oh"), classified as a card (Luhn, or
after "card"), an SSN or a phone number (the rules: ``workers.protection.redaction``)."""

from __future__ import annotations

import re
from typing import NamedTuple

from .tokens import SENTENCE_END, Span, Tok

DIGIT_WORDS = {"oh": "0", "o": "0", "niner": "9"} | {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())
}
_REPEAT = {"double": 2, "triple": 3}
_JOINERS = {"dash", "hyphen", "-", "–", "—"}
_WRITTEN = re.compile(r"\+?\(?\d+\)?(?:[-.]?\(?\d+\)?)*")


class _Elem(NamedTuple):
    """Digits of one or two words of a run (a repeat word and its digit)."""

    first: int
    last: int
    chunks: tuple[str, ...]
    plus: bool = False


#: Digits enough, just after "card", for a card number the model misheard: 12, one fewer
#: than the shortest card, as tiny.en drops repeats of a spoken "one one one one, …" (a
#: 16-digit test card heard as "4-1-1-1-1-1-1-1-1-1-1-1", twelve), and no phone number
#: of the plans it would otherwise be (10 or 11 digits) is that long.
MISHEARD_CARD_DIGITS = 12


def number_spans(toks: list[Tok]) -> list[Span]:
    spans = []
    for run in (_with_homophone(toks, r) for r in _runs(toks)):
        if _count(run) >= MISHEARD_CARD_DIGITS and _after_card_words(toks, run[0].first):
            spans.append(Span(run[0].first, run[-1].last, "CARD"))  # misheard digit: no Luhn
            continue
        spans += [Span(run[a].first, run[b].last, kind) for a, b, kind in _classify_run(run)]
    return spans


def _after_card_words(toks: list[Tok], first: int) -> bool:
    """Whether "card" was said just before (within five words): "the card number is …"."""
    return any(t.low in ("card", "cards") for t in toks[max(0, first - 5) : first])


#: Words a model writes for a digit it heard ("the card number is for one one one …").
_HOMOPHONES = {"for": "4", "to": "2", "too": "2", "won": "1", "ate": "8"}


def _with_homophone(toks: list[Tok], run: list[_Elem]) -> list[_Elem]:
    """The run with the word just before it read as a digit, when that word sounds like
    one and only so the run is a valid card number (Luhn): "for 1111 1111 1111 1111"."""
    at = run[0].first - 1
    if at < 0 or toks[at].low not in _HOMOPHONES or toks[at].tail:
        return run
    longer = [_Elem(at, at, (_HOMOPHONES[toks[at].low],)), *run]
    if _classify(run, strong=False) != "CARD" and _classify(longer, strong=True) == "CARD":
        return longer
    return run


def _runs(toks: list[Tok]) -> list[list[_Elem]]:
    """Stretches of consecutive number words, without joiners at their ends; "Oh,"
    opening a stretch is an interjection, not a zero."""
    runs: list[list[_Elem]] = [[]]
    i = 0
    while i < len(toks):
        elem = _element(toks, i)
        if elem is None or (elem.plus and runs[-1]):
            runs.append([])
        interjection = toks[i].low in ("oh", "o") and bool(toks[i].tail) and not runs[-1]
        if elem is not None and not interjection:
            runs[-1].append(elem)
        i = elem.last + 1 if elem is not None else i + 1
        if any(c in SENTENCE_END for c in toks[i - 1].tail):
            runs.append([])
    return [_trim(run) for run in runs if any(e.chunks for e in run)]


def _trim(run: list[_Elem]) -> list[_Elem]:
    """Without joiners at either end."""
    first = next(i for i, e in enumerate(run) if e.chunks or e.plus)
    return run[first : max(i for i, e in enumerate(run) if e.chunks) + 1]


def _element(toks: list[Tok], i: int) -> _Elem | None:
    low = toks[i].low.strip("-–—") or toks[i].low  # " 5", "-5", "-5" (a model's "5-5-5")
    nxt = toks[i + 1].low if i + 1 < len(toks) else ""
    parts = low.split("-")
    if low in _REPEAT and nxt in DIGIT_WORDS:
        return _Elem(i, i + 1, (DIGIT_WORDS[nxt],) * _REPEAT[low])
    if low in _JOINERS or low == "plus":
        return _Elem(i, i, (), plus=low == "plus")
    if all(p in DIGIT_WORDS for p in parts):  # "four", "four-one-one-one"
        return _Elem(i, i, tuple(DIGIT_WORDS[p] for p in parts))
    if _WRITTEN.fullmatch(low) and not re.fullmatch(r"\d+\.\d+", low):
        return _Elem(i, i, tuple(re.findall(r"\d+", low)), plus=low.startswith("+"))
    return None


def _classify_run(run: list[_Elem]) -> list[tuple[int, int, str]]:
    """(first element, last element, kind) of each entity in a run."""
    kind = _classify(run, strong=False)
    if kind is not None or _count(run) <= 19:
        return [] if kind is None else [(0, len(run) - 1, kind)]
    found: list[tuple[int, int, str]] = []
    gap = 0
    for a, b, strong in _best_split(run):
        found += [*_leftover(run, gap, a), (a, b, strong)]
        gap = b + 1
    found += _leftover(run, gap, len(run))
    return _covering(found, len(run))


def _covering(found: list[tuple[int, int, str]], size: int) -> list[tuple[int, int, str]]:
    """The entities of a long run stretched over the digits between them and at its ends,
    so no stray digit of it is left in the clear."""
    if not found:
        return []
    stretched: list[tuple[int, int, str]] = []
    for i, (_a, _b, kind) in enumerate(found):
        start = 0 if i == 0 else stretched[-1][1] + 1
        end = size - 1 if i == len(found) - 1 else found[i + 1][0] - 1
        stretched.append((start, end, kind))
    return stretched


def _best_split(run: list[_Elem]) -> list[tuple[int, int, str]]:
    """The cards, SSNs and complete phone numbers in a long run that cover the most
    digits (dynamic programming over where each one starts and ends)."""
    best: list[tuple[int, list[tuple[int, int, str]]]] = [(0, [])] * (len(run) + 1)
    for a in range(len(run) - 1, -1, -1):
        best[a] = best[a + 1]
        for b in range(a, len(run)):
            kind = _classify(run[a : b + 1], strong=True)
            score = _count(run[a : b + 1]) + best[b + 1][0]
            if kind is not None and score > best[a][0]:
                best[a] = (score, [(a, b, kind), *best[b + 1][1]])
    return best[0][1]


def _leftover(run: list[_Elem], a: int, b: int) -> list[tuple[int, int, str]]:
    """What is left between two entities of a long run, classified on its own."""
    kind = _classify(run[a:b], strong=False) if b > a else None
    return [(a, b - 1, kind)] if kind is not None else []


def _count(elems: list[_Elem]) -> int:
    return sum(len(c) for e in elems for c in e.chunks)


def _classify(elems: list[_Elem], *, strong: bool) -> str | None:
    chunks = [c for e in elems for c in e.chunks]
    digits = "".join(chunks)
    if not digits or not (elems[0].chunks or elems[0].plus) or not elems[-1].chunks:
        return None
    if 13 <= len(digits) <= 19 and _luhn(digits):
        return "CARD"
    shape = [len(c) for c in chunks]
    if (
        len(digits) == 9
        and (shape == [3, 2, 4] or max(shape) == 1)
        and digits[:3] not in ("000", "666")
        and digits[0] != "9"
        and digits[3:5] != "00"
        and digits[5:] != "0000"
    ):
        return "SSN"
    return "PHONE" if _phone(chunks, elems[0].plus, strong) else None


def _phone(chunks: list[str], plus: bool, strong: bool) -> bool:
    digits = "".join(chunks)
    n = len(digits)
    if plus or ((n == 10 or (n == 11 and digits[0] == "1")) and digits[n - 10] not in "01"):
        return 7 <= n <= 15
    return (
        not strong and 7 <= n <= 15 and len(chunks) > 1 and not _date_like([int(c) for c in chunks])
    )


def _date_like(groups: list[int]) -> bool:
    """2024-12-25, 12 25 2024, 25.12.2024, or a year range such as 1999-2000."""
    years = [1900 <= g <= 2099 for g in groups]
    if len(groups) == 2:
        return all(years)
    day_month = groups[1:] if years[0] else groups[:2]
    return (
        len(groups) == 3
        and (years[0] or years[2])
        and 1 <= min(day_month) <= 12
        and max(day_month) <= 31
    )


def _luhn(digits: str) -> bool:
    doubled = [int(d) * (1 + i % 2) for i, d in enumerate(reversed(digits))]
    return sum(n - 9 if n > 9 else n for n in doubled) % 10 == 0


# --- e-mail addresses and custom patterns: regular expressions over a form of the text ---
