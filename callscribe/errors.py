"""One error hierarchy. Retryable errors may succeed on another attempt (network, lost
database connection, a busy device); permanent ones never will (a corrupt file), so a job
that raises one fails at once without burning its attempts. What a failure means for a job
(retry when, or fail) is decided in one place: ``callscribe.failures.classify``.

    CallscribeError
    ├── ConfigurationError ── ModelLoadError        (the worker, not the input: retried)
    ├── PermanentError                              (the input: fails at once)
    │   ├── SourceError
    │   ├── BadAudioError
    │   └── RecordingMissingError
    └── RetryableError                              (may pass next time: retried)
        ├── StorageUnavailableError
        ├── ServiceUnavailableError                 (the database or broker is away:
        │                                            the job is handed back, no attempt spent)
        ├── LeaseLostError
        ├── JobTimeoutError
        ├── IllegalTransition
        └── UnexpectedError                         (any other exception, wrapped)
"""

from __future__ import annotations

import signal

#: Longest reason stored in ``jobs.error`` / ``recordings.error``.
REASON_LIMIT = 1000


def one_line(text: object, limit: int = REASON_LIMIT) -> str:
    """Any message as one line (whitespace runs, newlines included, become one space), cut
    to ``limit`` characters: the one cleanup every stored or logged reason goes through."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class CallscribeError(Exception):
    """Base of every error callscribe raises on purpose."""

    def one_line(self) -> str:
        """The reason as one line, as stored in ``recordings.error`` / ``jobs.error``."""
        return one_line(self) or type(self).__name__


class ConfigurationError(CallscribeError):
    """The settings or command-line options are wrong."""


class ModelLoadError(ConfigurationError):
    """The model could not be loaded (missing directory, download refused, bad files)."""


class PermanentError(CallscribeError):
    """Retrying cannot help: the input itself is bad."""


class SourceError(PermanentError):
    """A source URI is malformed or cannot be listed."""


class BadAudioError(PermanentError):
    """The recording cannot be decoded into audio (corrupt, empty, unsupported codec)."""


class RecordingMissingError(PermanentError):
    """The object was listed but is gone (deleted between listing and transcription)."""


class RetryableError(CallscribeError):
    """A transient failure; the job may be tried again."""


class StorageUnavailableError(RetryableError):
    """The object store or file system failed transiently."""


class ServiceUnavailableError(RetryableError):
    """The database or the broker cannot be reached: nothing is wrong with the job, so it
    is handed back without spending an attempt, and the worker backs off."""


class LeaseLostError(RetryableError):
    """Another worker owns the job now; this worker must drop its results."""


class JobTimeoutError(RetryableError):
    """The job ran past its soft time limit (counted as an attempt)."""


class IllegalTransition(RetryableError):
    """A state change not allowed from the row's current state: another process changed it
    first (a race), so the next attempt sees the new state."""


class UnexpectedError(RetryableError):
    """Any exception outside this hierarchy (a driver error, a bug), wrapped with its type
    name: retried, since it may be transient, until the attempts run out."""

    @classmethod
    def wrap(cls, exc: BaseException) -> CallscribeError:
        """``exc`` itself if it is one of ours, else wrapped."""
        if isinstance(exc, CallscribeError):
            return exc
        if not isinstance(exc, Exception):  # SystemExit, KeyboardInterrupt, a hard limit
            wrapped = cls(interrupted_reason(exc))
            wrapped.__cause__ = exc
            return wrapped
        text = one_line(exc)
        wrapped = cls(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
        wrapped.__cause__ = exc
        return wrapped


#: Why a job stopped, by the name of what stopped it (Celery's and billiard's classes,
#: named here so that this module imports neither).
_INTERRUPTIONS = {
    "WorkerShutdown": "warm shutdown (SIGTERM)",
    "WorkerTerminate": "cold shutdown (SIGQUIT)",
    "TimeLimitExceeded": "hard time limit",
    "KeyboardInterrupt": "keyboard interrupt (SIGINT)",
}


def interrupted_reason(exc: BaseException) -> str:
    """The reason stored for a job that did not fail but was stopped:
    ``interrupted: cold shutdown (SIGQUIT)``, not ``SystemExit: -241``."""
    for kind in type(exc).__mro__:
        if kind.__name__ in _INTERRUPTIONS:
            return f"interrupted: {_INTERRUPTIONS[kind.__name__]}"
    if isinstance(exc, SystemExit):
        code = exc.code
        if isinstance(code, int) and code < 0:  # a signal: -N, or -(256 - N) as billiard has it
            number = -code if -code < 65 else code % 256
            return f"interrupted: the worker process is exiting ({_signal_name(number)})"
        return f"interrupted: the worker process is exiting (code {code})"
    return f"interrupted: {type(exc).__name__}"


def _signal_name(number: int) -> str:

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


#: Exceptions that mean a service is away, not that the input or the code is wrong: by the
#: module their class comes from and its name (this module imports none of them).
_OUTAGES = (
    ("psycopg", ("OperationalError", "InterfaceError"), "the database is unreachable"),
    ("psycopg2", ("OperationalError", "InterfaceError"), "the database is unreachable"),
    (
        "sqlalchemy",
        ("InterfaceError", "DisconnectionError", "TimeoutError"),
        "the database is unreachable",
    ),
    ("kombu", ("OperationalError",), "the broker is unreachable"),
    ("redis", ("ConnectionError", "TimeoutError", "BusyLoadingError"), "the broker is unreachable"),
    ("amqp", ("ConnectionError", "RecoverableConnectionError"), "the broker is unreachable"),
    (
        "botocore",
        (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ConnectionClosedError",
            "ReadTimeoutError",
        ),
        "the object store is unreachable",
    ),
)


def outage(exc: BaseException, only: str | None = None) -> str | None:
    """What is away when ``exc`` (or an exception it was raised from) means a service is
    unreachable: ``"the database is unreachable: connection … refused"``; None when it is
    some other error. A SQLAlchemy error whose connection was invalidated counts too. With
    ``only`` (``"database"``, ``"broker"``, ``"object store"``), that service's only."""
    reason = _outage(exc)
    if reason is None or (only is not None and not reason.startswith(f"the {only} ")):
        return None
    return reason


def _outage(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ServiceUnavailableError):
            return current.one_line()
        module = type(current).__module__.split(".")[0]
        # psycopg's subclasses (a deadlock, a serialization failure, a cancelled query) are
        # the statement's trouble, not an outage: its classes match by exact name only
        exact = module in ("psycopg", "psycopg2")
        kinds = (type(current),) if exact else type(current).__mro__
        for kind in kinds:
            for owner, names, what in _OUTAGES:
                if module == owner and kind.__name__ in names:
                    return f"{what}: {one_line(_message(current), 300)}"
        if getattr(current, "connection_invalidated", False):
            return f"the database is unreachable: {one_line(_message(current), 300)}"
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def _message(exc: BaseException) -> str:
    """An exception's own message (a SQLAlchemy error's without its SQL and link)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.split("\n(Background on this error")[0] or type(exc).__name__
