"""The condition matrix (``callscribe.demo.conditions``) and what callscribe does with it
before the model: echo found and taken out (``workers.transcription.echo``), talk only where the VAD
hears speech (``workers.analytics.activity``), and the ringing figure. No Whisper model here; what
the
model then hears is tests/test_conditions_real.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from callscribe.demo.conditions import (
    CONDITIONS,
    ConditionCall,
    draw_conditions,
    make_condition_call,
)
from callscribe.demo.matrix import out_of_tolerance, true_metrics
from callscribe.workers.analytics.activity import ChannelActivity
from callscribe.workers.analytics.call_metrics import compute_metrics
from callscribe.workers.audio.decode import SAMPLE_RATE, decode
from callscribe.workers.transcription.echo import suppress_echo

SEEDS = (1, 2, 3)


def _call(tmp_path: Path, name: str, seed: int, **changes: object) -> ConditionCall:
    cond = replace(draw_conditions(name, seed), **changes)  # type: ignore[arg-type]
    return make_condition_call(tmp_path / f"{name}_{seed}.wav", cond, seed=seed * 31 + 7)


def _energy(samples: np.ndarray, spans: list[tuple[float, float]]) -> float:
    return float(
        sum(np.sum(samples[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)] ** 2) for a, b in spans)
    )


def test_same_seed_same_bytes_and_truth(tmp_path: Path) -> None:
    first = _call(tmp_path / "a", "tones", 1)
    second = _call(tmp_path / "b", "tones", 1)
    assert first.call.path.read_bytes() == second.call.path.read_bytes()
    assert first.to_json()["tones"] == second.to_json()["tones"]
    assert ConditionCall.from_json(first.to_json()).conditions == first.conditions


@pytest.mark.parametrize("seed", SEEDS)
def test_each_condition_has_its_truth(tmp_path: Path, seed: int) -> None:
    drawn = {name: draw_conditions(name, seed) for name in CONDITIONS}
    assert -40 <= drawn["echo"].echo[0] <= -20 and 20 <= drawn["echo"].echo[1] <= 80  # type: ignore[index]
    assert drawn["quiet_customer"].levels_db[1] <= -30
    assert drawn["long_holds"].holds == 3 and drawn["long_holds"].minutes == 7.0
    tones = _call(tmp_path, "tones", seed)
    ring = [t for t in tones.tones if t.kind == "ringback"]
    assert ring and tones.ringing == (ring[0].start, ring[-1].end)
    assert tones.ringing[1] < tones.call.turns[0].start  # type: ignore[index]
    assert any(t.kind == "dtmf" and t.channel == 1 for t in tones.tones)
    music = _call(tmp_path, "music_under_speech", seed)
    (hold,) = music.call.holds
    back = next(t for t in music.call.turns if t.start > hold[0])
    assert hold[1] - back.start == pytest.approx(music.conditions.music_under_s, abs=0.01)
    long = _call(tmp_path, "long_holds", seed, minutes=2.0)
    assert len(long.call.holds) == 3 and long.call.duration >= 110


def test_leg_levels_are_what_was_drawn(tmp_path: Path) -> None:
    call = _call(
        tmp_path, "quiet_customer", 2, noise=(("white", -70.0), ("white", -70.0)), fmt="wav"
    )
    audio = decode(call.call.path, 2, 0.0, None, None)
    for channel, level in enumerate(call.conditions.levels_db):
        spans = [(t.start, t.end) for t in call.call.turns if t.channel == channel]
        count = sum(round((b - a) * SAMPLE_RATE) for a, b in spans)
        rms_db = 10 * np.log10(_energy(audio.channels[channel], spans) / count)
        assert rms_db == pytest.approx(level, abs=1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_echo_is_found_and_taken_out_of_each_leg(tmp_path: Path, seed: int) -> None:
    # the line's noise well under the echo, so that what is left of it can be measured
    call = _call(
        tmp_path,
        "echo",
        seed,
        echo=(-20.0 - 4 * seed, 20.0 + 20 * seed),
        noise=(("white", -62.0), ("pink", -62.0)),
    )
    audio = decode(call.call.path, 2, 0.0, None, None)
    cleaned, found = suppress_echo(audio.channels, SAMPLE_RATE)
    for channel in (0, 1):
        echo = found[channel]
        assert echo is not None
        assert echo.delay_s == pytest.approx(call.conditions.echo[1] / 1000, abs=0.015)  # type: ignore[index]
        assert 20 * np.log10(echo.gain) == pytest.approx(call.conditions.echo[0], abs=3)  # type: ignore[index]
        own = [(t.start, t.end) for t in call.call.turns if t.channel == channel]
        other = [(t.start + 0.1, t.end) for t in call.call.turns if t.channel != channel]
        kept = _energy(cleaned[channel], own) / _energy(audio.channels[channel], own)
        left = _energy(cleaned[channel], other) / _energy(audio.channels[channel], other)
        assert kept > 0.98, "the leg's own speech must stay"
        assert left < 0.25, "the other party's echo must go"


@pytest.mark.parametrize("name", [n for n in CONDITIONS if n != "echo"])
def test_no_echo_is_found_where_there_is_none(tmp_path: Path, name: str) -> None:
    for seed in SEEDS:
        call = _call(tmp_path, name, seed, minutes=1.0 if name == "long_holds" else None)
        audio = decode(call.call.path, 2, 0.0, None, None)
        cleaned, found = suppress_echo(audio.channels, SAMPLE_RATE)
        assert found == (None, None), (name, seed, found)
        assert all(a is b for a, b in zip(cleaned, audio.channels, strict=True))


def test_speech_mask_keeps_music_and_hiss_out_of_talk() -> None:
    from callscribe.workers.analytics.activity import activity_from_loud

    loud = [(10.0, 30.0)]  # music from 10 s running into speech at 27 s, all one loud run
    words = [(27.2, 27.6), (28.0, 29.5)]
    without = activity_from_loud(loud, words)
    with_mask = activity_from_loud(loud, words, speech=[(27.0, 29.9)])
    assert without.talk == ((10.0, 30.0),)
    assert with_mask.talk == ((27.0, 29.9),)
    assert with_mask.sound == ((10.0, 27.0),)


def test_the_noise_a_speech_run_trails_is_not_sound() -> None:
    """A noisy leg (brown noise at -36 dBFS, a voice-like tone at -20): the loud run of a
    sentence runs on through the noise's swells after it; that tail is seldom 4 dB above
    the floor and is no sound, while music is (a 4-min noisy call measured 14 s of such tails
    as hold)."""
    from callscribe.demo import signals
    from callscribe.workers.analytics.activity import activity_from_loud, clear_spans, loud_spans

    t = np.arange(12 * SAMPLE_RATE) / SAMPLE_RATE
    speech, music = (t >= 1.0) & (t < 4.0), (t >= 7.0) & (t < 10.0)
    tails = 0
    for seed in range(1, 7):
        audio = signals.noise("brown", t.size, -36.0, np.random.default_rng(seed))
        audio = audio.astype(np.float64)
        audio[speech] += (
            0.14 * np.sin(2 * np.pi * 220 * t[speech]) * (1 + np.sin(2 * np.pi * 4 * t[speech]))
        )
        audio[music] += 0.1 * np.sin(2 * np.pi * 440 * t[music])
        samples = audio.astype(np.float32)
        loud, clear = loud_spans(samples, 0.0), clear_spans(samples, 0.0)
        words = [(1.1, 1.8), (2.0, 3.9)]
        found = activity_from_loud(loud, words, speech=[(1.0, 4.0)], clear=clear)
        assert found.talk and 0.9 <= found.talk[0][0] and found.talk[-1][1] <= 4.1
        # the music (its own loud run trails the noise a little too), nothing before it
        assert len(found.sound) == 1, (seed, found.sound)
        assert 6.3 <= found.sound[0][0] <= 7.05 and found.sound[0][1] >= 9.95, found.sound
        unfiltered = activity_from_loud(loud, words, speech=[(1.0, 4.0)])
        tails += unfiltered.sound[0][0] < 4.5  # the speech's noise tail, counted as sound
    assert tails >= 3  # the case is real: without the check most seeds have a tail


def test_ringing_is_its_own_figure_not_hold() -> None:
    agent = ChannelActivity(talk=((10.0, 14.0), (30.0, 33.0)), sound=((15.0, 25.0),))
    customer = ChannelActivity(talk=((14.5, 20.0),), sound=((0.5, 2.5), (6.5, 8.5)))
    metrics = compute_metrics(duration_s=40.0, channels=[agent, customer], words=[10, 5])
    assert metrics.ringing_s == 8.0
    assert metrics.hold_s == 5.0  # 20..25: the music while the customer is quiet
    ringing_on_agent = ChannelActivity(talk=agent.talk, sound=((1.0, 7.0), *agent.sound))
    again = compute_metrics(duration_s=40.0, channels=[ringing_on_agent, customer], words=[10, 5])
    assert again.ringing_s == 8.0 and again.hold_s == 5.0  # the agent leg's tones too
    nobody = compute_metrics(
        duration_s=40.0,
        channels=[ChannelActivity(sound=((1, 5),)), ChannelActivity()],
        words=[0, 0],
    )
    assert nobody.ringing_s is None


def test_true_metrics_of_a_generated_call(tmp_path: Path) -> None:
    call = _call(tmp_path, "tones", 1)
    truth = true_metrics(call)
    assert truth.ringing_s == pytest.approx(call.ringing[1] - call.ringing[0], abs=0.01)  # type: ignore[index]
    assert truth.hold_s == pytest.approx(sum(b - a for a, b in call.call.holds), abs=0.01)
    assert out_of_tolerance(call, truth.to_json()) == {}
    worse = {**truth.to_json(), "hold_s": truth.hold_s + 4}  # type: ignore[operator]
    assert set(out_of_tolerance(call, worse)) == {"hold_s"}


def test_words_that_repeat_the_other_leg_a_little_later_are_dropped() -> None:
    from callscribe.workers.transcription.echo import echoed_words

    agent = [(1.0, " My"), (1.2, " name"), (1.5, " is"), (1.7, " Anna."), (6.0, " Okay.")]
    echo = [(1.06, " my"), (1.27, " name"), (1.55, " is"), (1.77, " Anna"), (3.0, " Hi")]
    assert echoed_words({0: agent, 1: echo}) == {0: set(), 1: {0, 1, 2, 3}}
    assert echoed_words({0: echo, 1: agent}) == {0: {0, 1, 2, 3}, 1: set()}
    # two parties saying the same short thing at once is not echo
    both = [(6.0, " okay"), (6.3, " thanks")]
    assert echoed_words({0: agent, 1: both}) == {0: set(), 1: set()}
    # the same words much later (the customer repeating the agent) are not echo either
    later = [(t + 2.0, w) for t, w in agent]
    assert echoed_words({0: agent, 1: later}) == {0: set(), 1: set()}
