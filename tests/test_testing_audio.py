"""Tests for support.audio, checked against what ffprobe/ffmpeg really see."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.support import audio
from tests.support.audio import (
    AudioToolError,
    Turn,
    corrupt_empty,
    corrupt_garbled_mp3,
    corrupt_no_audio_stream,
    corrupt_text_as_wav,
    corrupt_truncated_mp3,
    corrupt_unsupported_codec,
    corrupt_zero_length_wav,
    encode,
    make_call,
    make_demo_corpus,
    place,
    silence,
    speak,
    speech_seconds,
    tone,
)

TOL = 0.1  # seconds
LOUD = 0.02 * 32768  # RMS that counts as "there is sound here"

# ----------------------------------------------------------------- independent ffmpeg helpers


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's view of a file: {"format": {...}, "streams": [...]}."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(out)


def audio_stream(path: Path) -> dict[str, Any]:
    streams = [s for s in ffprobe(path)["streams"] if s["codec_type"] == "audio"]
    assert len(streams) == 1, streams
    return streams[0]


def decode(path: Path) -> tuple[NDArray[np.int16], int]:
    """Decode with ffmpeg to s16le at the file's own rate; samples shaped (n, channels)."""
    stream = audio_stream(path)
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    channels = int(stream["channels"])
    return np.frombuffer(raw, dtype="<i2").reshape(-1, channels), int(stream["sample_rate"])


def rms(x: NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


def window(pcm: NDArray[np.int16], rate: int, start: float, end: float, ch: int) -> NDArray:
    return pcm[round(start * rate) : round(end * rate), ch]


def ffmpeg_decode_result(path: Path) -> tuple[int, int, str]:
    """(return code, number of decoded bytes, stderr) of `ffmpeg -v error -i F -f s16le -`."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "s16le", "-"],
        capture_output=True,
        check=False,
    )
    return proc.returncode, len(proc.stdout), proc.stderr.decode(errors="replace")


def dominant_freq(x: NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64)))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


@pytest.fixture(scope="module")
def clip16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak("Thank you for calling.", tmp_path_factory.mktemp("clip") / "c16.wav")


# ----------------------------------------------------------------- clips


@pytest.mark.parametrize("rate", [8000, 16000])
def test_speak_writes_trimmed_mono_pcm16(tmp_path: Path, rate: int) -> None:
    text = "Can I have your account number, please?"
    out = speak(text, tmp_path / "s.wav", sample_rate=rate)
    stream = audio_stream(out)
    assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (
        "pcm_s16le",
        rate,
        1,
    )
    pcm, _ = decode(out)
    assert len(pcm) / rate == pytest.approx(speech_seconds(text, sample_rate=rate), abs=1e-9)
    assert 1.0 < len(pcm) / rate < 5.0
    assert pcm[0, 0] != 0 and pcm[-1, 0] != 0  # silence trimmed at both ends
    assert rms(pcm[:, 0]) > LOUD


def test_silence_and_tones(tmp_path: Path) -> None:
    quiet, _ = decode(silence(tmp_path / "q.wav", 1.5, sample_rate=8000))
    assert len(quiet) == 12000 and not quiet.any()

    pcm, rate = decode(tone(tmp_path / "t.wav", 2.0, freq=1000.0, sample_rate=16000))
    assert len(pcm) == 32000 and rate == 16000
    assert dominant_freq(pcm[:, 0], rate) == pytest.approx(1000.0, abs=2)
    assert rms(pcm[:, 0]) == pytest.approx(0.3 * 32767 / np.sqrt(2), rel=0.05)

    hold = tone(tmp_path / "h.wav", 2.0, freq=440.0, alt_freq=660.0, switch=0.5)
    pcm, rate = decode(hold)
    assert dominant_freq(pcm[1000:7000, 0], rate) == pytest.approx(440.0, abs=3)
    assert dominant_freq(pcm[9000:15000, 0], rate) == pytest.approx(660.0, abs=3)


# ----------------------------------------------------------------- encode


@pytest.mark.parametrize(
    ("fmt", "codec", "expected_rate"),
    [
        ("wav", "pcm_s16le", 16000),
        ("wav_mulaw", "pcm_mulaw", 8000),
        ("wav_alaw", "pcm_alaw", 8000),
        ("mp3", "mp3", 16000),
        ("flac", "flac", 16000),
        ("ogg_opus", "opus", 48000),
        ("m4a", "aac", 16000),
    ],
)
def test_encode_formats(tmp_path: Path, clip16: Path, fmt: str, codec: str, expected_rate: int):
    stereo = place(tmp_path / "st.wav", 3.0, [(0.2, clip16)] * 2, channels=2, channel_of=[0, 1])
    out = encode(stereo, tmp_path / f"out{audio.EXTENSIONS[fmt]}", fmt)
    stream = audio_stream(out)
    assert stream["codec_name"] == codec
    assert int(stream["sample_rate"]) == expected_rate
    assert stream["channels"] == 2  # channel count kept
    pcm, rate = decode(out)
    assert len(pcm) / rate == pytest.approx(3.0, abs=TOL)
    assert rms(pcm[:, 0]) > LOUD / 2 and rms(pcm[:, 1]) > LOUD / 2

    mono = encode(stereo, tmp_path / f"mono{audio.EXTENSIONS[fmt]}", fmt, channels=1)
    assert audio_stream(mono)["channels"] == 1


def test_encode_rejects_bad_input(tmp_path: Path, clip16: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        encode(clip16, tmp_path / "x.wma", "wma")
    with pytest.raises(ValueError, match="distinct"):
        encode(clip16, clip16, "wav")
    with pytest.raises(AudioToolError, match="ffmpeg"):
        encode(corrupt_text_as_wav(tmp_path / "t.wav"), tmp_path / "o.mp3", "mp3")


# ----------------------------------------------------------------- make_call

CALL = [
    Turn(0, "Thank you for calling, how can I help you today?"),
    Turn(1, "Hi, I have a question about my bill."),
    Turn(0, "I am going to place you on a brief hold."),
    Turn(1, seconds=2.0, kind="tone"),
    Turn(0, seconds=3.0),
    Turn(0, "Thanks for waiting, I am back."),
    Turn(1, "Okay, that sounds good."),
]


def assert_turns_on_their_channel(pcm: NDArray[np.int16], rate: int, info: Any, exact: bool):
    """Speech only on the declared channel during each turn; the other channel silent."""
    for span in info.speech:
        own = window(pcm, rate, span.start, span.end, span.channel)
        other = window(pcm, rate, span.start, span.end, 1 - span.channel)
        assert rms(own) > LOUD, span
        if exact:
            assert not other.any(), span
        else:
            assert rms(other) < 0.01 * rms(own), span


def test_make_call_stereo_wav_places_turns_exactly(tmp_path: Path) -> None:
    info = make_call(tmp_path / "call.wav", CALL, sample_rate=8000, gap=0.5)
    stream = audio_stream(info.path)
    assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (
        "pcm_s16le",
        8000,
        2,
    )
    pcm, rate = decode(info.path)
    assert len(pcm) / rate == pytest.approx(info.duration, abs=1e-9)
    assert float(ffprobe(info.path)["format"]["duration"]) == pytest.approx(info.duration, abs=TOL)
    assert [s.channel for s in info.speech] == [0, 1, 0, 0, 1]
    assert info.speech[0].start == pytest.approx(0.5)
    assert_turns_on_their_channel(pcm, rate, info, exact=True)
    for span in info.speech:  # clips start and end on speech: sample-exact boundaries
        ch = pcm[:, span.channel]
        assert ch[round(span.start * rate)] != 0 and ch[round(span.end * rate) - 1] != 0
        assert not ch[round(span.start * rate) - 1] and not ch[round(span.end * rate)]
    sounding = np.zeros(len(pcm), bool)  # outside speech and tone turns all is silent
    spans = [(s.start, s.end) for s in info.speech] + [(t.start, t.end) for t in info.tones]
    for start, end in spans:
        sounding[round(start * rate) : round(end * rate)] = True
    assert not pcm[~sounding].any()
    (hold,) = info.tones
    assert (hold.channel, hold.end - hold.start) == (1, pytest.approx(2.0))
    assert rms(window(pcm, rate, hold.start, hold.end, 1)) > LOUD
    assert not window(pcm, rate, hold.start, hold.end, 0).any()
    ((q0, q1),) = info.silences
    assert q1 - q0 == pytest.approx(3.0) and not pcm[round(q0 * rate) : round(q1 * rate)].any()
    assert q0 == pytest.approx(hold.end + 0.5) and info.speech[3].start == pytest.approx(q1 + 0.5)


@pytest.mark.parametrize("fmt", ["flac", "mp3", "wav_mulaw", "m4a"])
def test_make_call_encoded(tmp_path: Path, fmt: str) -> None:
    info = make_call(tmp_path / f"call{audio.EXTENSIONS[fmt]}", CALL, sample_rate=16000, fmt=fmt)
    stream = audio_stream(info.path)
    assert int(stream["sample_rate"]) == info.sample_rate == (8000 if fmt == "wav_mulaw" else 16000)
    assert stream["channels"] == 2
    pcm, rate = decode(info.path)
    assert len(pcm) / rate == pytest.approx(info.duration, abs=TOL)
    assert_turns_on_their_channel(pcm, rate, info, exact=fmt == "flac")


def test_make_call_mono_overlap_and_duration(tmp_path: Path) -> None:
    turns = [Turn(0, "Let me pull up your account."), Turn(1, "Sure.", at=0.8)]
    info = make_call(tmp_path / "m.wav", turns, channels=1, sample_rate=16000, duration=12.0)
    assert audio_stream(info.path)["channels"] == 1
    pcm, rate = decode(info.path)
    assert len(pcm) == 12 * 16000 and info.duration == 12.0
    first, second = info.speech
    assert (first.channel, second.channel) == (0, 0)
    assert second.start == pytest.approx(0.8) and second.start < first.end  # overlap
    assert rms(window(pcm, rate, first.start, second.end, 0)) > LOUD
    assert not pcm[round(max(first.end, second.end) * rate) :].any()  # padded with silence

    with pytest.raises(ValueError, match="duration"):
        make_call(tmp_path / "short.wav", turns, duration=1.0)
    with pytest.raises(ValueError, match="channel"):
        make_call(tmp_path / "bad.wav", [Turn(2, "hello")], channels=2)


def test_turn_validation() -> None:
    assert Turn(0, "hi").resolved_kind == "speech"
    assert Turn(1, seconds=2).resolved_kind == "silence"
    assert Turn(1, seconds=2, kind="tone").resolved_kind == "tone"
    for bad in (
        {"channel": 0},
        {"channel": 0, "text": "  "},
        {"channel": 0, "kind": "tone"},
        {"channel": -1, "text": "x"},
        {"channel": 0, "seconds": -1.0},
    ):
        with pytest.raises(ValueError):
            Turn(**bad)


# ----------------------------------------------------------------- place


def test_place_across_30s_boundary(tmp_path: Path, clip16: Path) -> None:
    clip_len = len(decode(clip16)[0]) / 16000
    offset = 30.0 - clip_len / 2
    out = place(tmp_path / "p.wav", 40.0, [(offset, clip16)])
    pcm, rate = decode(out)
    assert len(pcm) == 40 * 16000
    nonzero = np.flatnonzero(pcm[:, 0])
    assert nonzero[0] == round(offset * rate)
    assert nonzero[-1] == round(offset * rate) + round(clip_len * rate) - 1
    assert rms(window(pcm, rate, offset, 30.0, 0)) > LOUD
    assert rms(window(pcm, rate, 30.0, offset + clip_len, 0)) > LOUD


def test_place_across_600s_boundary_two_channels(tmp_path: Path, clip16: Path) -> None:
    items = [(10.0, clip16), (599.0, clip16)]
    out = place(
        tmp_path / "long.flac", 610.0, items, sample_rate=8000, channels=2, channel_of=[0, 1],
        fmt="flac",
    )  # fmt: skip
    stream = audio_stream(out)
    assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (
        "flac",
        8000,
        2,
    )
    pcm, rate = decode(out)
    assert len(pcm) / rate == pytest.approx(610.0, abs=TOL)
    assert rms(window(pcm, rate, 599.0, 600.0, 1)) > LOUD
    assert rms(window(pcm, rate, 600.0, 600.5, 1)) > LOUD
    assert not window(pcm, rate, 590.0, 610.0, 0).any()
    assert rms(window(pcm, rate, 10.0, 11.0, 0)) > LOUD
    assert not window(pcm, rate, 0.0, 598.99, 1).any()


def test_place_rejects_bad_items(tmp_path: Path, clip16: Path) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        place(tmp_path / "p.wav", 2.0, [(1.5, clip16)])
    with pytest.raises(ValueError, match="one channel per item"):
        place(tmp_path / "p.wav", 5.0, [(0.0, clip16)], channel_of=[0, 1])
    with pytest.raises(ValueError, match="channel_of"):
        place(tmp_path / "p.wav", 5.0, [(0.0, clip16)], channels=1, channel_of=[1])


# ----------------------------------------------------------------- corrupt inputs


@pytest.mark.parametrize(
    "make",
    [
        lambda d, src: corrupt_empty(d / "empty.wav"),
        lambda d, src: corrupt_truncated_mp3(src, d / "trunc.mp3"),
        lambda d, src: corrupt_text_as_wav(d / "text.wav"),
        lambda d, src: corrupt_zero_length_wav(d / "zero.wav"),
        lambda d, src: corrupt_unsupported_codec(d / "codec.wav"),
        lambda d, src: corrupt_no_audio_stream(d / "video.m4a"),
    ],
    ids=["empty", "truncated_mp3", "text_as_wav", "zero_length_wav", "codec", "no_audio"],
)
def test_corrupt_files_do_not_decode(tmp_path: Path, clip16: Path, make: Any) -> None:
    path = make(tmp_path, clip16)
    assert path.exists()
    rc, n_bytes, _ = ffmpeg_decode_result(path)
    assert rc != 0 or n_bytes == 0


def test_corrupt_files_details(tmp_path: Path, clip16: Path) -> None:
    trunc = corrupt_truncated_mp3(clip16, tmp_path / "t.mp3")
    assert 300 < trunc.stat().st_size < 1000 and trunc.read_bytes()[:3] == b"ID3"
    assert ffmpeg_decode_result(trunc)[0] != 0

    zero = corrupt_zero_length_wav(tmp_path / "z.wav")
    assert audio_stream(zero)["codec_name"] == "pcm_s16le"
    assert ffmpeg_decode_result(zero)[:2] == (0, 0)

    codec = corrupt_unsupported_codec(tmp_path / "c.wav")
    info = ffprobe(codec)
    assert info["format"]["format_name"] == "wav"
    stream = audio_stream(codec)  # an audio stream, but no codec ffmpeg knows
    assert stream["codec_tag"] == "0xffff" and stream.get("codec_name", "unknown") == "unknown"
    rc, _, err = ffmpeg_decode_result(codec)
    assert rc != 0 and ("Decoder (codec none) not found" in err or "no decoder found" in err)

    video = corrupt_no_audio_stream(tmp_path / "v.m4a")
    assert [s["codec_type"] for s in ffprobe(video)["streams"]] == ["video"]
    rc, _, err = ffmpeg_decode_result(video)
    assert rc != 0 and "does not contain any stream" in err


def test_garbled_mp3_partly_decodes(tmp_path: Path, clip16: Path) -> None:
    long_clip = place(tmp_path / "l.wav", 8.0, [(0.0, clip16), (3.0, clip16), (6.0, clip16)])
    rc, n_bytes, err = ffmpeg_decode_result(corrupt_garbled_mp3(long_clip, tmp_path / "g.mp3"))
    assert rc == 0 and n_bytes > 0 and err.strip()


def test_missing_tool_raises_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AudioToolError, match="espeak-ng is not installed"):
        speak("a sentence nobody else synthesizes", tmp_path / "x.wav")


# ----------------------------------------------------------------- demo corpus


@pytest.mark.slow
def test_make_demo_corpus_mix(tmp_path: Path) -> None:
    started = time.perf_counter()
    items = make_demo_corpus(tmp_path / "a", 20, corrupt=2, seed=0)
    elapsed = time.perf_counter() - started
    print(f"make_demo_corpus(n=20) took {elapsed:.1f} s")
    assert elapsed < 60
    assert len(items) == 20 and len(list((tmp_path / "a").iterdir())) == 20
    bad = [i for i in items if i.call is None]
    assert sorted(str(i.defect) for i in bad) == ["text_as_wav", "truncated_mp3"]
    for item in bad:
        rc, n_bytes, _ = ffmpeg_decode_result(item.path)
        assert rc != 0 or n_bytes == 0

    seen: dict[str, set[Any]] = {"codec": set(), "channels": set(), "rate": set()}
    codecs = []
    for item in items:
        if item.call is None:
            continue
        stream = audio_stream(item.path)
        codecs.append(stream["codec_name"])
        seen["channels"].add(stream["channels"])
        seen["rate"].add(int(stream["sample_rate"]))
        assert (stream["channels"], int(stream["sample_rate"])) == (
            item.call.channels,
            item.call.sample_rate,
        )
        pcm, rate = decode(item.path)
        assert len(pcm) / rate == pytest.approx(item.call.duration, abs=TOL)
        assert 10.0 - TOL <= len(pcm) / rate <= 40.0 + TOL
        assert len(item.call.speech) >= 2
        if item.call.channels == 2:
            assert_turns_on_their_channel(pcm, rate, item.call, exact=False)
    assert set(codecs) == {"pcm_s16le", "pcm_mulaw", "mp3", "flac"}
    assert codecs.count("pcm_mulaw") == 1
    assert seen["channels"] == {1, 2} and seen["rate"] == {8000, 16000}
    calls = [i.call for i in items if i.call is not None]
    assert any(c.tones for c in calls) and any(c.silences for c in calls)


@pytest.mark.slow
def test_make_demo_corpus_is_deterministic(tmp_path: Path) -> None:
    first = make_demo_corpus(tmp_path / "a", 6, corrupt=2, seed=7)
    second = make_demo_corpus(tmp_path / "b", 6, corrupt=2, seed=7)
    for x, y in zip(first, second, strict=True):
        assert x.path.name == y.path.name and x.defect == y.defect
        assert x.path.read_bytes() == y.path.read_bytes()
        if x.call is not None and y.call is not None:
            assert x.call.speech == y.call.speech
    other = make_demo_corpus(tmp_path / "c", 6, corrupt=2, seed=8)
    assert [i.call.speech if i.call else None for i in other] != [
        i.call.speech if i.call else None for i in first
    ]


@pytest.mark.slow
def test_cli_corpus(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.audio", "corpus", str(out), "-n", "3",
         "--corrupt", "1"],
        cwd=Path(__file__).resolve().parents[1],  # where the tests.support package is
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    assert len(list(out.iterdir())) == 3
    assert proc.stdout.count("BAD") == 1 and "wrote 3 files" in proc.stdout

    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.audio", "corpus", str(out), "-n", "2",
         "--corrupt", "0", "--json"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 2 and all(r["call"]["speech"] for r in rows)
