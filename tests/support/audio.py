"""Synthetic call-center audio for tests, benchmarks and the README demo.

Everything is generated locally with ``espeak-ng`` (speech), ``sox`` (resampling) and
``ffmpeg`` (encoding); nothing is downloaded. The building blocks:

* :func:`speak`, :func:`silence`, :func:`tone` write single mono PCM16 WAV clips;
* :func:`make_call` lays out :class:`Turn` objects on a (usually stereo) timeline and
  returns a :class:`CallInfo` with the exact, sample-accurate placement of every speech turn;
* :func:`place` puts existing clips at absolute offsets of a silent track (boundary tests);
* :func:`encode` converts to the formats a call center produces (see :data:`FORMATS`);
* ``corrupt_*`` functions write bad inputs; :func:`make_demo_corpus` writes a mixed,
  deterministic folder of recordings (some of them corrupt).

Command line::

    python tests/support/audio.py corpus OUT_DIR [-n 20] [--corrupt 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from callscribe.demo.sound import (  # noqa: F401  (re-exported for the tests)
    _SPEECH_PEAK,
    _TRIM_THRESHOLD,
    _TRUNC_MP3_KBPS,
    _TRUNC_MP3_RATE,
    EXTENSIONS,
    FORMATS,
    AudioToolError,
    Float32Array,
    _check_fmt,
    _espeak_wav,
    _id3_end,
    _load_mono,
    _new_file,
    _probe_audio,
    _run,
    _speech,
    _speech_pcm,
    _to_int16,
    _write_track,
    _write_wav,
    corrupt_truncated_mp3,
    encode,
    read_pcm,
)

__all__ = [
    "AGENT_LINES",
    "CUSTOMER_LINES",
    "FORMATS",
    "AudioToolError",
    "CallInfo",
    "CorpusItem",
    "SpeechSpan",
    "ToneSpan",
    "Turn",
    "corrupt_empty",
    "corrupt_garbled_mp3",
    "corrupt_no_audio_stream",
    "corrupt_text_as_wav",
    "corrupt_truncated_mp3",
    "corrupt_unsupported_codec",
    "corrupt_zero_length_wav",
    "encode",
    "make_call",
    "make_demo_corpus",
    "place",
    "read_pcm",
    "silence",
    "speak",
    "speech_seconds",
    "tone",
]


#: Made-up agent sentences used by :func:`make_demo_corpus`.
AGENT_LINES: tuple[str, ...] = (
    "Thank you for calling, how can I help you today?",
    "Can I have your account number, please?",
    "Let me pull up your account, one moment.",
    "I can see the charge on your last bill.",
    "I have issued a refund, it will arrive in three to five days.",
    "Is there anything else I can help you with?",
    "I am going to place you on a brief hold.",
    "Thanks for waiting, I am back.",
    "Your new router will ship tomorrow morning.",
    "Have a great day, goodbye.",
)

#: Made-up customer sentences used by :func:`make_demo_corpus`.
CUSTOMER_LINES: tuple[str, ...] = (
    "Hi, I have a question about my bill.",
    "Sure, it is four five six seven eight nine.",
    "I was charged twice this month.",
    "My internet keeps dropping every evening.",
    "Okay, that sounds good.",
    "No, that is everything, thank you.",
    "Can you tell me when the technician will arrive?",
    "I would like to cancel my subscription.",
)

_HOLD_FREQS = (440.0, 554.37)  # hold "music": alternating A4 / C#5
_FADE_S = 0.01


class SpeechSpan(NamedTuple):
    """Where one speech turn sits in a generated file (seconds from the file start)."""

    channel: int
    start: float
    end: float
    text: str


class ToneSpan(NamedTuple):
    """Where one hold tone sits in a generated file (seconds from the file start)."""

    channel: int
    start: float
    end: float


TurnKind = Literal["speech", "silence", "tone"]


@dataclass(frozen=True)
class Turn:
    """One piece of a call built by :func:`make_call`.

    ``text`` alone is speech, ``seconds`` alone is silence on every channel, and
    ``kind="tone"`` with ``seconds`` is a hold tone on ``channel``. ``at`` pins the turn's
    start to an absolute time (it may then overlap earlier turns); by default a turn
    starts ``gap`` seconds after the end of the previous one.
    """

    channel: int
    text: str | None = None
    seconds: float | None = None
    kind: TurnKind | None = None
    at: float | None = None

    def __post_init__(self) -> None:
        kind = self.resolved_kind
        if kind == "speech" and not (self.text and self.text.strip()):
            raise ValueError("a speech turn needs non-empty text")
        if kind != "speech" and (self.seconds is None or self.seconds <= 0):
            raise ValueError(f"a {kind} turn needs seconds > 0")
        if self.channel < 0:
            raise ValueError("channel must be >= 0")
        if self.at is not None and self.at < 0:
            raise ValueError("at must be >= 0")

    @property
    def resolved_kind(self) -> TurnKind:
        """The turn's kind, inferred from ``text``/``seconds`` when not given."""
        if self.kind is not None:
            return self.kind
        if self.text is not None:
            return "speech"
        if self.seconds is not None:
            return "silence"
        raise ValueError("a Turn needs text, seconds or a kind")


@dataclass(frozen=True)
class CallInfo:
    """What :func:`make_call` wrote.

    ``duration`` is the exact length of the timeline (samples / rate). ``sample_rate`` is the
    rate of the written file, which differs from the timeline's for ``wav_mulaw``/``wav_alaw``
    (8000) and ``ogg_opus`` (decoders report 48000). ``speech`` and ``tones`` use the output
    channel index (always 0 for a mono call); ``silences`` are the explicit silence turns as
    (start, end) seconds.
    """

    path: Path
    duration: float
    channels: int
    sample_rate: int
    fmt: str
    speech: list[SpeechSpan]
    tones: list[ToneSpan]
    silences: list[tuple[float, float]]


@dataclass(frozen=True)
class CorpusItem:
    """One file of :func:`make_demo_corpus`: a good call (``call`` set) or a bad file
    (``defect`` names the corruption and ``call`` is None)."""

    path: Path
    call: CallInfo | None = None
    defect: str | None = None


# --------------------------------------------------------------------------- tools


# --------------------------------------------------------------------------- clips


def speech_seconds(
    text: str, *, voice: str = "en-us", speed: int = 160, sample_rate: int = 16000
) -> float:
    """Length in seconds of the clip :func:`speak` makes for ``text`` (synthesized once)."""
    return len(_speech(text, voice, speed, sample_rate)) / sample_rate


def speak(
    text: str, out: Path, *, voice: str = "en-us", speed: int = 160, sample_rate: int = 16000
) -> Path:
    """Synthesize ``text`` with espeak-ng into a mono PCM16 WAV at ``sample_rate``.

    Leading and trailing silence is trimmed, so the clip starts and ends on speech, and the
    level is peak-normalised. Results are cached in-process per (text, voice, speed, rate).
    """
    return _write_wav(Path(out), _speech(text, voice, speed, sample_rate), sample_rate)


def _tone_samples(
    seconds: float, sample_rate: int, freq: float, alt_freq: float | None, switch: float,
    volume: float,
) -> Float32Array:  # fmt: skip
    n = round(seconds * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    freqs = np.full(n, freq)
    if alt_freq is not None:
        freqs[(t // switch).astype(np.int64) % 2 == 1] = alt_freq
    phase = 2 * np.pi * np.cumsum(freqs) / sample_rate  # continuous phase across switches
    fade = np.clip(np.minimum(t, seconds - t) / _FADE_S, 0.0, 1.0)
    return (volume * fade * np.sin(phase)).astype(np.float32)


def silence(out: Path, seconds: float, sample_rate: int = 16000) -> Path:
    """Write ``seconds`` of digital silence as a mono PCM16 WAV."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    return _write_wav(Path(out), np.zeros(round(seconds * sample_rate), np.float32), sample_rate)


def tone(
    out: Path,
    seconds: float,
    freq: float = 440.0,
    sample_rate: int = 16000,
    volume: float = 0.3,
    *,
    alt_freq: float | None = None,
    switch: float = 0.5,
) -> Path:
    """Write a sine tone as a mono PCM16 WAV (10 ms fades at both ends).

    With ``alt_freq`` the pitch alternates between ``freq`` and ``alt_freq`` every ``switch``
    seconds, a crude stand-in for hold music.
    """
    if seconds <= 0 or not 0 < volume <= 1:
        raise ValueError("need seconds > 0 and 0 < volume <= 1")
    data = _tone_samples(seconds, sample_rate, freq, alt_freq, switch, volume)
    return _write_wav(Path(out), data, sample_rate)


# --------------------------------------------------------------------------- encoding


def _output_rate(fmt: str, sample_rate: int) -> int:
    if fmt == "ogg_opus":
        return 48000  # Opus always decodes (and probes) at 48 kHz
    return FORMATS[fmt][2] or sample_rate


# --------------------------------------------------------------------------- calls


class _Placed(NamedTuple):
    turn: Turn
    start: int  # sample index
    clip: Float32Array  # mono samples (zeros for a silence turn)


def _render_turn(turn: Turn, sample_rate: int, voice: str, speed: int) -> Float32Array:
    kind = turn.resolved_kind
    if kind == "speech":
        return _speech(turn.text or "", voice, speed, sample_rate)
    seconds = float(turn.seconds or 0.0)
    if kind == "tone":
        return _tone_samples(seconds, sample_rate, _HOLD_FREQS[0], _HOLD_FREQS[1], 0.5, 0.3)
    return np.zeros(round(seconds * sample_rate), np.float32)


def _layout(
    turns: Sequence[Turn], sample_rate: int, gap: float, voice: str, speed: int
) -> list[_Placed]:
    """Place turns on the timeline: ``gap`` lead-in, then each turn ``gap`` after the last."""
    gap_n = round(gap * sample_rate)
    cursor = 0  # end of the latest turn so far
    placed: list[_Placed] = []
    for turn in turns:
        clip = _render_turn(turn, sample_rate, voice, speed)
        start = round(turn.at * sample_rate) if turn.at is not None else cursor + gap_n
        placed.append(_Placed(turn, start, clip))
        cursor = max(cursor, start + len(clip))
    return placed


def _mix(
    placed: Sequence[_Placed], n: int, channels: int, sample_rate: int
) -> tuple[Float32Array, list[SpeechSpan], list[ToneSpan], list[tuple[float, float]]]:
    track = np.zeros((n, channels), np.float32)
    speech: list[SpeechSpan] = []
    tones: list[ToneSpan] = []
    silences: list[tuple[float, float]] = []
    for turn, start, clip in placed:
        channel = turn.channel if channels > 1 else 0
        track[start : start + len(clip), channel] += clip
        begin, end = start / sample_rate, (start + len(clip)) / sample_rate
        if turn.resolved_kind == "speech":
            speech.append(SpeechSpan(channel, begin, end, turn.text or ""))
        elif turn.resolved_kind == "tone":
            tones.append(ToneSpan(channel, begin, end))
        else:
            silences.append((begin, end))
    return track, speech, tones, silences


def make_call(
    out: Path,
    turns: Sequence[Turn],
    *,
    channels: int = 2,
    sample_rate: int = 8000,
    gap: float = 0.5,
    fmt: str = "wav",
    duration: float | None = None,
    voice: str = "en-us",
    speed: int = 160,
) -> CallInfo:
    """Build a call recording from ``turns`` and write it to ``out`` as ``fmt``.

    Each turn is placed ``gap`` seconds after the previous one ends (the first after a
    ``gap`` lead-in) unless it has ``at``. In a multi-channel call a turn sounds only on its
    own channel and the others stay digitally silent; in a mono call every turn is mixed into
    channel 0. The file ends ``gap`` after the last turn, or is padded with silence to
    ``duration`` seconds. The returned :class:`CallInfo` has the exact placement of every
    speech, tone and silence turn.
    """
    _check_fmt(fmt)
    if channels < 1:
        raise ValueError("channels must be >= 1")
    if channels > 1 and any(t.channel >= channels for t in turns):
        raise ValueError(f"a turn's channel is outside 0..{channels - 1}")
    placed = _layout(turns, sample_rate, gap, voice, speed)
    end = max((p.start + len(p.clip) for p in placed), default=0)
    n = end + round(gap * sample_rate) if duration is None else round(duration * sample_rate)
    if n < end:
        raise ValueError(f"turns need {end / sample_rate:.2f} s, more than duration={duration}")
    track, speech, tones, silences = _mix(placed, n, channels, sample_rate)
    out = Path(out)
    _write_track(out, track, sample_rate, fmt)
    rate = _output_rate(fmt, sample_rate)
    return CallInfo(out, n / sample_rate, channels, rate, fmt, speech, tones, silences)


def place(
    out: Path,
    duration: float,
    items: Sequence[tuple[float, Path]],
    *,
    sample_rate: int = 16000,
    channels: int = 1,
    channel_of: Sequence[int] | None = None,
    fmt: str = "wav",
) -> Path:
    """Write a silent track of ``duration`` seconds with each clip of ``items`` at its offset.

    ``items`` are ``(offset_seconds, clip_path)``; clips in any ffmpeg-readable format are
    converted to mono at ``sample_rate``. ``channel_of[i]`` is the channel of item ``i``
    (default 0). A clip placed at offset ``o`` occupies exactly samples
    ``round(o * sample_rate)`` onwards. Raises ValueError when a clip would end after
    ``duration``.
    """
    _check_fmt(fmt)
    if channel_of is not None and len(channel_of) != len(items):
        raise ValueError("channel_of needs one channel per item")
    chans = list(channel_of) if channel_of is not None else [0] * len(items)
    if any(not 0 <= c < channels for c in chans):
        raise ValueError(f"channel_of values must be in 0..{channels - 1}")
    n = round(duration * sample_rate)
    track = np.zeros((n, channels), np.float32)
    clips: dict[Path, Float32Array] = {}
    for (offset, clip_path), channel in zip(items, chans, strict=True):
        clip = clips.get(Path(clip_path))
        if clip is None:
            clip = clips.setdefault(Path(clip_path), _load_mono(Path(clip_path), sample_rate))
        start = round(offset * sample_rate)
        if offset < 0 or start + len(clip) > n:
            raise ValueError(f"clip {clip_path} at {offset} s does not fit in {duration} s")
        track[start : start + len(clip), channel] += clip
    out = Path(out)
    _write_track(out, track, sample_rate, fmt)
    return out


# --------------------------------------------------------------------------- bad inputs


def corrupt_empty(out: Path) -> Path:
    """Write a zero-byte file (ffmpeg: "Invalid data found when processing input")."""
    out = _new_file(out)
    out.write_bytes(b"")
    return out


def corrupt_garbled_mp3(src_wav: Path, out: Path, *, seed: int = 0, garbage: int = 2000) -> Path:
    """Encode ``src_wav`` to MP3 and overwrite ``garbage`` bytes in its middle with noise.

    Unlike the other ``corrupt_*`` files this one still *partly* decodes: ffmpeg exits 0 but
    reports "Header missing" errors and yields the audio around the damage.
    """
    out = _new_file(out)
    encode(src_wav, out, "mp3")
    data = bytearray(out.read_bytes())
    mid = len(data) // 2
    rng = random.Random(seed)
    data[mid : mid + garbage] = bytes(rng.randrange(256) for _ in range(garbage))
    out.write_bytes(bytes(data))
    return out


def corrupt_text_as_wav(out: Path) -> Path:
    """Write plain text under a ``.wav``-style name (ffmpeg: "Invalid data found...")."""
    out = _new_file(out)
    out.write_text(
        "Call notes: customer asked about a double charge; refund issued.\n"
        "This file is not audio even though its name says so.\n" * 4,
        encoding="utf-8",
    )
    return out


def _wav_bytes(fmt_tag: int, channels: int, sample_rate: int, data: bytes) -> bytes:
    """A minimal RIFF/WAVE file with a 16-byte fmt chunk (16-bit block layout)."""
    block = 2 * channels
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sample_rate, sample_rate * block, block, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def corrupt_zero_length_wav(out: Path, *, sample_rate: int = 8000, channels: int = 1) -> Path:
    """Write a valid PCM16 WAV header whose data chunk is empty (decodes to zero samples)."""
    out = _new_file(out)
    out.write_bytes(_wav_bytes(1, channels, sample_rate, b""))
    return out


#: WAVE_FORMAT_DEVELOPMENT: a reserved format tag that no decoder will ever claim.
_UNDECODABLE_WAV_TAG = 0xFFFF


def corrupt_unsupported_codec(out: Path, *, seconds: float = 1.0) -> Path:
    """Write a well-formed WAV whose audio codec ffmpeg cannot decode.

    The fmt chunk carries format tag 0xFFFF (WAVE_FORMAT_DEVELOPMENT). ffprobe recognises
    the ``wav`` container and one 8 kHz mono audio stream with ``codec_name=unknown``;
    ``ffmpeg -i`` then fails (ffmpeg 5.1: "Decoder (codec none) not found for input stream
    #0:0"; newer releases: "... no decoder found for: none").
    """
    out = _new_file(out)
    data = bytes(2 * round(seconds * 8000))
    out.write_bytes(_wav_bytes(_UNDECODABLE_WAV_TAG, 1, 8000, data))
    return out


def corrupt_no_audio_stream(out: Path) -> Path:
    """Write a tiny MP4 (1 s, 16x16 black MPEG-4 video) with no audio stream at all.

    ffprobe reports a valid ``mov,mp4,...`` file with one video stream; decoding to audio
    fails with "Output file #0 does not contain any stream".
    """
    out = _new_file(out)
    _run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
            "-i", "color=c=black:s=16x16:r=5:d=1", "-c:v", "mpeg4", "-an",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
            "-f", "mp4", str(out),
        ]
    )  # fmt: skip
    return out


# --------------------------------------------------------------------------- demo corpus

#: Corruptions used by :func:`make_demo_corpus`, in order: (defect name, file extension).
_DEFECTS: tuple[tuple[str, str], ...] = (
    ("truncated_mp3", ".mp3"),
    ("text_as_wav", ".wav"),
    ("empty", ".wav"),
    ("zero_length_wav", ".wav"),
    ("unsupported_codec", ".wav"),
    ("no_audio_stream", ".m4a"),
)


class _CallSpec(NamedTuple):
    fmt: str
    channels: int
    sample_rate: int
    target: float  # seconds
    hold: bool
    long_silence: bool


def _call_spec(i: int, rng: random.Random) -> _CallSpec:
    """The i-th good recording: item 0 is 8 kHz stereo G.711 mu-law; the rest cycle
    wav/mp3/flac x mono/stereo x 8/16 kHz."""
    target = round(rng.uniform(10.0, 40.0), 2)
    hold, long_silence = i % 4 == 2, i % 5 == 3
    if i == 0:
        return _CallSpec("wav_mulaw", 2, 8000, target, hold, long_silence)
    fmt = ("wav", "mp3", "flac")[i % 3]
    return _CallSpec(fmt, (2, 1)[i % 2], (16000, 8000)[(i // 2) % 2], target, hold, long_silence)


def _plan_turns(spec: _CallSpec, rng: random.Random, gap: float) -> list[Turn]:
    """Alternate agent (channel 0) and customer (channel 1) lines until ``target`` is near,
    with the optional hold tone and long silence after the second spoken turn."""
    extras: list[Turn] = []
    if spec.hold:
        extras.append(Turn(1, seconds=round(rng.uniform(3.0, 6.0), 2), kind="tone"))
    if spec.long_silence:
        extras.append(Turn(0, seconds=round(rng.uniform(5.0, 8.0), 2)))
    budget = spec.target - 2 * gap  # lead-in and trailing gap
    turns: list[Turn] = []
    used = 0.0
    for spoken in range(1000):
        if spoken == 2:
            for extra in extras:
                if used + float(extra.seconds or 0) <= budget:
                    turns.append(extra)
                    used += float(extra.seconds or 0) + gap
        speaker = spoken % 2
        lines = AGENT_LINES if speaker == 0 else CUSTOMER_LINES
        text = lines[0] if spoken == 0 else rng.choice(lines)
        length = speech_seconds(text, sample_rate=spec.sample_rate)
        if used + length > budget:
            break
        turns.append(Turn(speaker, text))
        used += length + gap
    return turns


def _write_defect(defect: str, out: Path, tmp: Path) -> Path:
    if defect == "truncated_mp3":
        return corrupt_truncated_mp3(speak(AGENT_LINES[0], tmp / "src.wav"), out)
    makers = {
        "text_as_wav": corrupt_text_as_wav,
        "empty": corrupt_empty,
        "zero_length_wav": corrupt_zero_length_wav,
        "unsupported_codec": corrupt_unsupported_codec,
        "no_audio_stream": corrupt_no_audio_stream,
    }
    return makers[defect](out)


def make_demo_corpus(
    out_dir: Path, n: int = 20, *, corrupt: int = 2, seed: int = 0
) -> list[CorpusItem]:
    """Write ``n`` recordings named ``call_000.*`` ... into ``out_dir``; ``corrupt`` are bad.

    Good recordings are 10-40 s agent/customer conversations: the first is an 8 kHz stereo
    G.711 mu-law WAV, the rest cycle through wav/mp3/flac, mono/stereo and 8/16 kHz; some
    contain a hold tone and/or a long silence. Bad files cycle through a truncated MP3, a text
    file named .wav, an empty file, a zero-length WAV, an undecodable-codec WAV and a
    video-only .m4a, at seed-chosen positions. The output is a pure function of the arguments.
    """
    if not 0 <= corrupt <= n:
        raise ValueError("need 0 <= corrupt <= n")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    bad_slots = set(rng.sample(range(n), corrupt))
    items: list[CorpusItem] = []
    good = bad = 0
    with tempfile.TemporaryDirectory(prefix="callscribe-corpus-") as tmp:
        for idx in range(n):
            if idx in bad_slots:
                defect, ext = _DEFECTS[bad % len(_DEFECTS)]
                path = _write_defect(defect, out_dir / f"call_{idx:03d}{ext}", Path(tmp))
                items.append(CorpusItem(path, None, defect))
                bad += 1
                continue
            spec = _call_spec(good, rng)
            turns = _plan_turns(spec, rng, gap=0.5)
            path = out_dir / f"call_{idx:03d}{EXTENSIONS[spec.fmt]}"
            call = make_call(
                path, turns, channels=spec.channels, sample_rate=spec.sample_rate,
                gap=0.5, fmt=spec.fmt, duration=spec.target,
            )  # fmt: skip
            items.append(CorpusItem(path, call))
            good += 1
    return items


# --------------------------------------------------------------------------- command line


def _describe(item: CorpusItem) -> str:
    if item.call is None:
        return f"{item.path}  BAD ({item.defect})"
    c = item.call
    extras = f", {len(c.tones)} hold tone(s)" if c.tones else ""
    extras += f", {len(c.silences)} long silence(s)" if c.silences else ""
    return (
        f"{item.path}  {c.fmt} {c.channels}ch {c.sample_rate} Hz {c.duration:.2f} s, "
        f"{len(c.speech)} speech turns{extras}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``corpus OUT_DIR [-n N] [--corrupt K] [--seed S] [--json]``."""
    parser = argparse.ArgumentParser(prog="python tests/support/audio.py")
    sub = parser.add_subparsers(dest="command", required=True)
    corpus = sub.add_parser("corpus", help="write a mixed demo corpus of synthetic calls")
    corpus.add_argument("out_dir", type=Path)
    corpus.add_argument("-n", type=int, default=20, help="number of files (default 20)")
    corpus.add_argument("--corrupt", type=int, default=2, help="how many are bad (default 2)")
    corpus.add_argument("--seed", type=int, default=0)
    corpus.add_argument("--json", action="store_true", help="print one JSON object per file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        items = make_demo_corpus(args.out_dir, args.n, corrupt=args.corrupt, seed=args.seed)
    except (AudioToolError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for item in items:
        print(json.dumps(asdict(item), default=str) if args.json else _describe(item))
    if not args.json:
        elapsed = time.perf_counter() - started
        print(f"wrote {len(items)} files to {args.out_dir} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
