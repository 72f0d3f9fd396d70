"""HTTP Basic authentication with a short-lived cache of verified credentials.

Argon2 verification takes tens of milliseconds on purpose. A client that
sends Basic credentials on every request would pay that each time, so a
successful check is remembered for `cache_seconds` under an HMAC of the
username and password with a per-process random key, so the cache never
holds a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

import structlog
from sqlalchemy import select

from seawall.auth.passwords import verify_password
from seawall.auth.principal import Principal
from seawall.db import Database
from seawall.db.models import User

logger = structlog.get_logger(__name__)

_CACHE_LIMIT = 4096


class InvalidCredentials(Exception):
    """Credentials were sent but do not match an account."""


class TooManyFailures(Exception):
    """A client address failed to log in too often in the last minute."""


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str


def parse_basic(header: str | None) -> BasicCredentials | None:
    """Return the credentials of a `Basic` Authorization header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidCredentials("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise InvalidCredentials("malformed Basic credentials")
    if not username and not password:
        # Some clients (skopeo --no-creds) send empty Basic credentials to
        # mean an anonymous request.
        return None
    if not username:
        raise InvalidCredentials("Basic credentials have an empty username")
    return BasicCredentials(username, password)


class FailureLimiter:
    """Counts failed logins per client address over a sliding minute."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        failures = self._recent(client)
        if len(failures) >= self.limit:
            raise TooManyFailures(client)

    def record(self, client: str) -> None:
        self._recent(client).append(time.monotonic())
        if len(self._failures) > _CACHE_LIMIT:
            self._failures.pop(next(iter(self._failures)))

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        cutoff = time.monotonic() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures


class Authenticator:
    """Check Basic credentials against local users."""

    def __init__(self, db: Database, cache_seconds: float, failure_limit: int) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.limiter = FailureLimiter(failure_limit)
        self._key = os.urandom(32)
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    def _cache_key(self, credentials: BasicCredentials) -> bytes:
        message = f"{credentials.username}\0{credentials.password}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def cached(self, credentials: BasicCredentials) -> Principal | None:
        key = self._cache_key(credentials)
        entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def verify(self, credentials: BasicCredentials, client: str) -> Principal:
        """Return the principal for valid credentials; runs the slow hash check."""
        self.limiter.check(client)
        with self.db.session() as session:
            user = session.scalars(
                select(User).where(User.username == credentials.username)
            ).one_or_none()
            principal = None
            if user is not None and verify_password(
                user.password_hash, credentials.password
            ):
                principal = Principal(user.id, user.username, user.sysadmin)
        if principal is None:
            self.limiter.record(client)
            logger.info("login failed", username=credentials.username, client=client)
            raise InvalidCredentials("invalid username or password")
        self._remember(credentials, principal)
        return principal

    def _remember(self, credentials: BasicCredentials, principal: Principal) -> None:
        if self.cache_seconds <= 0:
            return
        self._cache[self._cache_key(credentials)] = (
            time.monotonic() + self.cache_seconds,
            principal,
        )
        while len(self._cache) > _CACHE_LIMIT:
            self._cache.popitem(last=False)

    def forget_all(self) -> None:
        """Drop every remembered credential, for example after a password change."""
        self._cache.clear()
