"""The HTML pages: login and logout (the only POSTs), runs, calls, a call, its audio,
search, users."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from callscribe.models import Recording

from . import data
from .audio import AudioUnavailable, byte_range, call_audio
from .context import (
    RecordingId,
    current_user,
    page_number,
    pages,
    query_with,
    render,
    safe_next,
    web_context,
)
from .queries import list_calls, search_hits
from .security import csrf_ok, start_session
from .users import USER_NAME, User, authenticate, list_users

log = logging.getLogger(__name__)
router = APIRouter()
Login = Depends(current_user)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", next=safe_next(next), message=None, username="")


def _login_page(
    request: Request, status: int, target: str, username: str, message: str
) -> HTMLResponse:
    return render(request, "login.html", status, next=target, username=username, message=message)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/calls"),
) -> Response:
    ctx, target = web_context(request), safe_next(next)
    if not csrf_ok(request, csrf_token):
        return _login_page(request, 403, target, username, "The form expired: log in again.")
    client = request.client.host if request.client else "?"
    name_key = username.lower() if USER_NAME.fullmatch(username) else "(not a user name)"
    keys = [f"user:{name_key}", f"addr:{client}"]
    wait = ctx.limiter.attempt(keys)
    if wait > 0:
        message = f"Too many failed logins: try again in {math.ceil(wait)} s."
        response = _login_page(request, 429, target, username, message)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    with ctx.factory.begin() as session:
        user = authenticate(session, username, password)
    if user is None:
        log.warning("failed web login for %r from %s", username[:64], client)
        return _login_page(request, 401, target, username, "Wrong user name or password.")
    ctx.limiter.succeeded(keys)
    start_session(request, user.name, user.fingerprint)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    if not csrf_ok(request, csrf_token):
        return render(
            request, "error.html", 403, heading="Forbidden", message="The form expired: reload."
        )
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(user: User = Login) -> Response:
    return RedirectResponse("/calls", status_code=303)


@router.get("/runs")
def runs_page(request: Request, user: User = Login) -> HTMLResponse:
    with web_context(request).factory.begin() as session:
        rows = data.runs(session)
    return render(request, "runs.html", user=user, runs=rows)


@router.get("/calls")
def calls_page(request: Request, user: User = Login) -> HTMLResponse:
    ctx = web_context(request)
    f, number, rows, total = list_calls(request)
    with ctx.factory.begin() as session:
        options = data.choices(session)
    return render(
        request,
        "calls.html",
        user=user,
        rows=rows,
        total=total,
        f=f,
        choices=options,
        form={k: request.query_params.get(k, "") for k in ("since", "until")},
        page=number,
        pages=pages(total, ctx.settings.web.page_size),
        query=query_with(request),
    )


@router.get("/calls/{recording_id}")
def call_view(
    request: Request, recording_id: RecordingId, t: float | None = None, user: User = Login
) -> HTMLResponse:
    ctx = web_context(request)
    found = data.call_page(ctx.factory, recording_id)
    if found is None:
        return render(
            request, "error.html", 404, heading="Not found", message="No such call.", user=user
        )
    reason, redacted = None, False
    with ctx.factory.begin() as session:
        rec = session.get_one(Recording, recording_id)
        try:
            redacted = call_audio(ctx.settings, session, rec).redacted
        except AudioUnavailable as exc:
            reason = exc.one_line()
    start_at = "" if t is None or not math.isfinite(t) else f"{max(0.0, t):.2f}"
    return render(
        request,
        "call.html",
        user=user,
        c=found,
        audio_ok=reason is None,
        audio_reason=reason,
        audio_redacted=redacted,
        start_at=start_at,
    )


@router.api_route("/calls/{recording_id}/audio", methods=["GET", "HEAD"])
def call_audio_route(request: Request, recording_id: RecordingId, user: User = Login) -> Response:
    """The call's audio that may be heard (the redacted copy when redaction is on), in the
    byte range asked for. The location comes from the recording's row, never the request."""
    ctx = web_context(request)
    with ctx.factory.begin() as session:
        rec = session.get(Recording, recording_id)
        if rec is None:
            return Response("no such call", status_code=404, media_type="text/plain")
        try:
            audio = call_audio(ctx.settings, session, rec)
        except AudioUnavailable as exc:
            return Response(exc.one_line(), status_code=404, media_type="text/plain")
    return ranged(request, audio.object.size, audio.object.read, audio.media_type)


@router.get("/search")
def search_page(request: Request, user: User = Login) -> HTMLResponse:
    ctx = web_context(request)
    hits = search_hits(request)
    with ctx.factory.begin() as session:
        options = data.choices(session)
    q = request.query_params
    fields: dict[str, object] = {
        k: q.get(k, "") for k in ("speaker", "source", "queue", "agent", "since", "until")
    }
    return render(
        request,
        "search.html",
        user=user,
        q=(q.get("q") or "").strip(),
        hits=hits,
        choices=options,
        page=page_number(request),
        page_size=ctx.settings.web.page_size,
        query=query_with(request),
        **fields,
    )


@router.get("/users")
def users_page(request: Request, user: User = Login) -> HTMLResponse:
    if not user.admin:
        return render(
            request, "error.html", 403, heading="Forbidden", message="Admins only.", user=user
        )
    with web_context(request).factory.begin() as session:
        rows = list_users(session)
    return render(request, "users.html", user=user, users=rows)


def ranged(
    request: Request, size: int, read: Callable[[int, int], Iterator[bytes]], media_type: str
) -> Response:
    """The file, or the one byte range the request asks for (206): players can seek."""
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    try:
        wanted = byte_range(request.headers.get("range"), size)
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = wanted if wanted else (0, size - 1)
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = read(start, length)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)
