"""The review web app: ``create_app(settings)`` (``callscribe web``).

Pages (``pages``): ``/login``, ``/logout`` (POST), ``/runs``, ``/calls``, ``/calls/{id}``,
``/calls/{id}/audio``, ``/search``, ``/users`` (admins); the same data as JSON under
``/api/`` (``api``). Every route but the login form, logout and the static files needs a
login; nothing but login and logout takes a POST; every response carries the security
headers (no inline script, no framing)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from callscribe.broker import redis_client
from callscribe.models.db import session_factory
from callscribe.settings import Settings

from . import api, pages
from .context import HERE, BadRequest, WebContext, render, templates
from .engine import reading_engine
from .security import SECURITY_HEADERS, Limiter, LoginLimiter, NotLoggedIn, SharedLoginLimiter

log = logging.getLogger(__name__)
SESSION_COOKIE = "callscribe_session"


def create_app(settings: Settings, factory: sessionmaker[Session] | None = None) -> FastAPI:
    """The app over ``settings``' database, read-only (``factory``: a test's own)."""
    web = settings.web
    factory = factory or session_factory(reading_engine(settings))
    if web.secret_key is None:
        log.warning(
            "web.secret_key is not set (CALLSCRIBE_WEB__SECRET_KEY): "
            "everyone logs in again when the app restarts"
        )
    secret = web.secret_key.get_secret_value() if web.secret_key else secrets.token_urlsafe(48)
    app = FastAPI(title="callscribe review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = WebContext(
        settings=settings,
        factory=factory,
        templates=templates(),
        limiter=login_limiter(settings),
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=int(web.session_hours * 3600),
        same_site="lax",
        https_only=web.secure_cookies,
    )
    app.middleware("http")(_security_headers)
    app.add_exception_handler(NotLoggedIn, _login_first)
    app.add_exception_handler(BadRequest, _bad_request)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)
    return app


def login_limiter(settings: Settings) -> Limiter:
    """Failed logins counted in Redis (``web.limiter_url``, else the broker), shared by
    every replica; in this process's memory when neither is set."""
    web = settings.web
    url = web.limiter_url or settings.broker_url
    if url is None:
        return LoginLimiter(web.login_failures, web.login_window_s)
    client = redis_client(url.get_secret_value(), settings)
    return SharedLoginLimiter(client, web.login_failures, web.login_window_s)


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _login_first(request: Request, _exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "log in first"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def _bad_request(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return render(request, "error.html", 400, heading="Bad request", message=str(exc))
