"""The web app's logins: Argon2 hashes in ``web_users`` (``callscribe web add-user``).

Written through the main database URL by the command line only; the app itself reads the
table through its read-only connection."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callscribe.errors import ConfigurationError
from callscribe.models import WebUser

ROLES = ("viewer", "admin")
USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD = 12
_HASHER = PasswordHasher()
#: Verified against when the user does not exist, so a wrong name takes as long as a
#: wrong password (no user enumeration by timing).
_DUMMY = _HASHER.hash("callscribe-not-a-user-password")


@dataclass(frozen=True)
class User:
    """Who is logged in; ``fingerprint`` stands for the password hash in the session."""

    name: str
    role: str
    fingerprint: str = ""

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def check_new_user(name: str, password: str, role: str) -> None:
    """A one-line :class:`ConfigurationError` for a name, password or role that cannot be
    used."""
    if not USER_NAME.fullmatch(name):
        raise ConfigurationError(f"user name {name!r} must be 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise ConfigurationError(f"role {role!r} must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ConfigurationError(f"the password needs at least {MIN_PASSWORD} characters")


def add_user(factory: sessionmaker[Session], name: str, password: str, role: str) -> str:
    """Create ``name`` or set its password and role; ``created`` or ``updated``."""
    check_new_user(name, password, role)
    digest = _HASHER.hash(password)
    with factory.begin() as session:
        user = session.scalars(select(WebUser).where(WebUser.name == name)).one_or_none()
        if user is None:
            session.add(WebUser(name=name, role=role, password_hash=digest))
            return "created"
        user.password_hash = digest
        user.role = role
        return "updated"


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (as slow either way)."""
    row = None
    if USER_NAME.fullmatch(name):
        row = session.scalars(select(WebUser).where(WebUser.name == name)).one_or_none()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    return _user(row) if row else None


def _user(row: WebUser) -> User:
    digest = hashlib.sha256(row.password_hash.encode()).hexdigest()[:32]
    return User(name=row.name, role=row.role, fingerprint=digest)


def find_user(session: Session, name: str) -> User | None:
    """The user a session cookie names, if they still exist (a deleted user is out; the
    caller compares the fingerprint: a changed password is out too)."""
    row = session.scalars(select(WebUser).where(WebUser.name == name)).one_or_none()
    return _user(row) if row else None


def list_users(session: Session) -> list[tuple[str, str, str]]:
    """(name, role, created) of every user, for admins."""
    rows = session.scalars(select(WebUser).order_by(WebUser.name))
    return [(u.name, u.role, u.created_at.strftime("%Y-%m-%d %H:%M")) for u in rows]
