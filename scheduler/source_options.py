"""Per-source options (``callscribe source add|set|show``): what one source overrides of
the global settings, stored on its row and copied onto each run and job planned from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import ConfigurationError
from callscribe.models import Source, SourceKind
from callscribe.settings import SourceOptions

from .register import ensure_source


@dataclass(frozen=True)
class SourceRow:
    """A source as ``callscribe source show`` lists it."""

    uri: str
    kind: str
    options: dict[str, Any]


def options_of(session: Session, source_id: int) -> dict[str, Any]:
    """The options stored for a source (``{}`` when it overrides nothing)."""
    return dict(session.scalar(select(Source.options).where(Source.id == source_id)) or {})


def set_options(
    factory: sessionmaker[Session],
    uri: str,
    kind: SourceKind,
    changes: dict[str, Any],
    *,
    unset: tuple[str, ...] = (),
    replace: bool = False,
) -> SourceOptions:
    """Register the source if new and change its options: ``changes`` over what it has
    (everything it has dropped first with ``replace``), then the fields in ``unset``
    removed. Validated as a whole; a bad value changes nothing."""
    source_id = ensure_source(factory, uri, kind)
    with factory.begin() as session:
        source = session.scalars(
            select(Source).where(Source.id == source_id).with_for_update()
        ).one()
        current = {} if replace else dict(source.options or {})
        merged = {**current, **{k: v for k, v in changes.items() if v is not None}}
        for name in unset:
            merged.pop(name, None)
        try:
            options = SourceOptions.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(f"invalid source option {where}: {first['msg']}") from None
        source.options = options.model_dump(mode="json", exclude_none=True)
        return options


def list_sources(factory: sessionmaker[Session], uri: str | None = None) -> list[SourceRow]:
    """Every source (or the one at ``uri``) with its options, by URI."""
    with factory.begin() as session:
        query = select(Source.uri, Source.kind, Source.options).order_by(Source.uri)
        if uri is not None:
            query = query.where(Source.uri == uri)
        return [
            SourceRow(row.uri, str(getattr(row.kind, "value", row.kind)), dict(row.options or {}))
            for row in session.execute(query)
        ]
