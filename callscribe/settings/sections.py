"""The sections of :class:`callscribe.settings.Settings`: one frozen record per component
(the engine takes ``model`` and ``decode``, the VAD ``vad``, the Celery app ``queue`` …),
which is also what a result records as the options that produced it."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_log = logging.getLogger("callscribe.settings")
#: Old setting names already warned about in this process (each is one line, once).
_WARNED: set[tuple[str, str]] = set()

DeviceSetting = Literal["auto", "cpu", "cuda"]
RedactionMode = Literal["off", "mask"]
EXPORT_FORMATS = ("json", "words", "srt", "vtt", "txt", "dialogue")


def known_formats(value: tuple[str, ...]) -> tuple[str, ...]:
    """``value`` if every export format in it exists."""
    unknown = sorted(set(value) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; known: {list(EXPORT_FORMATS)}")
    return value


class Section(BaseModel):
    """A group of settings given to one component (immutable, hashable)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, use_attribute_docstrings=True
    )
    renamed: ClassVar[dict[str, str]] = {}
    """Old field names still read (old: new), each with a one-line warning: every
    documented setting and variable keeps working after a rename."""

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not cls.renamed.keys() & data.keys():
            return data
        data = dict(data)
        section = cls.__name__.removesuffix("Section").lower()
        for old, new in cls.renamed.items():
            if old in data:
                data.setdefault(new, data.pop(old))
                if (section, old) not in _WARNED:
                    _WARNED.add((section, old))
                    _log.warning(
                        "setting %s.%s is deprecated: it is %s.%s now (CALLSCRIBE_%s__%s)",
                        section, old, section, new, section.upper(), new.upper(),
                    )  # fmt: skip
        return data


class StorageSection(Section):
    """Which objects of a source are recordings, where exports go, how S3 is reached."""

    include: tuple[str, ...] = ("*.wav", "*.mp3", "*.flac", "*.ogg", "*.opus", "*.m4a", "*.mp4")
    """Glob patterns (on the file name) of recordings to pick up from a source."""
    metadata_files: tuple[str, ...] = ("callscribe-metadata.csv", "callscribe-metadata.jsonl")
    """Call metadata files read at the root of a folder or S3 source, in this order (a key
    in two counts as the later says): ``.csv`` or ``.jsonl``, one row per recording
    (docs/metadata.md). Never picked up as recordings."""
    output: str = "./transcripts"
    """Where exports go: a local directory or an ``s3://bucket/prefix``."""
    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (MinIO, moto, …). Unset: AWS."""
    s3_region: str | None = None
    """Region for the S3 client. Unset: boto3's default chain."""
    aws_access_key_id: SecretStr | None = None
    """S3 access key. Unset: boto3's default credential chain (env, profile, role)."""
    aws_secret_access_key: SecretStr | None = None
    """S3 secret key. Never logged, never stored in the database."""

    @field_validator("metadata_files")
    @classmethod
    def _plain_metadata_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if (
                name in ("", ".", "..")
                or "/" in name
                or "\\" in name
                or not name.lower().endswith((".csv", ".jsonl"))
            ):
                raise ValueError(
                    f"metadata file {name!r} must be a plain file name ending in .csv or .jsonl"
                )
        return value


class ExportSection(Section):
    """What is written per recording."""

    formats: tuple[str, ...] = EXPORT_FORMATS
    """Which exports to write per recording (json, words, srt, vtt, txt, dialogue)."""
    redacted_audio: bool = False
    """Also export ``<name>.redacted.wav``: the recording with every redacted span silenced
    (for QA who listen)."""
    max_attempts: int = Field(default=6, ge=1)
    """Attempts at writing a recording's exports (a full or read-only disk, the object store
    away) before the recording is failed; until then it is ``export_failed``."""
    retry_delay_s: float = Field(default=30.0, ge=0)
    """Delay before exports that failed are written again; doubled after each failure, at
    most ``jobs.retry_max_delay_s``."""

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return known_formats(value)


class RedactionSection(Section):
    """PII removed before anything is stored, exported or indexed."""

    mode: RedactionMode = "mask"
    """``mask`` replaces card numbers, SSNs, phone numbers, e-mail addresses and ``patterns``
    with typed tags ([CARD] …) before anything is stored, exported or indexed; ``off`` keeps
    the words as heard."""
    by_source: dict[str, RedactionMode] = {}
    """Per source: source URI (as ``callscribe status`` shows it) → ``off`` | ``mask``,
    overriding ``mode``."""
    patterns: dict[str, str] = {}
    """More to redact: tag name → regular expression (e.g. ``{"ACCOUNT": "AC[- ]?\\d{6}"}``),
    matched on the words as written and with spoken digits as numerals."""

    def __hash__(self) -> int:
        return hash(
            (self.mode, tuple(sorted(self.by_source.items())), tuple(sorted(self.patterns.items())))
        )

    def mode_for(self, source_uri: str) -> str:
        """``off`` or ``mask`` for recordings of ``source_uri``."""
        return self.by_source.get(source_uri, self.mode)

    @field_validator("patterns")
    @classmethod
    def _valid_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,31}", name):
                raise ValueError(
                    f"redaction tag {name!r} must be upper case letters, digits and underscores"
                )
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression for {name}: {exc}") from exc
        return value


class PlanningSection(Section):
    """How recordings become jobs."""

    job_max_s: float = Field(default=600.0, gt=30)
    """Longest span of one recording given to one job. Long calls become several jobs."""
    max_recording_hours: float = Field(default=24.0, gt=0)
    """Longest recording planned; a longer one (or a header or manifest claiming one) fails
    with the reason instead of becoming thousands of jobs."""


class ModelSection(Section):
    """Which model a worker loads, and where it runs."""

    name: str = "small"
    """faster-whisper model name (downloaded on first use) or a local CTranslate2 directory."""
    cache_dir: str | None = None
    """Where downloaded models are kept (faster-whisper's ``download_root``)."""
    device: DeviceSetting = "auto"
    """``cpu``, ``cuda`` or ``auto`` (CUDA when present)."""
    device_index: int = 0
    """Which GPU a worker process uses."""
    compute_type: str = "auto"
    """CTranslate2 compute type: int8, int8_float16, float16, float32, or ``auto``: int8 on
    CPU, float16 on CUDA."""
    cpu_threads: int = 0
    """CTranslate2 threads on CPU; 0 = the cores available, shared among worker processes."""
    tune_allocator: bool = True
    """On CPU with glibc: keep the model's freed working memory in the heap for the next
    window instead of handing it back to the kernel and faulting it in again (about a
    third less model time on CPU; docs/benchmarks.md). Memory the model once used stays
    with the worker process."""
    load_timeout_s: float = Field(default=300.0, gt=0)
    """How long a worker child may take to load the model before Celery gives up on it."""


class DecodeSection(Section):
    """How each window is decoded (recorded with every result)."""

    language: str | None = None
    """Spoken language code (e.g. ``en``). Unset: detected per recording channel (in each
    job), from up to ``detect_windows`` of its windows."""
    task: Literal["transcribe", "translate"] = "transcribe"
    """``transcribe`` writes what was said in the language it was said in; ``translate``
    writes it in English (Whisper's translation task; multilingual models only)."""
    detect_windows: int = Field(default=4, ge=1)
    """How many windows of a channel language detection listens to (the longest ones): each
    window's language probabilities, weighted by its seconds of audio, are summed; the most
    likely language wins. Music or noise in one window does not decide the language."""
    initial_prompt: str | None = None
    """Text given to the model as prior context for every window (domain words)."""
    hotwords: str | None = None
    """Words to bias decoding toward (product names)."""
    beam_size: int = Field(default=5, ge=1)
    """Beam width for decoding."""
    best_of: int = Field(default=5, ge=1)
    """Candidates sampled at a temperature above 0 (temperature fallback)."""
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    """Decoding temperatures: a window is decoded at the first; one whose text fails the
    checks below is decoded again at the next (temperature fallback, as in
    ``WhisperModel.transcribe``)."""
    compression_ratio_threshold: float = Field(default=2.4, gt=0)
    """A window whose text compresses better than this (gzip ratio) is a repetition loop:
    decoded again at the next temperature."""
    log_prob_threshold: float = -1.0
    """A window whose average token log-probability is below this is decoded again at the
    next temperature (unless it is silence, see ``no_speech_threshold``)."""
    no_speech_threshold: float = Field(default=0.6, gt=0, lt=1)
    """A window the model thinks is not speech (no-speech probability above this and log
    probability below ``log_prob_threshold``) gives no text."""
    tail_s: float = Field(default=2.0, ge=0)
    """When a window's last word ends this long before its audio does, the model stopped
    early: the rest is decoded on its own and appended. 0: never (for a model whose word
    times mean nothing, like the random-weight test model)."""
    reread_skipped: bool = True
    """A piece of a packed window that got fewer than 1.5 words a second is decoded again
    alone, and its words replaced when that found more (``workers.transcription.recovery``). Off:
    never
    (for a model whose word times mean nothing, like the random-weight test model)."""

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(t < 0 for t in value) or list(value) != sorted(value):
            raise ValueError("temperatures must be a non-empty, ascending list of values ≥ 0")
        return value


class VadSection(Section):
    """Speech detection and how speech is cut into windows (recorded with results)."""

    threshold: float = Field(default=0.5, gt=0, lt=1)
    """Silero VAD speech probability threshold."""
    min_silence_ms: int = Field(default=500, ge=0)
    """Silence needed to end a speech chunk."""
    speech_pad_ms: int = Field(default=200, ge=0)
    """Padding kept around each speech chunk."""
    window_max_s: float = Field(default=30.0, gt=1, le=30)
    """Longest window handed to the model (Whisper sees 30 s at most)."""
    merge_gap_s: float = Field(default=1.0, ge=0)
    """Speech chunks closer than this become one piece, the pause kept in. Longer pauses
    are left out of the audio the model reads (with packing): keeping them would spend the
    30-s window on silence."""
    packing: bool = True
    """Pack a channel's speech pieces, silences left out, into windows of up to
    ``window_max_s`` of speech (fewer, fuller windows); off: one window per piece."""
    fuse: bool = False
    """Read a job's short windows (of either channel) together as one clip of up to
    ``window_max_s``, each word going back to its own window: fewer encoder passes. Only
    when the language is known (``decode.language`` set, or an English-only model). Off by
    default: on calls with barge-in overtalk the model, reading two parties' windows in one
    clip, dropped one party's turns and its word times drifted into the other's part."""


class SegmentSection(Section):
    """How a window's words become segments, and whose they are (recorded with results)."""

    pause_s: float = Field(default=0.6, gt=0)
    """A pause between two words at least this long (from word timings) ends a segment; half
    as long after a sentence end. A segment also ends wherever the window's audio jumps over
    left-out silence."""
    max_s: float = Field(default=12.0, gt=1)
    """A segment longer than this ends at its next sentence or clause end (subtitle-sized
    cues)."""
    speaker_labels: tuple[str, ...] = ("agent", "customer")
    """Speaker label per channel index; a mono recording uses the first."""

    def speaker_for(self, channel: int, channels: int) -> str:
        """Speaker label of ``channel`` in a recording with ``channels`` channels."""
        if channels == 1:
            return self.speaker_labels[0] if self.speaker_labels else "speaker"
        if channel < len(self.speaker_labels):
            return self.speaker_labels[channel]
        return f"channel{channel}"


class DiarizationSection(Section):
    """Who spoke on a channel that carries several voices (a mono or dual-mono call, a
    meeting): speaker embeddings of the speech, grouped by voice ([speakers](speakers.md))."""

    enabled: bool = True
    """Diarize one-channel recordings. Off: their segments keep the first speaker label."""
    speakers: int | Literal["auto"] = Field(default=2, union_mode="left_to_right")
    """How many voices: 2 for calls (``agent``/``customer``; one voice is found when there
    is only one); another number, at most that many (``speaker_1`` …); ``auto`` for
    meetings: from the embeddings, 1 to ``max_speakers``."""
    max_speakers: int = Field(default=8, ge=1, le=16)
    """The most voices ``auto`` finds."""
    first_speaker: Literal["agent", "customer"] = "agent"
    """Who speaks first on a call (``customer`` for outbound campaigns); a greeting ("thank
    you for calling") heard from one party only names that one the agent whatever this says."""
    window_s: float = Field(default=1.5, gt=0.2, le=10.0)
    """Length of the speech windows each embedding is taken from."""
    hop_s: float = Field(default=1.5, gt=0.05, le=10.0)
    """Step between those windows. The default (the window's length: every instant of speech
    in one window) costs half of what 0.75 s did, for the same accuracy on calls
    ([benchmarks](benchmarks.md#speakers))."""
    model_dir: str | None = None
    """Where the speaker model (ONNX, built once from its pinned wheel) is kept. Unset:
    ``$XDG_CACHE_HOME/callscribe/models`` (``~/.cache/…``)."""
    precision: Literal["float", "int8"] = "float"
    """The speaker model's arithmetic: ``int8`` (built once from the float model, calibrated
    on flite or espeak-ng speech, so one of them must be installed where it is built)
    costs about half the CPU for about 1 pt of accuracy ([speakers](speakers.md)); when it
    cannot be built the float model is used, with one warning."""

    @field_validator("speakers")
    @classmethod
    def _speaker_count(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 16:
            raise ValueError("speakers must be 1 to 16 or 'auto'")
        return value


class InsightsSection(Section):
    """What customers ask and how they feel ([insights](insights.md)): per call, computed in
    the worker after transcription from the stored (redacted) text; topics across the
    archive from ``callscribe insights``."""

    enabled: bool = True
    """Compute each finished call's insights (customer sentiment, questions, signals,
    problem statement, summary). Off: none are stored."""
    negative_below: float = Field(default=-0.25, ge=-1.0, le=0.0)
    """A customer whose mean sentiment is below this counts as unhappy."""
    topic_min_similarity: float = Field(default=0.3, ge=-1.0, le=1.0)
    """A new call joins the nearest existing topic when its cosine similarity to that
    topic's centre is at least this; else it stays unassigned until the next re-cluster."""
    max_topics: int = Field(default=30, ge=2, le=200)
    """The most topics a clustering may find (the number is chosen by silhouette)."""
    model_dir: str | None = None
    """Where the sentence model (all-MiniLM-L6-v2, from its pinned wheel) is kept. Unset:
    ``$XDG_CACHE_HOME/callscribe/models``."""


class WebSection(Section):
    """The call review web app (``callscribe web``, docs/review.md)."""

    host: str = "127.0.0.1"
    """Address ``callscribe web`` listens on (``--host`` overrides)."""
    port: int = Field(default=8080, ge=1, le=65535)
    """Port ``callscribe web`` listens on (``--port`` overrides)."""
    database_url: SecretStr | None = None
    """On PostgreSQL, the URL of a login that can only read (``callscribe db dashboard-user
    NAME --reviewer``): the app cannot write even if compromised. Unset: the app connects
    with ``database_url`` and switches every connection to the reviewer group, read-only
    (a warning says so). SQLite is always opened read-only."""
    secret_key: SecretStr | None = None
    """Signs the session cookies; at least 32 characters. Unset: a random key per process
    (everyone logs in again after a restart; a warning says so)."""
    secure_cookies: bool = False
    """Mark the session cookie ``Secure`` (set it when the app is served behind TLS)."""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """How long a login lasts."""
    login_failures: int = Field(default=5, ge=1)
    """Failed logins allowed per user name, and per client address, within
    ``login_window_s``; after that the login form answers 429 until the window passes."""
    login_window_s: float = Field(default=300.0, gt=0)
    """The window failed logins are counted in."""
    limiter_url: SecretStr | None = None
    """Redis (``redis://``, ``rediss://``) where every replica of the app counts failed
    logins together (the same key is refused on all of them). Unset: the broker
    (``broker_url``) when there is one, else each process counts its own."""
    page_size: int = Field(default=50, ge=1, le=500)
    """Calls and search hits per page."""

    @field_validator("limiter_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("web.limiter_url must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("web.secret_key needs at least 32 characters")
        return value


class ExecutionSection(Section):
    """How one process runs jobs and fills model batches."""

    jobs_in_flight: int | None = Field(default=None, ge=1)
    """Jobs in flight in one process (embedded run, or a ``threads`` worker): each is fetched,
    decoded and run through VAD on its own CPU thread while the model runs, and their
    windows share model batches. Bounds memory. Unset: 2 on CPU, 8 on CUDA."""
    batch_size: int | None = Field(default=None, ge=1)
    """Windows per model batch, filled from several jobs and both channels. Unset: 8 on CPU,
    32 on CUDA."""
    batch_wait_ms: float | None = Field(default=None, ge=0)
    """How long the model waits for more windows to fill a batch while a job is still being
    prepared; when no job is being prepared a partial batch runs at once. Unset: 1000 on CPU
    (a window costs the CPU seconds; a half-empty batch costs nearly as much as a full one),
    50 on CUDA."""

    renamed: ClassVar[dict[str, str]] = {"workers": "jobs_in_flight"}


class JobSection(Section):
    """How a job is claimed, kept, timed out and retried (embedded and distributed)."""

    lease_s: float = Field(default=60.0, gt=0)
    """How long a claimed job stays a worker's without a heartbeat; then another may take it."""
    heartbeat_s: float = Field(default=15.0, gt=0)
    """How often a worker renews the lease of the job it runs."""
    soft_time_limit_s: int = Field(default=3300, gt=0)
    """Soft time limit of one job: past it the attempt stops and counts as a retryable
    failure (same on both pools and in the embedded run)."""
    max_attempts: int = Field(default=3, ge=1)
    """A job that failed this many times is failed for good."""
    retry_delay_s: float = Field(default=5.0, ge=0)
    """Delay before a job that failed with a retryable error is delivered again; doubled
    after each further failure (``callscribe.failures``)."""
    retry_max_delay_s: float = Field(default=300.0, ge=0)
    """Longest delay between two attempts of a job."""
    reconcile_interval_s: float = Field(default=30.0, gt=0)
    """How often each worker's healing pass runs (the reconciler, one worker at a time under a
    database lock), jittered between half of it and all of it: jobs lost with the broker,
    expired leases and failed exports are dealt with within this long."""
    requeue_grace_s: float = Field(default=30.0, ge=0)
    """A queued job missing from the broker for longer than this is sent again."""

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> JobSection:
        if self.heartbeat_s >= self.lease_s:
            raise ValueError("heartbeat_s must be shorter than lease_s")
        return self


class QueueSection(Section):
    """The Celery side of the distributed mode."""

    name: str = "callscribe"
    """Celery queue the transcription tasks go to."""
    broker_ssl_ca_certs: str | None = None
    """CA bundle for a ``rediss://`` broker (certificates are always verified)."""
    time_limit_s: int = Field(default=3600, gt=0)
    """Hard time limit of one job: the worker child is killed (model reloaded). Longer than
    ``jobs.soft_time_limit_s``."""
    visibility_timeout_s: int = Field(default=7200, gt=0)
    """Redis visibility timeout: an unacknowledged message is redelivered after this. Longer
    than ``time_limit_s``."""
    worker_concurrency: int = Field(default=1, ge=1)
    """Celery worker processes per ``callscribe worker`` with the prefork pool (one per GPU
    is the rule); ignored by the threads pool, which runs ``execution.jobs_in_flight`` jobs at
    once."""
    worker_pool: Literal["auto", "prefork", "threads"] = "auto"
    """Celery pool: ``threads`` runs several jobs in one process whose windows share model
    batches (for GPUs: no fork, one CUDA context); ``prefork`` runs one job per child process
    with Celery's time limits (for CPUs). ``auto``: threads on CUDA, else prefork."""


class CostSection(Section):
    """What a device-hour costs, and what callscribe is compared with."""

    device_prices: dict[str, float] = {}
    """USD per device-hour by exact device name (e.g. ``{"NVIDIA H100 80GB HBM3": 2.49}``)."""
    device_kind_prices: dict[str, float] = {"cpu": 0.10, "cuda": 2.50}
    """USD per device-hour for devices not named in ``device_prices``, by kind."""
    reference_usd_per_audio_hour: float = Field(default=0.36, ge=0)
    """The cloud API price callscribe is compared with (OpenAI whisper-1: $0.006/min)."""

    def __hash__(self) -> int:
        return hash(
            (
                tuple(sorted(self.device_prices.items())),
                tuple(sorted(self.device_kind_prices.items())),
                self.reference_usd_per_audio_hour,
            )
        )


class SourceOptions(Section):
    """What one source overrides of the global settings (``callscribe source add|set``):
    stored with the source, copied onto each run and job planned from it (so results say
    what produced them), and applied by the worker to that job. Unset fields keep the
    global value."""

    language: str | None = None
    """Spoken language (``decode.language``); ``auto`` for detection whatever the global."""
    task: Literal["transcribe", "translate"] | None = None
    """``decode.task``."""
    initial_prompt: str | None = None
    """``decode.initial_prompt``."""
    hotwords: str | None = None
    """``decode.hotwords``."""
    speaker_labels: tuple[str, ...] | None = None
    """``segments.speaker_labels``: the label of each channel (``customer,agent`` for a
    source whose customer is on the left)."""
    model: str | None = None
    """``model.name``: this source's recordings are decoded with another model."""
    redaction: RedactionMode | None = None
    """``redaction.mode`` for this source."""
    export_formats: tuple[str, ...] | None = None
    """``exports.formats`` for this source."""
    speakers: int | Literal["auto"] | None = Field(default=None, union_mode="left_to_right")
    """``diarization.speakers``: ``auto`` for a source of meetings."""
    first_speaker: Literal["agent", "customer"] | None = None
    """``diarization.first_speaker``: ``customer`` for an outbound campaign."""

    @field_validator("export_formats")
    @classmethod
    def _known_formats(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else known_formats(value)

    def overrides(self) -> dict[str, dict[str, Any]]:
        """The settings sections these options change, as :meth:`Settings.updated` takes
        them."""
        decode: dict[str, Any] = {
            k: v
            for k, v in (
                ("task", self.task),
                ("initial_prompt", self.initial_prompt),
                ("hotwords", self.hotwords),
            )
            if v is not None
        }
        if self.language is not None:
            decode["language"] = None if self.language == "auto" else self.language
        changes: dict[str, dict[str, Any]] = {"decode": decode}
        if self.speaker_labels is not None:
            changes["segments"] = {"speaker_labels": self.speaker_labels}
        if self.model is not None:
            changes["model"] = {"name": self.model}
        if self.redaction is not None:
            changes["redaction"] = {"mode": self.redaction}
        if self.export_formats is not None:
            changes["exports"] = {"formats": self.export_formats}
        diarization = {
            k: v
            for k, v in (("speakers", self.speakers), ("first_speaker", self.first_speaker))
            if v is not None
        }
        if diarization:
            changes["diarization"] = diarization
        return {name: section for name, section in changes.items() if section}
