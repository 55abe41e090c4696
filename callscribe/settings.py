"""The one settings object: built once (from ``CALLSCRIBE_*`` env vars and an optional
TOML file) and passed in. Nothing reads the environment at import time."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Device = Literal["auto", "cpu", "cuda"]


class Settings(BaseSettings):
    """Everything callscribe can be told. Field docs are the configuration reference
    (``docs/configuration.md``)."""

    model_config = SettingsConfigDict(
        env_prefix="CALLSCRIBE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
    )

    # -- storage -------------------------------------------------------------------------
    database_url: str = "sqlite:///./callscribe.db"
    """SQLAlchemy URL of the system of record. SQLite for one machine, ``postgresql://…``
    for the distributed mode. A password in it is never logged."""

    broker_url: SecretStr | None = None
    """Celery broker (``redis://``, ``rediss://``). Unset: jobs run in-process."""

    output: str = "./transcripts"
    """Where exports go: a local directory or an ``s3://bucket/prefix``."""

    export_formats: list[str] = ["json", "words", "srt", "vtt", "txt", "dialogue"]
    """Which exports to write per recording (json, words, srt, vtt, txt, dialogue)."""

    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (MinIO, moto, …). Unset: AWS."""

    s3_region: str | None = None
    """Region for the S3 client. Unset: boto3's default chain."""

    aws_access_key_id: SecretStr | None = None
    """S3 access key. Unset: boto3's default credential chain (env, profile, role)."""

    aws_secret_access_key: SecretStr | None = None
    """S3 secret key. Never logged, never stored in the database."""

    # -- redaction ---------------------------------------------------------------------------
    redaction: Literal["off", "mask"] = "mask"
    """PII in transcripts: ``mask`` replaces card numbers, SSNs, phone numbers, e-mail
    addresses and ``redaction_patterns`` with typed tags ([CARD] …) before anything is
    stored, exported or indexed; ``off`` keeps the words as heard."""

    redaction_by_source: dict[str, Literal["off", "mask"]] = {}
    """Per source: source URI (as ``callscribe status`` shows it) → ``off`` | ``mask``,
    overriding ``redaction``."""

    redaction_patterns: dict[str, str] = {}
    """More to redact: tag name → regular expression (e.g. ``{"ACCOUNT": "AC[- ]?\\d{6}"}``),
    matched on the words as written and with spoken digits as numerals."""

    redacted_audio: bool = False
    """Also export ``<name>.redacted.wav``: the recording with every redacted span silenced
    (for QA who listen)."""

    # -- discovery and planning ------------------------------------------------------------
    include: list[str] = ["*.wav", "*.mp3", "*.flac", "*.ogg", "*.opus", "*.m4a", "*.mp4"]
    """Glob patterns (on the file name) of recordings to pick up from a source."""

    job_max_seconds: float = Field(600.0, gt=30)
    """Longest span of one recording given to one job. Long calls become several jobs."""

    max_recording_hours: float = Field(24.0, gt=0)
    """Longest recording planned; a longer one (or a header or manifest claiming one) fails
    with the reason instead of becoming thousands of jobs."""

    # -- model and decoding ----------------------------------------------------------------
    model: str = "small"
    """faster-whisper model name (downloaded on first use) or a local CTranslate2 directory."""

    model_cache_dir: str | None = None
    """Where downloaded models are kept (faster-whisper's ``download_root``)."""

    device: Device = "auto"
    """``cpu``, ``cuda`` or ``auto`` (CUDA when present)."""

    device_index: int = 0
    """Which GPU a worker process uses."""

    compute_type: str = "auto"
    """CTranslate2 compute type: int8, int8_float16, float16, float32, or ``auto``: int8 on
    CPU, float16 on CUDA."""

    cpu_threads: int = 0
    """CTranslate2 threads on CPU; 0 = the cores available, shared among worker processes."""

    language: str | None = None
    """Spoken language code (e.g. ``en``). Unset: detected per recording channel."""

    initial_prompt: str | None = None
    """Text given to the model as prior context for every window (domain words)."""

    hotwords: str | None = None
    """Words to bias decoding toward (product names)."""

    beam_size: int = Field(5, ge=1)
    """Beam width for decoding."""

    batch_size: int | None = Field(None, ge=1)
    """Windows per model batch, filled from several jobs and both channels. Unset: 8 on CPU,
    32 on CUDA."""

    temperatures: list[float] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """Decoding temperatures: a window is decoded at the first; one whose text fails the
    checks below is decoded again at the next (temperature fallback, as in
    ``WhisperModel.transcribe``)."""
    compression_ratio_threshold: float = Field(2.4, gt=0)
    """A window whose text compresses better than this (gzip ratio) is a repetition loop:
    decoded again at the next temperature."""
    log_prob_threshold: float = -1.0
    """A window whose average token log-probability is below this is decoded again at the
    next temperature (unless it is silence, see ``no_speech_threshold``)."""
    no_speech_threshold: float = Field(0.6, gt=0, lt=1)
    """A window the model thinks is not speech (no-speech probability above this and log
    probability below ``log_prob_threshold``) gives no text."""
    decode_tail_seconds: float = Field(2.0, ge=0)
    """When a window's last word ends this long before its audio does, the model stopped
    early: the rest is decoded on its own and appended. 0: never (for a model whose word
    times mean nothing, like the random-weight test model)."""
    segment_pause_seconds: float = Field(0.6, gt=0)
    """A pause between two words at least this long (from word timings) ends a segment; half
    as long after a sentence end. A segment also ends wherever the window's audio jumps over
    left-out silence."""
    segment_max_seconds: float = Field(12.0, gt=1)
    """A segment longer than this ends at its next sentence or clause end (subtitle-sized
    cues)."""

    # -- audio, VAD and windows ------------------------------------------------------------
    speaker_labels: list[str] = ["agent", "customer"]
    """Speaker label per channel index; a mono recording uses the first."""

    vad_threshold: float = Field(0.5, gt=0, lt=1)
    """Silero VAD speech probability threshold."""

    vad_min_silence_ms: int = 500
    """Silence needed to end a speech chunk."""

    vad_speech_pad_ms: int = 200
    """Padding kept around each speech chunk."""

    window_max_seconds: float = Field(30.0, gt=1, le=30)
    """Longest window handed to the model (Whisper sees 30 s at most)."""

    window_merge_gap_seconds: float = Field(1.0, ge=0)
    """Speech chunks closer than this become one piece, the pause kept in. Longer pauses
    are left out of the audio the model reads (with packing): keeping them would spend the
    30-s window on silence."""

    window_packing: bool = True
    """Pack a channel's speech pieces, silences left out, into windows of up to
    ``window_max_seconds`` of speech (fewer, fuller windows); off: one window per piece."""

    # -- execution -------------------------------------------------------------------------
    workers: int | None = Field(None, ge=1)
    """Jobs in flight in one process (embedded run, or a ``threads`` worker): each is fetched,
    decoded and run through VAD on its own CPU thread while the model runs, and their
    windows share model batches. Bounds memory. Unset: 2 on CPU, 8 on CUDA."""

    batch_wait_ms: float | None = Field(None, ge=0)
    """How long the model waits for more windows to fill a batch while a job is still being
    prepared; when no job is being prepared a partial batch runs at once. Unset: 1000 on CPU
    (a window costs the CPU seconds; a half-empty batch costs nearly as much as a full one),
    50 on CUDA."""
    max_attempts: int = Field(3, ge=1)
    """A job that failed this many times is failed for good."""

    # -- distributed mode ------------------------------------------------------------------
    queue: str = "callscribe"
    """Celery queue the transcription tasks go to."""

    broker_ssl_ca_certs: str | None = None
    """CA bundle for a ``rediss://`` broker (certificates are always verified)."""

    lease_seconds: float = Field(60.0, gt=0)
    """How long a claimed job stays a worker's without a heartbeat; then another may take it."""

    heartbeat_seconds: float = Field(15.0, gt=0)
    """How often a worker renews the lease of the job it runs."""

    task_soft_time_limit_s: int = Field(3300, gt=0)
    """Soft time limit of one job: past it the attempt stops and counts as a retryable
    failure (same on both pools and in the embedded run)."""

    task_time_limit_s: int = Field(3600, gt=0)
    """Hard time limit of one job: the worker child is killed (model reloaded)."""

    visibility_timeout_s: int = Field(7200, gt=0)
    """Redis visibility timeout: an unacknowledged message is redelivered after this."""

    retry_delay_s: float = Field(5.0, ge=0)
    """Delay before a job that failed with a retryable error is delivered again; doubled
    after each further failure (``callscribe.failures``)."""

    retry_max_delay_s: float = Field(300.0, ge=0)
    """Longest delay between two attempts of a job."""

    reconcile_interval_s: float = Field(30.0, gt=0)
    """How often the periodic reconciler runs (``callscribe worker --beat``)."""

    requeue_grace_s: float = Field(30.0, ge=0)
    """A queued job missing from the broker for longer than this is sent again."""

    worker_concurrency: int = Field(1, ge=1)
    """Celery worker processes per ``callscribe worker`` with the prefork pool (one per GPU
    is the rule); ignored by the threads pool, which runs ``workers`` jobs at once."""

    worker_pool: Literal["auto", "prefork", "threads"] = "auto"
    """Celery pool: ``threads`` runs several jobs in one process whose windows share model
    batches (for GPUs: no fork, one CUDA context); ``prefork`` runs one job per child process
    with Celery's time limits (for CPUs). ``auto``: threads on CUDA, else prefork."""

    model_load_timeout_s: float = Field(300.0, gt=0)
    """How long a worker child may take to load the model before Celery gives up on it."""

    # -- cost and schedules ----------------------------------------------------------------
    device_prices: dict[str, float] = {}
    """USD per device-hour by exact device name (e.g. ``{"NVIDIA H100 80GB HBM3": 2.49}``)."""

    device_kind_prices: dict[str, float] = {"cpu": 0.10, "cuda": 2.50}
    """USD per device-hour for devices not named in ``device_prices``, by kind."""

    reference_usd_per_audio_hour: float = Field(0.36, ge=0)
    """The cloud API price callscribe is compared with (OpenAI whisper-1: $0.006/min)."""

    schedules: dict[str, str] = {}
    """Nightly scans: source URI → cron expression (``m h dom mon dow``), run by
    ``callscribe schedule``."""

    config_file: Path | None = None
    """Optional TOML file with the same keys (env vars win over it)."""

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: list[float]) -> list[float]:
        if not value or any(t < 0 for t in value) or value != sorted(value):
            raise ValueError("temperatures must be a non-empty, ascending list of values ≥ 0")
        return value

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> Settings:
        if not self.task_soft_time_limit_s < self.task_time_limit_s < self.visibility_timeout_s:
            raise ValueError("need task_soft_time_limit_s < task_time_limit_s "
                             "< visibility_timeout_s")
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self

    @field_validator("schedules")
    @classmethod
    def _valid_crons(cls, value: dict[str, str]) -> dict[str, str]:
        from celery.schedules import crontab

        for source, expression in value.items():
            fields = expression.split()
            if len(fields) != 5:
                raise ValueError(f"cron for {source!r} needs 5 fields, got {expression!r}")
            try:
                crontab(*fields)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"bad cron for {source!r}: {expression!r} ({exc})") from exc
        return value

    @field_validator("redaction_patterns")
    @classmethod
    def _valid_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name, pattern in value.items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,31}", name):
                raise ValueError(f"redaction tag {name!r} must be upper case letters, digits "
                                 "and underscores")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression for {name}: {exc}") from exc
        return value

    def redaction_for(self, source_uri: str) -> str:
        """``off`` or ``mask`` for recordings of ``source_uri``."""
        return self.redaction_by_source.get(source_uri, self.redaction)

    @field_validator("export_formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        known = {"json", "words", "srt", "vtt", "txt", "dialogue"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown export format(s) {unknown}; known: {sorted(known)}")
        return value

    def speaker_for(self, channel: int, channels: int) -> str:
        """Speaker label of ``channel`` in a recording with ``channels`` channels."""
        if channels == 1:
            return self.speaker_labels[0] if self.speaker_labels else "speaker"
        if channel < len(self.speaker_labels):
            return self.speaker_labels[channel]
        return f"channel{channel}"

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (_hide_password(value) if key == "database_url" else value)

    def redacted(self) -> dict[str, Any]:
        """Settings safe to print or log: secrets masked, DB password removed."""
        data = self.model_dump()
        data["database_url"] = _hide_password(self.database_url)
        for key, value in data.items():
            if isinstance(value, SecretStr):
                data[key] = "**********"
        return data


def _hide_password(url: Any) -> Any:
    from sqlalchemy.engine import make_url

    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show nothing of it
        return "***"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: TOML file (if any) < environment < explicit ``overrides``.

    ``overrides`` with value None are ignored, so CLI options that were not given fall
    through to the environment and the file.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    env_only = Settings(**given)
    path = config_file or env_only.config_file
    if path is None:
        return env_only
    file_values = _read_toml(Path(path))
    merged = {**file_values, **_explicit_values(env_only), **given}
    return Settings(**merged)


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    section = data.get("callscribe", data)
    return dict(section)


def _explicit_values(settings: Settings) -> dict[str, Any]:
    """Values set explicitly (by the environment or overrides), which win over the file."""
    fields = settings.model_fields_set - {"config_file"}
    return {key: getattr(settings, key) for key in fields}


def configuration_table() -> str:
    """The settings reference as a markdown table (kept in ``docs/configuration.md``)."""
    rows = ["| setting | env var | default | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = "unset" if info.default is None else f"`{info.default}`"
        meaning = " ".join((info.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{name}` | `CALLSCRIBE_{name.upper()}` | {default} | {meaning} |")
    return "\n".join(rows) + "\n"
