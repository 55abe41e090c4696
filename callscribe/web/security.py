"""Who may look: the logged-in user of a request, CSRF tokens, the login rate limit and
the headers every response carries.

The session is Starlette's signed cookie (``itsdangerous``; HttpOnly, SameSite=Lax,
``Secure`` with ``web.secure_cookies``) holding the user's name, when they logged in and
the CSRF token; the user is looked up again on every request, so a removed user is out at
once. Nothing but login and logout accepts a POST."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque

from starlette.requests import Request

#: What a page may load: only this app's own files; no inline script, no frames.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class NotLoggedIn(Exception):
    """The request has no valid login: pages redirect to ``/login``, the API answers 401."""


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: str | None) -> bool:
    """Whether a form's token is this session's."""
    token = request.session.get("csrf")
    return isinstance(token, str) and isinstance(sent, str) and hmac.compare_digest(token, sent)


def start_session(request: Request, name: str, fingerprint: str) -> None:
    """A new session for ``name``: whatever the cookie held before (a planted one
    included) is dropped, with a fresh CSRF token. ``fingerprint`` stands for the user's
    password hash: a new password ends every session made with the old one."""
    request.session.clear()
    request.session.update(
        {"user": name, "pw": fingerprint, "at": time.time(), "csrf": secrets.token_urlsafe(32)}
    )


def session_user(request: Request, max_age_s: float) -> tuple[str, str] | None:
    """(user name, password fingerprint) of a live session, else None."""
    name, pw, at = (request.session.get(k) for k in ("user", "pw", "at"))
    if not isinstance(name, str) or not isinstance(pw, str) or not isinstance(at, int | float):
        return None
    if time.time() - at > max_age_s:
        request.session.clear()
        return None
    return name, pw


class LoginLimiter:
    """At most ``failures`` failed logins per key (a user name, a client address) within
    ``window_s``; a key over it is refused until its oldest failure leaves the window.
    Each attempt counts as a failure from the moment it starts (so parallel guesses cannot
    slip in while a password is being checked) and is taken back when it succeeds. One
    process's memory: behind several app replicas, each counts its own."""

    #: Keys remembered at most (a spray of names cannot fill memory); the oldest go first.
    MAX_KEYS = 100_000

    def __init__(self, failures: int, window_s: float) -> None:
        self.failures, self.window_s = failures, window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.get(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def attempt(self, keys: list[str]) -> float:
        """Seconds to wait when any key is over the limit (nothing counted); else 0, with
        the attempt counted against every key."""
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.failures:
                    wait = max(wait, self.window_s - (now - times[0]))
            if wait > 0:
                return wait
            if len(self._seen) >= self.MAX_KEYS:
                self._prune(now)
            for key in keys:
                self._seen.setdefault(key, deque()).append(now)
            return 0.0

    def succeeded(self, keys: list[str]) -> None:
        """The attempt was right: take it back (the name's record is cleared)."""
        with self._lock:
            for key in keys:
                times = self._seen.get(key)
                if times:
                    times.pop()
                    if not times:
                        del self._seen[key]
            self._seen.pop(keys[0], None)

    def _prune(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if self._recent(k, now)}
        while len(self._seen) >= self.MAX_KEYS:
            self._seen.pop(next(iter(self._seen)))
