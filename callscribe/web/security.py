"""Who may look: the logged-in user of a request, CSRF tokens, the login rate limit and
the headers every response carries.

The session is Starlette's signed cookie (``itsdangerous``; HttpOnly, SameSite=Lax,
``Secure`` with ``web.secure_cookies``) holding the user's name, when they logged in and
the CSRF token; the user is looked up again on every request, so a removed user is out at
once. Nothing but login and logout accepts a POST."""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import deque
from typing import Any, Protocol

from starlette.requests import Request

log = logging.getLogger(__name__)

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


class Limiter(Protocol):
    """At most ``failures`` failed logins per key (a user name, a client address) within
    ``window_s``; a key over it is refused until its oldest failure leaves the window.
    Each attempt counts as a failure from the moment it starts (so parallel guesses cannot
    slip in while a password is being checked) and is taken back when it succeeds."""

    def attempt(self, keys: list[str]) -> float:
        """Seconds to wait when any key is over the limit (nothing counted); else 0, with
        the attempt counted against every key."""
        ...

    def succeeded(self, keys: list[str]) -> None:
        """The attempt was right: take it back (the name's record, ``keys[0]``, is
        cleared)."""
        ...


class LoginLimiter:
    """:class:`Limiter` in one process's memory: behind several app replicas each counts
    its own (:class:`SharedLoginLimiter` counts them together)."""

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


#: Counts an attempt against every key at once, in Redis's own clock (replicas' clocks
#: may differ): each key is a sorted set of attempt ids scored by their time in ms,
#: trimmed to the window and expiring with it, so it never holds more than ``failures``.
_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit, wait = tonumber(ARGV[1]), tonumber(ARGV[2]), 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, window - (now - tonumber(oldest[2])))
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
end
return 0
"""
#: Takes the newest attempt back from every key; the first key (the user name) is cleared.
_SUCCEEDED = """
for _, key in ipairs(KEYS) do redis.call('ZPOPMAX', key) end
redis.call('DEL', KEYS[1])
return 0
"""


#: What a Redis ACL user needs for the shared limiter and nothing more (docs/review.md):
#: its own keys, the scripts, and the commands they run.
REDIS_ACL = (
    "resetkeys ~callscribe:web:login:* -@all +select +evalsha +eval +script|load +time "
    "+zremrangebyscore +zcard +zrange +zadd +pexpire +zpopmax +del"
)


class SharedLoginLimiter:
    """:class:`Limiter` in Redis, shared by every replica of the app (``web.limiter_url``,
    else the broker). While Redis cannot be reached the process counts in its own memory
    (``fallback``), with one warning line until Redis answers again: a login is never
    refused or let through unlimited because Redis is down."""

    PREFIX = "callscribe:web:login:"

    def __init__(self, client: Any, failures: int, window_s: float) -> None:
        self.failures, self.window_s = failures, window_s
        self._client = client
        self._attempt = client.register_script(_ATTEMPT)
        self._succeeded = client.register_script(_SUCCEEDED)
        self.fallback = LoginLimiter(failures, window_s)
        self._down = False

    def attempt(self, keys: list[str]) -> float:
        window_ms = max(1, round(self.window_s * 1000))
        try:
            wait_ms = self._attempt(
                keys=[self.PREFIX + k for k in keys],
                args=[window_ms, self.failures, secrets.token_hex(8)],
            )
        except Exception as exc:  # redis.RedisError and its transport errors
            self._unreachable(exc)
            return self.fallback.attempt(keys)
        self._reachable()
        return float(wait_ms) / 1000

    def succeeded(self, keys: list[str]) -> None:
        self.fallback.succeeded(keys)
        try:
            self._succeeded(keys=[self.PREFIX + k for k in keys], args=[])
        except Exception as exc:
            self._unreachable(exc)

    def _unreachable(self, exc: Exception) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "the login limiter's Redis cannot be used (%s): failed logins are "
                "counted in this process until it answers",
                type(exc).__name__,
            )

    def _reachable(self) -> None:
        if self._down:
            self._down = False
            log.warning("the login limiter's Redis answers again: failed logins are shared")
