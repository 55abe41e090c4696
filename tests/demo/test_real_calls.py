"""Tests for callscribe.demo.calls (real-voice calls) and callscribe.demo.scoring.

No Whisper model here: the audio is checked with ffprobe/ffmpeg and numpy, the scoring on
hand-made hypotheses."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from callscribe.demo.calls import (
    RealCall,
    RefTurn,
    hold_music,
    load_corpus,
    make_real_call,
    make_real_corpus,
)
from callscribe.demo.scoring import (
    channel_pairs,
    corpus_wer,
    dialogue_wer,
    normalize,
    repetition_loops,
    segments_in_turn,
    summary,
    turn_recall,
    wer,
    words_outside_speech,
)
from callscribe.workers.records import Segment, Word
from tests.test_testing_audio import audio_stream as probe
from tests.test_testing_audio import decode

LOUD = 0.02 * 32768  # RMS of speech or music
FLOOR = 0.01 * 32768  # RMS above the -45 dBFS line noise but far below speech
SEED = 7

# ----------------------------------------------------------------- helpers


def rms(x: NDArray[Any]) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


def win(pcm: NDArray[np.int16], rate: int, start: float, end: float, ch: int) -> NDArray[Any]:
    return pcm[round(start * rate) : round(end * rate), ch]


def gaps(call: RealCall) -> list[tuple[float, float]]:
    """Spans with neither speech nor hold music (between consecutive events)."""
    events = sorted([(t.start, t.end) for t in call.turns] + list(call.holds))
    return [(a_end, b_start) for (_, a_end), (b_start, _) in itertools.pairwise(events)]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real_calls")


@pytest.fixture(scope="module")
def mulaw(out_dir: Path) -> RealCall:
    return make_real_call(out_dir / "mulaw.wav", seed=SEED)


@pytest.fixture(scope="module")
def clean(out_dir: Path) -> RealCall:
    return make_real_call(out_dir / "clean.wav", seed=SEED, fmt="wav", noise=False)


@pytest.fixture(scope="module")
def noisy16(out_dir: Path) -> RealCall:
    return make_real_call(out_dir / "noisy16.wav", seed=SEED, fmt="wav")


# ----------------------------------------------------------------- generation


def test_same_seed_same_bytes(out_dir: Path, mulaw: RealCall) -> None:
    again = make_real_call(out_dir / "again.wav", seed=SEED)
    assert again.path.read_bytes() == mulaw.path.read_bytes()
    assert again.to_json() | {"path": "", "name": ""} == mulaw.to_json() | {"path": "", "name": ""}
    other = make_real_call(out_dir / "other.wav", seed=SEED + 1)
    assert other.path.read_bytes() != mulaw.path.read_bytes()


def test_default_call_is_short_stereo_mulaw(mulaw: RealCall) -> None:
    stream = probe(mulaw.path)
    assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (
        "pcm_mulaw",
        8000,
        2,
    )
    pcm, rate = decode(mulaw.path)
    assert len(pcm) / rate == pytest.approx(mulaw.duration, abs=0.01)
    assert 40 <= mulaw.duration <= 75
    assert (mulaw.layout, mulaw.channels, mulaw.fmt) == ("stereo", 2, "wav_mulaw")
    assert mulaw.voices["agent"] != mulaw.voices["customer"]
    assert [t.start for t in mulaw.turns] == sorted(t.start for t in mulaw.turns)
    assert {t.channel for t in mulaw.turns if t.speaker == "agent"} == {0}
    assert {t.channel for t in mulaw.turns if t.speaker == "customer"} == {1}
    switches = sum(a.speaker != b.speaker for a, b in itertools.pairwise(mulaw.turns))
    assert switches >= 0.6 * (len(mulaw.turns) - 1)  # turns alternate mostly
    assert len(mulaw.holds) == 1


def test_turns_are_exact_in_clean_audio(clean: RealCall) -> None:
    """Without noise, each channel is non-zero exactly inside its own turns and holds."""
    pcm, rate = decode(clean.path)
    assert rate == 16000 and pcm.shape[1] == 2
    for turn in clean.turns:
        s, e = round(turn.start * rate), round(turn.end * rate)
        own = pcm[:, turn.channel]
        assert own[s - 1] == 0 and own[s] != 0 and own[e - 1] != 0 and own[e] == 0, turn
        assert not pcm[s:e, 1 - turn.channel].any(), turn  # the other leg is silent
    for start, end in clean.holds:
        assert not win(pcm, rate, start, end, 1).any()  # hold music: agent leg only
        assert rms(win(pcm, rate, start, end, 0)) > LOUD
    for start, end in gaps(clean):
        assert not pcm[round(start * rate) + 1 : round(end * rate) - 1].any()


def test_noise_floor_and_energy(noisy16: RealCall, mulaw: RealCall) -> None:
    for call in (noisy16, mulaw):
        pcm, rate = decode(call.path)
        for turn in call.turns:
            own = win(pcm, rate, turn.start + 0.05, turn.end - 0.05, turn.channel)
            other = win(pcm, rate, turn.start, turn.end, 1 - turn.channel)
            assert rms(own) > LOUD, turn
            assert 0 < rms(other) < FLOOR, turn  # line noise: not digitally silent
        for start, end in call.holds:
            assert rms(win(pcm, rate, start + 0.1, end - 0.1, 0)) > LOUD
            assert rms(win(pcm, rate, start, end, 1)) < FLOOR
        for start, end in gaps(call):
            for ch in (0, 1):
                assert 0 < rms(win(pcm, rate, start + 0.02, end - 0.02, ch)) < FLOOR


def test_pauses(mulaw: RealCall, noisy16: RealCall) -> None:
    for call in (mulaw, noisy16):
        for start, end in gaps(call):
            assert 0.25 <= end - start <= 6.0
    assert 0.3 < mulaw.turns[0].start < 1.3


def test_hold_music_is_a_melody() -> None:
    music = hold_music(6.0, seed=3)
    assert len(music) == 6 * 16000 and 0.2 < np.abs(music).max() <= 0.25
    pitches = set()
    for i in range(0, len(music) - 4000, 4000):
        spectrum = np.abs(np.fft.rfft(music[i : i + 4000]))
        pitches.add(round(float(np.fft.rfftfreq(4000, 1 / 16000)[np.argmax(spectrum)]), -1))
    assert len(pitches) >= 3
    spectrum = np.abs(np.fft.rfft(music[:16000]))
    assert (spectrum > 0.05 * spectrum.max()).sum() >= 4  # harmonics, not a pure tone


def test_mono_and_dual_mono(out_dir: Path, noisy16: RealCall) -> None:
    mono = make_real_call(out_dir / "mono.flac", seed=SEED, layout="mono", fmt="flac")
    stream = probe(mono.path)
    assert (stream["codec_name"], stream["channels"], mono.channels) == ("flac", 1, 1)
    assert {t.channel for t in mono.turns} == {0}
    assert [t.text for t in mono.turns] == [t.text for t in noisy16.turns]
    pcm, rate = decode(mono.path)
    for turn in mono.turns:
        assert rms(win(pcm, rate, turn.start + 0.05, turn.end - 0.05, 0)) > LOUD

    dual = make_real_call(out_dir / "dual.mp3", seed=SEED, layout="dual_mono", fmt="mp3")
    stream = probe(dual.path)
    assert (stream["codec_name"], stream["channels"], dual.channels) == ("mp3", 2, 2)
    assert {t.channel for t in dual.turns} == {0}
    pcm, _ = decode(dual.path)
    left, right = pcm[:, 0].astype(np.float64), pcm[:, 1].astype(np.float64)
    assert not np.array_equal(left, right)
    assert np.corrcoef(left, right)[0, 1] > 0.98


def test_card_number_call(out_dir: Path) -> None:
    call = make_real_call(out_dir / "card.wav", seed=11, card_number=True, fmt="wav")
    card = next(t for t in call.turns if t.tag == "card")
    after = next(t for t in call.turns if t.tag == "after_card")
    assert card.speaker == after.speaker == "customer"
    assert "four one one one, one one one one, one one one one, one one one one" in card.text
    assert after.text.startswith("My phone number is five five five")
    assert 0 < after.start - card.end < 1.0
    assert call.duration < 75


def test_minutes_and_json_round_trip(out_dir: Path) -> None:
    call = make_real_call(out_dir / "long.wav", seed=5, minutes=2.5, fmt="wav")
    assert call.duration == pytest.approx(150.0, abs=3.0)
    assert call.turns[-1].end > 150.0 - 15.0
    assert len(call.turns) >= 25
    assert 15 <= call.holds[0][1] - call.holds[0][0] <= 25
    data = json.loads(json.dumps(call.to_json()))
    assert RealCall.from_json(data) == call
    assert call.reference("agent").startswith("Thank you for calling customer support")
    assert call.reference() == " ".join(t.text for t in call.turns)


def test_corpus_and_load(tmp_path: Path) -> None:
    calls = make_real_corpus(tmp_path / "c", 2, seed=4, fmt="wav", hold=False)
    assert [c.path.name for c in calls] == ["call_000.wav", "call_001.wav"]
    assert all(not c.holds and c.layout == "stereo" for c in calls)
    assert (tmp_path / "c" / "call_000.ref.json").is_file()
    (tmp_path / "c").rename(tmp_path / "moved")
    loaded = load_corpus(tmp_path / "moved")
    assert [c.path for c in loaded] == [tmp_path / "moved" / c.path.name for c in calls]
    assert [replace(c, path=Path()) for c in loaded] == [replace(c, path=Path()) for c in calls]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout"):
        make_real_call(tmp_path / "x.wav", seed=0, layout="quad")
    with pytest.raises(ValueError, match="format"):
        make_real_call(tmp_path / "x.wma", seed=0, fmt="wma")
    with pytest.raises(ValueError, match="minutes"):
        make_real_call(tmp_path / "x.wav", seed=0, minutes=0)


# ----------------------------------------------------------------- scoring

A1 = RefTurn(
    speaker="agent",
    channel=0,
    start=1.0,
    end=3.0,
    text="Thank you for calling, how can I help you?",
)
C1 = RefTurn(
    speaker="customer", channel=1, start=4.0, end=6.0, text="I was charged twice this month."
)
A2 = RefTurn(speaker="agent", channel=0, start=7.0, end=9.0, text="Let me check that, please hold.")
A3 = RefTurn(
    speaker="agent", channel=0, start=30.0, end=32.0, text="Thanks for waiting, I am back."
)
C2 = RefTurn(
    speaker="customer",
    channel=1,
    start=33.0,
    end=35.0,
    text="My card is four one one one, one one one one.",
    tag="card",
)
HAND = RealCall(
    path=Path("hand.wav"),
    name="hand",
    fmt="wav",
    layout="stereo",
    channels=2,
    duration=36.0,
    turns=(A1, C1, A2, A3, C2),
    holds=((10.0, 29.0),),
    voices={"agent": "slt", "customer": "rms"},
)


def seg(turn: RefTurn, text: str | None = None, shift: float = 0.0) -> Segment:
    return Segment(
        channel=turn.channel,
        speaker=turn.speaker,
        start=turn.start + shift,
        end=turn.end + shift,
        text=text or turn.text,
    )


PERFECT = [seg(t) for t in HAND.turns]


def test_normalize_and_wer() -> None:
    assert normalize("Hello, how can I help you?") == "hello how can i help you"
    assert normalize("four one one one, one one one one") == normalize("4111 1111")
    assert wer("I was charged twice.", "i was charged twice") == 0.0
    assert wer("a b c d", "a x c") == pytest.approx(0.5)
    assert wer("", "") == 0.0 and wer("", "words") == 1.0 and wer("a b", "") == 1.0
    assert corpus_wer([("a b c d", "a b c d"), ("e f", "x f")]) == pytest.approx(1 / 6)


def test_channel_pairs_and_dialogue_wer() -> None:
    pairs = channel_pairs(HAND, list(reversed(PERFECT)))
    assert pairs == [
        (HAND.reference("agent"), " ".join(t.text for t in (A1, A2, A3))),
        (HAND.reference("customer"), " ".join(t.text for t in (C1, C2))),
    ]
    assert corpus_wer(pairs) == 0.0 and dialogue_wer(HAND, PERFECT) == 0.0
    # customer turns transcribed fine but placed 5 s early: per channel still perfect,
    # the conversation is scrambled
    scrambled = [seg(t, shift=-5.0 if t.speaker == "customer" else 0.0) for t in HAND.turns]
    assert corpus_wer(channel_pairs(HAND, scrambled)) == 0.0
    assert dialogue_wer(HAND, scrambled) > 0.2
    mono = replace(HAND, layout="mono", channels=1)
    assert channel_pairs(mono, PERFECT) == [(HAND.reference(), HAND.reference())]


def test_segments_in_turn() -> None:
    assert segments_in_turn(HAND, PERFECT) == 1.0
    spanning = Segment(
        channel=0, speaker="agent", start=1.0, end=9.0, text="thank you for calling let me check"
    )
    assert segments_in_turn(HAND, [seg(A1), spanning]) == 0.5
    assert segments_in_turn(HAND, [seg(A1, shift=0.8)]) == 1.0  # within the tolerance
    wrong_leg = Segment(
        channel=1, speaker="customer", start=1.0, end=3.0, text="thank you for calling"
    )
    assert segments_in_turn(HAND, [wrong_leg]) == 0.0
    assert segments_in_turn(replace(HAND, layout="mono"), [wrong_leg]) == 1.0


def test_words_outside_speech() -> None:
    assert words_outside_speech(HAND, PERFECT) == 0
    during_hold = Segment(channel=0, speaker="agent", start=15.0, end=16.0, text="thank you")
    assert words_outside_speech(HAND, [*PERFECT, during_hold]) == 2
    timed = Segment(
        channel=0, speaker="agent", start=7.0, end=20.0, text="please hold music",
        words=(Word(7.0, 7.5, " please"), Word(7.5, 8.0, " hold"), Word(19, 20, " music")),
    )  # fmt: skip
    assert words_outside_speech(HAND, [timed]) == 1
    # on the customer's leg while only the agent talks
    assert (
        words_outside_speech(
            HAND, [Segment(channel=1, speaker="customer", start=1.0, end=3.0, text="hello")]
        )
        == 1
    )
    assert words_outside_speech(replace(HAND, layout="mono"), [seg(A1, "hello")]) == 0


def test_turn_recall() -> None:
    assert [r for _, r in turn_recall(HAND, PERFECT)] == [1.0] * 5
    partial = [seg(A1), seg(C1, "I was charged"), seg(C2, "My card is 4111 1111.")]
    recall = dict(turn_recall(HAND, partial))
    assert recall[A1] == 1.0 and recall[C2] == 1.0
    assert recall[C1] == pytest.approx(3 / 6)
    assert recall[A2] == 0.0 and recall[A3] == 0.0
    far = [seg(A1, shift=10.0)]  # right words, wrong time
    assert dict(turn_recall(HAND, far))[A1] == 0.0


def test_repetition_loops() -> None:
    texts = {
        "My card is 1-1-1-1-1-1-1-1-1-1.": True,
        "1, 1, 1, 1, 1, 1, 1, 1, 1": True,
        "Thank you. " * 8: True,
        "Yes, the card number is 4111 1111 1111 1111.": False,
        "Yes, the card number is 4111, 111, 111, 111, 111.": False,
        "one two three four": False,
    }
    segments = [
        Segment(channel=1, speaker="customer", start=0.0, end=5.0, text=text) for text in texts
    ]
    loops = repetition_loops(segments)
    assert [s.text for s in loops] == [t for t, looped in texts.items() if looped]


def test_repetition_loops_against_what_was_said() -> None:
    """Against the call's reference a number with many equal digits, grouped any way, is
    no loop; more of them than were said, or a phrase repeated beyond the speech, is."""
    said = "Yes, the card number is 4111 1111 1111 1111. Thank you. Thank you."
    texts = {
        "Yes, the card number is 4-11-11-11-11-11-11-11.": False,  # 14 ones of 15
        "Yes, the card number is 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.": False,
        "Yes, the card number is 4-11-11-11-11-11-11-11-11-11-11-11-11.": True,  # 24 ones
        "Thank you. " * 4: False,
        "Thank you. " * 8: True,
        "1-1-1-1-1-1-1-1-1-1 and then 2-2-2-2-2-2-2-2.": True,
    }
    segments = [
        Segment(channel=1, speaker="customer", start=0.0, end=5.0, text=text) for text in texts
    ]
    loops = repetition_loops(segments, said=said)
    assert [s.text for s in loops] == [t for t, looped in texts.items() if looped]


def test_summary() -> None:
    looped = [
        *PERFECT,
        Segment(channel=0, speaker="agent", start=15.0, end=20.0, text="la " * 10),
    ]
    out = summary(HAND, looped)
    assert out["wer"] > 0 and out["words_outside_speech"] == 10
    assert out["repetition_loops"] == 1 and out["tagged_turn_recall"] == {"card": 1.0}
    assert set(out["wer_by_speaker"]) == {"agent", "customer"}
    json.dumps(out)


def test_speaker_scores_on_hand_made_turns() -> None:
    from callscribe.demo.scoring import best_naming, diarization_error_rate, speaker_time

    turns = [
        RefTurn(speaker="agent", channel=0, start=0.0, end=4.0, text="a"),
        RefTurn(speaker="customer", channel=0, start=3.0, end=8.0, text="b"),
    ]
    right = [
        Segment(channel=0, speaker="agent", start=0.0, end=4.0, text="a"),
        Segment(channel=0, speaker="customer", start=4.0, end=8.0, text="b"),
    ]
    assert speaker_time(right, turns) == pytest.approx(1.0)  # 3-4 s: both speak
    errors = diarization_error_rate(right, turns, collar_s=0.0)
    assert errors["confusion"] == pytest.approx(0.0)
    assert errors["missed"] == pytest.approx(1.0 / 9.0, abs=0.01)  # the customer's 3-4 s
    swapped = [
        Segment(**{**s.__dict__, "speaker": {"agent": "x", "customer": "y"}[s.speaker]})
        for s in right
    ]
    assert speaker_time(swapped, turns) == 0.0
    assert best_naming(swapped, turns) == {"x": "agent", "y": "customer"}
    wrong = [Segment(channel=0, speaker="agent", start=0.0, end=8.0, text="ab")]
    assert speaker_time(wrong, turns) == pytest.approx(0.5)
    # named as the customer (the better naming): 0-3 s confused, the agent's 3-4 s missed
    errors = diarization_error_rate(wrong, turns, collar_s=0.0)
    assert errors["der"] == pytest.approx(4 / 9, abs=0.01)
    assert errors["confusion"] == pytest.approx(3 / 9, abs=0.01)


def test_speaker_turns_join_one_speakers_segments_across_short_pauses() -> None:
    from callscribe.demo.scoring import speaker_turns

    def seg(speaker: str, start: float, end: float) -> Segment:
        return Segment(channel=0, speaker=speaker, start=start, end=end, text="x")

    segments = [seg("agent", 2.0, 3.0), seg("agent", 0.0, 1.5), seg("customer", 3.5, 5.0),
                seg("customer", 6.0, 7.0), seg("agent", 7.2, 8.0)]  # fmt: skip
    turns = speaker_turns(segments, gap_s=0.8)
    assert [(t.speaker, t.start, t.end) for t in turns] == [
        ("agent", 0.0, 3.0),
        ("customer", 3.5, 5.0),
        ("customer", 6.0, 7.0),  # a pause of 1 s: a new turn
        ("agent", 7.2, 8.0),
    ]
    assert all(t.text == "" and t.words == () for t in turns)
