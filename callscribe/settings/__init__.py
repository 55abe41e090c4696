"""The one settings object: built once (from ``CALLSCRIBE_*`` env vars and an optional
TOML file) and passed in. Nothing reads the environment at import time.

Settings come in sections (``model``, ``decode``, ``vad``, ``queue``, ``cost``, …), each a
frozen record handed whole to the component it configures: the engine takes ``model`` and
``decode``, the VAD takes ``vad``, the Celery app takes ``queue``. A section is also what a
result records as the options that produced it. In the environment a section's field is
``CALLSCRIBE_<SECTION>__<FIELD>`` (``CALLSCRIBE_MODEL__NAME=small``); in a TOML file it is a
table (``[callscribe.model]``). Durations end in ``_s`` (seconds) or ``_ms``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .sections import (
    EXPORT_FORMATS,
    CostSection,
    DecodeSection,
    DeviceSetting,
    DiarizationSection,
    ExecutionSection,
    ExportSection,
    InsightsSection,
    JobSection,
    ModelSection,
    PlanningSection,
    QueueSection,
    RedactionMode,
    RedactionSection,
    Section,
    SegmentSection,
    SourceOptions,
    StorageSection,
    VadSection,
    WebSection,
)

__all__ = [
    "EXPORT_FORMATS",
    "CostSection",
    "DecodeSection",
    "DeviceSetting",
    "DiarizationSection",
    "ExecutionSection",
    "ExportSection",
    "InsightsSection",
    "JobSection",
    "ModelSection",
    "PlanningSection",
    "QueueSection",
    "RedactionMode",
    "RedactionSection",
    "Section",
    "SegmentSection",
    "SettingError",
    "Settings",
    "SourceOptions",
    "StorageSection",
    "VadSection",
    "WebSection",
    "check_environment",
    "configuration_table",
    "environment_for",
    "load_settings",
    "merge_values",
]


class Settings(BaseSettings):
    """Everything callscribe can be told. Field docs are the configuration reference
    (``docs/configuration.md``)."""

    model_config = SettingsConfigDict(
        env_prefix="CALLSCRIBE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
        use_attribute_docstrings=True,
    )

    database_url: str = "sqlite:///./callscribe.db"
    """SQLAlchemy URL of the system of record. SQLite for one machine, ``postgresql://…``
    for the distributed mode. A password in it is never logged."""
    broker_url: SecretStr | None = None
    """Celery broker (``redis://``, ``rediss://``). Unset: jobs run in-process."""
    schedules: dict[str, str] = {}
    """Nightly scans: source URI → cron expression (``m h dom mon dow``), run by
    ``callscribe schedule``."""
    config_file: Path | None = None
    """Optional TOML file with the same keys (env vars win over it)."""

    storage: StorageSection = Field(default_factory=StorageSection)
    exports: ExportSection = Field(default_factory=ExportSection)
    redaction: RedactionSection = Field(default_factory=RedactionSection)
    planning: PlanningSection = Field(default_factory=PlanningSection)
    model: ModelSection = Field(default_factory=ModelSection)
    decode: DecodeSection = Field(default_factory=DecodeSection)
    vad: VadSection = Field(default_factory=VadSection)
    segments: SegmentSection = Field(default_factory=SegmentSection)
    diarization: DiarizationSection = Field(default_factory=DiarizationSection)
    insights: InsightsSection = Field(default_factory=InsightsSection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    jobs: JobSection = Field(default_factory=JobSection)
    queue: QueueSection = Field(default_factory=QueueSection)
    cost: CostSection = Field(default_factory=CostSection)
    web: WebSection = Field(default_factory=WebSection)

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> Settings:
        soft, hard = self.jobs.soft_time_limit_s, self.queue.time_limit_s
        if not soft < hard < self.queue.visibility_timeout_s:
            raise ValueError(
                "need jobs.soft_time_limit_s < queue.time_limit_s < queue.visibility_timeout_s"
            )
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

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (_hide_password(value) if key == "database_url" else value)

    def redacted(self) -> dict[str, Any]:
        """Settings safe to print or log: secrets masked, DB password removed."""
        data = _mask_secrets(self.model_dump())
        data["database_url"] = _hide_password(self.database_url)
        return data

    def for_source(self, options: SourceOptions | dict[str, Any] | None) -> Settings:
        """These settings with a source's options over them (``SourceOptions``)."""
        if not options:
            return self
        if isinstance(options, dict):
            options = SourceOptions.model_validate(options)
        changes = options.overrides()
        if not changes:
            return self
        updated = self.updated(**changes)
        if options.redaction is None:
            return updated
        # the source's own choice beats ``redaction.by_source``
        redaction = updated.redaction.model_copy(update={"by_source": {}})
        return updated.model_copy(update={"redaction": redaction})

    def updated(self, **changes: Any) -> Settings:
        """A validated copy with ``changes``: top-level values, or sections as dicts of the
        fields to change (``updated(model={"name": "tiny.en"})``): a source's overrides, a
        benchmark's sweep. The environment and the file are not read again."""
        return type(self)(**merge_values(self.model_dump(), changes))


#: The names of the sections.
_SECTIONS = {
    name
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
}


def _mask_secrets(data: dict[str, Any]) -> dict[str, Any]:
    masked: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _mask_secrets(value)
        elif isinstance(value, SecretStr):
            value = "**********"
        masked[key] = value
    return masked


def _hide_password(url: Any) -> Any:
    from sqlalchemy.engine import make_url

    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show nothing of it
        return "***"


class SettingError(ValueError):
    """A ``CALLSCRIBE_*`` variable that names no setting, or a section given a value: one
    line that names it and the right form."""


#: ``CALLSCRIBE_*`` variables that are not settings: the dashboards' read-only login
#: (``callscribe db roles``, Grafana's data source) and the test suite's PostgreSQL.
OTHER_VARIABLES = ("CALLSCRIBE_DASHBOARD_", "CALLSCRIBE_TEST_")


def _env_name(*parts: str) -> str:
    return "CALLSCRIBE_" + "__".join(p.upper() for p in parts)


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Every ``CALLSCRIBE_*`` variable must name a setting: a top-level one
    (``CALLSCRIBE_DATABASE_URL``) or a section's field (``CALLSCRIBE_MODEL__NAME``). A
    section given a value (``CALLSCRIBE_MODEL=/models/x``), an unknown section or field
    raises :class:`SettingError` naming the variable and the right form."""
    environ = os.environ if environ is None else environ
    top = {name for name in Settings.model_fields if name not in _SECTIONS}
    for variable in sorted(environ):
        if not variable.upper().startswith("CALLSCRIBE_") or variable.upper().startswith(
            OTHER_VARIABLES
        ):
            continue
        parts = variable[len("CALLSCRIBE_") :].lower().split("__")
        if len(parts) == 1 and parts[0] in top:
            continue
        section = parts[0]
        if section in _SECTIONS:
            fields = _section_fields(section)
            if len(parts) == 1:
                raise SettingError(
                    f"{variable} is a section, not a setting: set its fields, e.g. "
                    f"{_env_name(section, fields[0])}=… (fields: {', '.join(fields)})"
                )
            if len(parts) == 2 and (parts[1] in fields or parts[1] in _renamed(section)):
                continue
            raise SettingError(
                f"unknown setting {variable}: {section} has the fields "
                f"{', '.join(_env_name(section, f) for f in fields)}"
            )
        known = sorted(top) + sorted(f"{s}__…" for s in _SECTIONS)
        raise SettingError(
            f"unknown setting {variable}: known are {', '.join(_env_name(k) for k in known)}"
        )


def _renamed(section: str) -> dict[str, str]:
    annotation = Settings.model_fields[section].annotation
    assert isinstance(annotation, type) and issubclass(annotation, Section)
    return annotation.renamed


def _section_fields(section: str) -> list[str]:
    annotation = Settings.model_fields[section].annotation
    assert isinstance(annotation, type) and issubclass(annotation, Section)
    return list(annotation.model_fields)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: TOML file (if any) < environment < explicit ``overrides``.

    ``overrides`` are top-level keys or sections given as dicts
    (``model={"name": "tiny.en"}``); values that are None are ignored, so CLI options that
    were not given fall through to the environment and the file.
    """
    check_environment()
    given = _without_none(overrides)
    env_only = Settings(**given)
    path = config_file or env_only.config_file
    if path is None:
        return env_only
    merged = merge_values(_read_toml(Path(path)), _explicit_values(env_only))
    return Settings(**merge_values(merged, given))


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _without_none(value)
        if value is not None and value != {}:
            kept[key] = value
    return kept


def merge_values(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s values over it, section dicts merged field by field."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = merge_values(merged[key], value)
        merged[key] = value
    return merged


def environment_for(values: dict[str, Any]) -> dict[str, str]:
    """The ``CALLSCRIBE_*`` environment variables that give these settings values (as passed
    to :class:`Settings`): a section's field is ``CALLSCRIBE_<SECTION>__<FIELD>``; lists and
    dicts are JSON. For starting a worker process with a test's or benchmark's settings."""
    env: dict[str, str] = {}
    for key, value in values.items():
        if key in _SECTIONS:
            env.update(
                {
                    f"CALLSCRIBE_{key.upper()}__{field.upper()}": _env_value(item)
                    for field, item in value.items()
                }
            )
        else:
            env[f"CALLSCRIBE_{key.upper()}"] = _env_value(value)
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)


def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    section = data.get("callscribe", data)
    return dict(section)


def _explicit_values(model: BaseModel) -> dict[str, Any]:
    """Values set explicitly (by the environment or overrides), which win over the file;
    within a section, only its explicit fields."""
    values: dict[str, Any] = {}
    for key in model.model_fields_set - {"config_file"}:
        value = getattr(model, key)
        values[key] = _explicit_values(value) if isinstance(value, Section) else value
    return values


def configuration_table() -> str:
    """The settings reference as a markdown table (kept in ``docs/configuration.md``)."""
    rows = ["| setting | env var | default | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and issubclass(section, Section):
            rows.append(f"| **`{name}`** | | | {_doc(section.__doc__)} |")
            for field, sub in section.model_fields.items():
                rows.append(
                    _row(f"{name}.{field}", f"{name}__{field}", sub.default, sub.description)
                )
        else:
            rows.append(_row(name, name, info.default, info.description))
    return "\n".join(rows) + "\n"


def _row(name: str, env: str, default: Any, description: str | None) -> str:
    shown = "unset" if default is None else f"`{default}`"
    return f"| `{name}` | `CALLSCRIBE_{env.upper()}` | {shown} | {_doc(description)} |"


def _doc(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")
