"""What every route shares: the settings, the read-only sessions, the templates, the login
limiter (``request.app.state.web``), and the dependencies that find the logged-in user and
render a page."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Path, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from callscribe.settings import Settings

from .security import Limiter, NotLoggedIn, csrf_token, session_user
from .users import User, find_user

HERE = resources.files("callscribe.web")


class BadRequest(Exception):
    """A query parameter that cannot be used (the message names it and its form)."""


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    factory: sessionmaker[Session]
    templates: Environment
    limiter: Limiter

    @property
    def max_age_s(self) -> float:
        return self.settings.web.session_hours * 3600


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def current_user(request: Request) -> User:
    """The logged-in user (looked up again: a removed user is out at once), else
    :class:`NotLoggedIn`."""
    ctx = web_context(request)
    held = session_user(request, ctx.max_age_s)
    if held is None:
        raise NotLoggedIn
    with ctx.factory.begin() as session:
        user = find_user(session, held[0])
    if user is None or not hmac.compare_digest(user.fingerprint, held[1]):
        request.session.clear()
        raise NotLoggedIn
    return user


def render(request: Request, name: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    """The template ``name`` (autoescaped) with this session's CSRF token."""
    context.setdefault("user", None)
    template = web_context(request).templates.get_template(name)
    return HTMLResponse(template.render(csrf=csrf_token(request), **context), status_code=status)


def query_with(request: Request) -> Any:
    """``query(page=2)``: this page's query string with some values changed."""

    def build(**changes: Any) -> str:
        params = {k: v for k, v in request.query_params.items() if v}
        params.update({k: str(v) for k, v in changes.items()})
        return urlencode(params)

    return build


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _css(value: object) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(value))


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clock"] = clock
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if v else ""
    env.filters["signed"] = lambda v: "–" if v is None else f"{v:+.2f}"
    env.filters["num"] = lambda v: f"{v:.2f}" if isinstance(v, float) else v
    env.filters["css"] = _css
    return env


# --- query parameters ------------------------------------------------------------------


def day(name: str, value: str | None, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` (or ISO time) filter, in UTC (a time without a zone is UTC); an
    ``until`` day includes that whole day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            moment = time.max if end else time.min
            return datetime.combine(date.fromisoformat(value), moment, tzinfo=UTC)
        found = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a date, YYYY-MM-DD (got {value[:40]!r})") from None
    return found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)


#: The largest id or page number a parameter may be (a 64-bit key; pages far beyond).
MAX_NUMBER = 2**62
#: A recording id in a route's path (out of range: 422, never a database overflow).
RecordingId = Annotated[int, Path(ge=1, le=MAX_NUMBER)]


def whole(name: str, value: str | None, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number (got {value[:40]!r})") from None
    if not 1 <= number <= MAX_NUMBER:
        raise BadRequest(f"{name} must be between 1 and {MAX_NUMBER} (got {value[:40]})")
    return number


def choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return value


def page_number(request: Request) -> int:
    return whole("page", request.query_params.get("page"), 1) or 1


def pages(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only (browsers drop tabs and
    newlines from URLs and read a backslash as ``/``: ``/<tab>/evil`` would be ``//evil``)."""
    if not value or any(ord(ch) < 0x21 or ord(ch) == 0x7F or ch == "\\" for ch in value):
        return "/calls"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/calls"
    return value
